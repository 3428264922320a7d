"""Per-folder options: a ``.spoolscribe.toml`` in a folder of the inbox sets the job options of
every file below it; a deeper folder's file overrides the keys it names.

The file (TOML, UTF-8)::

    language = "zh"              # a code such as en, de, zh, "auto", or "multi" (every segment's own)
    task = "transcribe"          # or "translate" (into English)
    model = "small"              # the default model or one of SPOOLSCRIBE_WEB_MODELS (no other path)
    formats = ["txt", "srt"]     # or "txt,srt"
    initial_prompt = "以下是普通话的句子。"  # names and terms that help recognition
    hotwords = "spoolscribe"
    vad_filter = true
    word_timestamps = true
    diarize = true               # tell speakers apart, with optionally
    num_speakers = 2             # ... the number of speakers, or min_speakers / max_speakers
    max_line_length = 42         # subtitle cues: characters a line, lines, seconds, characters a
    max_lines = 2                # ... second (0: no limit; see runner.output.cues)
    max_cue_seconds = 7
    max_cps = 20
    channels = "separate"        # each channel on its own, as speaker "channel 1", ... (default "mix")
    naming = "media"             # Movie (2020).en.srt beside the video (runner.daemon.library)
    audio_track = "eng"          # of a file with several audio tracks: a language tag or a number from 1

The keys are the job option names everywhere (``runner.core.options``); the older ``prompt``,
``vad`` and ``format`` are still accepted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomllib

from runner.core.errors import SpoolscribeError
from runner.core.fsutil import open_regular
from runner.core.options import JobOptions, OptionsError, parse_options

SETTINGS_FILE = ".spoolscribe.toml"
MAX_SETTINGS_BYTES = 64 * 1024

class FolderSettingsError(SpoolscribeError, ValueError):
    """A folder settings file that cannot be used; ``path`` is the file, the message says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def parse_folder_settings(path: Path, data: bytes) -> dict[str, Any]:
    """Turn the bytes of a settings file into ``JobOptions`` keyword values (canonical names, only
    the options the file gives; see ``runner.core.options.parse_options``).

    Raises:
        FolderSettingsError: not UTF-8 TOML, an unknown key, or a value of the wrong kind.
    """
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FolderSettingsError(path, f"not valid TOML: {exc}") from None
    try:
        return parse_options(document)
    except OptionsError as exc:
        raise FolderSettingsError(path, str(exc)) from None


class FolderOptions:
    """The job options of a file in the inbox: ``defaults`` overridden by the settings files of
    its folders, from the inbox down. Files are re-read only when they change (size, mtime).
    A folder may choose only a model of ``models`` (the configured ones): never any other path."""

    def __init__(self, inbox: Path, defaults: JobOptions, models: tuple[str, ...] = ()) -> None:
        self.inbox = inbox
        self.defaults = defaults
        self.models = models
        self._cache: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}

    def options_for(self, path: Path) -> JobOptions:
        """The options of the file at ``path`` (which lies below the inbox).

        Raises:
            FolderSettingsError: a settings file on the way is unreadable or invalid.
        """
        relative = path.parent.relative_to(self.inbox)
        merged = self.defaults.to_dict()
        for folder in (*reversed(relative.parents), relative):  # the inbox first, the file's folder last
            merged.update(self._load(self.inbox / folder / SETTINGS_FILE))
        return JobOptions.from_mapping(merged)

    def _load(self, file: Path) -> dict[str, Any]:
        try:
            stat = os.stat(file)
        except FileNotFoundError:
            self._cache.pop(file, None)
            return {}
        except OSError as exc:
            raise FolderSettingsError(file, f"cannot be read: {exc.strerror}") from None
        key = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        cached = self._cache.get(file)
        if cached is not None and cached[0] == key:
            return cached[1]
        if stat.st_size > MAX_SETTINGS_BYTES:
            raise FolderSettingsError(file, f"is larger than {MAX_SETTINGS_BYTES} bytes")
        try:
            handle, _ = open_regular(file)  # never through a symbolic link
            with handle:
                values = parse_folder_settings(file, handle.read(MAX_SETTINGS_BYTES + 1))
        except OSError as exc:
            raise FolderSettingsError(file, f"cannot be read: {exc.strerror}") from None
        if values.get("model") not in (None, *self.models):
            raise FolderSettingsError(file, f"model {values['model']!r} is not one of the configured models "
                                      f"({', '.join(self.models)}); the administrator can add it to "
                                      "SPOOLSCRIBE_WEB_MODELS")
        try:
            JobOptions.from_mapping({**self.defaults.to_dict(), **values})
        except OptionsError as exc:
            raise FolderSettingsError(file, str(exc)) from None
        self._cache[file] = (key, values)
        return values
