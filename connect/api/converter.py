"""Converters: Connect data <-> bytes in Kafka (Kafka's ``Converter`` and ``HeaderConverter``).

Each task gets its own key converter, value converter and header converter instances, used only on
the task's thread. Lifecycle: ``__init__()``; ``configure(configs, is_key)`` with the
``key.converter.*`` / ``value.converter.*`` properties (prefix removed); then any number of
conversions; ``close()`` when the task stops.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from connect.api.config import ConfigDef
from connect.api.data import Schema, SchemaAndValue
from connect.api.records import Headers

__all__ = ["Converter", "HeaderConverter", "SchemaAndValue"]


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
