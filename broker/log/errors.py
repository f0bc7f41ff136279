"""Exceptions raised by the log storage package.

Every exception carries ``error_code``: the Kafka protocol error code a request handler should put in its
response when the exception reaches it.
"""

from __future__ import annotations

OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_CONFIG = 40
POLICY_VIOLATION = 44
KAFKA_STORAGE_ERROR = 56
INVALID_RECORD = 87


class LogError(Exception):
    """Base class of the storage package's errors."""

    error_code: int = KAFKA_STORAGE_ERROR


class InvalidRecordError(LogError):
    """A record batch is malformed, corrupt or too large; nothing of the request was written.

    ``error_code`` is CORRUPT_MESSAGE (bad CRC, truncated batch), MESSAGE_TOO_LARGE (batch over
    ``max.message.bytes``) or INVALID_RECORD (any other invalid content).
    """

    def __init__(self, message: str, error_code: int = INVALID_RECORD) -> None:
        super().__init__(message)
        self.error_code = error_code


class OffsetOutOfRangeError(LogError):
    """The requested offset is below the log start offset or above the log end offset."""

    error_code = OFFSET_OUT_OF_RANGE


class UnknownTopicError(LogError):
    """The topic (or partition) does not exist."""

    error_code = UNKNOWN_TOPIC_OR_PARTITION


class TopicExistsError(LogError):
    """A topic with that name already exists."""

    error_code = TOPIC_ALREADY_EXISTS


class InvalidTopicError(LogError):
    """The topic name is not a legal Kafka topic name, or collides with an existing one."""

    error_code = INVALID_TOPIC_EXCEPTION


class InvalidPartitionsError(LogError):
    """The requested number of partitions is invalid (not positive, or not an increase)."""

    error_code = INVALID_PARTITIONS


class InvalidConfigError(LogError):
    """A topic or broker config key is unknown or its value is invalid."""

    error_code = INVALID_CONFIG

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"Invalid value for config {key!r}: {reason}")
        self.key = key
        self.reason = reason


class PolicyViolationError(LogError):
    """The request is well-formed but not allowed by the broker's policy."""

    error_code = POLICY_VIOLATION


class LogDirLockedError(LogError):
    """Another process already holds the data directory's lock file."""

    error_code = KAFKA_STORAGE_ERROR


class KafkaStorageError(LogError):
    """An I/O error on the log directory (disk full, read error); the request may be retried."""

    error_code = KAFKA_STORAGE_ERROR
