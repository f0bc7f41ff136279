"""Exceptions of the plugin contract (Kafka Connect's ``org.apache.kafka.connect.errors``).

Every exception a plugin raises at the runtime is a :class:`ConnectException`. The runtime retries a
:class:`RetriableException` (after a back-off) instead of failing the task; anything else fails the task
unless ``errors.tolerance`` says to skip the record (conversion and transformation errors only).
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsException",
    "ConfigException",
    "ConnectException",
    "DataException",
    "IllegalWorkerStateException",
    "NotFoundException",
    "RetriableException",
    "SchemaBuilderException",
    "SchemaProjectorException",
]


class ConnectException(Exception):
    """Base class of every error the Connect framework and its plugins raise."""


class RetriableException(ConnectException):
    """A transient failure: the operation may succeed if retried (e.g. a database that is restarting).

    Raised from ``SourceTask.poll()`` or ``SinkTask.put()``, it makes the runtime call the method again
    later instead of failing the task. ``SinkTask.put()`` receives the same records again.
    """


class DataException(ConnectException):
    """Bad data: a value that does not match its schema, or bytes a converter cannot read.

    These are the errors ``errors.tolerance=all`` may skip (and route to a dead-letter queue).
    """


class SchemaBuilderException(DataException):
    """An invalid :class:`~connect.api.data.SchemaBuilder` call (e.g. setting the name twice)."""


class SchemaProjectorException(DataException):
    """A value cannot be projected from one schema version to another."""


class IllegalWorkerStateException(ConnectException):
    """The worker is in a state that does not allow the requested operation."""


class NotFoundException(ConnectException):
    """A requested connector, task or plugin does not exist."""


class AlreadyExistsException(ConnectException):
    """A connector with the requested name already exists."""


_NO_VALUE = object()


class ConfigException(ConnectException):
    """An invalid configuration value (Kafka's ``org.apache.kafka.common.config.ConfigException``).

    Two forms, as in Kafka::

        ConfigException("Missing required configuration \\"x\\" which has no default value.")
        ConfigException(name, value, message)   # "Invalid value <value> for configuration <name>: <message>"

    The exception keeps the configuration ``name`` and the ``reason`` (the ``message`` part) but never a
    reference to the value: pass a :class:`~connect.api.config.Password` (or ``"[hidden]"``) for secrets so
    the text cannot leak them either.
    """

    name: str | None
    reason: str | None

    def __init__(self, name: str, value: object = _NO_VALUE, message: str | None = None) -> None:
        if value is _NO_VALUE and message is None:
            self.name = None
            self.reason = name
            text = name
        else:
            self.name = name
            self.reason = message
            shown = "null" if value is None or value is _NO_VALUE else str(value)
            text = f"Invalid value {shown} for configuration {name}" + (
                "" if message is None else f": {message}"
            )
        super().__init__(text)

    @property
    def message(self) -> str:
        """The full message (same as ``str(exc)``)."""
        return str(self)
