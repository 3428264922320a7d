"""Media that real users drop in and that decoding must hear as it is (issue #15): several audio
tracks, a sample rate that changes mid-file, chained Ogg, a large tag after the audio, channels
FFmpeg cannot name, audio that starts after the video, one voice per channel. Each file is made
here with espeak-ng and FFmpeg (``media_tools``), or numpy and the standard ``wave`` module for
channel counts FFmpeg writes only with a guessed layout; ``build`` makes them all.

Shared by tests/test_decoding.py (in process, no model), tests/test_decoding_live.py (real runner,
tiny.en) and bench/accuracy.py.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from media_tools import ffmpeg, speak

MAIN = "The lighthouse keeper counted seven ships in the harbour before the storm arrived."
COMMENTARY = "In this scene the director wanted a quiet garden full of yellow roses."
FIRST = "Please remember to water the tomatoes every morning."
SECOND = "The train to the mountains leaves at half past nine."
LEFT = "My order number is four five six and the parcel never arrived at my house."
RIGHT = "Our warehouse shipped it on Monday with the blue van from the northern depot."
SPEECH_CHANNEL = 3
"""Index of the channel that carries speech in the many-channel WAV files (track 4: FFmpeg's guessed
5.1 layout calls it LFE)."""
LATE = 2.5
"""Seconds the audio of late.mkv starts after its video."""
TAG_BYTES = 2_000_000
"""Size of the APEv2 cover-art item appended to ape.mp3."""


@dataclass(frozen=True)
class Case:
    """A generated file and the words spoken in what should be transcribed of it."""

    name: str
    words: str


CASES: tuple[Case, ...] = (
    Case("two_tracks.mkv", MAIN),
    Case("rate_change.mp3", f"{FIRST} {SECOND}"),
    Case("chained.ogg", f"{FIRST} {SECOND}"),
    Case("ape.mp3", FIRST),
    Case("six.wav", MAIN),
    Case("three.wav", MAIN),
    Case("sixty.wav", MAIN),
    Case("late.mkv", MAIN),
    Case("two_voices.wav", f"{LEFT} {RIGHT}"),
)
"""The generated set of the accuracy benchmark (what a whole mix should yield)."""


def _pcm(path: Path) -> tuple[np.ndarray, int]:
    """The int16 samples (n,) and rate of a mono 16-bit WAV file."""
    with wave.open(str(path), "rb") as source:
        return np.frombuffer(source.readframes(source.getnframes()), "<i2"), source.getframerate()


def write_channels(path: Path, channels: np.ndarray, rate: int) -> Path:
    """Write int16 ``channels`` (c, n) as a plain PCM WAV (WAVE_FORMAT_PCM: no channel mask, so the
    layout is unknown to FFmpeg) at ``rate`` Hz."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(channels.T).astype("<i2").tobytes())
    return path


def many_channels(path: Path, speech: Path, count: int, channel: int = SPEECH_CHANNEL) -> Path:
    """A ``count``-channel WAV of unknown layout: ``speech`` on ``channel``, faint noise on the others
    (a multi-track recorder's export)."""
    samples, rate = _pcm(speech)
    noise = np.random.default_rng(count).normal(0, 30, (count, len(samples)))
    noise[channel] = samples
    return write_channels(path, noise.astype(np.int16), rate)


def ape_tag(size: int) -> bytes:
    """An APEv2 tag (header, one binary ``Cover Art (Front)`` item of ``size`` zero bytes, footer), as
    specified at https://wiki.hydrogenaud.io/index.php?title=APEv2_specification."""
    item = struct.pack("<II", size, 0x02) + b"Cover Art (Front)\0" + bytes(size)
    length = len(item) + 32  # items and footer

    def frame(flags: int) -> bytes:
        return b"APETAGEX" + struct.pack("<IIII", 2000, length, 1, flags) + bytes(8)

    return frame(0xA0000000) + item + frame(0x80000000)


