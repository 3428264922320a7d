"""Editing a transcript's text: what a segment's new text may be, and the segment saying it.

Pure functions on ``runner.core.transcript`` dataclasses (the web calls them through
``webui.rewrite``, which writes the outputs and the index).
"""

from __future__ import annotations

import dataclasses
import unicodedata

from runner.core.errors import SpoolscribeError
from runner.core.transcript import Segment

MAX_SEGMENT_CHARS = 2000
LINE_SPACE = "\t\n\r"
"""The control characters an edit may hold: they become spaces, like every run of white space."""


class SegmentTextError(SpoolscribeError, ValueError):
    """Text that cannot be a segment's (empty, too long, control characters); the message says which."""


def clean_text(value: str) -> str:
    """A segment's new text: white space (line breaks and tabs included) collapsed to one space, stripped.

    Raises:
        SegmentTextError: empty, longer than ``MAX_SEGMENT_CHARS``, or with a control character
            (Unicode category Cc: C0, DEL, C1) other than a line break or a tab.
    """
    if any(unicodedata.category(c) == "Cc" and c not in LINE_SPACE for c in value):
        raise SegmentTextError("the text contains control characters (only line breaks and tabs are "
                               "allowed; they become spaces)")
    cleaned = " ".join(value.split())
    if not cleaned:
        raise SegmentTextError("the text is empty; a segment needs some text")
    if len(cleaned) > MAX_SEGMENT_CHARS:
        raise SegmentTextError(f"the text is longer than {MAX_SEGMENT_CHARS} characters")
    return cleaned


def with_text(segment: Segment, value: str) -> Segment:
    """``segment`` saying ``value``, times and speaker kept. When ``value`` has as many words as
    the segment has timed words, each word takes the new spelling with its times (so subtitles
    keep word timing); otherwise the words are kept as the model gave them, and cues are timed by
    characters (``runner.output.cues``)."""
    spellings = value.split()
    if len(spellings) != len(segment.words):
        return dataclasses.replace(segment, text=value)
    words = tuple(dataclasses.replace(word, word=" " + spelling) for word, spelling in zip(segment.words, spellings,
                                                                                             strict=True))
    return dataclasses.replace(segment, text=value, words=words)
