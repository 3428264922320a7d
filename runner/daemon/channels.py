"""Recognising the channels of a recording on their own (``channels = separate``): each channel
is a speaker, ``channel 1``, ``channel 2``, ..., its segments merged by time with the others'.

Mono and dual-mono files (every channel the same sound) are transcribed once, as their mix.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from runner.core.spool import JobFile
from runner.core.transcript import Segment, Transcript
from runner.daemon.media import Audio
from runner.daemon.recognizer import Recognition, Recognizer
from runner.output.channels import channel_label, labelled, merge_by_time, with_channel_turns


def recognise(engine: Recognizer, job: JobFile, audio: Audio, done: list[Segment],
              language: str | None) -> Recognition:
    """Start recognising ``audio`` for ``job`` after the checkpointed segments ``done`` (in
    ``language`` if given): its mono mix, or, when it has kept channels (``channels = separate``),
    every channel on its own, each from the end of its own last checkpointed segment, labelled
    ``channel N`` and merged by time.
    The language reported is the one detected most surely among the channels (a silent channel's
    guess does not count over a speaking one's)."""
    if audio.channels is None or len(audio.channels) < 2:
        return engine.recognise(audio.samples, job.options, start=done[-1].end if done else 0.0, language=language)
    recognitions, streams = [], []
    for index, samples in enumerate(audio.channels):
        label = channel_label(index)
        heard = [segment.end for segment in done if segment.speaker == label]
        recognitions.append(engine.recognise(samples, job.options, start=heard[-1] if heard else 0.0,
                                             language=language))
        streams.append(labelled(recognitions[-1].segments, label))
    surest = max(recognitions, key=lambda recognition: recognition.language_probability)
    return Recognition(surest.language, surest.language_probability, merge_by_time(streams), surest.warnings)


SAME_CHANNELS = 0.99
"""Channels whose correlation with the first is at least this are the same sound (dual mono)."""
CORRELATION_STRIDE = 16
"""Every this many samples are correlated (1 kHz of 16 kHz is plenty to tell the same sound)."""


def distinct_channels(audio: Audio, warnings: list[str]) -> Audio:
    """``audio`` as it is when it has several different channels; else, with a warning appended to
    ``warnings``, without its channels (one channel, or every channel the same sound as the first
    (Pearson correlation of at least ``SAME_CHANNELS``): a "stereo" file that is mono twice), so its mix
    is transcribed once."""
    if audio.channels is None or len(audio.channels) < 2:
        warnings.append("channels = separate, but the recording has one channel: it was transcribed as it is")
    elif all(_correlation(audio.channels[0], channel) >= SAME_CHANNELS for channel in audio.channels[1:]):
        warnings.append("channels = separate, but every channel holds the same sound: it was transcribed once")
    else:
        return audio
    return replace(audio, channels=None)


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of two channels (every ``CORRELATION_STRIDE``-th sample); 0.0 when either is silent."""
    x, y = (np.asarray(channel[::CORRELATION_STRIDE], dtype=np.float64) for channel in (first, second))
    x, y = x - x.mean(), y - y.mean()
    norm = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    return float(np.dot(x, y)) / norm if norm > 0 else 0.0


def whole(transcript: Transcript, audio: Audio) -> Transcript:
    """``transcript``, whole, as it is written: with separate channels, in time order with a turn per
    segment, so that the channels are speakers in every output."""
    return transcript if audio.channels is None or len(audio.channels) < 2 else with_channel_turns(transcript)
