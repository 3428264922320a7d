"""Logging a lasting problem once: when it starts and when it ends, not at every retry."""

from __future__ import annotations

import logging
from collections.abc import Hashable


class Problems:
    """The problems now going on, each under a key (such as ``("inbox",)`` or ``("file", path)``)."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._active: dict[Hashable, str] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._active

    def report(self, key: Hashable, message: str, *args: object) -> None:
        """Log ``message % args`` as a warning unless the same message is already active under ``key``."""
        text = message % args
        if self._active.get(key) == text:
            return
        self._active[key] = text
        self.log.warning("%s", text)

    def resolve(self, key: Hashable, message: str | None = None, *args: object) -> None:
        """End the problem under ``key``; log ``message % args`` (info) if it was active."""
        if self._active.pop(key, None) is not None and message is not None:
            self.log.info(message, *args)

    def matching(self, predicate) -> list[Hashable]:
        """The keys of the problems going on whose key satisfies ``predicate``."""
        return [key for key in self._active if predicate(key)]

    def resolve_matching(self, predicate) -> None:
        """End, silently, every problem whose key satisfies ``predicate`` (e.g. files below a folder)."""
        for key in self.matching(predicate):
            del self._active[key]
