"""The one stand-in the tests allow: a recognizer in place of the speech model.

``FakeRecognizer`` satisfies ``runner.daemon.recognizer.Recognizer``. Its segments depend only on the
audio's length (``fake_segments``), so a test knows the transcript a job must end with; they come out
lazily, as faster-whisper's do, so the runner's checks between segments (checkpoints, stop requests,
cancellations, the time limit) run exactly as in production.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from runner.core.options import MULTILINGUAL, JobOptions
from runner.core.transcript import Segment, Word
from runner.daemon.media import SAMPLE_RATE
from runner.daemon.recognizer import Recognition, english_only_warning

SEGMENT_SECONDS = 2.0
"""Length of each fake segment (the last one ends with the audio)."""
WORDS = ("alpha", "bravo", "charlie", "delta")
SILENCE = 1e-3
"""With ``speech_only``: a segment whose samples all stay below this (absolute) is silence and skipped."""


def fake_segments(duration: float, start: float = 0.0, length: float = SEGMENT_SECONDS) -> list[Segment]:
    """The segments a ``FakeRecognizer`` gives for ``duration`` seconds of audio from ``start``:
    back to back, ``length`` seconds each (the last one shorter), the segment numbered ``i`` (from 0
    at 0 s) saying ``"alpha<i> bravo<i> charlie<i> delta<i>"`` in four evenly spaced words."""
    segments = []
    index = round(start / length)
    begin = start
    while begin < duration - 1e-6:
        end = min(duration, begin + length)
        step = (end - begin) / len(WORDS)
        words = tuple(Word(begin + i * step, begin + (i + 1) * step, f" {w}{index}", 0.9) for i, w in enumerate(WORDS))
        segments.append(Segment(begin, end, "".join(w.word for w in words).strip(), words))
        begin, index = end, index + 1
    return segments


@dataclass
class Call:
    """One ``recognise`` call: the audio's length and the start (seconds), and the language asked for."""

    duration: float
    start: float
    language: str | None


class FakeRecognizer:
    """A ``Recognizer`` without a model.

    Args:
        delay: seconds to sleep before producing each segment (a slow model).
        before_segment: called with the segment's index (from 0 per ``recognise``) before it is
            produced: a test's way to act (cancel, fill the disk) at an exact point of a job.
        error: raised by ``recognise`` itself (a ``ModelError`` is how a job's model that cannot
            load shows), or, with ``error_after``, from the segment iterator after that many segments.
        language: the language "detected" when the job does not set one.
        script: the segments to give instead of ``fake_segments``, as they are (a model's wrong
            times included: past the audio's end, out of order, ...), whatever the audio.
        english_only: act as an English-only model (``Engine`` with ``tiny.en``): a job asking for
            another language is transcribed in English, with the warning the ``Engine`` gives.
        speech_only: give only the segments whose samples are not silence (``SILENCE``), so that a
            channel's segments follow where it has sound.
        text: every segment says this instead (a decoding loop).
        segment_languages: with ``language = multi``, the language of each segment in turn (cycled).
    """

    MODEL = "fake.en"
    """The model name an ``english_only`` recognizer's warning gives."""

    def __init__(self, delay: float = 0.0, before_segment: Callable[[int], None] | None = None,
                 error: BaseException | None = None, error_after: int | None = None,
                 language: str = "en", script: list[Segment] | None = None, english_only: bool = False,
                 speech_only: bool = False, text: str | None = None,
                 segment_languages: tuple[str, ...] = ("en",)) -> None:
        self.delay, self.before_segment, self.language = delay, before_segment, language
        self.error, self.error_after = error, error_after
        self.script, self.english_only = script, english_only
        self.speech_only, self.text, self.segment_languages = speech_only, text, segment_languages
        self.calls: list[Call] = []
        self.loaded: list[str | None] = []
        self._lock = threading.Lock()

    def model(self, name: str | None = None) -> object:
        """Record the load (``loaded``); there is no model to load."""
        with self._lock:
            self.loaded.append(name)
        return self

    def recognise(self, samples: np.ndarray, options: JobOptions, start: float = 0.0,
                  language: str | None = None) -> Recognition:
        """``fake_segments`` of the samples' length from ``start``, lazily (see the class)."""
        duration = len(samples) / SAMPLE_RATE
        with self._lock:
            self.calls.append(Call(duration, start, language))
        if self.error is not None and self.error_after is None:
            raise self.error
        if self.english_only and options.language not in (None, "en"):
            return Recognition("en", 1.0, self._segments(samples, options, start),
                               (english_only_warning(self.MODEL, options.language),))
        asked = language or options.language
        return Recognition(asked if asked and asked != MULTILINGUAL else self.language, 0.98,
                           self._segments(samples, options, start))

    def detect_language(self, samples: np.ndarray, options: JobOptions) -> tuple[str, float]:
        """The "detected" language (the job's, else ``language``) with probability 0.98."""
        if self.error is not None and self.error_after is None:
            raise self.error
        return options.language or self.language, 0.98

    def _segments(self, samples: np.ndarray, options: JobOptions, start: float) -> Iterator[Segment]:
        segments = fake_segments(len(samples) / SAMPLE_RATE, start) if self.script is None else list(self.script)
        if self.speech_only:
            segments = [segment for segment in segments if np.abs(
                samples[int(segment.start * SAMPLE_RATE):int(segment.end * SAMPLE_RATE)]).max(initial=0.0) >= SILENCE]
        if self.text is not None:
            segments = [dataclasses.replace(segment, text=self.text, words=()) for segment in segments]
        if options.language == MULTILINGUAL:
            cycle = self.segment_languages
            segments = [dataclasses.replace(segment, language=cycle[index % len(cycle)])
                        for index, segment in enumerate(segments)]
        for index, segment in enumerate(segments):
            if self.error is not None and index == self.error_after:
                raise self.error
            if self.before_segment is not None:
                self.before_segment(index)
            if self.delay:
                time.sleep(self.delay)
            yield segment


class Killed(BaseException):
    """Raised through ``perform_job`` to leave a job as a killed runner does: running, leased,
    checkpointed, nobody told (``perform_job`` handles ``Exception`` only)."""
