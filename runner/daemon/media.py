"""Decoding media with PyAV (FFmpeg): once per job, into the waveform every model consumes.

The waveform is the one ``faster_whisper.decode_audio`` gives for the same file (FFmpeg's
libswresample, 16-bit mono at 16 kHz, read back as float32 / 32768), so a job hears exactly what
the engine alone would hear; what it does beyond that:

* a frame whose sample rate, channel layout or sample format differs from the one before starts a
  fresh converter (decode_audio stops there with "Frame does not match AudioResampler setup");
  each link of a chained Ogg file is decoded in turn (FFmpeg's demuxer gives up at a link whose
  parameters differ);
* damaged packets are skipped with one warning, and a file is called cut off only on evidence: a
  decode or demux error, or a duration its container declares that decoding fell short of (never
  FFmpeg's estimate from bytes / bit rate, which a large tag inflates);
* layouts FFmpeg cannot name (WAV without a channel mask, 3 to 64 channels) are mixed with equal
  weight 1/c for every channel, instead of FFmpeg's guessed surround layout that drops a channel as
  LFE (or fails); more than 64 channels (``MAX_CHANNELS``) fail with a message that says so;
* the audio track is the one asked for (``track``), else the default-flagged one, else the first;
* ``Audio.offset`` is where the audio starts on the media's timeline (a track that starts 2.5 s
  after the video has 2.5), for the writers to shift cue times by;
* with ``keep_channels``, every channel at 16 kHz as well (for ``channels = separate``); without,
  stereo (or unnamed) channels that hold different voices give a warning suggesting it.

Errors here are permanent properties of the file (empty, not media, no audio stream); their
messages are written for the person who submitted it.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from runner.core.errors import SpoolscribeError
from runner.core.text import printable
from runner.output.languages import iso639_1

SAMPLE_RATE = 16_000  # Hz, what Whisper and pyannote expect
MAX_CHANNELS = 64
"""The most channels libswresample converts (SWR_CH_MAX in libswresample/swresample_internal.h)."""
TRUNCATION_TOLERANCE = 1.0  # seconds of declared audio that may be missing before we warn
BITRATE_ESTIMATE_MARGIN = 0.02
"""A declared duration within 2 % of bytes x 8 / nominal bit rate is FFmpeg's estimate, no evidence."""
TAG_MARKS = (b"ID3", b"TAG", b"APE")
"""How a tag starts (ID3v2, ID3v1, APEv2): found between the frames of concatenated MP3 files, it is
not audio, and the decoder's refusal of it is no damage."""
ENVELOPE_RATE = 2_000  # Hz: the channels' loudness envelopes are measured on a copy this coarse
ENVELOPE_WINDOW = 40  # samples at ENVELOPE_RATE: 20 ms windows
ENVELOPE_BATCH = 60 * ENVELOPE_RATE  # samples measured at once
ACTIVE_LEVEL = 0.1
"""A window counts as sound when its loudest channel is above 10 % (-20 dB) of the file's loudest window."""
CARRYING_LEVEL = 0.1
"""A channel carries sound when its RMS over the sound windows is at least 10 % of the loudest channel's."""
MIX_CORRELATION = 0.5
"""Below this correlation of two channels' loudness envelopes, they hold different voices."""
MIX_MIN_SECONDS = 2.0  # of sound windows before the channels are compared at all
MIX_WARNING = ("the channels hold different voices (they are barely correlated), so the mono mix may garble "
               "speech where they overlap; consider channels = separate to transcribe each channel on its own")


class MediaError(SpoolscribeError):
    """The file cannot be transcribed; the message says why in words a person can act on."""


@dataclass(frozen=True)
class Track:
    """An audio stream of a file: ``number`` counts the audio streams from 1 (``audio_track = 2`` is
    the second), ``language`` and ``title`` as the container tags them (None when untagged)."""

    number: int
    language: str | None
    title: str | None
    default: bool = False
    """The container flags it as the track to play (disposition ``default``)."""

    def describe(self) -> str:
        """``track 2 (eng, "Main")`` for messages and the job page."""
        details = ", ".join([*filter(None, [self.language]), *([f'"{self.title}"'] if self.title else [])])
        return f"track {self.number}" + (f" ({details})" if details else "")

    def to_dict(self) -> dict[str, object]:
        """``{"number", "language", "title"}`` for the job record."""
        return {"number": self.number, "language": self.language, "title": self.title}


