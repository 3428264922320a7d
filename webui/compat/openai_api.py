"""OpenAI's audio API: ``POST /v1/audio/transcriptions``, ``POST /v1/audio/translations`` and
``GET /v1/models``, as the official ``openai`` client calls them (multipart ``file``, ``model``,
``language``, ``prompt``, ``response_format``, ``temperature``, ``timestamp_granularities[]``,
``stream``). Answers come from the job a runner performs; ``stream=true`` answers server-sent events
(``transcript.text.delta`` per segment as the runner persists it, ``transcript.text.segment`` per
speaker segment of ``diarized_json``, then ``transcript.text.done``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, stream_with_context
from werkzeug.datastructures import MultiDict

from runner.core.options import JobOptions, OptionsError
from runner.core.schema import Job, JobSource, SegmentRecord
from runner.core.settings import Settings
from webui.compat.answers import (
    TEXT_FORMATS,
    diarized_json,
    diarized_segment,
    job_transcript,
    openai_json,
    speaker_letters,
    verbose_json,
)
from webui.compat.errors import CompatError, bad_request
from webui.compat.receive import received_audio
from webui.compat.service import (
    DISCONNECT_CHECK,
    client_gone,
    ended_job,
    held,
    job_for,
    respond_async,
    wait_for_end,
    watcher,
)
from webui.services import services

bp = Blueprint("openai", __name__, url_prefix="/v1")

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
GRANULARITIES = ("word", "segment")
DEFAULT_MODEL = "whisper-1"
TEXT_TYPES = {"text": "text/plain", "srt": "text/plain", "vtt": "text/plain"}


def model_table(settings: Settings) -> dict[str, str | None]:
    """Model names a client may send -> the model a runner loads (None: the default ``model``):
    ``whisper-1``, then ``SPOOLSCRIBE_COMPAT_MODELS`` (``name=model`` items, or a model by its name)."""
    table: dict[str, str | None] = {DEFAULT_MODEL: None}
    for item in settings.compat_models:
        name, _, model = item.partition("=")
        table[name.strip()] = model.strip() or name.strip()
    return table


@bp.get("/models")
def models() -> Response:
    """The model names this server answers to, in OpenAI's list shape."""
    return jsonify(object="list", data=[{"id": name, "object": "model", "created": 0, "owned_by": "spoolscribe"}
                                        for name in model_table(services().settings)])


@bp.post("/audio/transcriptions")
@held
def transcriptions() -> Response:
    """Transcribe the audio in ``file`` (see the module's description)."""
    return _audio("transcribe")


@bp.post("/audio/translations")
@held
def translations() -> Response:
    """Translate the speech in ``file`` into English text."""
    return _audio("translate")


def _flag(form: MultiDict, name: str) -> bool:
    value = form.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise bad_request(f"{name} must be true or false, got {value[:40]!r}", param=name)
    return value in ("true", "1")


def _request_options(form: MultiDict, task: str, fmt: str) -> JobOptions:
    settings = services().settings
    diarize = fmt == "diarized_json"
    if diarize and not _diarization_configured(settings):
        raise bad_request("diarized_json needs a speaker diarization pipeline, and none is configured here "
                          "(SPOOLSCRIBE_DIARIZATION_PIPELINE as a local directory, or with "
                          "SPOOLSCRIBE_DIARIZATION_TOKEN)", param="response_format")
    temperature = form.get("temperature", "0")
    try:
        if not 0.0 <= float(temperature) <= 1.0:
            raise ValueError(temperature)
    except ValueError:
        raise bad_request(f"temperature must be a number from 0 to 1, got {temperature[:40]!r}",
                          param="temperature") from None
    model = model_table(settings).get(form.get("model", DEFAULT_MODEL).strip())
    given = {"task": task, "model": model, "language": form.get("language") or None,
             "initial_prompt": form.get("prompt") or None, "word_timestamps": True, "diarize": diarize}
    try:
        return JobOptions.from_mapping(given)
    except OptionsError as exc:
        param = next((name for name in ("language", "prompt") if name in str(exc)), None)
        raise bad_request(str(exc), param=param) from None


def _diarization_configured(settings: Settings) -> bool:
    pipeline = settings.diarization_pipeline
    return bool(pipeline) and (Path(pipeline).is_dir() or bool(settings.diarization_token))


def _audio(task: str) -> Response:
    with received_audio(services(), "file", pcm=False) as received:
        form = received.form
        fmt = form.get("response_format", "json").strip()
        if fmt not in RESPONSE_FORMATS or (task == "translate" and fmt == "diarized_json"):
            allowed = [name for name in RESPONSE_FORMATS if task == "transcribe" or name != "diarized_json"]
            raise bad_request(f"response_format must be one of {', '.join(allowed)}, got {fmt[:40]!r}",
                              param="response_format")
        granularities = form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")
        if any(item not in GRANULARITIES for item in granularities):
            raise bad_request(f"timestamp_granularities must be word and/or segment, got {granularities!r}",
                              param="timestamp_granularities")
        if granularities and fmt != "verbose_json":
            raise bad_request("timestamp_granularities needs response_format verbose_json",
                              param="timestamp_granularities")
        stream = _flag(form, "stream")
        options = _request_options(form, task, fmt)
        job = job_for(received, options, JobSource.OPENAI)
    deferred = respond_async(job)
    if deferred is not None:
        return deferred
    if stream:
        return Response(stream_with_context(_events(job, fmt)), mimetype="text/event-stream",
                        headers={"X-Accel-Buffering": "no"})
    return _answer(wait_for_end(job), task, fmt, granularities)


def _answer(job: Job, task: str, fmt: str, granularities: list[str]) -> Response:
    transcript = job_transcript(job, services().store)
    if fmt in TEXT_TYPES:
        return Response(TEXT_FORMATS[fmt](transcript), mimetype=TEXT_TYPES[fmt])
    if fmt == "verbose_json":
        return jsonify(verbose_json(transcript, task, words="word" in granularities,
                                    segments=not granularities or "segment" in granularities))
    if fmt == "diarized_json":
        return jsonify(diarized_json(transcript))
    return jsonify(openai_json(transcript))


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _events(job: Job, fmt: str) -> Iterator[str]:
    """The server-sent events of a streamed request: a delta per segment as it is persisted, then
    the speaker segments (``diarized_json``) and ``transcript.text.done``; an ``error`` event if the
    job does not succeed or the hold limit passes."""
    svc = services()
    deadline = time.monotonic() + svc.settings.compat_hold_seconds
    sent, state = 0, None
    try:
        while state is None or not state.ended:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CompatError(503, f"job {job.id} is still running; retry to wait again", kind="server_error",
                                  code="still_running")
            state = watcher().wait(job.id, state, min(left, DISCONNECT_CHECK))
            if client_gone():
                return
            if state is None or state.segments <= sent:
                continue  # only the watcher's wake-up, or the disconnect check: nothing new to read
            new: list[SegmentRecord] = list(islice(svc.store.segments(job.id), sent, None))
            for record in new:
                yield _event({"type": "transcript.text.delta", "delta": (" " if sent else "") + record.text})
                sent += 1
        transcript = job_transcript(ended_job(job.id), svc.store)
    except CompatError as exc:
        yield _event({"type": "error", "error": {"message": exc.message, "type": exc.kind, "param": exc.param,
                                                 "code": exc.code}})
        return
    if fmt == "diarized_json":
        letters = speaker_letters(transcript)
        for number, spoken in enumerate(transcript.segments):
            yield _event(diarized_segment(spoken, number, letters))
    yield _event({"type": "transcript.text.done", "text": transcript.text})
