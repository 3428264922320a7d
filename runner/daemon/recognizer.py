"""What a runner needs from a speech recognizer: the ``Recognizer`` protocol and its ``Recognition``.

``runner.daemon.transcribe.Engine`` (faster-whisper) is the production recognizer; ``Runner`` and
``perform_job`` take any object with these two methods, and import nothing of the speech stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from runner.core.errors import SpoolscribeError
from runner.core.languages import language_name
from runner.core.options import MULTILINGUAL, JobOptions
from runner.core.text import printable
from runner.core.transcript import Segment


class ModelError(SpoolscribeError):
    """A model could not be loaded; the message names it and says why."""


@dataclass
class Recognition:
    """A transcription under way: the language it is in (detected, or the one asked for) and its
    probability, a lazy iterator of segments (each computed when asked for; times in seconds from
    the audio's start), and ``warnings`` for the job: what the recognizer could not do as the job
    asked (``english_only_warning``)."""

    language: str
    language_probability: float
    segments: Iterator[Segment]
    warnings: tuple[str, ...] = ()


def english_only_warning(model: str, asked: str) -> str:
    """The job's warning when it asked for language ``asked`` (a code other than ``en``) and its
    ``model`` (a name or directory) is English-only, so the audio was transcribed as English."""
    wanted = "a language per segment (multi)" if asked == MULTILINGUAL else f"{language_name(asked)} ({asked})"
    return (f"the language asked for, {wanted}, was not used: the model {printable(model)} is "
            "English-only, so the audio was transcribed as English (en); choose a multilingual model "
            "(e.g. 'small' rather than 'small.en') to transcribe other languages")


class Recognizer(Protocol):
    """Turns 16 kHz mono audio into segments, lazily, so that a runner can checkpoint, stop or
    notice a cancellation between two segments."""

    def model(self, name: str | None = None) -> object:
        """Load the model ``name`` (default: the configured one) now, so the first job does not wait.

        Raises:
            ModelError: the model cannot be loaded.
        """
        ...

    def recognise(self, samples: np.ndarray, options: JobOptions, start: float = 0.0,
                  language: str | None = None) -> Recognition:
        """Start transcribing ``samples`` (16 kHz mono float32) from ``start`` seconds, in
        ``language`` if given (else the job's option, else detected). Segments come out in order,
        each when the iterator is advanced, with times in seconds from the audio's start.

        Raises:
            ModelError: the job's model cannot be loaded.
        """
        ...

    def detect_language(self, samples: np.ndarray, options: JobOptions) -> tuple[str, float]:
        """The spoken language of ``samples`` (16 kHz mono float32) as a code, and its probability
        (0..1), found from speech without transcribing (a ``detect`` job).

        Raises:
            ModelError: the job's model cannot be loaded.
        """
        ...
