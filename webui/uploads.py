"""Receiving uploads: each file streams into the spool's ``tmp/`` (never whole in memory), is
probed for audio, and is then delivered through the spool like any CLI submission.

A request may carry at most ``max_upload_bytes`` of file data (plus ``FORM_OVERHEAD`` for the
multipart framing and options): a declared ``Content-Length`` above it is refused before any byte is
read, a file that grows past it while streaming is refused as soon as it does, and in every case of
failure the temporary files are removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.formparser import FormDataParser

from runner.core.diskguard import human_bytes
from runner.core.options import JobOptions, OptionsError
from runner.core.schema import Job, JobSource
from runner.core.settings import Settings
from runner.core.spool import MAX_NAME_CHARS, media_extension
from runner.core.urls import parse_url, refusal
from runner.jobs.submit import submit_path
from webui.auth import CSRF_HEADER, check_csrf
from webui.formlimits import PartCounter
from webui.probe import MediaRefused, probe_upload
from webui.services import Services

FILE_FIELD = "file"
CSRF_FIELD = "csrf_token"
CALLBACK_FIELD = "callback_url"
FORM_OVERHEAD = 1 << 20  # bytes of a request beyond its files: boundaries, part headers, options
MAX_FIELD_BYTES = 512 * 1024  # a text field (werkzeug also buffers up to this much of the body)
MAX_PARTS = 200


def too_large(settings: Settings) -> str:
    """The message of a 413: the limit and the setting that changes it."""
    return (f"the upload is larger than this server accepts ({human_bytes(settings.max_upload_bytes)}, "
            "SPOOLSCRIBE_MAX_UPLOAD_BYTES); nothing was kept")


@dataclass(frozen=True)
class Received:
    """An uploaded file in the spool's ``tmp/``: its original name and its temporary path."""

    name: str
    path: Path