@dataclass(frozen=True)
class Audio:
    """A decoded audio track at ``SAMPLE_RATE`` Hz.

    ``samples``: float32 mono mix, shape (n,), in [-1, 1] (the reference decoding, see the module).
    ``channels``: float32 shape (c, n), one row per channel, when ``decode(keep_channels=True)``;
    else None. ``offset``: seconds from the start of the media's timeline to the first sample.
    ``track``: the stream decoded, ``tracks``: how many audio streams the file has.
    """

    samples: np.ndarray
    warnings: tuple[str, ...] = field(default=())
    channels: np.ndarray | None = None
    offset: float = 0.0
    track: Track | None = None
    tracks: int = 1

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / SAMPLE_RATE


def _open(path: Path | BinaryIO) -> av.container.InputContainer:
    if isinstance(path, Path):
        if not path.exists():
            raise MediaError("the media file is missing from the spool")
        if path.stat().st_size == 0:
            raise MediaError("the file is empty (0 bytes)")
    try:
        return av.open(path if not isinstance(path, Path) else str(path), "r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError(
            "could not decode audio: this is not an audio or video file, or it is damaged or "
            f"incomplete ({_reason(exc)})"
        ) from None


def _reason(exc: av.FFmpegError) -> str:
    # FFmpeg's message without the file path (the spool's layout is no business of the user's).
    return getattr(exc, "strerror", None) or str(exc)


def _tag(value: str | None) -> str | None:
    """A container's tag as we show it (control characters escaped; a tag is the file's bytes)."""
    return printable(value)[:200] if value else None


def _tracks(container: av.container.InputContainer) -> list[Track]:
    return [Track(number, _tag(stream.metadata.get("language")), _tag(stream.metadata.get("title")),
                  bool(stream.disposition & av.stream.Disposition.default))
            for number, stream in enumerate(container.streams.audio, start=1)]


def _choose(container: av.container.InputContainer, asked: int | str | None) -> tuple[av.AudioStream, Track]:
    """The audio stream to decode: the one ``asked`` (a number from 1, or a language tag), else the
    default-flagged one, else the first.

    Raises:
        MediaError: no audio stream, or none that matches ``asked``.
    """
    streams = list(container.streams.audio)
    if not streams:
        raise MediaError("no audio stream in this file (a video without sound?)")
    tracks = _tracks(container)
    listing = "; ".join(track.describe() for track in tracks)
    if isinstance(asked, int):
        if not 1 <= asked <= len(tracks):
            raise MediaError(f"audio track {asked} was asked for, but this file has {len(tracks)} audio "
                             f"track(s): {listing}")
        chosen = [tracks[asked - 1]]
    elif isinstance(asked, str):
        wanted = iso639_1(asked) or asked.lower()
        chosen = [track for track in tracks
                  if (iso639_1(track.language) or (track.language or "").lower()) == wanted]
        if not chosen:
            raise MediaError(f"no audio track in language {asked!r}; this file has {listing}")
    else:
        chosen = tracks
    track = next((track for track in chosen if track.default), chosen[0])
    return streams[track.number - 1], track


def probe(path: Path) -> float | None:
    """Check that ``path`` holds a decodable audio stream; return its declared duration in seconds
    (of the default audio track).

    Raises:
        MediaError: empty file, not a media file, or no audio stream.
    """
    with _open(path) as container:
        stream, _ = _choose(container, None)
        return _declared_duration(container, stream)


