"""A job's options: what to transcribe how, under one set of names, parsed and validated in one place
(``JobOptions.from_mapping``) by every way in: CLI flags, upload form fields, folder settings files,
job files in the spool and the database."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.core.errors import SpoolscribeError
from runner.core.languages import LANGUAGE_NAMES

LANGUAGES: tuple[str, ...] = tuple(sorted(LANGUAGE_NAMES))
"""The language codes Whisper knows (the keys of ``runner.core.languages.LANGUAGE_NAMES``), sorted."""
TASKS: tuple[str, ...] = ("transcribe", "translate", "detect")
"""``detect`` only finds the spoken language (from speech, not silence); the job has no segments."""
FORMATS: tuple[str, ...] = ("txt", "srt", "vtt", "json")
MAX_TEXT_OPTION = 2000
"""Longest initial prompt or hotwords, in characters (Whisper's prompt holds at most 224 tokens)."""
MAX_SPEAKERS = 100
"""Most speakers a job may ask diarization to find."""
SPEAKER_COUNTS: tuple[str, ...] = ("num_speakers", "min_speakers", "max_speakers")
MAX_AUDIO_TRACK = 100
"""Highest audio track number an option may name."""
AUDIO_TRACK_HELP = (f"a track number from 1 to {MAX_AUDIO_TRACK} (1 is the first audio track) or a language tag "
                    "such as en, deu or ger")
"""What an ``audio_track`` value may be: the one wording of every refusal of one."""
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{1,8})*")
"""An ISO 639 language tag as containers write them (``en``, ``eng``, ``ger``, ``en-us``)."""
MULTILINGUAL = "multi"
"""The ``language`` value that detects the language of every segment (a recording that switches)."""
CHANNELS: tuple[str, ...] = ("mix", "separate")
"""``mix``: every channel mixed into one waveform; ``separate``: each channel transcribed on its own,
its segments labelled ``channel 1``, ``channel 2``, ... as speakers (``runner.output.channels``)."""
NAMINGS: tuple[str, ...] = ("standard", "media")
"""How an inbox job's results are named: ``talk.srt`` beside the file, or ``Movie (2020).en.srt``
for media servers (see ``runner.output.inbox``)."""
CUE_LIMITS: dict[str, tuple[float, float]] = {
    "max_line_length": (10, 200), "max_lines": (1, 10), "max_cue_seconds": (1, 60), "max_cps": (5, 100)}
"""The cue shaping options with their allowed range; 0 turns a limit off (see ``runner.output.cues``)."""


