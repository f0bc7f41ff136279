"""WorkerSinkTask converts a consumed batch with the converters' batch readers when it can
(``_convert`` -> ``_assemble`` with the converted batch) and record by record otherwise (``_assemble``
converting each message). Both must give the same
records, offsets, error reports, transformation calls and exceptions, whatever the batch holds:
valid and broken keys and values, tombstones, headers that fail to convert, consumer errors,
transformations that drop, fail or raise retriable errors; with errors.tolerance all and none."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect.api import (
    BatchConverter,
    ConfigDef,
    ConnectException,
    DataException,
    RetriableException,
    Schema,
    Struct,
)
from connect.api.records import SinkRecord
from connect.api.task import SinkTask
from connect.api.transforms import Transformation
from connect.converters import load_converter, load_header_converter
from connect.converters.json import JsonConverter
from connect.runtime.errors import ConsumedRecord, ErrorHandler, ErrorReporter, Stage
from connect.runtime.models import ConnectorTaskId
from connect.runtime.pipeline import Converters, TransformationChain, _Step
from connect.runtime.sink_task import WorkerSinkTask
from connect.runtime.worker_task import TargetState
from tests.connect.strategies import values
from tests.connect.test_json_converter_batch import ORDER, canon, mutated

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WRITER = JsonConverter()


class _Discard(SinkTask):
    def version(self) -> str:
        return "1"

    def start(self, props: dict[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        pass

    def stop(self) -> None:
        pass


class _Picky(Transformation[SinkRecord]):
    """Drops, fails or asks to retry depending on the key; logs every call."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def configure(self, props: Any) -> None:
        pass

    def config(self) -> ConfigDef:
        return ConfigDef()

    def apply(self, record: SinkRecord) -> SinkRecord | None:
        self.calls.append((record.topic, record.kafka_offset, canon(record.key)))
        k = record.key if isinstance(record.key, int) else 1
        if k % 5 == 0:
            return None
        if k % 7 == 0:
            raise DataException(f"no sevens: {k}")
        if k % 11 == 0:
            raise RetriableException(f"later: {k}")
        return record.new_record(topic=record.topic + "-x")


class _Recorder(ErrorReporter):
    def __init__(self) -> None:
        self.reports: list[Any] = []

    def report(self, stage: Stage, exc: BaseException, record: ConsumedRecord | None, source: Any) -> None:
        self.reports.append((stage, type(exc), str(exc), record, type(source).__name__))


class _Listener:
    def __init__(self) -> None:
        self.topics: list[str] = []

    def on_topic_used(self, connector: str, topic: str) -> None:
        self.topics.append(topic)

    def on_task_progress(self, task: Any, progress: Any) -> None:
        pass


def _task(tolerate: bool, with_chain: bool) -> tuple[WorkerSinkTask, _Recorder, _Picky, _Listener]:
    recorder, picky, listener = _Recorder(), _Picky(), _Listener()
    converters = Converters(
        load_converter("JsonConverter", {}, True),
        load_converter("JsonConverter", {}, False),
        load_header_converter("JsonConverter", {}),
    )
    assert isinstance(converters.key, BatchConverter) and isinstance(converters.value, BatchConverter)
    chain = TransformationChain([_Step("picky", picky, None, False)] if with_chain else [])
    errors = ErrorHandler(
        {"errors.tolerance": "all" if tolerate else "none", "errors.retry.timeout": 0}, "c-0", [recorder]
    )
    task = WorkerSinkTask(
        ConnectorTaskId("c", 0),
        _Discard(),
        {},
        {},
        converters,
        chain,
        None,  # type: ignore[arg-type]  # no consumer: only the conversion is exercised
        errors,
        listener,  # type: ignore[arg-type]
        TargetState.STARTED,
        60_000,
    )
    return task, recorder, picky, listener


def _encoded(schema: Schema, value: Any) -> bytes | None:
    return WRITER.from_connect_data("t", schema, value)


