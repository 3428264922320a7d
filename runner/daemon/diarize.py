"""Speaker diarization with pyannote.audio: the only module that imports torch or pyannote.

Both are imported when the first job that asks for speakers needs the pipeline, never at import
time, so a runner that only transcribes (and the web) never loads them. The pipeline comes from
``Settings.diarization_pipeline`` (a model hub id or a local directory), is loaded once per runner
and kept. It gets the waveform the job already decoded (no second decoder). Whatever goes wrong
here becomes a warning on the job, which keeps its transcript (``Diarizer.attribute``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.errors import SpoolscribeError
from runner.core.options import SPEAKER_COUNTS, JobOptions
from runner.core.settings import Settings
from runner.core.transcript import Transcript, Turn
from runner.daemon.media import SAMPLE_RATE
from runner.output.speakers import assign_speakers

log = logging.getLogger(__name__)

NOT_INSTALLED = "speaker diarization is not installed on this runner"
MIN_SECONDS = 2.0
"""Shortest audio worth diarizing: below it there are a word or two, too little to tell voices apart."""
CONFIG_FILE = "config.yaml"


class DiarizationError(SpoolscribeError):
    """Speakers could not be diarized; the message is the job's warning, naming the reason."""


def _failed(reason: str) -> DiarizationError:
    return DiarizationError(f"speaker diarization failed: {reason}")


@dataclass(frozen=True)
class Diarization:
    """Who spoke when: ``turns`` (every turn; they overlap where people speak at once) and
    ``exclusive`` (one speaker at a time, pyannote's ``exclusive_speaker_diarization``; equal to
    ``turns`` when the pipeline has none), in seconds within the audio, labels as the pipeline gave them."""

    turns: tuple[Turn, ...]
    exclusive: tuple[Turn, ...]