class OptionsError(SpoolscribeError, ValueError):
    """An option value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class JobOptions:
    """How to transcribe one job.

    ``language`` None means detect it (from speech), ``"multi"`` detect it for every segment;
    ``model`` None means the runner's default model;
    ``formats`` is a non-empty subset of ``FORMATS`` in that order. ``diarize`` asks for speaker
    diarization, with the exact number of speakers (``num_speakers``) or bounds
    (``min_speakers``/``max_speakers``) when known; None lets the pipeline decide.

    Subtitle cues (srt, vtt) are shaped within ``max_line_length`` characters per line,
    ``max_lines`` lines, ``max_cue_seconds`` seconds and ``max_cps`` characters per second; 0 turns
    a limit off, all four 0 keeps whole segments. ``naming`` is "standard" or "media" (inbox jobs only).
    ``audio_track`` picks the audio stream of a file with several: a number from 1 (the second audio
    track is 2) or a language tag (``de``, ``ger``, ``deu``); None takes the default-flagged one.
    ``channels`` is one of ``CHANNELS`` ("separate" cannot be combined with ``diarize``).
    """

    language: str | None = None
    task: str = "transcribe"
    model: str | None = None
    formats: tuple[str, ...] = FORMATS
    initial_prompt: str | None = None
    hotwords: str | None = None
    vad_filter: bool = True
    word_timestamps: bool = True
    diarize: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    max_line_length: int = 42
    max_lines: int = 2
    max_cue_seconds: float = 7.0
    max_cps: float = 20.0
    naming: str = "standard"
    audio_track: int | str | None = None
    channels: str = "mix"

    def __post_init__(self) -> None:
        language = (self.language or "").strip().lower()
        if language in ("", "auto"):
            object.__setattr__(self, "language", None)
        elif language not in LANGUAGES and language != MULTILINGUAL:
            raise OptionsError(f"unknown language {self.language!r}; use 'auto', '{MULTILINGUAL}' (a recording "
                               "that switches languages) or a code such as en, de, zh")
        else:
            object.__setattr__(self, "language", language)
        if self.task not in TASKS:
            raise OptionsError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        object.__setattr__(self, "formats", parse_formats(self.formats))
        for name in ("model", "initial_prompt", "hotwords"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise OptionsError(f"{name} must be text")
            if isinstance(value, str):
                value = value.strip() or None
                if value is not None and len(value) > MAX_TEXT_OPTION:
                    raise OptionsError(f"{name} is longer than {MAX_TEXT_OPTION} characters")
                object.__setattr__(self, name, value)
        for name in ("vad_filter", "word_timestamps", "diarize"):
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(f"{name} must be true or false")
        self._check_speaker_counts()
        self._check_cue_limits()
        if self.naming not in NAMINGS:
            raise OptionsError(f"naming must be one of {', '.join(NAMINGS)}, got {self.naming!r}")
        self._check_audio_track()
        if self.channels not in CHANNELS:
            raise OptionsError(f"channels must be one of {', '.join(CHANNELS)}, got {self.channels!r}")
        if self.channels == "separate" and self.diarize:
            raise OptionsError("give diarize or channels=separate, not both (with separate channels, each channel "
                               "is a speaker)")

    def _check_audio_track(self) -> None:
        track = self.audio_track
        if isinstance(track, str):
            track = track.strip().lower() or None
            object.__setattr__(self, "audio_track", track)
        if track is None:
            return
        if (isinstance(track, bool) or not isinstance(track, int | str)
                or (isinstance(track, int) and not 1 <= track <= MAX_AUDIO_TRACK)
                or (isinstance(track, str) and not LANGUAGE_TAG.fullmatch(track))):
            raise OptionsError(f"audio_track must be {AUDIO_TRACK_HELP}, got {track!r}")

    def _check_cue_limits(self) -> None:
        for name, (low, high) in CUE_LIMITS.items():
            value = getattr(self, name)
            whole = name in ("max_line_length", "max_lines")
            if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
                raise OptionsError(f"{name} must be a {'whole ' if whole else ''}number, got {value!r}")
            if value != 0 and not low <= value <= high:
                raise OptionsError(f"{name} must be 0 (no limit) or from {low:g} to {high:g}, got {value!r}")
            if not whole:
                object.__setattr__(self, name, float(value))

    def _check_speaker_counts(self) -> None:
        given = [name for name in SPEAKER_COUNTS if getattr(self, name) is not None]
        for name in given:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SPEAKERS:
                raise OptionsError(f"{name} must be a whole number from 1 to {MAX_SPEAKERS}, got {value!r}")
        if given and not self.diarize:
            raise OptionsError(f"{given[0]} needs diarize (speaker diarization) to be on")
        if self.num_speakers is not None and (self.min_speakers is not None or self.max_speakers is not None):
            raise OptionsError("give either num_speakers or min_speakers/max_speakers, not both")
        if self.min_speakers is not None and self.max_speakers is not None and self.min_speakers > self.max_speakers:
            raise OptionsError(f"min_speakers ({self.min_speakers}) is more than max_speakers ({self.max_speakers})")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> JobOptions:
        """Build options from names and values, as every way in gives them: form fields and CLI
        flags (strings), TOML and JSON (typed values), job files and the database (``to_dict``).

        See ``parse_options`` for the names and conversions; what is not given keeps its default.

        Raises:
            OptionsError: an unknown name, a value of the wrong kind, or an invalid combination.
        """
        return cls(**parse_options(mapping))

    def to_dict(self) -> dict[str, Any]:
        """The options under their canonical names as a JSON-ready dict (``formats`` as a list),
        for job files and the database; ``from_mapping`` reads it back."""
        data = dataclasses.asdict(self)
        data["formats"] = list(self.formats)
        return data


def parse_formats(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Turn ``"srt,txt"`` or ``["srt", "txt"]`` into ``("txt", "srt")`` (canonical order).

    Raises:
        OptionsError: an unknown format or none at all.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted = {str(item).strip().lower() for item in items if str(item).strip()}
    unknown = wanted - set(FORMATS)
    if unknown:
        raise OptionsError(f"unknown output format(s) {', '.join(sorted(unknown))}; choose from {', '.join(FORMATS)}")
    if not wanted:
        raise OptionsError(f"choose at least one output format from {', '.join(FORMATS)}")
    return tuple(fmt for fmt in FORMATS if fmt in wanted)


ALIASES: Mapping[str, str] = {"format": "formats", "prompt": "initial_prompt", "vad": "vad_filter"}
"""Older spellings still accepted (CLI flags, folder settings files), each the alias of a canonical name."""
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise OptionsError(f"{key} must be text, got {value!r}")
    return value


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower() if isinstance(value, str) else None
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise OptionsError(f"{key} must be true or false (or yes/no, on/off, 1/0), got {value!r}")


def _count(key: str, value: Any) -> int | None:
    try:
        return _whole(key, value)
    except OptionsError:
        raise OptionsError(f"{key} must be a whole number from 1 to {MAX_SPEAKERS}, got {value!r}") from None


def _whole(key: str, value: Any) -> int | None:
    if isinstance(value, str):
        if not value.strip():
            return None  # an empty number field of a form: not given
        try:
            return int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    raise OptionsError(f"{key} must be a whole number, got {value!r}")


def _number(key: str, value: Any) -> float | None:
    if isinstance(value, str):
        if not value.strip():
            return None  # an empty number field of a form: not given
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise OptionsError(f"{key} must be a number, got {value!r}")


def _track(key: str, value: Any) -> int | str | None:
    if isinstance(value, str):
        value = value.strip()
        return int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else (value or None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise OptionsError(f"{key} must be {AUDIO_TRACK_HELP}, got {value!r}")


def _formats(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or (isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)):
        return parse_formats(value)
    raise OptionsError(f'{key} must be a list of formats such as ["txt", "srt"] or "txt,srt", got {value!r}')


# Each option's conversion, by the type of its field (a new type fails here, at import).
_CONVERT = {field.name: {"str": _text, "str | None": _text, "bool": _flag, "int | None": _count,
                         "int": _whole, "float": _number,
                         "tuple[str, ...]": _formats, "int | str | None": _track}[str(field.type)]
            for field in dataclasses.fields(JobOptions)}
OPTION_NAMES: tuple[str, ...] = tuple(_CONVERT)
"""The canonical option names, in the order of ``JobOptions``'s fields."""
_NAMES_HELP = (f"the options are {', '.join(OPTION_NAMES)} (also accepted: "
               f"{', '.join(f'{alias} for {name}' for alias, name in sorted(ALIASES.items()))})")


