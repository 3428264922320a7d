"""whisper-asr-webservice's API as Bazarr's Whisper provider calls it: ``GET /status``,
``POST /asr`` and ``POST /detect-language``, query parameters for the options and the audio in the
multipart field ``audio_file`` (with ``encode=false``: raw s16le 16 kHz mono PCM, no header).

Bazarr ignores the status code and keeps any body that parses as SRT, so every error is JSON
(``webui.compat.errors``), never subtitle-like text.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import PurePosixPath

from flask import Blueprint, Response, jsonify, request

from runner.core.languages import language_name
from runner.core.options import JobOptions, OptionsError
from runner.core.schema import JobSource
from webui.compat.answers import TEXT_FORMATS, job_transcript, whisper_json
from webui.compat.errors import bad_request
from webui.compat.receive import received_audio
from webui.compat.service import held, job_for, respond_async, wait_for_end
from webui.downloads import content_disposition
from webui.services import services

bp = Blueprint("bazarr", __name__)

FIELD = "audio_file"
OUTPUTS = ("txt", "srt", "vtt", "tsv", "json")
_OPTION_ARGS = ("task", "language", "initial_prompt", "vad_filter", "word_timestamps", "diarize", "min_speakers",
                "max_speakers")


def _version() -> str:
    try:
        return version("spoolscribe")
    except PackageNotFoundError:  # a checkout that was never installed
        return "unknown"


@bp.get("/status")
def status() -> Response:
    """Open to all (Bazarr's connection check): the service, its ``version`` and default model."""
    return jsonify(service="spoolscribe", version=_version(), model=services().settings.model)


def _encoded() -> bool:
    value = request.args.get("encode", "true").strip().lower()
    if value not in ("true", "false"):
        raise bad_request(f"encode must be true or false, got {value[:40]!r}", param="encode")
    return value == "true"


def _options(task: str) -> JobOptions:
    given: dict[str, str | None] = {name: request.args.get(name) or None for name in _OPTION_ARGS}
    given["task"] = task
    try:
        return JobOptions.from_mapping(given)
    except OptionsError as exc:
        raise bad_request(str(exc)) from None


@bp.post("/asr")
@held
def asr() -> Response:
    """Transcribe (or translate) the audio; answer the transcript as ``output`` (txt, srt, vtt, tsv,
    json), as an attachment named after the uploaded file."""
    output = request.args.get("output", "txt").strip().lower()
    if output not in OUTPUTS:
        raise bad_request(f"output must be one of {', '.join(OUTPUTS)}, got {output[:40]!r}", param="output")
    task = request.args.get("task", "transcribe").strip().lower()
    if task not in ("transcribe", "translate"):
        raise bad_request(f"task must be transcribe or translate, got {task[:40]!r}", param="task")
    options, pcm = _options(task), not _encoded()
    with received_audio(services(), FIELD, pcm=pcm) as received:
        job = job_for(received, options, JobSource.BAZARR)
    deferred = respond_async(job)
    if deferred is not None:
        return deferred
    transcript = job_transcript(wait_for_end(job), services().store)
    headers = {"Content-Disposition": content_disposition(f"{PurePosixPath(received.name).stem}.{output}", job.id)}
    if output == "json":
        response = jsonify(whisper_json(transcript))
        response.headers.update(headers)
        return response
    return Response(TEXT_FORMATS[output](transcript), mimetype="text/plain", headers=headers)


@bp.post("/detect-language")
@held
def detect_language() -> Response:
    """The spoken language, found by a runner from speech without transcribing the track:
    ``{"detected_language": "<name>", "language_code": "<code>", "confidence": 0..1}``."""
    pcm = not _encoded()
    with received_audio(services(), FIELD, pcm=pcm) as received:
        job = job_for(received, JobOptions(task="detect", word_timestamps=False), JobSource.BAZARR)
    deferred = respond_async(job)
    if deferred is not None:
        return deferred
    job = wait_for_end(job)
    return jsonify(detected_language=language_name(job.language), language_code=job.language,
                   confidence=round(job.language_probability or 0.0, 4))