def _declared_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """The audio's duration as the file declares it: the stream's own, else (the audio being the
    only stream) the container's; None when unknown."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def _is_estimate(declared: float, size: int, stream: av.AudioStream) -> bool:
    """True when ``declared`` seconds is what FFmpeg guesses from the file's ``size`` in bytes and the
    stream's nominal bit rate (AVFMT_DURATION_FROM_BITRATE, libavformat/demux.c
    ``estimate_timings_from_bit_rate``): bytes of tags after the audio make such a guess too long."""
    rate = stream.bit_rate or stream.codec_context.bit_rate
    return rate is not None and rate > 0 and abs(size * 8 / rate - declared) <= BITRATE_ESTIMATE_MARGIN * declared


def _video_start(container: av.container.InputContainer) -> float | None:
    """Seconds where the video starts on the container's timeline (its earliest video stream that is
    not a cover picture), or None for audio alone."""
    starts = [float(stream.start_time * stream.time_base) for stream in container.streams.video
              if stream.start_time is not None and stream.time_base is not None
              and not stream.disposition & av.stream.Disposition.attached_pic]
    return min(starts) if starts else None


def _offset(audio_start: float | None, video_start: float | None) -> float:
    """Seconds from the video's start to the timestamp of the first decoded audio frame (the waveform
    is laid on the timeline from there), rounded to ms; 0 for audio alone or audio that starts with
    (or before) the video."""
    if audio_start is None or video_start is None:
        return 0.0
    offset = round(audio_start - video_start, 3)
    return offset if offset > 0 else 0.0


def _native(layout: av.AudioLayout) -> bool:
    """True for a layout FFmpeg can name channel by channel (mono, stereo, 5.1, ...); an unspecified
    order (``6 channels``) of 1 or 2 channels counts too, as FFmpeg's guess (mono, stereo) mixes those
    with equal weight already."""
    names = [channel.name for channel in layout.channels]
    return layout.nb_channels <= 2 or not any(name == "NONE" or name.startswith(("USR", "AMBI")) for name in names)


def _separable(layout: av.AudioLayout) -> bool:
    """True for channels that may each hold a voice of their own: stereo, or channels without a
    layout (a multi-track recorder's export). Surround layouts (5.1, 7.1) are not: their centre
    holds the dialogue, the others music and effects, which differ from it by design."""
    return layout.nb_channels == 2 or (layout.nb_channels > 2 and not _native(layout))


class _Envelopes:
    """Per-channel RMS over ``ENVELOPE_WINDOW``-sample windows, fed in chunks of shape (n, c) and
    measured ``ENVELOPE_BATCH`` samples at a time (a frame at a time costs more than the resampling)."""

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.pending: list[np.ndarray] = []
        self.pending_samples = 0
        self.windows: list[np.ndarray] = []

    def add(self, chunk: np.ndarray) -> None:
        self.pending.append(chunk)
        self.pending_samples += len(chunk)
        if self.pending_samples >= ENVELOPE_BATCH:
            self._measure()

    def _measure(self) -> None:
        data = np.concatenate(self.pending) if self.pending else np.zeros((0, self.channels), np.float32)
        whole = len(data) // ENVELOPE_WINDOW * ENVELOPE_WINDOW
        if whole:
            squares = np.square(data[:whole].reshape(-1, ENVELOPE_WINDOW, self.channels), dtype=np.float32)
            self.windows.append(np.sqrt(squares.mean(axis=1)))
        self.pending = [data[whole:]]
        self.pending_samples = len(data) - whole

    def different_voices(self) -> bool:
        """True when at least two channels carry sound and no two of them rise and fall together
        (Pearson correlation of their envelopes over the sound windows below ``MIX_CORRELATION``)."""
        self._measure()
        if not self.windows:
            return False
        envelopes = np.concatenate(self.windows)  # (windows, c)
        loudest = envelopes.max(axis=1)
        active = envelopes[loudest > ACTIVE_LEVEL * loudest.max()] if loudest.max() > 0 else envelopes[:0]
        if len(active) * ENVELOPE_WINDOW < MIX_MIN_SECONDS * ENVELOPE_RATE:
            return False
        levels = np.sqrt((active ** 2).mean(axis=0))
        carrying = active[:, levels >= CARRYING_LEVEL * levels.max()]
        if carrying.shape[1] < 2 or np.any(carrying.std(axis=0) == 0):
            return False
        correlation = np.corrcoef(carrying.T)
        return bool(correlation[~np.eye(len(correlation), dtype=bool)].max() < MIX_CORRELATION)


class _Converter:
    """Turns decoded frames of one kind (sample format, channel layout, rate) into 16 kHz samples:
    the mono mix (libswresample's for a native layout, else the equal-weight mean) and, when
    wanted, every channel (libswresample to packed float at 16 kHz, read as (n, c)); and feeds the
    channels' loudness envelopes from a coarse ``ENVELOPE_RATE`` copy (cheap next to the mix)."""

    def __init__(self, frame: av.AudioFrame, keep_channels: bool, envelopes: _Envelopes | None) -> None:
        self.kind = (frame.format.name, frame.layout.name, frame.layout.nb_channels, frame.sample_rate)
        self.channel_count = frame.layout.nb_channels
        native = _native(frame.layout)
        self.mono = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE) if native else None
        self.every = (av.AudioResampler(format="flt", layout=frame.layout, rate=SAMPLE_RATE)
                      if keep_channels or not native else None)
        self.envelopes = envelopes if envelopes is not None and envelopes.channels == self.channel_count else None
        self.coarse = (av.AudioResampler(format="flt", layout=frame.layout, rate=ENVELOPE_RATE)
                       if self.envelopes is not None else None)
        self.keep_channels = keep_channels
        self.mix: list[np.ndarray] = []
        self.channels: list[np.ndarray] = []

    def push(self, frame: av.AudioFrame | None) -> None:
        """Convert ``frame`` (None: flush what the resamplers hold)."""
        if frame is not None:
            frame.pts = None  # as decode_audio does: no timestamp checks or gap filling
        if self.every is not None:
            for out in self.every.resample(frame):
                chunk = out.to_ndarray().reshape(-1, self.channel_count)  # packed: one plane of n x c
                if self.mono is None:
                    self.mix.append(chunk.mean(axis=1, dtype=np.float32))
                if self.keep_channels:
                    self.channels.append(chunk)
        if self.coarse is not None and self.envelopes is not None:
            for out in self.coarse.resample(frame):
                self.envelopes.add(out.to_ndarray().reshape(-1, self.channel_count))
        # Last: a conversion with nothing to do (16-bit mono at 16 kHz) hands the frame's buffers on to
        # its output and leaves the frame empty for any resampler after it.
        if self.mono is not None:
            self.mix.extend(out.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
                            for out in self.mono.resample(frame))


@dataclass
class _Decoded:
    """What decoding one track gathered: mono chunks, (n, c) channel chunks, the first problem, and
    whether the container broke off (``ended``)."""

    mix: list[np.ndarray] = field(default_factory=list)
    channels: list[np.ndarray] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ended: bool = False
    start: float | None = None  # seconds: the first decoded frame's time on the container's timeline
    envelopes: _Envelopes | None = None
    width: int = 0  # the most channels any part had

    def take(self, converter: _Converter) -> None:
        converter.push(None)
        mix = np.concatenate(converter.mix) if converter.mix else np.zeros(0, np.float32)
        self.mix.append(mix)
        if converter.keep_channels:
            every = np.concatenate(converter.channels) if converter.channels else np.zeros((0, converter.channel_count))
            every = every[: len(mix)]
            if len(every) < len(mix):  # the two resamplers' flushes may differ by a sample
                every = np.pad(every, ((0, len(mix) - len(every)), (0, 0)))
            self.channels.append(every.astype(np.float32, copy=False))
            self.width = max(self.width, converter.channel_count)

    def note(self, exc: av.FFmpegError) -> None:
        if not self.problems:
            self.problems.append(_reason(exc))


def _frames(container: av.container.InputContainer, stream: av.AudioStream,
            decoded: _Decoded) -> Iterator[av.AudioFrame]:
    """The frames of ``stream``, skipping damaged packets; a demux error ends them (noted)."""
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.FFmpegError as exc:  # a damaged packet: skip it, note it once
                if bytes(packet)[:3] not in TAG_MARKS:
                    decoded.note(exc)
    except av.FFmpegError as exc:  # the container itself ends or breaks early
        decoded.note(exc)
        decoded.ended = True


def _decode_stream(container: av.container.InputContainer, stream: av.AudioStream, decoded: _Decoded,
                   keep_channels: bool) -> None:
    converter: _Converter | None = None
    for frame in _frames(container, stream, decoded):
        if decoded.start is None and frame.time is not None:
            decoded.start = frame.time
        kind = (frame.format.name, frame.layout.name, frame.layout.nb_channels, frame.sample_rate)
        if converter is None or converter.kind != kind:
            if frame.layout.nb_channels > MAX_CHANNELS:
                raise MediaError(f"could not decode audio: its {frame.layout.nb_channels} channels are more than "
                                 f"FFmpeg can mix (at most {MAX_CHANNELS}); export the channels with speech, or "
                                 "fewer channels, to a file of its own")
            if converter is not None:
                decoded.take(converter)
            if not keep_channels and decoded.envelopes is None and _separable(frame.layout):
                decoded.envelopes = _Envelopes(frame.layout.nb_channels)
            converter = _Converter(frame, keep_channels, decoded.envelopes)
        try:
            converter.push(frame)
        except (av.FFmpegError, ValueError) as exc:
            raise MediaError(f"could not decode audio: FFmpeg cannot convert this audio "
                             f"({frame.layout.nb_channels} channels, {frame.layout.name}): {exc}") from None
    if converter is not None:
        decoded.take(converter)


class _Window(io.RawIOBase):
    """The bytes of ``file`` from ``start`` to ``end``, as a file of its own (one Ogg link)."""

    def __init__(self, file: BinaryIO, start: int, end: int) -> None:
        self.file, self.start, self.end, self.position = file, start, end, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # memoryview or bytearray, as io.RawIOBase.readinto
        size = max(0, min(len(buffer), self.end - self.start - self.position))
        self.file.seek(self.start + self.position)
        data = self.file.read(size)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.end - self.start}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position


