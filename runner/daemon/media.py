"""Decoding media with PyAV (FFmpeg): once per job, into the waveform every model consumes.

Errors here are permanent properties of the file (empty, not media, no audio stream); their
messages are written for the person who submitted it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from runner.core.errors import SpoolscribeError

SAMPLE_RATE = 16_000  # Hz, what Whisper and pyannote expect
TRUNCATION_TOLERANCE = 1.0  # seconds of declared audio that may be missing before we warn


class MediaError(SpoolscribeError):
    """The file cannot be transcribed; the message says why in words a person can act on."""


@dataclass(frozen=True)
class Audio:
    """A decoded waveform: float32 mono samples in [-1, 1] at ``SAMPLE_RATE`` Hz, shape (n,); with
    ``keep_channels``, also ``channels``, float32 at ``SAMPLE_RATE`` Hz, shape (c, n), one row per
    channel of the stream (else None)."""

    samples: np.ndarray
    warnings: tuple[str, ...] = field(default=())
    channels: np.ndarray | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / SAMPLE_RATE


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise MediaError("the media file is missing from the spool")
    if path.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError(
            "could not decode audio: this is not an audio or video file, or it is damaged or "
            f"incomplete ({_reason(exc)})"
        ) from None


def _reason(exc: av.FFmpegError) -> str:
    # FFmpeg's message without the file path (the spool's layout is no business of the user's).
    return getattr(exc, "strerror", None) or str(exc)


def probe(path: Path) -> float | None:
    """Check that ``path`` holds a decodable audio stream; return its declared duration in seconds.

    Raises:
        MediaError: empty file, not a media file, or no audio stream.
    """
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError("no audio stream in this file (a video without sound?)")
        return _declared_duration(container)


def _declared_duration(container: av.container.InputContainer) -> float | None:
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def decode(path: Path, *, keep_channels: bool = False) -> Audio:
    """Decode the first audio stream of ``path`` to 16 kHz mono float32 and, with ``keep_channels``,
    also each of its channels on its own (``Audio.channels``).

    A file whose decoding stops early (cut off, damaged packets) yields the audio decoded so far
    and a warning that says how much is missing.

    Raises:
        MediaError: empty file, not a media file, no audio stream, or no audio decodable at all.
    """
    chunks: list[np.ndarray] = []
    planes: list[np.ndarray] = []
    problems: list[str] = []
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError("no audio stream in this file (a video without sound?)")
        stream = container.streams.audio[0]
        declared = _declared_duration(container)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        per_channel: av.AudioResampler | None = None
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:  # a damaged packet: skip it, note it once
                    if not problems:
                        problems.append(_reason(exc))
                    continue
                for frame in frames:
                    chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
                    if keep_channels:
                        per_channel = per_channel or av.AudioResampler(format="fltp", layout=frame.layout,
                                                                       rate=SAMPLE_RATE)
                        planes.extend(out.to_ndarray() for out in per_channel.resample(frame))
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
            planes.extend(out.to_ndarray() for out in (per_channel.resample(None) if per_channel else ()))
        except av.FFmpegError as exc:  # the container itself ends or breaks early
            problems.append(_reason(exc))
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        detail = f" ({problems[0]})" if problems else ""
        raise MediaError(f"could not decode audio: no audio could be decoded from this file{detail}")
    warnings = []
    decoded = samples.size / SAMPLE_RATE
    if declared is not None and declared - decoded > TRUNCATION_TOLERANCE:
        warnings.append(
            f"the file seems cut off: only {decoded:.1f} s of its {declared:.1f} s of audio could be "
            "decoded, so the transcript covers only that part"
        )
    elif problems:
        warnings.append(f"some damaged audio was skipped while decoding ({problems[0]})")
    channels = None
    if keep_channels and planes:
        joined = np.concatenate(planes, axis=1).astype(np.float32, copy=False)
        channels = joined[:, :samples.size]
    return Audio(samples, tuple(warnings), channels)


@dataclass(frozen=True)
class StreamLanguages:
    """The language tags a container declares (as written there, e.g. ``eng``; None when untagged):
    of the audio stream that is transcribed, and of every subtitle stream."""

    audio: str | None
    subtitles: tuple[str | None, ...]


def stream_languages(path: Path) -> StreamLanguages:
    """The language tags of the first audio stream and of the subtitle streams in ``path``.

    Raises:
        MediaError: the file is missing, empty or not media.
    """
    with _open(path) as container:
        audio = container.streams.audio[0].metadata.get("language") if container.streams.audio else None
        return StreamLanguages(audio, tuple(stream.metadata.get("language") for stream in container.streams.subtitles))
