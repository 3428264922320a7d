"""Showing untrusted text (file names, paths, URLs people give) in logs, terminals and headers.

A name may hold anything but ``/`` and NUL: a newline forges a whole log line (under systemd the
journal adds no marker to tell it apart), ESC sequences repaint a terminal, and Unicode bidi
controls make ``evil\u202egnp.mp3`` read as another name. ``printable`` escapes them all, so one
event stays one line and what is shown is what is there; the original stays untouched in the
database and in JSON.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_LINE_SEPARATORS = (0x2028, 0x2029)


def _escape(code: int) -> str:
    if chr(code) in _NAMED:
        return _NAMED[chr(code)]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE = {code: _escape(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, *_LINE_SEPARATORS)}


def printable(text: object) -> str:
    """``str(text)`` with every C0 and C1 control character, DEL, Unicode bidi control and line or
    paragraph separator written as an escape (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\x85``,
    ``\\u202e``); everything else, including other non-ASCII letters, as it is. Never raises."""
    return str(text).translate(_TABLE)