_OGG_PAGE = struct.Struct("<4sBBqIIIB")  # capture, version, header type, granule, serial, sequence, crc, segments


def _ogg_links(file: BinaryIO) -> list[int]:
    """Byte offsets where each link of a chained Ogg file starts (RFC 3533: a link's first page has
    the beginning-of-stream flag 0x02 after the pages of the link before); ``[0]`` for one link."""
    links, offset, in_headers = [0], 0, True
    while True:
        file.seek(offset)
        header = file.read(_OGG_PAGE.size)
        if len(header) < _OGG_PAGE.size or header[:4] != b"OggS":
            return links
        begins = bool(header[5] & 0x02)
        if begins and not in_headers:
            links.append(offset)
        in_headers = begins
        lacing = file.read(header[-1])
        offset += _OGG_PAGE.size + len(lacing) + sum(lacing)


def decode(path: Path, *, track: int | str | None = None, keep_channels: bool = False) -> Audio:
    """Decode one audio track of ``path`` to 16 kHz float32: the mono mix (as
    ``faster_whisper.decode_audio`` makes it) and, with ``keep_channels``, each channel.

    ``track``: a number from 1 among the audio streams, or a language tag (``de``, ``ger``); None
    takes the default-flagged stream, else the first. Warnings: other audio tracks existed; the file
    is cut off or has damaged packets; (without ``keep_channels``) the channels hold different voices.

    Raises:
        MediaError: empty file, not a media file, no audio stream, no such track, audio FFmpeg cannot
            convert, or no audio decodable at all.
    """
    decoded = _Decoded()
    with _open(path) as container:
        stream, chosen = _choose(container, track)
        tracks = len(container.streams.audio)
        declared = _declared_duration(container, stream)
        if declared is not None and _is_estimate(declared, path.stat().st_size, stream):
            declared = None
        video_start = _video_start(container)
        _decode_stream(container, stream, decoded, keep_channels)
        chained = decoded.ended and container.format.name == "ogg"
    if chained:  # FFmpeg gave up at a chained Ogg link whose parameters differ: decode link by link
        with path.open("rb") as file:
            links = _ogg_links(file)
            if len(links) > 1:
                decoded = _Decoded()
                for start, end in zip(links, [*links[1:], path.stat().st_size], strict=True):
                    with _open(_Window(file, start, end)) as link:  # type: ignore[arg-type]
                        _decode_stream(link, link.streams.audio[0], decoded, keep_channels)
    samples = np.concatenate(decoded.mix).astype(np.float32, copy=False) if decoded.mix else np.zeros(0, np.float32)
    if samples.size == 0:
        detail = f" ({decoded.problems[0]})" if decoded.problems else ""
        raise MediaError(f"could not decode audio: no audio could be decoded from this file{detail}")
    warnings = []
    if tracks > 1:
        how = "asked for" if track is not None else ("the default" if chosen.default else "the first")
        warnings.append(f"this file has {tracks} audio tracks; {chosen.describe()} was transcribed ({how}); "
                        "choose another with the audio_track option")
    decoded_seconds = samples.size / SAMPLE_RATE
    if declared is not None and declared - decoded_seconds > TRUNCATION_TOLERANCE:
        warnings.append(
            f"the file seems cut off: only {decoded_seconds:.1f} s of its {declared:.1f} s of audio could be "
            "decoded, so the transcript covers only that part"
        )
    elif decoded.ended:
        warnings.append(f"the file seems cut off: decoding stopped after {decoded_seconds:.1f} s "
                        f"({decoded.problems[0]}), so the transcript covers only that part")
    elif decoded.problems:
        warnings.append(f"some damaged audio was skipped while decoding ({decoded.problems[0]})")
    if decoded.envelopes is not None and decoded.envelopes.different_voices():
        warnings.append(MIX_WARNING)
    channels = None
    if keep_channels:
        channels = np.zeros((decoded.width, samples.size), np.float32)
        at = 0
        for part in decoded.channels:
            channels[: part.shape[1], at: at + len(part)] = part.T
            at += len(part)
    return Audio(samples, tuple(warnings), channels, _offset(decoded.start, video_start), chosen, tracks)


@dataclass(frozen=True)
class StreamLanguages:
    """The language tags a container declares (as written there, e.g. ``eng``; None when untagged):
    of the audio stream that is transcribed, and of every subtitle stream."""

    audio: str | None
    subtitles: tuple[str | None, ...]


def stream_languages(path: Path, track: int | str | None = None) -> StreamLanguages:
    """The language tags of the audio track ``decode(path, track=track)`` decodes and of the subtitle
    streams in ``path``.

    Raises:
        MediaError: the file is missing, empty or not media, or has no such audio track.
    """
    with _open(path) as container:
        audio = _choose(container, track)[1].language if container.streams.audio else None
        return StreamLanguages(audio, tuple(stream.metadata.get("language") for stream in container.streams.subtitles))
