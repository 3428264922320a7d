"""Performing one claimed job: decode, transcribe with checkpoints, write the outputs, end it.

Every way a job can end is decided here and recorded on the job with a message a person can act
on; nothing a single job does can raise out of ``perform_job``.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from runner.core.fsutil import sweep_temporaries
from runner.core.schema import SegmentRecord
from runner.core.settings import Settings
from runner.core.spool import JobFile, Spool
from runner.core.states import JobStatus
from runner.core.store import JobStore, SegmentRow, transcript_complete
from runner.core.text import printable
from runner.core.transcript import Segment, Transcript, Word
from runner.daemon.channels import distinct_channels, recognise, whole
from runner.daemon.diarize import Diarizer
from runner.daemon.inbox_results import clear_earlier_versions, leave_error_file
from runner.daemon.library import is_media_job, write_library_results
from runner.daemon.media import Audio, MediaError, decode
from runner.daemon.recognizer import ModelError, Recognizer
from runner.jobs.inbox_versions import is_superseded
from runner.jobs.outputs import record_outputs
from runner.output.cues import CueLimits, shaping_warning
from runner.output.inbox import inbox_output_paths, is_inbox_job
from runner.output.naming import output_formats, output_paths, safe_stem
from runner.output.repetition import mark_repetitions
from runner.output.timing import fit_to_audio
from runner.output.writing import write_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkContext:
    """What a runner lends to each job it performs."""

    settings: Settings
    store: JobStore
    spool: Spool
    engine: Recognizer
    """The speech recognizer (faster-whisper's ``Engine`` in production)."""
    runner: str
    stop_requested: Callable[[], bool]
    """True once the runner was asked to stop: the job is checkpointed and handed back."""
    diarizer: Diarizer
    """Speaker diarization for the jobs that ask for it (the pipeline loaded on first use, then kept)."""


UNWRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
"""Errors that send an inbox job's results to ``<home>/outputs/<id>/`` instead of beside the file."""
OUTPUT_NAME_TRIES = 3
NEARLY_DONE = 0.9
"""A runner asked to stop finishes a job that is this far through its audio instead of handing it back."""


class _Lost(Exception):
    """The job stopped being ours (cancelled, or taken back after our lease expired)."""


class _TimeLimit(Exception):
    """The job ran past its time limit."""


def time_limit(settings: Settings, duration: float) -> float:
    """Seconds a job of ``duration`` seconds of audio may run: factor x duration, at least the floor."""
    return max(settings.time_limit_floor, settings.time_limit_factor * duration)


def _restore(records: list[SegmentRecord]) -> list[Segment]:
    return [Segment(r.start, r.end, r.text, tuple(Word.from_dict(w) for w in r.words), r.speaker, r.language)
            for r in records]


def _row(index: int, segment: Segment) -> SegmentRow:
    return SegmentRow(index, segment.start, segment.end, segment.text, [w.to_dict() for w in segment.words],
                      segment.speaker, segment.language)


def perform_job(job: JobFile, ctx: WorkContext) -> str:
    """Run a job this runner has claimed to its end; return what happened (a JobStatus value,
    ``"handed back"`` or ``"lost"``). Never raises for a problem of the job's own."""
    store, runner = ctx.store, ctx.runner
    try:
        return _perform(job, ctx)
    except _Lost:
        current = store.get(job.id)
        log.info("runner %s: job %s is no longer ours (now %s)", runner, job.id, current and current.status)
        return "lost"
    except MediaError as exc:
        return _fail(ctx, job, str(exc))
    except ModelError as exc:
        return _fail(ctx, job, f"{exc}; check SPOOLSCRIBE_MODEL or the job's model option")
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return _fail(ctx, job, "no space left on device while writing the outputs; free some space and "
                                   "retry the job")
        if exc.errno == errno.EFBIG:
            return _fail(ctx, job, "an output file is larger than this system allows (file size limit); retry the job "
                                   "after raising the limit")
        log.exception("runner %s: job %s: file error", runner, job.id)
        return _fail(ctx, job, f"file error: {exc}")
    except Exception as exc:  # a bug or an engine failure: the job fails, the runner goes on
        log.exception("runner %s: job %s: unexpected error", runner, job.id)
        return _fail(ctx, job, f"internal error: {type(exc).__name__}: {exc}")


def _fail(ctx: WorkContext, job: JobFile, message: str) -> str:
    log.warning("runner %s: job %s failed (%s)", ctx.runner, job.id, message)
    if ctx.store.finish(job.id, ctx.runner, JobStatus.FAILED, error=message):
        leave_error_file(ctx.settings, ctx.store, job, message, ctx.runner)
    return JobStatus.FAILED.value


def _perform(job: JobFile, ctx: WorkContext) -> str:
    store, runner, settings = ctx.store, ctx.runner, ctx.settings
    started = time.monotonic()
    if not store.record_progress(job.id, runner, stage="decoding"):
        raise _Lost()
    separate = job.options.channels == "separate"
    audio = _decode(ctx.spool.media_path(job.media), job.options.audio_track, separate)
    warnings = list(audio.warnings)
    if separate:
        audio = distinct_channels(audio, warnings)
    if not store.record_progress(job.id, runner, audio=_audio_record(audio)):
        raise _Lost()
    duration = audio.duration
    if job.options.task == "detect":
        return _detect(ctx, job, audio, warnings, started)
    limit = time_limit(settings, duration)
    segments = _restore(store.segments(job.id))
    resume_at = segments[-1].end if segments else 0.0
    row = store.get(job.id)
    if row is not None and segments and transcript_complete(row):
        log.info("runner %s: job %s was transcribed before; writing its outputs again", runner, job.id)
        transcript = whole(Transcript(row.language, row.language_probability, duration, tuple(segments)), audio)
        return _succeed(ctx, job, transcript, warnings, started, audio.offset)
    if segments:
        log.info("runner %s: job %s resumes at %.1f s of %.1f s", runner, job.id, resume_at, duration)
    if not store.record_progress(job.id, runner, stage="transcribing", duration=duration, warnings=warnings,
                                 processed_seconds=resume_at, progress=_share(resume_at, duration)):
        raise _Lost()
    recognition = recognise(ctx.engine, job, audio, segments, row.language if segments and row else None)
    for warning in recognition.warnings:
        _warn(warnings, warning)
    if not store.record_progress(job.id, runner, language=recognition.language,
                                 language_probability=recognition.language_probability, warnings=warnings):
        raise _Lost()
    pending: list[SegmentRow] = []
    last_write = time.monotonic()
    outcome = JobStatus.SUCCEEDED.value
    try:
        for segment in recognition.segments:
            pending.append(_row(len(segments), segment))
            segments.append(segment)
            log.debug("runner %s: job %s: segment %.2f-%.2f s", runner, job.id, segment.start, segment.end)
            if ctx.stop_requested() and segment.end < NEARLY_DONE * duration:
                outcome = "handed back"
                break
            if time.monotonic() - started > limit:
                raise _TimeLimit()
            if time.monotonic() - last_write >= settings.progress_interval:
                _checkpoint(ctx, job, pending, segment.end, duration)
                last_write = time.monotonic()
    except _Lost:
        pending.clear()
        return _cancelled(ctx, job, segments, warnings, recognition.language, duration, audio.offset)
    except _TimeLimit:
        _checkpoint(ctx, job, pending, segments[-1].end, duration)
        return _fail(ctx, job, f"stopped after {time.monotonic() - started:.0f} s: past the time limit of "
                               f"{limit:.0f} s for {duration:.0f} s of audio (SPOOLSCRIBE_TIME_LIMIT_FACTOR, "
                               "SPOOLSCRIBE_TIME_LIMIT_FLOOR)")
    processed = segments[-1].end if segments else duration
    try:
        _checkpoint(ctx, job, pending, processed if outcome != JobStatus.SUCCEEDED.value else duration, duration)
    except _Lost:
        return _cancelled(ctx, job, segments, warnings, recognition.language, duration, audio.offset)
    if outcome == "handed back":
        _hand_back(ctx, job)
        return outcome
    if not segments:
        warnings.append("no speech detected")
    transcript = whole(Transcript(recognition.language, recognition.language_probability, duration,
                                   tuple(segments)), audio)
    if job.options.diarize:
        transcript = _diarize(ctx, job, audio, transcript, warnings)
    return _succeed(ctx, job, transcript, warnings, started, audio.offset)


def _succeed(ctx: WorkContext, job: JobFile, transcript: Transcript, warnings: list[str], started: float,
             offset: float) -> str:
    """Write the outputs of a whole transcript (its times on the audio's timeline, fitted to the audio
    there; ``offset`` seconds where the audio starts on the media's) and end the job succeeded;
    possible decoding loops are marked on their segments and named in a warning
    (``runner.output.repetition``)."""
    transcript, loops = mark_repetitions(_fitted(transcript, warnings))
    _warn(warnings, loops)
    transcript = transcript.shifted(offset)
    if {"srt", "vtt"} & set(job.options.formats):
        warning = shaping_warning(transcript, CueLimits.from_options(job.options))
        _warn(warnings, warning)
    if not ctx.store.record_progress(job.id, ctx.runner, stage="writing", warnings=warnings):
        raise _Lost()
    media = ctx.spool.media_path(job.media)
    library = None if not is_media_job(job) else lambda: write_library_results(
        ctx.settings, ctx.store, job, media, transcript, warnings, _metadata(job, ctx.settings))
    clear_earlier_versions(ctx.settings, ctx.store, job)
    written = _write_results(ctx.settings, job, transcript, warnings=warnings, media_library=library)
    record_outputs(ctx.store.engine, job.id, written)
    if not ctx.store.succeed(job.id, ctx.runner, transcript.segments, outputs=[str(p) for p in written],
                             warnings=warnings, progress=1.0, processed_seconds=transcript.duration):
        if is_inbox_job(job) and is_superseded(ctx.store.engine, job.id):  # a newer version's job writes
            for path in written:
                path.unlink(missing_ok=True)
        raise _Lost()
    log.info("runner %s: job %s succeeded (%.1f s of audio in %.1f s, %d segments)",
             ctx.runner, job.id, transcript.duration, time.monotonic() - started, len(transcript.segments))
    return JobStatus.SUCCEEDED.value


def _warn(warnings: list[str], warning: str | None) -> None:
    """Add ``warning`` to the job's ``warnings`` unless it is empty or already there."""
    if warning and warning not in warnings:
        warnings.append(warning)


def _fitted(transcript: Transcript, warnings: list[str]) -> Transcript:
    """``transcript`` fitted to its audio (``runner.output.timing.fit_to_audio``, as every output is
    written), with the warning saying what had to be corrected added to ``warnings``."""
    fitted = fit_to_audio(transcript)
    _warn(warnings, fitted.warning)
    return fitted.transcript


def _detect(ctx: WorkContext, job: JobFile, audio: Audio, warnings: list[str], started: float) -> str:
    """A ``detect`` job: the spoken language only (no segments), ended like any other job."""
    language, probability = ctx.engine.detect_language(audio.samples, job.options)
    if not ctx.store.record_progress(job.id, ctx.runner, duration=audio.duration, language=language,
                                     language_probability=probability):
        raise _Lost()
    return _succeed(ctx, job, Transcript(language, probability, audio.duration), warnings, started, audio.offset)


@retry(retry=retry_if_exception_type(OSError), wait=wait_exponential(multiplier=0.5, max=4),
       stop=stop_after_attempt(4), reraise=True)
def _decode(path: Path, track: int | str | None, keep_channels: bool = False) -> Audio:
    """Decode audio track ``track`` (None: the default one; each channel too, with
    ``keep_channels``), retrying a file that is briefly unreadable (an OSError, e.g. a share hiccup)
    about 4 times over 3 s; a MediaError (the file itself is bad) fails at once."""
    return decode(path, track=track, keep_channels=keep_channels)


def _audio_record(audio: Audio) -> dict[str, object]:
    """The ``jobs.audio`` record of a decoded track (see ``runner.core.schema.Job.audio``)."""
    track = audio.track.to_dict() if audio.track else {"number": 1, "language": None, "title": None}
    return {**track, "tracks": audio.tracks, "offset": audio.offset}


def _diarize(ctx: WorkContext, job: JobFile, audio: Audio, transcript: Transcript, warnings: list[str]) -> Transcript:
    """Stage "diarizing": the transcript with speakers; if diarization fails, the transcript as it
    was and the reason appended to ``warnings``."""
    if not ctx.store.record_progress(job.id, ctx.runner, stage="diarizing", warnings=warnings):
        raise _Lost()
    transcript, warning = ctx.diarizer.attribute(transcript, audio.samples, job.options, ctx.runner, job.id)
    warnings.extend([warning] if warning else [])
    return transcript


def _share(processed: float, duration: float) -> float:
    return min(1.0, processed / duration) if duration > 0 else 1.0


def _checkpoint(ctx: WorkContext, job: JobFile, pending: list[SegmentRow], processed: float, duration: float) -> None:
    if not ctx.store.record_progress(job.id, ctx.runner, pending, processed_seconds=processed,
                                     progress=_share(processed, duration)):
        raise _Lost()
    pending.clear()


def _write_results(settings: Settings, job: JobFile, transcript: Transcript, partial: bool = False,
                   warnings: list[str] | None = None,
                   media_library: Callable[[], list[Path]] | None = None) -> list[Path]:
    """Write the job's outputs and return their paths. Results beside an inbox file never replace
    a file that appeared meanwhile (fresh names are chosen); a partial transcript (a cancelled job)
    stays under ``<home>/outputs/<id>/`` rather than beside the user's file. When the folder beside
    the inbox file cannot be written (permissions, a read-only file system), the outputs go to
    ``<home>/outputs/<id>/`` and a warning naming the folder and the reason is added to ``warnings``.
    ``media_library`` writes the results of a media-library folder's job instead (``runner.daemon.library``).

    Raises:
        OSError: the outputs could not be written under ``<home>/outputs/<id>/`` either.
    """
    if is_inbox_job(job) and not partial:
        try:
            if media_library is not None:
                return media_library()
            return _write_named(settings, job, transcript, beside_source=True)
        except OSError as exc:
            if exc.errno not in UNWRITABLE:
                raise
            folder = Path(job.inbox_path or "").parent
            if warnings is not None:
                warnings.append(f"could not write the results beside the file in {folder} ({exc.strerror}); "
                                f"they are in {settings.outputs_dir / job.id}")
            log.warning("job %s: could not write beside %s (%s); writing under %s", job.id, folder,
                        exc.strerror, settings.outputs_dir / job.id)
    return _write_named(settings, job, transcript, beside_source=False)


def _write_named(settings: Settings, job: JobFile, transcript: Transcript, beside_source: bool) -> list[Path]:
    """Write the outputs beside the inbox file (fresh names, never replacing) or under
    ``<home>/outputs/<id>/``; return their paths."""
    formats = output_formats(job.options.formats, transcript)
    if not beside_source:
        _clear_debris(settings.outputs_dir / job.id)
    for _ in range(OUTPUT_NAME_TRIES):
        if beside_source:
            paths = inbox_output_paths(settings, job, formats)
        else:
            paths = output_paths(settings.outputs_dir / job.id, safe_stem(job.original_name, job.id), formats)
        try:
            return write_outputs(transcript, paths, _metadata(job, settings),
                                 overwrite=not beside_source)
        except FileExistsError:
            continue  # a file of that name appeared after the names were chosen
    raise OSError(f"could not find free output names after {OUTPUT_NAME_TRIES} tries")


def _clear_debris(directory: Path) -> None:
    """Remove the temporary files an earlier attempt of this job left in its own outputs folder
    (a runner killed while writing): only the runner holding the job's lease writes there, so any
    of our temporaries in it, whatever their age, are leftovers. Shared folders (beside inbox files)
    are left to the reaper's debris sweep after its grace period."""
    for path in sweep_temporaries(directory, older_than=-1.0, now=time.time()):
        log.info("removed %s, left by an earlier attempt", path)


def _metadata(job: JobFile, settings: Settings) -> dict:
    return {"job_id": job.id, "file": job.original_name, "model": job.options.model or settings.model,
            "options": job.options.to_dict()}


def _cancelled(ctx: WorkContext, job: JobFile, segments: list[Segment], warnings: list[str],
               language: str | None, duration: float, offset: float) -> str:
    """Keep the partial transcript of a job cancelled while it ran (shifted by ``offset`` seconds),
    with the seconds of audio it covers as the job's processed seconds and progress, unless a newer
    version of its inbox file superseded it (that version's job writes the results: nothing is kept)."""
    current = ctx.store.get(job.id)
    if current is None or current.status != JobStatus.CANCELLED.value:
        raise _Lost()
    if is_inbox_job(job) and is_superseded(ctx.store.engine, job.id):
        ctx.store.finished_while_running(job.id, warnings=[*warnings, "superseded by a newer version of the "
                                                           "file: the partial transcript was not kept"])
        log.info("runner %s: job %s superseded by a newer version of %s; nothing kept", ctx.runner, job.id,
                 printable(job.inbox_path))
        return JobStatus.CANCELLED.value
    warnings = [*warnings, "cancelled: the transcript is partial"]
    transcript = _fitted(Transcript(language, None, duration, tuple(segments)), warnings).shifted(offset)
    written = _write_results(ctx.settings, job, transcript, partial=True)
    record_outputs(ctx.store.engine, job.id, written)
    processed = max(segments[-1].end if segments else 0.0, current.processed_seconds or 0.0)
    ctx.store.finished_while_running(job.id, outputs=[str(p) for p in written], warnings=warnings,
                                     processed_seconds=processed, progress=_share(processed, duration))
    log.info("runner %s: job %s cancelled; kept %d segments", ctx.runner, job.id, len(segments))
    return JobStatus.CANCELLED.value


def _hand_back(ctx: WorkContext, job: JobFile) -> None:
    """Return a job to the queue with its checkpoint (the runner is stopping)."""
    if ctx.store.release(job.id, ctx.runner):
        ctx.spool.hand_back(job)
        ctx.store.announce(job.id)
        log.info("runner %s: job %s handed back to the queue", ctx.runner, job.id)
