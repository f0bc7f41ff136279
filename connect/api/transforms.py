"""Single message transformations and predicates (KIP-66 ``Transformation``, KIP-585 ``Predicate``).

A transformation chain runs on the task's thread for every record: after ``poll()`` and before
conversion for sources, after conversion and before ``put()`` for sinks. Each instance belongs to one
task, so it needs no locking.

Lifecycle, in order: ``__init__()`` without arguments; ``configure(props)`` with the
``transforms.<alias>.*`` properties (prefix removed); ``apply(record)`` per record; ``close()`` when the
task stops. ``config()`` may be called on an unconfigured instance (validation, docs). Predicates follow
the same lifecycle with ``test(record)``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from connect.api.config import ConfigDef
from connect.api.records import ConnectRecord

__all__ = ["Predicate", "Transformation"]

R = TypeVar("R", bound=ConnectRecord)


class Transformation(abc.ABC, Generic[R]):
    """Changes, replaces or drops one record at a time."""

    @abc.abstractmethod
    def configure(self, props: Mapping[str, Any]) -> None:
        """Configure from the transformation's own properties."""

    @abc.abstractmethod
    def apply(self, record: R) -> R | None:
        """The transformed record (a new one via ``record.new_record(...)``), or None to drop it.

        Raise :class:`~connect.api.errors.DataException` for a record that cannot be transformed; the
        runtime applies ``errors.tolerance``.
        """

    @abc.abstractmethod
    def config(self) -> ConfigDef:
        """The declared configuration keys."""

    def close(self) -> None:
        """Release resources."""


class Predicate(abc.ABC, Generic[R]):
    """Decides whether a transformation applies to a record (``transforms.<t>.predicate``)."""

    @abc.abstractmethod
    def configure(self, props: Mapping[str, Any]) -> None:
        """Configure from the predicate's own properties."""

    @abc.abstractmethod
    def test(self, record: R) -> bool:
        """Whether the record matches (``negate=true`` inverts it in the runtime)."""

    @abc.abstractmethod
    def config(self) -> ConfigDef:
        """The declared configuration keys."""

    def close(self) -> None:
        """Release resources."""
