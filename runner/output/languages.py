"""Language tags of subtitle files and media streams, as ISO 639-1 codes (``en``), by ``pycountry``.

Media servers (Jellyfin, Plex, Kodi) name external subtitles ``Movie (2020).en.srt`` and also accept
three-letter tags (``.eng.srt``, ISO 639-2/T or /B such as ``ger``); containers tag streams with
ISO 639-2 codes (Matroska, MP4) or BCP 47 tags (``en-US``).
"""

from __future__ import annotations

import re

import pycountry

from runner.core.options import LANGUAGE_TAG

UNCERTAIN_PROBABILITY = 0.5
"""A detected language below this probability defers to the audio track's own tag."""


def iso639_1(tag: str | None) -> str | None:
    """The two-letter code of a language tag (``en``, ``eng``, ``ger``, ``en-US``, any case), or
    None for no tag, ``und``, or a tag that is not a language with a two-letter code."""
    if not tag or not LANGUAGE_TAG.fullmatch(tag.strip().lower()):
        return None
    primary = re.split(r"[-_]", tag.strip().lower())[0]
    language = (pycountry.languages.get(alpha_2=primary) if len(primary) == 2
                else pycountry.languages.get(alpha_3=primary) or pycountry.languages.get(bibliographic=primary))
    return getattr(language, "alpha_2", None)


def tags_of(code: str) -> frozenset[str]:
    """Every file-name tag of the language with two-letter ``code``: ``{"de", "deu", "ger"}``."""
    language = pycountry.languages.get(alpha_2=code)
    if language is None:
        return frozenset({code})
    return frozenset({code, language.alpha_3, getattr(language, "bibliographic", language.alpha_3)})


def subtitle_language(asked: str | None, detected: str | None, probability: float | None,
                      audio_tag: str | None) -> str | None:
    """The language tag of a job's subtitles: the language the job asked for; else the detected
    one, unless its probability is below ``UNCERTAIN_PROBABILITY`` and the audio track carries a
    language tag, which then decides; None when nothing is known."""
    if asked:
        return asked
    from_track = iso639_1(audio_tag)
    if from_track and (detected is None or (probability is not None and probability < UNCERTAIN_PROBABILITY)):
        return from_track
    return iso639_1(detected) or detected