class CappedFile:
    """The temporary file werkzeug's form parser writes a part into; refuses growth past ``limit``."""

    def __init__(self, handle: BinaryIO, path: Path, limit: int, message: str) -> None:
        self.handle, self.path, self.limit, self.message, self.size = handle, path, limit, message, 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise RequestEntityTooLarge(self.message)
        return self.handle.write(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.handle.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        return self.handle.read(size)

    def close(self) -> None:
        self.handle.close()


def display_name(filename: str) -> str:
    """The name to keep for a file: as sent, less any folder part a browser may add.

    Raises:
        werkzeug.exceptions.BadRequest: empty, too long, or containing NUL.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.strip() or "\0" in name or len(name) > MAX_NAME_CHARS:
        raise BadRequest(f"unusable file name {filename[:80]!r}: it must be 1 to {MAX_NAME_CHARS} characters "
                         "without NUL")
    return name


def parse_parts(directory: Path, prefix: str, make: Callable[[BinaryIO, Path], CappedFile], parts: list[CappedFile],
                suffix: str | None = None) -> tuple[MultiDict, MultiDict]:
    """Parse the current request's multipart body: each file part streams into a new temporary file
    in ``directory`` (named ``prefix``..., ending in ``suffix`` or the file name's media extension),
    written through ``make(handle, path)``, which is appended to ``parts`` (the caller removes them).
    Returns the text fields and the files (``FileStorage`` whose ``stream`` is the part's writer).

    Raises:
        werkzeug.exceptions.BadRequest: a malformed body.
        werkzeug.exceptions.RequestEntityTooLarge: a part over its limit.
    """

    def stream_factory(total_content_length: int | None, content_type: str | None, filename: str | None,
                       content_length: int | None = None) -> CappedFile:
        fd, name = tempfile.mkstemp(dir=directory, prefix=prefix,
                                    suffix=media_extension(filename or "") if suffix is None else suffix)
        parts.append(make(os.fdopen(fd, "w+b"), Path(name)))
        return parts[-1]

    # CappedFile is a duck-typed IO[bytes] (write/seek/read/close are all werkzeug uses), not a subclass
    parser = FormDataParser(stream_factory, max_form_memory_size=MAX_FIELD_BYTES, silent=False,  # type: ignore[arg-type]
                            max_form_parts=MAX_PARTS)
    counter = PartCounter(request.stream, request.mimetype_params.get("boundary", ""))
    try:
        _, form, files = parser.parse(counter, request.mimetype, request.content_length,  # type: ignore[arg-type]
                                      request.mimetype_params)
    except ValueError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except RequestEntityTooLarge as exc:
        raise counter.explain(exc, MAX_PARTS, MAX_FIELD_BYTES) from None
    return form, files


@contextmanager
def _received(services: Services) -> Iterator[tuple[MultiDict, list[Received]]]:
    """Parse this request's multipart body, files into the spool's ``tmp/``; yield (fields, files).
    Every temporary file is removed on leaving (a delivered file is a hard link by then)."""
    settings = services.settings
    temporary: list[CappedFile] = []  # the CappedFile of every file part
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(f"send the upload as multipart/form-data with the media in the field "
                                   f"'{FILE_FIELD}' (got {request.mimetype or 'no content type'})")
    request.max_content_length = settings.max_upload_bytes + FORM_OVERHEAD

    def capped(handle: BinaryIO, path: Path) -> CappedFile:
        return CappedFile(handle, path, settings.max_upload_bytes, too_large(settings))

    try:
        form, files = parse_parts(services.spool.tmp, ".upload-", capped, temporary)
        unknown = set(files) - {FILE_FIELD}
        if unknown:
            raise BadRequest(f"unknown file field(s) {', '.join(sorted(unknown))}: send the media as '{FILE_FIELD}'")
        received = [Received(display_name(storage.filename), cast(CappedFile, storage.stream).path)
                    for storage in files.getlist(FILE_FIELD) if storage.filename]
        for part in temporary:
            part.close()  # flushed, ready for the probe
        yield form, received
    finally:
        for part in temporary:
            part.close()
            part.path.unlink(missing_ok=True)


def options_from_form(form: MultiDict, settings: Settings) -> JobOptions:
    """Job options from the form fields other than ``csrf_token`` and ``callback_url``, by the one
    parser of ``runner.core.options`` (canonical names or aliases; ``formats`` a comma list or the
    field repeated; any other field given twice is refused).

    Raises:
        werkzeug.exceptions.BadRequest: an unknown field, an invalid value, or a model outside
            the allow-list (``SPOOLSCRIBE_WEB_MODELS``).
    """
    given = {key: values[0] if len(values) == 1 else values
             for key, values in form.lists() if key not in (CSRF_FIELD, CALLBACK_FIELD)}
    try:
        options = JobOptions.from_mapping(given)
    except OptionsError as exc:
        raise BadRequest(str(exc)) from None
    if options.model is not None and options.model not in allowed_models(settings):
        raise BadRequest(f"model {options.model!r} is not offered here; choose one of "
                         f"{', '.join(allowed_models(settings))} or leave it empty for the runners' default")
    return options


def callback_from_form(form: MultiDict, settings: Settings) -> str | None:
    """The job's completion webhook URL from the ``callback_url`` field (None when absent or empty).

    Raises:
        werkzeug.exceptions.BadRequest: not a usable http(s) URL (``runner.core.urls.parse_url``),
            a literal loopback, link-local, private, multicast or unspecified address while
            ``SPOOLSCRIBE_WEBHOOK_ALLOW_PRIVATE`` is off (a name is checked on its address when
            sending), or per-job callbacks are turned off (``SPOOLSCRIBE_WEBHOOK_CALLBACKS``).
    """
    value = form.get(CALLBACK_FIELD, "").strip()
    if not value:
        return None
    if not settings.webhook_callbacks:
        raise BadRequest("this server takes no per-job callback URL (SPOOLSCRIBE_WEBHOOK_CALLBACKS is off)")
    try:
        target = parse_url(value)
    except ValueError as exc:
        raise BadRequest(f"unusable callback URL: {exc}") from None
    reason = None if settings.webhook_allow_private or target.address is None else refusal(target.address)
    if reason is not None:
        raise BadRequest(f"the callback URL's host {target.host} is {reason}; this server sends no callbacks "
                         "there (SPOOLSCRIBE_WEBHOOK_ALLOW_PRIVATE)")
    return value


def allowed_models(settings: Settings) -> tuple[str, ...]:
    """The models an upload may ask for: the default and ``SPOOLSCRIBE_WEB_MODELS``."""
    return tuple(dict.fromkeys((settings.model, *settings.web_models)))


def accept_uploads(services: Services, *, one_file: bool, form_csrf: bool) -> list[Job]:
    """Receive the current request's upload(s) and queue one job per file, all or none.

    ``one_file``: refuse more than one file (the API). ``form_csrf``: check the CSRF token of the
    form field ``csrf_token`` (or the ``X-CSRF-Token`` header), for the page's form post.

    Raises:
        werkzeug.exceptions.HTTPException: 400 bad options, no file or a malformed body;
            413 too large; 415 not multipart, or a file without a decodable audio stream.
        flask_wtf.csrf.CSRFError: ``form_csrf`` and the token is wrong (400).
    """
    with _received(services) as (form, received):
        if form_csrf:
            check_csrf(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
        options = options_from_form(form, services.settings)
        callback_url = callback_from_form(form, services.settings)
        if not received:
            raise BadRequest(f"no file in the request: send the audio or video file in the field '{FILE_FIELD}'")
        if one_file and len(received) > 1:
            raise BadRequest("send one file per request (each file becomes its own job)")
        for item in received:
            try:
                probe_upload(item.path)
            except MediaRefused as exc:
                raise UnsupportedMediaType(f"{item.name}: {exc}") from None
        return [submit_path(services.store, services.spool, item.path, options, kind=JobSource.UPLOAD,
                            original_name=item.name, callback_url=callback_url) for item in received]
