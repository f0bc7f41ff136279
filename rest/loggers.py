"""Runtime log levels for ``/admin/loggers`` (Kafka Connect's KIP-495 / KIP-976) over Python ``logging``.

Kafka's log4j level names are accepted (case-insensitively) and reported: ``TRACE`` (5), ``DEBUG``,
``INFO``, ``WARN``, ``ERROR``, ``FATAL`` (= ``CRITICAL``), ``OFF`` (above every level) and ``ALL`` (1);
Python's own ``WARNING`` and ``CRITICAL`` are accepted too. ``root`` names the root logger.

As in Kafka Connect, setting the level of a namespace sets it on the logger of that name (created if
needed) and on every existing logger below it, and the names of the loggers changed are returned.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["ROOT_LOGGER_NAME", "InvalidLevelError", "LoggerLevels", "level_name", "parse_level"]

ROOT_LOGGER_NAME = "root"

TRACE = 5
OFF = logging.CRITICAL + 10
ALL = 1

_BY_NAME: dict[str, int] = {
    "ALL": ALL,
    "TRACE": TRACE,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
    "OFF": OFF,
}
_NAMES: dict[int, str] = {
    ALL: "ALL",
    TRACE: "TRACE",
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
    OFF: "OFF",
}


class InvalidLevelError(ValueError):
    pass


def parse_level(text: str) -> int:
    """The numeric level for a Kafka/log4j (or Python) level name; InvalidLevelError otherwise."""
    level = _BY_NAME.get(text.strip().upper())
    if level is None:
        raise InvalidLevelError(
            f"Invalid log level '{text}'; expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF, ALL."
        )
    return level


def level_name(level: int) -> str:
    """The Kafka name of a numeric level (Python's name for levels Kafka has no name for)."""
    return _NAMES.get(level) or str(logging.getLevelName(level))


class LoggerLevels:
    """Reads and sets the levels of the loggers of one ``logging`` hierarchy (the process's by default).

    Thread-safe; remembers when each level was last set through it (``last_modified``, ms)."""

    def __init__(self, manager: logging.Manager | None = None) -> None:
        if logging.getLevelName(TRACE) == f"Level {TRACE}":
            logging.addLevelName(TRACE, "TRACE")  # so that log lines at level 5 read TRACE
        self._manager = manager if manager is not None else logging.Logger.manager
        self._lock = threading.Lock()
        self._last_modified: dict[str, int] = {}

    @property
    def manager(self) -> logging.Manager:
        return self._manager

    @property
    def root(self) -> logging.Logger:
        return self._manager.root

    def _existing(self) -> dict[str, logging.Logger]:
        # loggerDict also holds PlaceHolder objects for namespaces nobody asked a logger for.
        return {
            name: logger
            for name, logger in list(self._manager.loggerDict.items())
            if isinstance(logger, logging.Logger)
        }

    def _entry(self, name: str, level: int) -> dict[str, object]:
        return {"level": level_name(level), "last_modified": self._last_modified.get(name)}

    def all_levels(self) -> dict[str, dict[str, object]]:
        """Loggers with an explicitly set level, and root, sorted by name."""
        with self._lock:
            out = {
                name: self._entry(name, logger.level)
                for name, logger in self._existing().items()
                if logger.level != logging.NOTSET
            }
            out[ROOT_LOGGER_NAME] = self._entry(ROOT_LOGGER_NAME, self.root.level)
            return dict(sorted(out.items()))

    def level(self, name: str) -> dict[str, object] | None:
        """The effective level of an existing logger (None if there is no such logger)."""
        with self._lock:
            if name.lower() == ROOT_LOGGER_NAME:
                return self._entry(ROOT_LOGGER_NAME, self.root.getEffectiveLevel())
            logger = self._existing().get(name)
            if logger is None:
                return None
            return self._entry(name, logger.getEffectiveLevel())

    def set_level(self, namespace: str, level: int) -> list[str]:
        """Set ``level`` on the namespace's logger and every existing logger below it; the sorted names
        of the loggers changed. ``root`` sets every logger."""
        with self._lock:
            now = int(time.time() * 1000)
            existing = self._existing()
            targets: dict[str, logging.Logger]
            if namespace.lower() == ROOT_LOGGER_NAME:
                targets = dict(existing)
                targets[ROOT_LOGGER_NAME] = self.root
            else:
                prefix = namespace + "."
                targets = {n: lg for n, lg in existing.items() if n == namespace or n.startswith(prefix)}
                if namespace not in targets:
                    targets[namespace] = self._manager.getLogger(namespace)
            for name, logger in targets.items():
                logger.setLevel(level)
                self._last_modified[name] = now
            return sorted(targets)