@st.composite
def messages(draw: st.DrawFn) -> list[Message]:
    broken = draw(st.booleans())
    out: list[Message] = []
    next_offset = {("a", 0): 0, ("a", 1): 0, ("b", 0): 0}
    for _ in range(draw(st.integers(1, 12))):
        tp = draw(st.sampled_from(sorted(next_offset)))
        offset = next_offset[tp]
        next_offset[tp] = offset + draw(st.integers(1, 3))
        if broken and draw(st.integers(0, 15)) == 0:
            code = draw(st.sampled_from([KafkaError._PARTITION_EOF, KafkaError._TRANSPORT]))
            fatal = draw(st.integers(0, 5)) == 0
            out.append(Message(topic=tp[0], partition=tp[1], error=KafkaError(code, "boom", fatal=fatal)))
            continue
        key = _encoded(Schema.OPTIONAL_INT64_SCHEMA, draw(st.none() | st.integers(-100, 100)))
        value: bytes | None = _encoded(ORDER, draw(values(ORDER)))
        headers = None
        if draw(st.booleans()):
            headers = [("h", draw(st.sampled_from([b'{"schema":null,"payload":1}', b"2", b"{bad", None])))]
        if broken:
            key = draw(mutated(key))
            value = draw(mutated(value))
        ts_type = draw(st.sampled_from([0, 1, 2]))
        out.append(
            Message(
                topic=tp[0],
                partition=tp[1],
                offset=offset,
                key=key,
                value=value,
                headers=headers,
                timestamp=(ts_type, 1_700_000_000_000 + offset if ts_type else -1),
            )
        )
    return out


def _run(task: WorkerSinkTask, batch: bool, msgs: list[Message]) -> Any:
    try:
        if batch:
            records, offsets = task._convert(msgs)
        else:
            records, offsets = task._assemble(
                msgs, [m.topic() if m.error() is None else None for m in msgs], None
            )
    except ConnectException as e:
        return ("raised", type(e), str(e))
    return (
        [(repr(r), r, canon(r.key), canon(r.value), r.headers) for r in records],
        offsets,
        dict(task._raw),
    )


@PROPERTY
@given(messages(), st.booleans(), st.booleans())
def test_batch_path_equals_record_by_record(msgs: list[Message], tolerate: bool, with_chain: bool) -> None:
    fast, fast_reports, fast_calls, fast_topics = _task(tolerate, with_chain)
    slow, slow_reports, slow_calls, slow_topics = _task(tolerate, with_chain)
    assert _run(fast, True, msgs) == _run(slow, False, msgs)
    assert fast_reports.reports == slow_reports.reports
    assert fast_calls.calls == slow_calls.calls
    assert fast_topics.topics == slow_topics.topics
    assert (fast.errors.failed, fast.errors.skipped) == (slow.errors.failed, slow.errors.skipped)


def test_clean_batch_takes_the_batch_path() -> None:
    task, _, _, _ = _task(False, False)
    msgs = [
        Message(
            topic="a",
            partition=0,
            offset=i,
            key=_encoded(Schema.INT64_SCHEMA, i),
            value=_encoded(
                ORDER, Struct(ORDER).put("id", i).put("customer", "c").put("amount", 1.5).put("paid", True)
            ),
            timestamp=(1, 1000 + i),
        )
        for i in range(5)
    ]
    built: list[int] = []
    original = task._assemble

    def spy(*args: Any) -> Any:
        if args[2] is not None:  # keys and values converted by the batch readers
            built.append(len(args[0]))
        return original(*args)

    task._assemble = spy  # type: ignore[method-assign]
    records, offsets = task._convert(msgs)
    assert built == [5]
    assert [r.key for r in records] == [0, 1, 2, 3, 4]
    assert [r.value.get("id") for r in records] == [0, 1, 2, 3, 4]
    assert offsets == {("a", 0): 5}
    task._deliver(records, offsets)
    assert {str(tp): o for tp, o in task.current_offsets.items()} == {"a-0": 5}