def parse_options(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Convert the options given in ``mapping`` into ``JobOptions`` keyword values.

    Keys are the canonical names (``OPTION_NAMES``) or their ``ALIASES``; the result has canonical
    keys and only the options given. Values may be strings or already typed: text options take
    strings; ``vad_filter``, ``word_timestamps`` and ``diarize`` take booleans or
    true/false/yes/no/on/off/1/0; speaker counts take whole numbers or their digits (an empty
    string is no count); ``audio_track`` takes a number, its digits or a language tag; the cue limits
    take numbers or their digits (an empty string is the default); ``formats`` takes a comma list or a
    list of names. None (JSON null) means not given.
    Values are checked for their kind here, for their range by ``JobOptions``.

    Raises:
        OptionsError: not a mapping, an unknown key (the message lists the valid names), an
            option given under two names, or a value of the wrong kind.
    """
    if not isinstance(mapping, Mapping):
        raise OptionsError(f"options must be an object of names and values, got {type(mapping).__name__}")
    unknown = sorted(str(key) for key in mapping if key not in _CONVERT and key not in ALIASES)
    if unknown:
        raise OptionsError(f"unknown option(s) {', '.join(unknown)}; {_NAMES_HELP}")
    given: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, value in mapping.items():
        name = ALIASES.get(key, key)
        if name in given:
            raise OptionsError(f"give {given[name]} or {key}, not both")
        given[name] = key
        converted = None if value is None else _CONVERT[name](key, value)
        if converted is not None:
            values[name] = converted
    return values
