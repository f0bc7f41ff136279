"""Converters: Connect data <-> bytes in Kafka (Kafka's ``Converter`` and ``HeaderConverter``).

Each task gets its own key converter, value converter and header converter instances, used only on
the task's thread. Lifecycle: ``__init__()``; ``configure(configs, is_key)`` with the
``key.converter.*`` / ``value.converter.*`` properties (prefix removed); then any number of
conversions; ``close()`` when the task stops.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from connect.api.config import ConfigDef
from connect.api.data import Schema, SchemaAndValue
from connect.api.records import Headers

__all__ = ["BatchConverter", "Converter", "HeaderConverter", "SchemaAndValue"]


class Converter(abc.ABC):
    """Serializes record keys or values (e.g. ``JsonConverter``)."""

    @abc.abstractmethod
    def configure(self, configs: Mapping[str, Any], is_key: bool) -> None:
        """Configure for keys (``is_key``) or values."""

    @abc.abstractmethod
    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        """Serialize a Connect value (None for a tombstone); may add headers (e.g. a schema id).

        Raises :class:`~connect.api.errors.DataException` for a value it cannot serialize.
        """

    @abc.abstractmethod
    def to_connect_data(
        self, topic: str, value: bytes | None, headers: Headers | None = None
    ) -> SchemaAndValue:
        """Deserialize bytes from Kafka (None = tombstone) into a schema and a Connect value.

        Raises :class:`~connect.api.errors.DataException` for bytes it cannot read.
        """

    def config(self) -> ConfigDef:
        """The declared configuration keys (default: none)."""
        return ConfigDef()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class BatchConverter(Converter):
    """A :class:`Converter` that can also read a whole consumed batch at once: the sink runtime calls
    :meth:`to_connect_batch` instead of :meth:`to_connect_data` per record when both the key and the
    value converter are ``BatchConverter`` instances (checked with ``isinstance``, once per task).

    An ABC rather than a runtime-checkable protocol: the capability is declared by subclassing, so a
    converter that happens to have a method of that name is not taken for one, the contract below
    comes with it, and ``isinstance`` is a cheap class check instead of a per-call attribute probe.

    Contract of ``to_connect_batch(topics, values) -> (schemas, values)``:

    - the same results as ``to_connect_data(topics[i], values[i])`` for every ``i`` (called without
      headers), as two lists of ``len(values)`` schemas and Connect values;
    - it may raise (e.g. :class:`~connect.api.errors.DataException` for the first unreadable value);
      the runtime then converts that batch again record by record with ``to_connect_data``, which
      reports each failure per record, so it must have no side effect beyond the converter's own
      caches;
    - called on the task thread, like every other conversion.

    A subclass that overrides ``to_connect_data`` but inherits ``to_connect_batch`` from a concrete
    ``BatchConverter`` gets a ``to_connect_batch`` that calls its ``to_connect_data`` record by record
    (see :meth:`to_connect_each`), so the inherited batch reader never bypasses its override; a
    subclass that overrides both keeps its own.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inherited = cls.to_connect_batch
        if (
            "to_connect_data" in cls.__dict__
            and "to_connect_batch" not in cls.__dict__
            and not getattr(inherited, "__isabstractmethod__", False)
        ):
            cls.to_connect_batch = BatchConverter.to_connect_each  # type: ignore[method-assign]

    @abc.abstractmethod
    def to_connect_batch(
        self, topics: Sequence[str], values: Sequence[bytes | None]
    ) -> tuple[list[Schema | None], list[Any]]:
        """``to_connect_data(topics[i], values[i])`` for every ``i``, as (schemas, values); see the class
        docstring for the contract."""

    def to_connect_each(
        self, topics: Sequence[str], values: Sequence[bytes | None]
    ) -> tuple[list[Schema | None], list[Any]]:
        """:meth:`to_connect_batch` done record by record with :meth:`to_connect_data` (a correct, if
        not faster, implementation of the contract)."""
        schemas: list[Schema | None] = []
        out: list[Any] = []
        for topic, value in zip(topics, values, strict=True):
            sv = self.to_connect_data(topic, value)
            schemas.append(sv.schema)
            out.append(sv.value)
        return schemas, out


class HeaderConverter(abc.ABC):
    """Serializes header values (e.g. ``SimpleHeaderConverter``)."""

    @abc.abstractmethod
    def configure(self, configs: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def from_connect_header(
        self, topic: str, header_key: str, schema: Schema | None, value: Any
    ) -> bytes | None:
        """Serialize one header value."""

    @abc.abstractmethod
    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        """Deserialize one header value."""

    def config(self) -> ConfigDef:
        return ConfigDef()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
