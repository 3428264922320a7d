"""The media type a job's media is served with, from the container signature at the start of the
file: never from the name the uploader gave it (``notes.html`` holding audio stays audio).

Only audio and video types come out of here, and ``application/octet-stream`` for anything not
recognised: a browser told ``nosniff`` renders none of them as a page.
"""

from __future__ import annotations

import os
from typing import BinaryIO

OCTET_STREAM = "application/octet-stream"
HEAD_BYTES = 64
_FTYP_AUDIO = (b"M4A ", b"M4B ", b"M4P ")
_PREFIXES = (  # (offset, signature, type), first match wins
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"caff", "audio/x-caf"),
    (0, b"0&\xb2u\x8ef\xcf\x11", "video/x-ms-asf"),
    (0, b"\x00\x00\x01\xba", "video/mpeg"),
    (8, b"WAVE", "audio/wav"),
    (8, b"AVI ", "video/x-msvideo"),
    (8, b"AIFF", "audio/aiff"),
    (8, b"AIFC", "audio/aiff"),
)


def sniff(head: bytes) -> str:
    """The media type of a file that starts with ``head`` (its first ``HEAD_BYTES`` bytes):
    ``audio/wav``, ``audio/mpeg``, ``audio/mp4``, ``video/mp4``, ``video/webm``, ... or
    ``application/octet-stream`` when the container is not recognised."""
    for offset, signature, kind in _PREFIXES:
        if head[offset:offset + len(signature)] == signature and (offset == 0 or head[:4] in (b"RIFF", b"FORM")):
            return kind
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in _FTYP_AUDIO else "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"\x1aE\xdf\xa3":  # EBML: Matroska or WebM
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame header
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    return OCTET_STREAM


def media_type_of(handle: BinaryIO) -> str:
    """``sniff`` of the first bytes of the open file ``handle``, read from its descriptor at offset 0
    without moving its position (the file is never reopened by its path).

    Raises:
        OSError: the file cannot be read.
    """
    return sniff(os.pread(handle.fileno(), HEAD_BYTES, 0))
