"""Speech recognition with faster-whisper: the only module that imports it.

Engine types are turned into ``runner.core.transcript`` dataclasses at once, so nothing else in
spoolscribe knows faster-whisper exists.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel

from runner.core.options import MULTILINGUAL, JobOptions
from runner.core.settings import Settings
from runner.core.transcript import Segment, Word
from runner.daemon.media import SAMPLE_RATE
from runner.daemon.recognizer import ModelError, Recognition, english_only_warning

log = logging.getLogger(__name__)


WINDOW_MARGIN = 10.0
"""Segments ending this close to a window's end are transcribed again by the next window."""


DETECT_WINDOWS = 3
"""30 s windows of speech that language detection looks at."""
DETECT_SCAN_SECONDS = 1800.0
"""Audio searched for speech by language detection (from the start), in seconds."""
SWITCH_PROBABILITY = 0.5
"""With ``language = multi``: a segment whose own speech is detected as another language than its
30 s window's, at least this sure, is transcribed again in its own language (faster-whisper's
``language_detection_threshold`` default)."""
SWITCH_SECONDS = 1.0
"""With ``language = multi``: segments shorter than this (seconds) keep their window's language
(a word or two is too little to tell a language by)."""


class Engine:
    """The production ``Recognizer``: loads faster-whisper models on first use and keeps the most
    recent few warm.

    Models are identified by the name or directory given in the job's options or the settings.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: OrderedDict[str, WhisperModel] = OrderedDict()

    def model(self, name: str | None = None) -> WhisperModel:
        """The loaded model ``name`` (default: the configured model), loading it if needed.

        Raises:
            ModelError: the name is unknown, the download failed, or the directory is not a model.
        """
        name = name or self.settings.model
        if name in self._models:
            self._models.move_to_end(name)
            return self._models[name]
        if name.startswith(("/", "./", "../", "~")) and not os.path.isdir(os.path.expanduser(name)):
            raise ModelError(f"could not load model {name!r}: no such directory (a model is a faster-whisper "
                             "model name such as 'base', or a CTranslate2 model directory)")
        log.info("loading model %s (%s, %s, %d threads)", name, self.settings.device,
                 self.settings.effective_compute_type, self.settings.effective_threads)
        try:
            model = WhisperModel(
                name,
                device=self.settings.device,
                compute_type=self.settings.effective_compute_type,
                cpu_threads=self.settings.effective_threads,
            )
        except Exception as exc:  # faster-whisper raises many types (ValueError, OSError, hub errors)
            raise ModelError(f"could not load model {name!r}: {exc}") from exc
        self._models[name] = model
        while len(self._models) > max(1, self.settings.model_cache_size):
            evicted, _ = self._models.popitem(last=False)
            log.info("unloading model %s", evicted)
        return model

    def recognise(self, samples: np.ndarray, options: JobOptions, start: float = 0.0,
                  language: str | None = None) -> Recognition:
        """Start transcribing ``samples`` (16 kHz mono float32) from ``start`` seconds.

        Resuming slices the waveform at ``start`` and shifts the times back, rather than passing
        faster-whisper's ``clip_timestamps``, because that option switches the VAD filter off.
        ``language`` overrides the job's option (used when resuming, so the language detected on
        the first attempt is kept). Segments come out lazily, in order.

        With no language given, it is detected first on speech (``detect_language``: Silero VAD
        skips leading silence or music), not on the first 30 s of audio. With ``language = multi``,
        faster-whisper detects it for every 30 s window (``multilingual=True``, and
        ``condition_on_previous_text=False``, without which base kept writing the first language),
        and each segment gets its own language (see ``_segment_languages``).

        Recordings longer than ``settings.window_seconds`` are transcribed window by window, because
        faster-whisper computes the log-Mel spectrogram of all the audio it is given at once (about
        50 MB per minute at its peak). Each window is resumed after the last segment that ended
        ``WINDOW_MARGIN`` seconds or more before the window's end, as a crashed job is.

        An English-only model transcribes in English whatever the job asked for (faster-whisper
        replaces the language); the recognition then carries a warning saying so.

        Raises:
            ModelError: the job's model cannot be loaded.
        """
        model = self.model(options.model)
        language = language or options.language
        probability = None
        if language is None:
            language, probability = self.detect_language(samples[int(start * SAMPLE_RATE):], options)
        segments, info = self._window(model, samples, options, start, language)
        windows = self._windows(model, samples, options, start, segments, info.language)
        warnings: tuple[str, ...] = ()
        if options.language not in (None, "en") and not model.model.is_multilingual:
            warnings = (english_only_warning(options.model or self.settings.model, options.language),)
        return Recognition(info.language, info.language_probability if probability is None else probability, windows,
                           warnings)

    def detect_language(self, samples: np.ndarray, options: JobOptions) -> tuple[str, float]:
        """The spoken language of ``samples`` (16 kHz mono float32) and its probability (0..1), from
        up to ``DETECT_WINDOWS`` 30 s windows of speech (Silero VAD skips silence and music first), so a
        long track is never transcribed. An English-only model answers ``("en", 1.0)``.

        Raises:
            ModelError: the job's model cannot be loaded.
        """
        model = self.model(options.model)
        if not model.model.is_multilingual:
            return "en", 1.0
        language, probability, _all = model.detect_language(
            samples[:int(DETECT_SCAN_SECONDS * SAMPLE_RATE)], vad_filter=True,
            language_detection_segments=DETECT_WINDOWS)
        return language, float(probability)

    def _window(self, model: WhisperModel, samples: np.ndarray, options: JobOptions, start: float,
                language: str | None):
        audio = samples[int(start * SAMPLE_RATE):int((start + self.settings.window_seconds) * SAMPLE_RATE)]
        arguments = {"language": language, "task": options.task, "initial_prompt": options.initial_prompt,
                     "hotwords": options.hotwords, "vad_filter": options.vad_filter,
                     "word_timestamps": options.word_timestamps}
        multi = options.language == MULTILINGUAL
        multilingual = multi and model.model.is_multilingual  # an English-only model has no other language
        if multi and not multilingual:
            arguments.update(language="en")
        if multilingual:
            arguments.update(language=None, multilingual=True, condition_on_previous_text=False)
        if self.settings.batch_size > 0 and options.vad_filter:  # batching needs VAD chunks
            segments, info = BatchedInferencePipeline(model).transcribe(
                audio, batch_size=self.settings.batch_size, **arguments)
        else:
            segments, info = model.transcribe(audio, **arguments)
        if multilingual:
            return _segment_languages(model, audio, segments, options, start), info
        return _convert(segments, start, "en" if multi else None), info

    def _windows(self, model: WhisperModel, samples: np.ndarray, options: JobOptions, start: float,
                 segments: Iterator[Segment], language: str) -> Iterator[Segment]:
        total = len(samples) / SAMPLE_RATE
        while True:
            window_end = start + self.settings.window_seconds
            if window_end >= total:  # the last window: everything it gives is kept
                yield from segments
                return
            resume_at = start
            for segment in segments:
                if segment.end > window_end - WINDOW_MARGIN:
                    break  # it may be cut off by the window's end: the next window does it again
                yield segment
                resume_at = segment.end
            # Always move on, even when a window gave nothing complete (silence, or one long segment).
            start = resume_at if resume_at > start else window_end - WINDOW_MARGIN
            segments, _info = self._window(model, samples, options, start, language)


def _segment_languages(model: WhisperModel, audio: np.ndarray, segments: Iterable, options: JobOptions,
                       offset: float) -> Iterator[Segment]:
    """faster-whisper's ``segments`` of ``audio`` (a window starting ``offset`` s into the recording),
    each with its language: the one detected on the speech of its 30 s window (the segments of one
    ``seek``), unless the segment's own speech is detected, at least
    ``SWITCH_PROBABILITY`` sure, as another; then the segment is transcribed again in that language
    (multilingual decoding picks one language per 30 s window, so a switch inside a window comes
    out as invented words of the window's language). The job's initial prompt is not given to
    that second pass (it is in the other language, most likely)."""
    for _seek, window in itertools.groupby(segments, key=lambda segment: segment.seek):
        group = list(window)
        language, _probability = _detect(model, audio, group[0].start, group[-1].end)
        for segment in group:
            own, probability = (_detect(model, audio, segment.start, segment.end)
                                if len(group) > 1 and segment.end - segment.start >= SWITCH_SECONDS
                                else (language, 0.0))
            if own != language and probability >= SWITCH_PROBABILITY:
                again, _info = model.transcribe(
                    audio[int(segment.start * SAMPLE_RATE):int(segment.end * SAMPLE_RATE)], language=own,
                    task=options.task, hotwords=options.hotwords, vad_filter=False,
                    word_timestamps=options.word_timestamps, condition_on_previous_text=False)
                redone = list(_convert(again, offset + float(segment.start), own))
                if redone:
                    yield from redone
                    continue
            yield from _convert([segment], offset, language)


def _detect(model: WhisperModel, audio: np.ndarray, start: float, end: float) -> tuple[str, float]:
    """The language of ``audio`` from ``start`` to ``end`` s, and its probability (0..1)."""
    language, probability, _all = model.detect_language(audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)])
    return language, float(probability)


def _convert(segments, offset: float, language: str | None = None) -> Iterator[Segment]:
    for s in segments:
        words = tuple(Word(float(w.start) + offset, float(w.end) + offset, w.word, float(w.probability))
                      for w in (s.words or ()))
        yield Segment(float(s.start) + offset, float(s.end) + offset, s.text.strip(), words, language=language)
