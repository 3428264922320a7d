"""The names downloads are saved under: the one builder of every ``Content-Disposition`` header.

RFC 6266 (Content-Disposition in HTTP) with the RFC 8187 (formerly RFC 5987) extended parameter:
``attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>``. Browsers
read ``filename*`` and save the name as it is; ``curl -OJ`` (and other simple clients) read only
``filename``, take it up to the next ``"`` without unescaping quoted-pairs, and cut it after the
last ``/`` or ``\\``. So the fallback is a name that is safe as it stands: printable ASCII
without quotes, backslashes, slashes or ``%`` (RFC 6266, section 4.3), never empty and never a
dot name (``.``, ``..``, a hidden ``.srt``): when nothing is left of the stem, the job id names
the file, with the extension kept (``<job id>.srt``).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from runner.core.text import printable

MAX_STEM_BYTES = 200
"""Longest stem of a download name, in UTF-8 bytes (file systems allow 255 for the whole name)."""
ATTR_CHARS = "!#$&+-.^_`|~"
"""RFC 8187 ``attr-char`` punctuation: what ``filename*`` keeps as is (letters and digits too)."""
_NOT_FALLBACK = re.compile(r"[^A-Za-z0-9 !#$&'()+,\-.;=@\[\]^_`{}~]")
"""Anything but letters, digits, space and the punctuation safe inside a quoted ``filename``."""


def _parts(name: str) -> tuple[str, str]:
    """``(stem, extension)`` of a file name, the extension without its dot (empty when none)."""
    stem, dot, extension = name.rpartition(".")
    return (stem, extension) if dot else (name, "")


def _joined(stem: str, extension: str, fallback: str) -> str:
    """``stem.extension`` with the stem's leading dots and spaces and trailing spaces removed and
    cut to ``MAX_STEM_BYTES``; ``fallback`` instead of a stem that is then empty."""
    stem = stem.lstrip(". ").rstrip(" ")
    stem = stem.encode("utf-8")[:MAX_STEM_BYTES].decode("utf-8", errors="ignore").rstrip(" ") or fallback
    return f"{stem}.{extension}" if extension else stem


def _ascii(text: str) -> str:
    """``text`` in ASCII safe inside a quoted ``filename``: accents taken off (NFKD), other
    non-ASCII letters left out, unsafe characters replaced by ``_``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_FALLBACK.sub("_", plain)


def download_names(name: str, fallback: str) -> tuple[str, str]:
    """``(unicode name, ASCII fallback)`` a file called ``name`` (any text a user gave: only its
    last path component counts) downloads as; ``fallback`` (the job id) replaces a stem that is
    empty, only dots or spaces, or (in the ASCII name) only non-ASCII letters. Control and bidi
    characters are escaped (``runner.core.text.printable``), then separators become ``_``."""
    last = re.split(r"[/\\]", name)[-1]
    stem, extension = _parts(re.sub(r"[/\\]", "_", printable(last)).strip())
    plain_stem, plain_extension = _ascii(stem), _ascii(extension)
    return _joined(stem, extension, fallback), _joined(plain_stem, plain_extension, _ascii(fallback))


def content_disposition(name: str, fallback: str) -> str:
    """The ``Content-Disposition`` value of an attachment called ``name`` (see ``download_names``):
    ``attachment; filename="talk.srt"``, or with the name that is not plain ASCII after it,
    ``attachment; filename="Marz.srt"; filename*=UTF-8''M%C3%A4rz.srt``."""
    unicode_name, plain = download_names(name, fallback)
    value = f'attachment; filename="{plain}"'
    if unicode_name != plain:
        value += f"; filename*=UTF-8''{quote(unicode_name, safe=ATTR_CHARS)}"
    return value