def build(out: Path) -> Path:
    """Make every file of ``CASES`` (and the parts they are made of) in ``out``; return ``out``."""
    main, commentary = speak(MAIN, out / "main.wav"), speak(COMMENTARY, out / "commentary.wav")
    first, second = speak(FIRST, out / "first.wav"), speak(SECOND, out / "second.wav", voice="en-us")
    left, right = speak(LEFT, out / "left.wav"), speak(RIGHT, out / "right.wav", voice="en+f3")
    video = ["-f", "lavfi", "-i", "testsrc=duration=8:size=64x64:rate=10"]
    # Commentary first (tagged German, titled), the main track second and default-flagged.
    ffmpeg(*video, "-i", str(commentary), "-i", str(main), "-map", "0:v", "-map", "1:a", "-map", "2:a",
           "-c:v", "libx264", "-c:a", "flac", "-metadata:s:a:0", "language=ger", "-metadata:s:a:0",
           "title=Commentary", "-metadata:s:a:1", "language=eng", "-metadata:s:a:1", "title=Main",
           "-disposition:a:0", "0", "-disposition:a:1", "default", str(out / "two_tracks.mkv"))
    # Two MP3 files joined byte for byte: 44.1 kHz, then 48 kHz (each with its ID3v2 header).
    ffmpeg("-i", str(first), "-ar", "44100", "-b:a", "128k", str(out / "part1.mp3"))
    ffmpeg("-i", str(second), "-ar", "48000", "-b:a", "128k", str(out / "part2.mp3"))
    (out / "rate_change.mp3").write_bytes((out / "part1.mp3").read_bytes() + (out / "part2.mp3").read_bytes())
    # Chained Ogg: a mono 22.05 kHz Vorbis link, then a stereo 44.1 kHz one.
    ffmpeg("-i", str(first), "-c:a", "libvorbis", str(out / "link1.ogg"))
    ffmpeg("-i", str(second), "-ar", "44100", "-ac", "2", "-c:a", "libvorbis", str(out / "link2.ogg"))
    (out / "chained.ogg").write_bytes((out / "link1.ogg").read_bytes() + (out / "link2.ogg").read_bytes())
    # A CBR MP3 without a Xing header (FFmpeg estimates its duration from bytes / bit rate), 2 MB of tag after it.
    ffmpeg("-i", str(first), "-ar", "44100", "-b:a", "128k", "-write_xing", "0", str(out / "plain.mp3"))
    (out / "ape.mp3").write_bytes((out / "plain.mp3").read_bytes() + ape_tag(TAG_BYTES))
    many_channels(out / "six.wav", main, 6)
    many_channels(out / "three.wav", main, 3, channel=2)
    many_channels(out / "sixty.wav", main, 60, channel=41)
    ffmpeg(*video, "-itsoffset", str(LATE), "-i", str(main), "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
           "-c:a", "aac", str(out / "late.mkv"))
    # One voice a channel, overlapping (a call recorded one side a channel), and one voice on both.
    ffmpeg("-i", str(left), "-i", str(right), "-filter_complex",
           "[0]apad=whole_dur=6[l];[1]apad=whole_dur=6[r];[l][r]join=inputs=2:channel_layout=stereo",
           str(out / "two_voices.wav"))
    ffmpeg("-i", str(main), "-filter_complex",
           "[0]asplit[a][b];[b]adelay=delays=4:all=1,volume=0.7[c];[a][c]join=inputs=2:channel_layout=stereo",
           str(out / "one_voice.wav"))
    # Declared layouts FFmpeg mixes itself (the reference decoding): stereo with a mask, and 5.1.
    ffmpeg("-i", str(left), "-i", str(right), "-filter_complex", "[0][1]join=inputs=2:channel_layout=stereo",
           "-c:a", "flac", str(out / "stereo.flac"))
    ffmpeg("-i", str(main), "-i", str(commentary), "-i", str(first), "-i", str(second), "-i", str(left), "-i",
           str(right), "-filter_complex", "join=inputs=6:channel_layout=5.1", str(out / "surround.wav"))
    return out


@pytest.fixture(scope="session", name="hard")
def hard_media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixture ``hard``: the directory of this module's files, made once a session (a test module
    imports ``hard_media_dir`` to use it)."""
    return build(tmp_path_factory.mktemp("hard"))
