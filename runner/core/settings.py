"""Configuration: one frozen object, read once at the edge (the CLI or the web factory).

Every field can be set by an environment variable named ``SPOOLSCRIBE_<FIELD>`` (upper case)
or by a keyword override (the CLI passes its flags that way). Nothing here runs at import time.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.core.errors import SpoolscribeError
from runner.core.urls import check_url

ENV_PREFIX = "SPOOLSCRIBE_"
MIN_TOKEN_CHARS = 16  # a shared web token shorter than this is refused


class SettingsError(SpoolscribeError, ValueError):
    """A configuration value that cannot be used; the message names the variable and the value."""


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "spoolscribe"


@dataclass(frozen=True)
class Settings:
    """Everything a spoolscribe process needs to know, fixed for the process's life.

    Paths are absolute; durations are seconds; sizes are bytes.
    """

    home: Path = field(default_factory=_default_home)
    """Data root: the spool, the outputs and (by default) the SQLite database live under it."""
    database_url: str = ""
    """SQLAlchemy URL; empty means ``sqlite:///<home>/spoolscribe.db``."""
    model: str = "base"
    """Default faster-whisper model: a name it downloads on first use, or a local CTranslate2 directory."""
    host_name: str = field(default_factory=socket.gethostname)
    """This host's name, the first part of every runner's name (``<host_name>-<name>``), so that runners
    on several hosts sharing one job store never share a name (default: the system's host name)."""
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``auto`` (passed to CTranslate2)."""
    compute_type: str = ""
    """CTranslate2 compute type; empty means ``int8`` on the CPU and ``default`` elsewhere."""
    threads: int = 0
    """CPU threads per runner for the model; 0 means all cores divided by ``runners`` (at least 1)."""
    runners: int = 1
    """How many runners share this machine (used only to derive ``threads``)."""
    nice: int = 10
    """Niceness a runner adds to itself so the web keeps its share of the CPUs."""
    rescan_interval: float = 5.0
    """Seconds between safety-net rescans of the pending directory (file events wake a runner sooner)."""
    heartbeat_interval: float = 5.0
    """Seconds between a runner's heartbeats; each extends the lease of its running job."""
    lease_seconds: float = 60.0
    """How long a claim stays valid without a heartbeat."""
    max_attempts: int = 3
    """Claims a job may have before it is failed as abandoned."""
    progress_interval: float = 1.0
    """Least seconds between two progress writes of one job (segments in between are batched)."""
    window_seconds: float = 900.0
    """Longest stretch of audio given to faster-whisper at once; longer recordings are transcribed
    window by window, which bounds a runner's memory (faster-whisper's spectrogram of a whole hour
    alone peaks near 3 GB)."""
    batch_size: int = 0
    """Batch size for faster-whisper's BatchedInferencePipeline; 0 transcribes sequentially
    (see docs/performance.md for the measurements behind the default)."""
    model_cache_size: int = 2
    """Loaded models a runner keeps warm at once (per-job model choice)."""
    reap_interval: float = 30.0
    """Seconds between a runner's passes of the reaper (expired leases, spool repair)."""
    debris_grace: float = 3600.0
    """Seconds a temporary file (``.<name>.<8 hex>.tmp``) a killed process left in the spool, the
    outputs, the inbox or the outbox must be unchanged before a runner removes it (it looks every
    half of this); nothing else is ever removed."""
    stop_grace: float = 20.0
    """After the first SIGTERM, seconds to reach a segment boundary before the job is handed back
    from its last checkpoint and the runner exits (fits systemd's TimeoutStopSec=30)."""
    time_limit_factor: float = 4.0
    """A job may run this many times its audio duration ..."""
    time_limit_floor: float = 600.0
    """... but never less than this many seconds, before it is stopped and failed."""

    # web
    web_bind: str = "127.0.0.1:8080"
    """Address the web listens on (``HOST:PORT``); anything but loopback without a token logs a warning."""
    web_workers: int = 2
    """Gunicorn worker processes of the web."""
    web_threads: int = 8
    """Threads per web worker (gunicorn's gthread worker); more than ``web_upload_slots``, so that
    status reads always find a free thread while uploads stream."""
    web_upload_slots: int = 2
    """Uploads (multipart, chunked or over 16 KiB bodies) one web worker reads at once; one more is
    answered at once with 503 and ``Retry-After``; small form and JSON bodies take no slot. Fewer
    than ``web_threads``."""
    web_body_timeout: float = 10.0
    """Seconds a request body gets on top of its size at ``web_body_min_rate``; a body that arrives
    later (a stalled or trickling client) is cut off with 408."""
    web_body_min_rate: int = 1024
    """Least average speed of a request body (bytes per second), after ``web_body_timeout``."""
    web_token: str = field(default="", repr=False)
    """Shared secret; when set, the API needs ``Authorization: Bearer <token>`` and the pages a login.
    At least ``MIN_TOKEN_CHARS`` (16) characters."""
    web_secret_key: str = field(default="", repr=False)
    """Key that signs the web's cookies; empty means one generated once into ``<home>/web-secret-key``."""
    web_cookie_secure: bool = False
    """Send cookies only over HTTPS (set it when a TLS proxy serves the web)."""
    web_models: tuple[str, ...] = ()
    """Models an upload may choose besides the runners' default (comma list; empty: default only)."""
    max_upload_bytes: int = 2 * 1024**3
    """Largest upload request the web accepts (bytes); larger ones get 413 and leave nothing behind."""

    # compat (Bazarr's /asr and OpenAI's /v1/audio/* answered from the queue; see docs/api.md)
    compat_bind: str = "127.0.0.1:9000"
    """Address ``spoolscribe compat`` listens on (``HOST:PORT``; 9000 is Bazarr's default)."""
    compat_workers: int = 2
    """Gunicorn worker processes of the compat service."""
    compat_max_waiting: int = 16
    """Requests one compat worker holds open while their jobs run; beyond it: 503 with Retry-After."""
    compat_hold_seconds: float = 3600.0
    """Longest a compat request waits for its job; then 503 with Retry-After (the job goes on, a retry attaches)."""
    compat_models: tuple[str, ...] = ()
    """Model names clients may send, as ``name=model`` items (``gpt-4o-transcribe=small``); a name
    listed alone is offered as itself. ``whisper-1`` and unknown names mean the default ``model``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'spoolscribe.db'}")
        if self.webhook_url.strip():
            try:
                check_url(self.webhook_url)
            except ValueError as exc:
                raise SettingsError(f"SPOOLSCRIBE_WEBHOOK_URL cannot be used: {exc}") from None
        if self.web_token and len(self.web_token) < MIN_TOKEN_CHARS:
            raise SettingsError(f"SPOOLSCRIBE_WEB_TOKEN must be at least {MIN_TOKEN_CHARS} characters, got "
                                f"{len(self.web_token)} (make one with `openssl rand -hex 24`)")
        for name in ("web_workers", "compat_workers"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.web_upload_slots < self.web_threads:
            raise SettingsError("SPOOLSCRIBE_WEB_UPLOAD_SLOTS must be at least 1 and less than "
                                "SPOOLSCRIBE_WEB_THREADS "
                                f"({self.web_threads}) so that reads keep free threads, got {self.web_upload_slots}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``SPOOLSCRIBE_*`` variables, then apply non-None ``overrides``.

        Raises:
            SettingsError: a variable or override cannot be converted to its field's type.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if overrides.get(f.name) is not None:
                raw, origin = overrides[f.name], f"--{f.name.replace('_', '-')}"
            elif env.get(name, "") != "":
                raw, origin = env[name], name
            else:
                continue
            values[f.name] = _convert(raw, f.type, origin)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Settings:
        """These settings with ``overrides`` applied (None values ignored), converted as flags are.

        Raises:
            SettingsError: an override cannot be converted to its field's type, or names no setting.
        """
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        given = {key: value for key, value in overrides.items() if value is not None}
        return Settings.from_env(env={}, **{**current, **given})

    @property
    def effective_compute_type(self) -> str:
        """The compute type to load models with (``int8`` on the CPU unless configured)."""
        if self.compute_type:
            return self.compute_type
        return "int8" if self.device == "cpu" else "default"

    @property
    def effective_threads(self) -> int:
        """CPU threads for one runner's model: configured, or cores divided by runners."""
        if self.threads > 0:
            return self.threads
        return max(1, (os.cpu_count() or 1) // max(1, self.runners))

    @property
    def spool_dir(self) -> Path:
        """The Maildir-shaped spool (``tmp/``, ``new/``, ``cur/``, ``media/``, ``bad/``)."""
        return self.home / "spool"

    @property
    def outputs_dir(self) -> Path:
        """Where each job's outputs go, one directory per job id."""
        return self.home / "outputs"

    # inbox
    inbox: str = ""
    """The shared folder ``spoolscribe ingest`` watches, recursively; empty means ``<home>/inbox``."""
    inbox_quiet: float = 5.0
    """Seconds a file's size and modification time must stay unchanged before it becomes a job."""
    inbox_close_quiet: float = 2.0
    """The shorter quiet period once a writer closed the file (inotify's close-after-write event);
    never longer than ``inbox_quiet``."""
    inbox_polling: bool = False
    """Watch by polling instead of inotify: for network filesystems (NFS, SMB/CIFS, FUSE mounts),
    whose changes made by other machines inotify never reports."""
    inbox_poll_interval: float = 2.0
    """Seconds between two polls of the inbox tree when polling, or of the folders inotify cannot watch."""
    inbox_rescan_interval: float = 60.0
    """Seconds between two safety-net walks of the whole inbox tree (events and polls find files sooner)."""
    inbox_extensions: tuple[str, ...] = (
        "wav", "mp3", "m4a", "flac", "ogg", "oga", "opus", "aac", "wma", "amr", "aif", "aiff", "caf",
        "mka", "webm", "mp4", "m4v", "mkv", "mov", "avi", "wmv", "mpg", "mpeg", "3gp",
    )  # fmt: skip
    """Extensions (without the dot, any case) of the files that become jobs; all others are ignored."""
    inbox_formats: tuple[str, ...] = ("txt", "srt", "vtt", "json")
    """Output formats of inbox jobs (a folder's ``.spoolscribe.toml`` may choose others)."""
    inbox_outbox: str = ""
    """Empty: results go next to the source file. Otherwise a directory where the results are
    written in a tree that mirrors the inbox (runners need the same inbox and outbox settings)."""

    @property
    def inbox_dir(self) -> Path:
        """The absolute inbox directory (``inbox``, or ``<home>/inbox``)."""
        return Path(self.inbox).expanduser().resolve() if self.inbox else self.home / "inbox"

    @property
    def outbox_dir(self) -> Path | None:
        """The absolute outbox directory, or None when results go next to their source."""
        return Path(self.inbox_outbox).expanduser().resolve() if self.inbox_outbox else None

    # diarization
    diarization_pipeline: str = "pyannote/speaker-diarization-community-1"
    """The pyannote.audio pipeline for jobs that ask for speakers: a model hub id (downloaded on
    first use with ``HF_TOKEN``) or a local directory holding its ``config.yaml`` and model files."""
    diarization_token: str = field(default="", repr=False)
    """Model hub token for ``diarization_pipeline``; empty means ``HF_TOKEN`` (huggingface_hub reads it)."""
    diarization_batch_size: int = 8
    """Chunks of 10 s the segmentation and embedding models take at once (0: the pipeline's own
    setting); on the CPU each adds about 40 MB to a runner's memory while it diarizes."""

    # systemd
    auto_migrate: bool = True
    """Bring a database whose schema is behind up to date on opening it. The systemd units set it
    false: spoolscribe-migrate.service upgrades, and the other services refuse a schema they do not
    match (``spoolscribe db upgrade`` or restarting the migrate unit fixes an older one)."""

    # operations
    retention_media_days: float = 7.0
    """Days after a succeeded or cancelled job ended before its media in the spool is deleted (0: kept).
    An inbox job's source file is never deleted, only the spool's snapshot of it."""
    retention_failed_media_days: float = 30.0
    """Days after a failed job ended before its media is deleted: longer, so it can still be retried (0: kept)."""
    retention_job_days: float = 0.0
    """Days after a job ended before its row and its outputs under ``<home>/outputs`` are deleted
    (0: kept for ever); never before its media's time. Results beside inbox files stay."""
    retention_interval: float = 3600.0
    """Seconds between a runner's retention sweeps (one also runs when a runner starts)."""
    min_free_bytes: int = 1024**3
    """A runner claims no job while the spool's or the outputs' filesystem has less free space
    than this (bytes; 0: no floor). It resumes by itself once space returns."""
    webhook_url: str = ""
    """URL that receives a JSON POST when any job ends (empty: none; jobs may name their own ``callback_url``)."""
    webhook_secret: str = field(default="", repr=False)
    """Key for the ``X-Spoolscribe-Signature: t=<unix seconds>,v1=<hex>`` HMAC of each webhook's time
    and body (empty: unsigned); see docs/security.md for the receiver's check."""
    webhook_timeout: float = 10.0
    """Seconds one webhook attempt may wait to connect and for each read of the answer."""
    webhook_backoff: float = 5.0
    """Seconds before the first retry of a failed webhook; each next waits twice as long (at most 10 minutes)."""
    webhook_retry_seconds: float = 3600.0
    """Seconds after a job ended during which its webhook is retried; then it is given up."""
    webhook_callbacks: bool = True
    """Accept a per-job ``callback_url`` from uploads (false: only ``webhook_url`` is called)."""
    webhook_allow_private: bool = False
    """Let per-job callback URLs reach loopback, link-local (169.254.169.254), private, multicast,
    reserved and unspecified addresses; refused by default, at upload for literal addresses and at
    sending for the address the name resolves to. ``webhook_url``, set by the operator, is exempt."""
    public_url: str = ""
    """The web's address as people and webhook receivers reach it (``https://host``), for links in
    webhooks; empty: the links are paths (``/api/jobs/<id>``)."""


def _convert(raw: Any, type_name: Any, origin: str) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if type_name == "Path":
            return Path(raw)
        if type_name == "tuple[str, ...]":
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        raise SettingsError(f"{origin} must be of type {type_name}, got {raw!r}") from None
    return raw
