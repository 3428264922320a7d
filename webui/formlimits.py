"""Telling apart why werkzeug's multipart parser refused a form.

werkzeug raises the same bare 413 for a text field over ``max_form_memory_size``, for more parts
than ``max_form_parts`` and for a body over the request's size limit; a person needs to know
which. ``PartCounter`` is the stream the parser reads: on the way it counts the parts' boundary
lines and notes the name of the last part begun, so ``explain`` can name the count or the field.
"""

from __future__ import annotations

import re
from typing import IO

from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from runner.core.text import printable

_PART_NAME = re.compile(rb'content-disposition:[^\r\n]*?\bname="([^"\r\n]{0,200})"', re.IGNORECASE)
_KEEP = 1024  # bytes of the previous read searched again: part headers that straddle two reads


class PartCounter:
    """A read-only stream over ``stream`` (the request body) for a form whose parts are separated
    by ``boundary``; ``parts`` counts the boundary lines after the first (parts begun, plus the
    closing one), ``field`` is the name of the last part whose header went by (or None)."""

    def __init__(self, stream: IO[bytes], boundary: str) -> None:
        self.stream, self.marker = stream, b"\r\n--" + boundary.encode("latin-1", "replace")
        self.parts, self.field, self._tail = 0, None, b""

    def read(self, size: int = -1) -> bytes:
        """Read like ``stream.read``, counting on the way."""
        data = self.stream.read(size)
        window = self._tail + data
        self.parts += window.count(self.marker) - self._tail.count(self.marker)
        names = _PART_NAME.findall(window)
        if names:
            self.field = names[-1].decode("utf-8", "replace")
        self._tail = window[-_KEEP:]
        return data

    def explain(self, exc: RequestEntityTooLarge, max_parts: int, max_field_bytes: int) -> HTTPException:
        """The error to answer for ``exc``, raised while parsing through this stream: a 400 naming the
        count for too many parts, a 413 naming the field for a text field over ``max_field_bytes``;
        ``exc`` itself when it has its own message (a file over the upload limit) or is the
        request's size limit (the same bare 413, raised by the body's stream itself)."""
        if exc.description != RequestEntityTooLarge.description:
            return exc
        if self.parts > max_parts:
            return BadRequest(f"the form has more than {max_parts} parts (files and fields); send fewer")
        if self.field is not None:
            return RequestEntityTooLarge(f"the field '{printable(self.field)}' is longer than "
                                         f"{max_field_bytes // 1024} KiB; send a shorter value")
        return exc
