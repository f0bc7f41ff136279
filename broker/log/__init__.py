"""On-disk log storage of the broker: Kafka-layout segmented partition logs and their manager.

Public API: ``LogManager`` (topics of a data directory), ``PartitionLog`` (one partition), ``LogConfig``
(topic configs), the record-batch helpers in ``broker.log.records`` and the errors in ``broker.log.errors``.
"""

from broker.log.config import LogConfig
from broker.log.errors import (
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidRecordError,
    InvalidTopicError,
    KafkaStorageError,
    LogDirLockedError,
    LogError,
    OffsetOutOfRangeError,
    PolicyViolationError,
    TopicExistsError,
    UnknownTopicError,
)
from broker.log.manager import LogManager, TopicInfo
from broker.log.partition_log import AppendInfo, PartitionLog

__all__ = [
    "AppendInfo",
    "InvalidConfigError",
    "InvalidPartitionsError",
    "InvalidRecordError",
    "InvalidTopicError",
    "KafkaStorageError",
    "LogConfig",
    "LogDirLockedError",
    "LogError",
    "LogManager",
    "OffsetOutOfRangeError",
    "PartitionLog",
    "PolicyViolationError",
    "TopicExistsError",
    "TopicInfo",
    "UnknownTopicError",
]
