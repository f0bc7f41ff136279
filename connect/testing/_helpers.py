"""Helpers for plugin tests: bounded calls, polling, record factories and record checks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from connect.api.data import Schema
from connect.api.errors import DataException
from connect.api.records import SinkRecord, SourceRecord, TimestampType, TopicPartition
from connect.api.task import SourceTask

__all__ = [
    "call_with_timeout",
    "check_committable",
    "check_source_records",
    "poll_until",
    "sink_records",
]

T = TypeVar("T")


class _Outcome:
    __slots__ = ("error", "result")

    def __init__(self) -> None:
        self.result: Any = None
        self.error: BaseException | None = None


def call_with_timeout(fn: Callable[[], T], timeout: float, what: str) -> T:
    """``fn()`` on a helper thread; AssertionError if it does not return within ``timeout`` seconds.

    The call's exception, if any, is re-raised here. A call that hangs is left on its daemon thread
    (it cannot be killed), so the test fails instead of the whole run hanging.
    """
    outcome = _Outcome()

    def run() -> None:
        try:
            outcome.result = fn()
        except BaseException as exc:  # re-raised on the caller's thread
            outcome.error = exc

    thread = threading.Thread(target=run, name=f"headrace-test-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"{what} did not return within {timeout:g} s")
    if outcome.error is not None:
        raise outcome.error
    return outcome.result  # type: ignore[no-any-return]


def _json_equal(value: Any, what: str) -> None:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} {value!r} is not JSON-serializable: {exc}") from None
    if json.loads(text) != value:
        raise AssertionError(
            f"{what} {value!r} does not survive a JSON round trip (it reads back as {json.loads(text)!r}); "
            "use only dicts with string keys, lists, strings, numbers, booleans and None"
        )


def check_source_records(result: Any, where: str = "poll()") -> list[SourceRecord]:
    """Assert that ``result`` is what ``poll()`` may return and give the records (``[]`` for None).

    Each record must be a :class:`SourceRecord` with a topic; its ``source_partition`` and
    ``source_offset`` dicts (or None) must survive a JSON round trip (the runtime stores them as JSON);
    keys and values must match their schemas.
    """
    if result is None:
        return []
    if not isinstance(result, list):
        raise AssertionError(
            f"{where} must return None or a list of SourceRecord, got {type(result).__name__}"
        )
    for i, record in enumerate(result):
        at = f"{where}[{i}]"
        if not isinstance(record, SourceRecord):
            raise AssertionError(f"{at} is a {type(record).__name__}, not a SourceRecord")
        if not isinstance(record.topic, str) or not record.topic:
            raise AssertionError(f"{at} has no topic: {record.topic!r}")
        if record.kafka_partition is not None and (
            not isinstance(record.kafka_partition, int) or record.kafka_partition < 0
        ):
            raise AssertionError(f"{at} has an invalid kafka_partition {record.kafka_partition!r}")
        for name in ("source_partition", "source_offset"):
            part = getattr(record, name)
            if part is None:
                continue
            if not isinstance(part, Mapping):
                raise AssertionError(f"{at}.{name} must be a dict or None, got {type(part).__name__}")
            if not all(isinstance(k, str) for k in part):
                raise AssertionError(f"{at}.{name} must have string keys: {part!r}")
            _json_equal(dict(part), f"{at}.{name}")
        if record.timestamp is not None and (not isinstance(record.timestamp, int) or record.timestamp < 0):
            raise AssertionError(f"{at} has an invalid timestamp {record.timestamp!r} (ms since the epoch)")
        for name, schema, value in (
            ("key", record.key_schema, record.key),
            ("value", record.value_schema, record.value),
        ):
            if schema is None:
                continue
            if not isinstance(schema, Schema):
                raise AssertionError(f"{at}.{name}_schema is a {type(schema).__name__}, not a Schema")
            try:
                Schema.validate_value(schema, value)
            except DataException as exc:
                raise AssertionError(f"{at}.{name} does not match its schema: {exc}") from None
        for header in record.headers:
            if not isinstance(header.key, str):
                raise AssertionError(f"{at} has a header with a non-string key {header.key!r}")
    return list(result)


def poll_until(
    task: SourceTask,
    *,
    min_records: int = 1,
    timeout: float = 10.0,
    max_poll_block: float = 5.0,
) -> list[SourceRecord]:
    """Call ``poll()`` until at least ``min_records`` records arrived or ``timeout`` passed.

    Every result is checked with :func:`check_source_records`; a single ``poll()`` that blocks longer
    than ``max_poll_block`` seconds fails the test. Returns every record polled (maybe fewer than
    ``min_records`` when the time ran out; ``min_records=0`` polls for the whole ``timeout``).
    """
    records: list[SourceRecord] = []
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        result = call_with_timeout(task.poll, max_poll_block, "poll()")
        records.extend(check_source_records(result, f"poll() #{n}"))
        n += 1
        if (min_records and len(records) >= min_records) or time.monotonic() >= deadline:
            return records
        if not result:
            time.sleep(0.01)  # a poll() that returns at once with nothing must not spin the CPU here


def check_committable(
    committed: Any,
    current: Mapping[TopicPartition, int],
    assignment: Iterable[TopicPartition] | None = None,
) -> dict[TopicPartition, int]:
    """Assert that ``pre_commit``'s result only covers data that was put: a dict of TopicPartition to int,
    every partition among ``current`` (and assigned), every offset between 0 and ``current[tp]``."""
    if not isinstance(committed, dict):
        raise AssertionError(f"pre_commit() must return a dict, got {type(committed).__name__}")
    assigned = set(assignment) if assignment is not None else None
    for tp, offset in committed.items():
        if not isinstance(tp, TopicPartition):
            raise AssertionError(f"pre_commit() returned a key {tp!r} that is not a TopicPartition")
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise AssertionError(f"pre_commit() returned a non-integer offset {offset!r} for {tp}")
        if tp not in current:
            raise AssertionError(f"pre_commit() returned an offset for {tp}, which has no data put")
        if not 0 <= offset <= current[tp]:
            raise AssertionError(
                f"pre_commit() returned offset {offset} for {tp}, beyond what was put (next offset "
                f"{current[tp]})"
            )
        if assigned is not None and tp not in assigned:
            raise AssertionError(f"pre_commit() returned an offset for {tp}, which is not assigned")
    return dict(committed)


def sink_records(
    topic: str,
    values: Iterable[Any],
    *,
    partition: int = 0,
    start_offset: int = 0,
    value_schema: Schema | None = Schema.STRING_SCHEMA,
    key_schema: Schema | None = Schema.OPTIONAL_STRING_SCHEMA,
    keys: Iterable[Any] | None = None,
    timestamp: int | None = 1_700_000_000_000,
) -> list[SinkRecord]:
    """SinkRecords as the runtime delivers them: consecutive offsets from ``start_offset``, CreateTime."""
    values = list(values)
    key_list = list(keys) if keys is not None else [f"key-{start_offset + i}" for i in range(len(values))]
    return [
        SinkRecord(
            topic,
            partition,
            key_schema,
            key,
            value_schema,
            value,
            start_offset + i,
            timestamp,
            TimestampType.CREATE_TIME if timestamp is not None else TimestampType.NO_TIMESTAMP_TYPE,
        )
        for i, (key, value) in enumerate(zip(key_list, values, strict=True))
    ]
