"""Per-folder options: a ``.spoolscribe.toml`` in a folder of the inbox sets the job options of
every file below it; a deeper folder's file overrides the keys it names.

The file (TOML, UTF-8)::

    language = "zh"              # a code such as en, de, zh, or "auto"
    task = "transcribe"          # or "translate" (into English)
    model = "small"              # the default model or one of SPOOLSCRIBE_WEB_MODELS (no other path)
    formats = ["txt", "srt"]     # or "txt,srt"
    prompt = "以下是普通话的句子。"  # initial prompt: names and terms
    hotwords = "spoolscribe"
    vad = true
    word_timestamps = true
    diarize = true               # tell speakers apart, with optionally
    num_speakers = 2             # ... the number of speakers, or min_speakers / max_speakers
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomllib

from runner.core.fsutil import open_regular
from runner.core.options import SPEAKER_COUNTS, JobOptions, OptionsError

SETTINGS_FILE = ".spoolscribe.toml"
MAX_SETTINGS_BYTES = 64 * 1024

_TEXT_KEYS = {"language": "language", "task": "task", "model": "model", "prompt": "initial_prompt",
              "hotwords": "hotwords"}
_BOOL_KEYS = {"vad": "vad_filter", "word_timestamps": "word_timestamps", "diarize": "diarize"}
KEYS: tuple[str, ...] = (*_TEXT_KEYS, "formats", *_BOOL_KEYS, *SPEAKER_COUNTS)
"""The keys a folder settings file may hold."""


class FolderSettingsError(ValueError):
    """A folder settings file that cannot be used; ``path`` is the file, the message says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def parse_folder_settings(path: Path, data: bytes) -> dict[str, Any]:
    """Turn the bytes of a settings file into ``JobOptions`` keyword values.

    Raises:
        FolderSettingsError: not UTF-8 TOML, an unknown key, or a value of the wrong type.
    """
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FolderSettingsError(path, f"not valid TOML: {exc}") from None
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise FolderSettingsError(path, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key in _TEXT_KEYS:
            if not isinstance(value, str):
                raise FolderSettingsError(path, f"{key} must be a string")
            values[_TEXT_KEYS[key]] = value
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise FolderSettingsError(path, f"{key} must be true or false")
            values[_BOOL_KEYS[key]] = value
        elif key in SPEAKER_COUNTS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise FolderSettingsError(path, f"{key} must be a whole number")
            values[key] = value
        else:
            if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
                raise FolderSettingsError(path, 'formats must be a list of strings such as ["txt", "srt"]')
            values["formats"] = value
    return values


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
        return JobOptions.from_dict(merged)

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
            JobOptions.from_dict({**self.defaults.to_dict(), **values})
        except OptionsError as exc:
            raise FolderSettingsError(file, str(exc)) from None
        self._cache[file] = (key, values)
        return values
