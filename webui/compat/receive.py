"""Receiving a compat request's audio: the multipart body streams into the spool's ``tmp/`` (never
whole in memory, at most ``Settings.max_upload_bytes``) while its SHA-256 is computed; raw PCM
(Bazarr's ``encode=false``: s16le, 16 kHz, mono, no header) is wrapped as WAV on the way in, so
runners decode it like any file. The file is then probed for audio in a child process."""

from __future__ import annotations

import hashlib
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from runner.core.diskguard import human_bytes
from webui.compat.errors import CompatError, bad_request
from webui.probe import MediaRefused, probe_upload
from webui.services import Services
from webui.uploads import CappedFile, display_name, parse_parts

PCM_RATE, PCM_WIDTH = 16000, 2  # Hz, bytes per sample: whisper-asr-webservice's encode=false input
FORM_OVERHEAD = 1 << 20  # bytes of a request beyond its file
DRAIN_BYTES, DRAIN_CHUNK = 256 << 20, 1 << 16  # most bytes of a refused body read (and dropped) before the 413


@dataclass(frozen=True)
class Received:
    """An uploaded audio file in the spool's ``tmp/``: the name to show, its path, the hex SHA-256
    of the bytes as sent, its duration in seconds (None when the container does not say), and the
    request's text fields."""

    name: str
    path: Path
    sha256: str
    duration: float | None
    form: MultiDict


class _Sink(CappedFile):
    """Where werkzeug's parser writes the file part: capped at ``limit`` bytes, hashed, and for raw
    PCM written through ``wave`` (which fills in the WAV header's sizes on ``finish``)."""

    def __init__(self, handle: BinaryIO, path: Path, limit: int, pcm: bool) -> None:
        super().__init__(handle, path, limit, "")
        self.digest = hashlib.sha256()
        self.wav: wave.Wave_write | None = None
        if pcm:
            self.wav = wave.open(handle, "wb")  # noqa: SIM115 (closed by finish, after the last write)
            self.wav.setnchannels(1)
            self.wav.setsampwidth(PCM_WIDTH)
            self.wav.setframerate(PCM_RATE)

    def write(self, data: bytes) -> int:
        if self.wav is None:
            written = super().write(data)
        else:
            self.size += len(data)
            if self.size > self.limit:
                raise RequestEntityTooLarge()
            self.wav.writeframesraw(data)
            written = len(data)
        self.digest.update(data)
        return written

    def finish(self) -> None:
        """Complete the file (the WAV header's sizes) and close it."""
        if self.wav is not None:
            self.wav.close()  # leaves the file itself open
            self.wav = None
        self.handle.close()


def too_large(services: Services) -> CompatError:
    """The 413 of a body over ``max_upload_bytes``, once the rest of the body (up to ``DRAIN_BYTES``)
    has been read and dropped: clients such as the official OpenAI one send the whole body before
    they read an answer, and would see a closed connection instead of the 413."""
    left = DRAIN_BYTES
    while left > 0 and (chunk := request.stream.read(min(left, DRAIN_CHUNK))):
        left -= len(chunk)
    limit = services.settings.max_upload_bytes
    return CompatError(413, f"the audio is larger than this server accepts ({human_bytes(limit)}, "
                            "SPOOLSCRIBE_MAX_UPLOAD_BYTES)", param="file", code="request_too_large")


@contextmanager
def received_audio(services: Services, field: str, *, pcm: bool) -> Iterator[Received]:
    """Receive this request's multipart body: the audio in ``field`` (as raw s16le 16 kHz mono PCM
    when ``pcm``) into the spool's ``tmp/``, probed for audio; yield it, remove the file on leaving.

    Raises:
        CompatError: 400 not multipart, malformed, no file in ``field``, or no decodable audio
            (``invalid_file_format``); 413 over ``max_upload_bytes`` (``request_too_large``).
    """
    limit = services.settings.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        raise too_large(services)
    if request.mimetype != "multipart/form-data":
        raise bad_request(f"send a multipart/form-data body with the audio in the field '{field}'", param=field)
    sinks: list[CappedFile] = []

    def sink_of(handle: BinaryIO, path: Path) -> CappedFile:
        return _Sink(handle, path, limit, pcm)

    try:
        try:
            form, files = parse_parts(services.spool.tmp, ".compat-", sink_of, sinks, ".wav" if pcm else None)
        except RequestEntityTooLarge:
            raise too_large(services) from None
        except BadRequest as exc:
            raise bad_request(str(exc.description)) from None
        storage = files.get(field)
        if storage is None:
            raise bad_request(f"no audio in the request: send it as the file field '{field}'", param=field)
        sink = cast(_Sink, storage.stream)
        sink.finish()
        name = display_name(storage.filename or field)
        try:
            duration = probe_upload(sink.path)
        except MediaRefused as exc:
            raise bad_request(f"the file has no audio this server can decode: {exc}", param=field,
                              code="invalid_file_format") from None
        yield Received(name, sink.path, sink.digest.hexdigest(), duration, form)
    finally:
        for part in sinks:
            part.close()
            part.path.unlink(missing_ok=True)
