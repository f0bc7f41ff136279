"""Error handling for records (Kafka's RetryWithToleranceOperator, LogReporter, DeadLetterQueueReporter).

Semantics (connector configs ``errors.*``):
- a :class:`RetriableException` in a conversion or transformation is retried with exponential
  back-off until ``errors.retry.timeout`` (0: no retry, -1: forever);
- any other failure, or one that outlived its retries, is *tolerated* when ``errors.tolerance=all``:
  the record is skipped, logged when ``errors.log.enable``, and (sink connectors) written to the
  dead letter queue ``errors.deadletterqueue.topic.name`` with the reason in ``__connect.errors.*``
  headers when ``errors.deadletterqueue.context.headers.enable``; with ``none`` it fails the task.

Used on the task's own thread only.
"""

from __future__ import annotations

import enum
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from connect.api.errors import ConnectException, RetriableException

log = logging.getLogger("connect.errors")

T = TypeVar("T")


class Stage(enum.Enum):
    TASK_POLL = "TASK_POLL"
    TASK_PUT = "TASK_PUT"
    HEADER_CONVERTER = "HEADER_CONVERTER"
    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    KAFKA_PRODUCE = "KAFKA_PRODUCE"
    KAFKA_CONSUME = "KAFKA_CONSUME"


class ToleranceExceeded(ConnectException):
    """Raised when an error is not tolerated; fails the task (message as in Kafka)."""


@dataclass
class ConsumedRecord:
    """The raw record as consumed (what goes to the dead letter queue)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None


def _class_name(obj: Any) -> str:
    if obj is None:
        return ""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class ErrorReporter:
    def report(self, stage: Stage, exc: BaseException, record: ConsumedRecord | None, source: Any) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Make reported records durable (called before sink offsets are committed)."""

    def close(self) -> None:
        pass


class LogReporter(ErrorReporter):
    def __init__(self, task_id: str, include_messages: bool) -> None:
        self.task_id = task_id
        self.include_messages = include_messages

    def report(self, stage: Stage, exc: BaseException, record: ConsumedRecord | None, source: Any) -> None:
        where = ""
        if self.include_messages and record is not None:
            where = (
                f" on record {record.topic}-{record.partition}@{record.offset} (timestamp {record.timestamp})"
            )
        elif self.include_messages and source is not None:
            where = f" on record {source!r}"
        log.error(
            "Error encountered in task %s at stage %s%s: %s: %s",
            self.task_id,
            stage.value,
            where,
            type(exc).__name__,
            exc,
        )


class DeadLetterQueueReporter(ErrorReporter):
    """Writes failed sink records to the DLQ topic with a confluent-kafka producer."""

    def __init__(self, producer: Any, topic: str, connector: str, task: int, context_headers: bool) -> None:
        self.producer = producer
        self.topic = topic
        self.connector = connector
        self.task = task
        self.context_headers = context_headers
        self._errors: list[str] = []

    def report(self, stage: Stage, exc: BaseException, record: ConsumedRecord | None, source: Any) -> None:
        if record is None:
            return
        headers = list(record.headers or [])
        if self.context_headers:
            cause = exc
            ctx = {
                "__connect.errors.topic": record.topic,
                "__connect.errors.partition": str(record.partition),
                "__connect.errors.offset": str(record.offset),
                "__connect.errors.connector.name": self.connector,
                "__connect.errors.task.id": str(self.task),
                "__connect.errors.stage": stage.value,
                "__connect.errors.class.name": _class_name(source),
                "__connect.errors.exception.class.name": _class_name(cause),
                "__connect.errors.exception.message": str(cause),
                "__connect.errors.exception.stacktrace": "".join(
                    traceback.format_exception(type(cause), cause, cause.__traceback__)
                ),
            }
            headers += [(k, v.encode()) for k, v in ctx.items()]

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                self._errors.append(str(err))

        while True:
            try:
                self.producer.produce(
                    self.topic, record.value, record.key, headers=headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self) -> None:
        remaining = self.producer.flush(30)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise ConnectException(
                f"could not write to the dead letter queue {self.topic}: "
                f"{errors[:3] or f'{remaining} record(s) not acknowledged'}"
            )

    def close(self) -> None:
        self.producer.flush(5)


class ErrorHandler:
    """Decides what happens to a failed record operation."""

    def __init__(
        self,
        config: dict[str, Any],
        task_id: str,
        reporters: list[ErrorReporter] | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.tolerate_all = config.get("errors.tolerance", "none") == "all"
        self.retry_timeout_ms = int(config.get("errors.retry.timeout", 0))
        self.retry_delay_max_ms = int(config.get("errors.retry.delay.max.ms", 60000))
        self.task_id = task_id
        self.reporters = list(reporters or [])
        if config.get("errors.log.enable"):
            self.reporters.append(LogReporter(task_id, bool(config.get("errors.log.include.messages"))))
        self.failed = 0
        self.skipped = 0
        self._sleep = sleep

    def run(
        self,
        stage: Stage,
        operation: Callable[[], T],
        record: ConsumedRecord | None = None,
        source: Any = None,
    ) -> tuple[bool, T | None]:
        """Run ``operation`` with retries; (True, result) on success, (False, None) when tolerated.

        Raises ToleranceExceeded when the failure is not tolerated.
        """
        deadline = None if self.retry_timeout_ms < 0 else time.monotonic() + self.retry_timeout_ms / 1000
        delay = 0.3
        while True:
            try:
                return True, operation()
            except RetriableException as exc:
                if deadline is None or time.monotonic() + delay < deadline:
                    log.debug("retrying %s after %s", stage.value, exc)
                    self._sleep(delay)
                    delay = min(delay * 2, self.retry_delay_max_ms / 1000)
                    continue
                self.fail(stage, exc, record, source)
                return False, None
            except Exception as exc:
                self.fail(stage, exc, record, source)
                return False, None

    def fail(self, stage: Stage, exc: BaseException, record: ConsumedRecord | None, source: Any) -> None:
        """Tolerate (report and return) or raise ToleranceExceeded."""
        self.failed += 1
        if not self.tolerate_all:
            raise ToleranceExceeded(
                f"Tolerance exceeded in error handler ({stage.value}: {type(exc).__name__}: {exc})"
            ) from exc
        self.skipped += 1
        for reporter in self.reporters:
            reporter.report(stage, exc, record, source)

    def flush(self) -> None:
        for reporter in self.reporters:
            reporter.flush()

    def close(self) -> None:
        for reporter in self.reporters:
            try:
                reporter.close()
            except Exception:
                log.exception("closing error reporter failed")
