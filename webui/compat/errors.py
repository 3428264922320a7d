"""Errors of the compat APIs, in OpenAI's shape for both of them:
``{"error": {"message", "type", "param", "code"}}`` with a non-2xx status. The body is JSON, never
text that could parse as subtitles (Bazarr keeps any body that parses as SRT, whatever the status)."""

from __future__ import annotations

from flask import Response, jsonify

RETRY_AFTER = 10
"""Seconds a client is asked to wait before retrying a 503 (the official OpenAI client honours up to 60)."""


class CompatError(Exception):
    """An answer other than the result: ``status`` (HTTP), ``message`` for the person, OpenAI's
    ``kind`` (``type``), ``param`` (the field at fault) and ``code``. 503s carry ``Retry-After``;
    validation errors (4xx other than 401, 408, 409, 429) carry ``x-should-retry: false``."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def response(self) -> Response:
        """The JSON answer with its status and headers."""
        response = jsonify(error={"message": self.message, "type": self.kind, "param": self.param,
                                  "code": self.code})
        response.status_code = self.status
        if self.status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER)
        elif 400 <= self.status < 500 and self.status not in (401, 408, 409, 429):
            response.headers["x-should-retry"] = "false"
        return response


def bad_request(message: str, param: str | None = None, code: str | None = None) -> CompatError:
    """A 400 for a field the client got wrong."""
    return CompatError(400, message, param=param, code=code)


def unavailable(message: str, code: str = "unavailable") -> CompatError:
    """A 503 with ``Retry-After``: come back later (the work, if any, goes on)."""
    return CompatError(503, message, kind="server_error", code=code)
