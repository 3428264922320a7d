"""Showing untrusted text (file names, paths, URLs people give) in logs, terminals and headers.

A name may hold anything but ``/`` and NUL: a newline forges a whole log line (under systemd the
journal adds no marker to tell it apart), ESC sequences repaint a terminal, and Unicode bidi
controls (U+202E) make a name read as another, and a name in bytes that are not UTF-8 arrives with
lone surrogates (Python's ``surrogateescape``) that no terminal or log can encode. ``printable``
escapes them all, so one
event stays one line and what is shown is what is there; the original stays untouched in the
database and in JSON.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                      "\ud800-\udfff]")
"""C0 and C1 controls, DEL, the bidi controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI), the line
and paragraph separators, and lone surrogates."""
_BYTE_SURROGATES = range(0xDC80, 0xDD00)
"""``surrogateescape``'s stand-ins for the undecodable bytes 0x80-0xff (PEP 383)."""


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char in _NAMED:
        return _NAMED[char]
    if ord(char) in _BYTE_SURROGATES:
        return f"\\x{ord(char) - 0xDC00:02x}"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(text: object) -> str:
    """``str(text)`` with every C0 and C1 control character, DEL, Unicode bidi control and line or
    paragraph separator written as an escape (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\x85``,
    ``\\u202e``), and a byte that is not UTF-8 in a file name (a ``surrogateescape`` stand-in) as the
    byte's escape (``\\xff``); everything else, including other non-ASCII letters, as it is. Never raises."""
    return _ESCAPED.sub(_escape, str(text))