class Diarizer:
    """A runner's speaker diarization: loads the configured pipeline on first use and keeps it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipeline: Any = None
        self._torch: Any = None

    def attribute(self, transcript: Transcript, samples: np.ndarray, options: JobOptions, runner: str,
                  job_id: str) -> tuple[Transcript, str | None]:
        """``transcript`` with speakers (``runner.output.speakers.assign_speakers``) and None, or, when
        diarization fails, ``transcript`` unchanged and the warning that says why. Never raises
        for a failure of diarization (the transcript is worth delivering)."""
        try:
            diarization = self.diarize(samples, options)
        except DiarizationError as exc:  # with the traceback of a failure inside pyannote
            log.warning("runner %s: job %s: %s", runner, job_id, exc, exc_info=exc.__cause__)
            return transcript, str(exc)
        log.info("runner %s: job %s: %d speaker turns", runner, job_id, len(diarization.turns))
        return assign_speakers(transcript, diarization.turns, diarization.exclusive), None

    def diarize(self, samples: np.ndarray, options: JobOptions) -> Diarization:
        """Diarize ``samples`` (16 kHz mono float32, shape (n,)) with the job's speaker counts.

        Raises:
            DiarizationError: pyannote is not installed, the pipeline cannot be loaded, the audio
                is shorter than ``MIN_SECONDS``, memory ran out, or the pipeline failed.
        """
        duration = len(samples) / SAMPLE_RATE
        if duration < MIN_SECONDS:
            raise DiarizationError(f"speaker diarization skipped: the audio is too short ({duration:.1f} s; "
                                   f"at least {MIN_SECONDS:.0f} s are needed)")
        pipeline = self.pipeline()
        torch = self._torch
        counts = {name: getattr(options, name) for name in SPEAKER_COUNTS if getattr(options, name) is not None}
        audio = {"waveform": torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None],
                 "sample_rate": SAMPLE_RATE, "uri": "audio"}  # shares the samples' memory
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                output = pipeline(audio, **counts)
        except (MemoryError, torch.OutOfMemoryError):
            raise _failed(f"out of memory while diarizing {duration:.0f} s of audio; lower "
                          "SPOOLSCRIBE_DIARIZATION_BATCH_SIZE or give the runner more memory") from None
        except Exception as exc:  # a failure inside pyannote: the transcript is still delivered
            raise _failed(f"the pipeline stopped with {type(exc).__name__}: {_first_line(exc)}") from exc
        for message in dict.fromkeys(str(warning.message).strip() for warning in caught):
            log.debug("pyannote: %s", message)
        regular = getattr(output, "speaker_diarization", output)  # pyannote 3 pipelines give the Annotation
        exclusive = getattr(output, "exclusive_speaker_diarization", None)
        turns = _turns(regular, duration)
        return Diarization(turns, turns if exclusive is None else _turns(exclusive, duration))

    def pipeline(self) -> Any:
        """The loaded pyannote pipeline (loading it on first use).

        Raises:
            DiarizationError: pyannote is not installed, or the pipeline cannot be loaded.
        """
        if self._pipeline is None:
            self._pipeline = self._load()
        return self._pipeline

    def _load(self) -> Any:
        try:
            import torch

            with warnings.catch_warnings():  # we hand it waveforms: its own decoder is never used
                warnings.filterwarnings("ignore", message="\\s*torchcodec is not installed correctly")
                from pyannote.audio import Pipeline
                from pyannote.audio.telemetry import set_telemetry_metrics
        except ImportError as exc:
            log.warning("cannot import pyannote.audio (%s)", exc)
            raise DiarizationError(f"{NOT_INSTALLED}; install spoolscribe[diarization] there") from None
        set_telemetry_metrics(False)  # pyannote 4 reports usage to its makers unless told not to
        source = self.settings.diarization_pipeline
        local = _local_directory(source)
        if local is not None and not local.is_dir():
            raise _failed(f"the pipeline directory {local} does not exist (SPOOLSCRIBE_DIARIZATION_PIPELINE)")
        if local is not None and not (local / CONFIG_FILE).is_file():
            raise _failed(f"the pipeline directory {local} has no {CONFIG_FILE} (SPOOLSCRIBE_DIARIZATION_PIPELINE)")
        log.info("loading diarization pipeline %s", source)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):  # pyannote prints its download hints
                pipeline = Pipeline.from_pretrained(str(local or source), token=self.settings.diarization_token or None)
        except Exception as exc:  # hub, file and checkpoint errors of many types
            log.debug("pyannote printed: %s", printed.getvalue().strip())
            raise _failed(_load_failure(source, exc)) from None
        if pipeline is None:
            raise _failed(f"could not load the pipeline {source}")
        batch_size = self.settings.diarization_batch_size
        if batch_size > 0:
            pipeline.segmentation_batch_size = batch_size
            pipeline.embedding_batch_size = batch_size
        torch.set_num_threads(self.settings.effective_threads)
        pipeline.to(torch.device(_device(torch, self.settings.device)))
        self._torch = torch
        return pipeline


def _turns(annotation: Any, duration: float) -> tuple[Turn, ...]:
    """A pyannote ``Annotation``'s turns in time order, cut to the audio (0..``duration`` s: the
    pipeline pads the last window, so its turns can run past the end)."""
    turns = []
    for segment, _track, label in annotation.itertracks(yield_label=True):
        start, end = max(0.0, float(segment.start)), min(duration, float(segment.end))
        if end > start:
            turns.append(Turn(start, end, str(label)))
    return tuple(turns)


def _local_directory(source: str) -> Path | None:
    """``source`` as a directory when it names one (a path, or anything that exists), else None (a hub id)."""
    path = Path(source).expanduser()
    if source.startswith(("/", "./", "../", "~")) or path.exists():
        return path.resolve()
    return None


def _device(torch: Any, device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _load_failure(source: str, exc: Exception) -> str:
    """A person's reason why the pipeline ``source`` did not load."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return (f"access to {source} on the model hub is gated: accept its conditions at https://hf.co/{source} "
                "with the account whose token is in HF_TOKEN")
    if isinstance(exc, RepositoryNotFoundError):
        return (f"the model hub has no {source} that the token may read: check the name "
                "(SPOOLSCRIBE_DIARIZATION_PIPELINE) and HF_TOKEN")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code in (401, 403):
        return (f"the model hub refused the token (HTTP {exc.response.status_code}) for {source}: set a valid "
                "HF_TOKEN or SPOOLSCRIBE_DIARIZATION_TOKEN")
    if isinstance(exc, LocalEntryNotFoundError):
        return (f"could not download {source}: the model hub cannot be reached (or offline mode is on) and it is "
                "not in the local cache; set SPOOLSCRIBE_DIARIZATION_PIPELINE to a local directory with its files")
    if isinstance(exc, HfHubHTTPError):
        return f"the model hub answered {_first_line(exc)} for {source}"
    return f"could not load the pipeline {source} ({type(exc).__name__}: {_first_line(exc)})"
