"""Exceptions raised by the log storage package.

Every exception carries ``error_code``: the Kafka protocol error code (kio's ``ErrorCode``) a request
handler should put in its response when the exception reaches it.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode


class LogError(Exception):
    """Base class of the storage package's errors."""

    error_code: ErrorCode = ErrorCode.kafka_storage_error


class InvalidRecordError(LogError):
    """A record batch is malformed, corrupt or too large; nothing of the request was written.

    ``error_code`` is ``corrupt_message`` (bad CRC, truncated batch), ``message_too_large`` (batch over
    ``max.message.bytes``), ``invalid_record`` (any other invalid content), or for idempotent producers
    ``out_of_order_sequence_number`` / ``invalid_producer_epoch`` / ``duplicate_sequence_number``.
    """

    def __init__(self, message: str, error_code: ErrorCode = ErrorCode.invalid_record) -> None:
        super().__init__(message)
        self.error_code = error_code


class OffsetOutOfRangeError(LogError):
    """The requested offset is below the log start offset or above the log end offset."""

    error_code = ErrorCode.offset_out_of_range


class UnknownTopicError(LogError):
    """The topic (or partition) does not exist."""

    error_code = ErrorCode.unknown_topic_or_partition


class TopicExistsError(LogError):
    """A topic with that name already exists."""

    error_code = ErrorCode.topic_already_exists


class InvalidTopicError(LogError):
    """The topic name is not a legal Kafka topic name, or collides with an existing one."""

    error_code = ErrorCode.invalid_topic_exception


class InvalidPartitionsError(LogError):
    """The requested number of partitions is invalid (not positive, or not an increase)."""

    error_code = ErrorCode.invalid_partitions


class InvalidConfigError(LogError):
    """A topic or broker config key is unknown or its value is invalid."""

    error_code = ErrorCode.invalid_config

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"Invalid value for config {key!r}: {reason}")
        self.key = key
        self.reason = reason


class PolicyViolationError(LogError):
    """The request is well-formed but not allowed by the broker's policy."""

    error_code = ErrorCode.policy_violation


class LogDirLockedError(LogError):
    """Another process already holds the data directory's lock file."""

    error_code = ErrorCode.kafka_storage_error


class KafkaStorageError(LogError):
    """An I/O error on the log directory (disk full, read error); the request may be retried."""

    error_code = ErrorCode.kafka_storage_error
