"""A job's files as the web serves them: its output files and its transcript lines (its media:
``runner.jobs.files.open_media``). Only files the service wrote itself are read, each through a
descriptor checked against what was recorded when it was written (``runner.jobs.outputs``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import Response, request, send_file
from werkzeug.exceptions import Conflict, InternalServerError, NotFound

from runner.core.errors import JobNotFound, JobStateError
from runner.core.schema import Job
from runner.core.store import JobStore
from runner.core.transcript import Segment, Transcript, parse_transcript
from runner.jobs.outputs import OutputChangedError, open_output, output_path
from runner.output.formats import RENDERERS
from runner.output.timing import fit_to_audio
from webui.downloads import content_disposition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Line:
    """One transcript line: ``start``/``end`` in seconds from the start of the audio, its text,
    its speaker when the job was diarized or its channels transcribed separately, its own language
    (``language = multi``), and whether it is part of a possible decoding loop."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    language: str | None = None
    repetition: bool = False


def send_open_file(handle: BinaryIO, mimetype: str, job: Job, name: str) -> Response:
    """A response that sends the open file ``handle`` (closed when sent) of ``job`` as an attachment
    called ``name`` (``webui.downloads.content_disposition``, the job id where the name gives no
    usable one), with its size, an ETag and Last-Modified from its descriptor, and HTTP range
    support; never reopened by its path.

    Raises:
        werkzeug.exceptions.RequestedRangeNotSatisfiable: a range outside the file (416; it is closed).
    """
    info = os.fstat(handle.fileno())
    response = send_file(handle, mimetype=mimetype, conditional=False, max_age=0, last_modified=info.st_mtime,
                         etag=f"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}")
    response.headers["Content-Disposition"] = content_disposition(name, job.id)
    response.content_length = info.st_size
    try:
        response.make_conditional(request, accept_ranges=True, complete_length=info.st_size)
    except Exception:
        handle.close()
        raise
    return response


def read_transcript_output(job: Job, store: JobStore) -> Transcript | None:
    """The transcript in the job's JSON output, fitted to its audio as every output is rendered
    (``runner.output.timing``: one written by an older version may hold times outside the audio),
    or None when there is none, it is gone, or it is not the file the service wrote (replaced or
    changed since; logged). Read from the checked descriptor.

    Raises:
        OSError: the output cannot be read.
        runner.core.transcript.TranscriptFileError: it is not a spoolscribe JSON transcript.
    """
    try:
        opened = open_output(store.engine, job, "json")
    except OutputChangedError:
        return None
    if opened is None:
        return None
    handle, path = opened
    with handle:
        return fit_to_audio(parse_transcript(handle.read(), path.name)[0]).transcript


def output_formats(job: Job, formats: tuple[str, ...], store: JobStore) -> list[str]:
    """Those of ``formats`` the job has an output file of that can be served."""
    available = []
    for fmt in formats:
        try:
            opened = open_output(store.engine, job, fmt)
        except OutputChangedError:
            continue
        if opened is not None:
            opened[0].close()
            available.append(fmt)
    return available


def servable_outputs(store: JobStore) -> Callable[[Job], list[Path]]:
    """For a rewrite (``webui.rewrite.Outputs``): given a job, the paths of its outputs that are
    still the files the service wrote (those a rewrite renders again; others are left alone)."""
    return lambda job: [path for fmt in output_formats(job, tuple(RENDERERS), store)
                        if (path := output_path(job, fmt))]


@contextmanager
def rewrite_errors(job: Job, what: str) -> Iterator[None]:
    """Turn the errors of rewriting a job's outputs (``webui.rewrite``) into HTTP errors
    whose descriptions say what to do: no such job 404; not succeeded, or no JSON output, 409; an
    output that cannot be written 500 (the old outputs are intact)."""
    try:
        yield
    except JobNotFound:
        raise NotFound(f"no job with id {job.id}; it may have been deleted") from None
    except JobStateError as exc:
        raise Conflict(str(exc)) from None
    except FileNotFoundError:
        raise Conflict(f"job {job.id} has no json output, which {what} needs; retry it with the json format "
                       f"for {what}") from None
    except OSError as exc:
        log.warning("web: job %s: %s failed: %s", job.id, what, exc)
        raise InternalServerError(f"the outputs of job {job.id} could not be written ({exc.strerror or exc}); "
                                  "they are unchanged") from None


def transcript_lines(job: Job, store: JobStore) -> list[Line]:
    """The job's transcript: the segments of its JSON output, or, without one (still running, no
    ``json`` format asked for, or one that is not the file the service wrote), the segments its
    runner has checkpointed (fitted to the audio once its duration is known, and shifted by the
    audio's offset, as the outputs are).

    Raises:
        OSError: the JSON output exists but cannot be read.
        runner.core.transcript.TranscriptFileError: it is not a spoolscribe JSON transcript.
    """
    transcript = read_transcript_output(job, store)
    if transcript is None:
        segments = tuple(Segment(s.start, s.end, s.text, speaker=s.speaker, language=s.language)
                         for s in store.segments(job.id))
        if job.duration is None:  # not decoded yet: nothing to fit to, no offset known
            return [Line(s.start, s.end, s.text, s.speaker, s.language) for s in segments]
        transcript = fit_to_audio(Transcript(None, None, job.duration, segments)).transcript
        transcript = transcript.shifted(float((job.audio or {}).get("offset") or 0.0))
    return [Line(s.start, s.end, s.text, s.speaker, s.language, s.repetition) for s in transcript.segments]
