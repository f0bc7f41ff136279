"""The standard test suites a plugin author subclasses: ``SourceTaskTests``, ``SinkTaskTests`` and
``ConnectorTests`` (pytest collects their ``test_*`` methods in every ``Test*`` subclass)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connect.api.config import Config, ConfigDef, ConfigType
from connect.api.connector import Connector, SinkConnector, SourceConnector
from connect.api.records import RecordMetadata, SinkRecord, SourceRecord, TopicPartition
from connect.api.task import SinkTask, SourceTask
from connect.testing._fakes import (
    FakeSinkConnectorContext,
    FakeSinkTaskContext,
    FakeSourceConnectorContext,
    FakeSourceTaskContext,
    InMemoryOffsetStorageReader,
)
from connect.testing._helpers import (
    call_with_timeout,
    check_committable,
    check_source_records,
    poll_until,
    sink_records,
)

__all__ = ["ConnectorTests", "SinkTaskTests", "SourceTaskTests"]


def _expand(config: Mapping[str, str], tmp_path: Path) -> dict[str, str]:
    return {str(k): str(v).replace("{tmp_path}", str(tmp_path)) for k, v in config.items()}


def _position(record: SourceRecord) -> tuple[str, str]:
    return (
        json.dumps(record.source_partition, sort_keys=True, default=str),
        json.dumps(record.source_offset, sort_keys=True, default=str),
    )


class SourceTaskTests:
    """The standard checks for a :class:`~connect.api.task.SourceTask`.

    Subclass it in a test module with the task class and its configuration::

        class TestCounterTask(SourceTaskTests):
            task_class = CounterSourceTask
            config = {"topic": "numbers", "interval.ms": "0"}

    ``{tmp_path}`` in config values becomes the test's temporary directory. Override
    :meth:`prepare` to create what the task reads, :meth:`add_data` to make more available between
    the two runs of the restart test, or :meth:`task_config` for anything else; the class attributes
    below tune expectations and time limits. The checks:

    * ``version()`` is a non-empty string;
    * ``initialize`` → ``start`` → ``poll`` … → ``commit_record``/``commit`` → ``stop`` in order, every
      ``poll()`` returning None or a list of well-formed SourceRecords (JSON-serializable dict
      partitions and offsets, values matching their schemas);
    * ``stop()`` from another thread returns promptly while ``poll()`` runs, and that ``poll()`` returns;
    * ``start`` → ``stop`` without polling;
    * a second task instance reads the offsets committed for the first one's records and does not
      emit those records again.
    """

    task_class: ClassVar[type[SourceTask]]
    config: ClassVar[Mapping[str, str]] = {}
    #: False for sources that emit nothing without an external system the test does not provide.
    expect_records: ClassVar[bool] = True
    #: False for sources that cannot resume from an offset (the restart check is skipped).
    supports_restart: ClassVar[bool] = True
    #: Seconds to wait for the first records.
    poll_timeout: ClassVar[float] = 10.0
    #: Seconds one poll() may block (the contract says "briefly").
    max_poll_block: ClassVar[float] = 5.0
    #: Seconds stop() may take (it must only signal).
    stop_timeout: ClassVar[float] = 1.0
    #: Seconds within which a poll() running when stop() was called must return.
    poll_return_timeout: ClassVar[float] = 5.0
    #: Seconds the restarted task is polled when no data was added (to catch replays).
    restart_window: ClassVar[float] = 1.0

    # -- hooks ---------------------------------------------------------------------------------------

    def task_config(self, tmp_path: Path) -> dict[str, str]:
        """The map passed to ``start()`` (default: :attr:`config` with ``{tmp_path}`` expanded)."""
        return _expand(self.config, tmp_path)

    def prepare(self, tmp_path: Path, config: dict[str, str]) -> None:
        """Create the data the task reads, before the first ``start()`` (default: nothing)."""

    def add_data(self, tmp_path: Path, config: dict[str, str]) -> bool:
        """Make more data available between the two runs of the restart test; True if it did."""
        return False

    def new_task(self) -> SourceTask:
        return self.task_class()

    @pytest.fixture
    def source_config(self, tmp_path: Path) -> dict[str, str]:
        config = self.task_config(tmp_path)
        self.prepare(tmp_path, config)
        return config

    # -- helpers -------------------------------------------------------------------------------------

    def _started(
        self, config: dict[str, str], offsets: InMemoryOffsetStorageReader | None = None
    ) -> SourceTask:
        task = self.new_task()
        task.initialize(FakeSourceTaskContext(config, offsets))
        call_with_timeout(lambda: task.start(dict(config)), self.poll_timeout, "start()")
        return task

    def _stop(self, task: SourceTask) -> None:
        started = time.monotonic()
        call_with_timeout(task.stop, self.stop_timeout, "stop()")
        assert time.monotonic() - started <= self.stop_timeout

    def _poll(self, task: SourceTask, min_records: int, timeout: float) -> list[SourceRecord]:
        return poll_until(task, min_records=min_records, timeout=timeout, max_poll_block=self.max_poll_block)

    # -- tests ---------------------------------------------------------------------------------------

    def test_version_is_a_string(self) -> None:
        version = self.new_task().version()
        assert isinstance(version, str) and version.strip(), f"version() returned {version!r}"

    def test_lifecycle_in_order(self, source_config: dict[str, str]) -> None:
        offsets = InMemoryOffsetStorageReader()
        task = self._started(source_config, offsets)
        try:
            records = self._poll(task, 1 if self.expect_records else 0, self.poll_timeout)
            if self.expect_records:
                assert records, f"poll() returned no records within {self.poll_timeout:g} s"
            for i, record in enumerate(records):
                task.commit_record(record, RecordMetadata(record.topic, record.kafka_partition or 0, i))
            offsets.commit(records)
            task.commit()
            if records:  # a record dropped by a transformation is acknowledged with metadata None
                task.commit_record(records[-1], None)
            more = call_with_timeout(task.poll, self.max_poll_block, "poll() after commit()")
            check_source_records(more, "poll() after commit()")
        finally:
            self._stop(task)

    def test_start_then_stop_without_polling(self, source_config: dict[str, str]) -> None:
        task = self._started(source_config)
        self._stop(task)

    def test_stop_from_another_thread_while_polling(self, source_config: dict[str, str]) -> None:
        task = self._started(source_config)
        stopping = threading.Event()
        polling = threading.Event()
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                while not stopping.is_set():
                    polling.set()
                    check_source_records(task.poll())
            except BaseException as exc:  # reported on the test thread
                errors.append(exc)

        poller = threading.Thread(target=loop, name="headrace-test-poll-loop", daemon=True)
        poller.start()
        try:
            assert polling.wait(self.max_poll_block), "the poll loop did not start"
            time.sleep(0.05)  # let poll() settle into whatever it blocks on
            stopping.set()
            self._stop(task)
            poller.join(self.poll_return_timeout)
            assert not poller.is_alive(), (
                f"poll() did not return within {self.poll_return_timeout:g} s after stop() was called"
            )
        finally:
            stopping.set()
        if errors:
            raise AssertionError(f"poll() raised while stop() was called: {errors[0]!r}") from errors[0]

    def test_restart_resumes_from_committed_offset(
        self, source_config: dict[str, str], tmp_path: Path
    ) -> None:
        if not self.supports_restart:
            pytest.skip(f"{self.task_class.__name__} does not resume from offsets (supports_restart=False)")
        offsets = InMemoryOffsetStorageReader()
        first = self._started(source_config, offsets)
        try:
            records = self._poll(first, 1, self.poll_timeout)
            if not records:
                pytest.skip("the task emitted no records, so there is no offset to resume from")
            assert offsets.commit(records), "no record has a source_partition, so nothing can be resumed"
            for i, record in enumerate(records):
                first.commit_record(record, RecordMetadata(record.topic, record.kafka_partition or 0, i))
            first.commit()
        finally:
            self._stop(first)

        committed = {json.dumps(p, sort_keys=True) for p, _ in offsets.all()}
        acknowledged = {_position(r) for r in records}
        added = self.add_data(tmp_path, source_config)
        offsets.reads.clear()
        second = self._started(source_config, offsets)
        try:
            if added:
                again = self._poll(second, 1, self.poll_timeout)
                assert again, "the restarted task emitted nothing after more data was added"
            else:
                again = self._poll(second, 0, self.restart_window)
        finally:
            self._stop(second)
        read = {json.dumps(p, sort_keys=True) for p in offsets.reads}
        assert read & committed, (
            "the restarted task never read its committed offsets (committed partitions: "
            f"{sorted(committed)}, read: {sorted(read)})"
        )
        replayed = [r for r in again if _position(r) in acknowledged]
        assert not replayed, (
            f"the restarted task emitted {len(replayed)} record(s) whose offsets were already committed, "
            f"e.g. {replayed[0]!r}"
        )


class SinkTaskTests:
    """The standard checks for a :class:`~connect.api.task.SinkTask`.

    Subclass it with the task class and its configuration::

        class TestUppercaseSinkTask(SinkTaskTests):
            task_class = UppercaseFileSinkTask
            config = {"file": "{tmp_path}/out.txt"}

            def read_back(self, tmp_path, config):
                return Path(config["file"]).read_text().splitlines()

            def expected(self, records):
                return [str(r.value).upper() for r in records]

    The records put are STRING values ``record-<offset>`` by default (override :meth:`make_records`).
    When :meth:`read_back` returns what the target holds, every record ``pre_commit`` reports as
    committable must be there. The checks: ``version()``; ``open`` → ``put`` → ``pre_commit`` →
    ``close`` → ``stop`` in order; ``pre_commit`` never returns offsets beyond what was put (nor for
    partitions without data); an empty ``put``; ``start`` → ``stop`` without data; reassignment
    (``close`` some partitions, ``open`` them again).
    """

    task_class: ClassVar[type[SinkTask]]
    config: ClassVar[Mapping[str, str]] = {}
    topic: ClassVar[str] = "headrace-test"
    #: Seconds start(), put(), pre_commit() and close() may take.
    call_timeout: ClassVar[float] = 10.0
    #: Seconds stop() may take.
    stop_timeout: ClassVar[float] = 5.0

    # -- hooks ---------------------------------------------------------------------------------------

    def task_config(self, tmp_path: Path) -> dict[str, str]:
        """The map passed to ``start()`` (default: :attr:`config` with ``{tmp_path}`` expanded, plus
        ``topics`` when not set)."""
        config = _expand(self.config, tmp_path)
        config.setdefault("topics", self.topic)
        return config

    def prepare(self, tmp_path: Path, config: dict[str, str]) -> None:
        """Create what the target needs before ``start()`` (default: nothing)."""

    def make_records(self, tp: TopicPartition, start_offset: int, count: int) -> list[SinkRecord]:
        values = [f"record-{start_offset + i}" for i in range(count)]
        return sink_records(tp.topic, values, partition=tp.partition, start_offset=start_offset)

    def read_back(self, tmp_path: Path, config: dict[str, str]) -> list[Any] | None:
        """What the target holds now, or None (the default) to skip the durability check."""
        return None

    def expected(self, records: list[SinkRecord]) -> list[Any]:
        """What :meth:`read_back` should contain for ``records`` (default: their values)."""
        return [r.value for r in records]

    def new_task(self) -> SinkTask:
        return self.task_class()

    @pytest.fixture
    def sink_config(self, tmp_path: Path) -> dict[str, str]:
        config = self.task_config(tmp_path)
        self.prepare(tmp_path, config)
        return config

    # -- helpers -------------------------------------------------------------------------------------

    def _tp(self, partition: int = 0) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def _call(self, what: str, fn: Any) -> Any:
        return call_with_timeout(fn, self.call_timeout, what)

    def _start(
        self, config: dict[str, str], *assigned: TopicPartition
    ) -> tuple[SinkTask, FakeSinkTaskContext]:
        task = self.new_task()
        context = FakeSinkTaskContext(config, assignment=assigned)
        task.initialize(context)
        self._call("start()", lambda: task.start(dict(config)))
        return task, context

    def _open(self, task: SinkTask, context: FakeSinkTaskContext, *partitions: TopicPartition) -> None:
        context.assign(context.assignment() | set(partitions))
        self._call("open()", lambda: task.open(list(partitions)))

    def _close(self, task: SinkTask, context: FakeSinkTaskContext, *partitions: TopicPartition) -> None:
        self._call("close()", lambda: task.close(list(partitions)))
        context.assign(context.assignment() - set(partitions))

    def _stop(self, task: SinkTask) -> None:
        call_with_timeout(task.stop, self.stop_timeout, "stop()")

    def _pre_commit(
        self, task: SinkTask, context: FakeSinkTaskContext, current: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        committed = self._call("pre_commit()", lambda: task.pre_commit(dict(current)))
        return check_committable(committed, current, context.assignment())

    def _check_durable(
        self,
        tmp_path: Path,
        config: dict[str, str],
        put: list[SinkRecord],
        committed: dict[TopicPartition, int],
    ) -> None:
        target = self.read_back(tmp_path, config)
        if target is None:
            return
        durable = [
            r
            for r in put
            if r.kafka_offset < committed.get(TopicPartition(r.topic, r.kafka_partition or 0), 0)
        ]
        missing = [item for item in self.expected(durable) if item not in target]
        assert not missing, f"pre_commit() reported offsets for data not in the target, e.g. {missing[0]!r}"

    # -- tests ---------------------------------------------------------------------------------------

    def test_version_is_a_string(self) -> None:
        version = self.new_task().version()
        assert isinstance(version, str) and version.strip(), f"version() returned {version!r}"

    def test_lifecycle_in_order(self, sink_config: dict[str, str], tmp_path: Path) -> None:
        tp = self._tp()
        task, context = self._start(sink_config)
        try:
            self._open(task, context, tp)
            records = self.make_records(tp, 0, 5)
            self._call("put()", lambda: task.put(list(records)))
            self._call("put([])", lambda: task.put([]))
            current = {tp: records[-1].kafka_offset + 1}
            self._call("flush()", lambda: task.flush(dict(current)))
            committed = self._pre_commit(task, context, current)
            self._check_durable(tmp_path, sink_config, records, committed)
            self._close(task, context, tp)
        finally:
            self._stop(task)

    def test_pre_commit_never_beyond_put(self, sink_config: dict[str, str], tmp_path: Path) -> None:
        tp0, tp1 = self._tp(0), self._tp(1)
        task, context = self._start(sink_config)
        try:
            self._open(task, context, tp0, tp1)
            assert self._pre_commit(task, context, {}) == {}, "pre_commit({}) committed offsets without data"
            first = self.make_records(tp0, 10, 3)
            self._call("put()", lambda: task.put(list(first)))
            current = {tp0: 13}
            committed = self._pre_commit(task, context, current)
            self._check_durable(tmp_path, sink_config, first, committed)
            second = self.make_records(tp0, 13, 2) + self.make_records(tp1, 0, 2)
            self._call("put()", lambda: task.put(list(second)))
            current = {tp0: 15, tp1: 2}
            committed = self._pre_commit(task, context, current)
            self._check_durable(tmp_path, sink_config, first + second, committed)
            self._close(task, context, tp0, tp1)
        finally:
            self._stop(task)

    def test_start_then_stop_without_data(self, sink_config: dict[str, str]) -> None:
        task, _ = self._start(sink_config)
        self._stop(task)
        task, context = self._start(sink_config)
        self._open(task, context, self._tp())
        self._close(task, context, self._tp())
        self._stop(task)

    def test_reassignment(self, sink_config: dict[str, str], tmp_path: Path) -> None:
        tp0, tp1 = self._tp(0), self._tp(1)
        task, context = self._start(sink_config)
        try:
            self._open(task, context, tp0, tp1)
            batch = self.make_records(tp0, 0, 2) + self.make_records(tp1, 0, 2)
            self._call("put()", lambda: task.put(list(batch)))
            self._pre_commit(task, context, {tp0: 2, tp1: 2})
            self._close(task, context, tp0)
            later = self.make_records(tp1, 2, 2)
            self._call("put()", lambda: task.put(list(later)))
            self._pre_commit(task, context, {tp1: 4})
            self._open(task, context, tp0)
            again = self.make_records(tp0, 2, 1)
            self._call("put()", lambda: task.put(list(again)))
            committed = self._pre_commit(task, context, {tp0: 3, tp1: 4})
            self._check_durable(tmp_path, sink_config, batch + later + again, committed)
            self._close(task, context, tp0, tp1)
        finally:
            self._stop(task)


class ConnectorTests:
    """The standard checks for a :class:`~connect.api.connector.Connector`.

    Subclass it with the connector class and a valid configuration::

        class TestCounterConnector(ConnectorTests):
            connector_class = CounterSourceConnector
            config = {"topic": "numbers"}

    The checks: ``version()`` is a string; ``config()`` is a ``ConfigDef`` whose keys are documented;
    ``validate()`` of an empty config reports errors (set ``empty_config_is_valid = True`` when every key
    has a default) and never raises, not even for garbage values; the given config validates;
    ``start`` → ``task_class``/``task_configs(n)`` (at most ``n`` maps of strings) → ``stop``.
    """

    connector_class: ClassVar[type[Connector]]
    config: ClassVar[Mapping[str, str]] = {}
    empty_config_is_valid: ClassVar[bool] = False

    def connector_config(self, tmp_path: Path) -> dict[str, str]:
        return _expand(self.config, tmp_path)

    def new_connector(self) -> Connector:
        return self.connector_class()

    @pytest.fixture
    def started(self, tmp_path: Path) -> Iterator[Connector]:
        connector = self.new_connector()
        if isinstance(connector, SourceConnector):
            connector.initialize(FakeSourceConnectorContext())
        else:
            connector.initialize(FakeSinkConnectorContext())
        connector.start(self.connector_config(tmp_path))
        try:
            yield connector
        finally:
            connector.stop()

    def test_version_is_a_string(self) -> None:
        version = self.new_connector().version()
        assert isinstance(version, str) and version.strip(), f"version() returned {version!r}"

    def test_config_is_a_documented_config_def(self) -> None:
        definition = self.new_connector().config()
        assert isinstance(definition, ConfigDef), f"config() returned {type(definition).__name__}"
        undocumented = [k.name for k in definition.config_keys().values() if not k.documentation.strip()]
        assert not undocumented, f"configuration keys without documentation: {undocumented}"

    def test_validate_empty_config(self) -> None:
        result = self.new_connector().validate({})
        assert isinstance(result, Config), f"validate() returned {type(result).__name__}"
        if self.empty_config_is_valid:
            assert result.error_count == 0, f"an empty config should be valid: {result.errors()}"
        else:
            assert result.error_count > 0, "validate({}) reported no errors for an empty configuration"

    def test_validate_never_raises_for_bad_values(self) -> None:
        definition = self.new_connector().config()
        garbage = {
            name: "\x00 not-a-valid-value ${file:/nonexistent:x}"
            for name, key in definition.config_keys().items()
            if key.type is not ConfigType.PASSWORD
        }
        result = self.new_connector().validate(garbage)
        assert isinstance(result, Config)

    def test_validate_accepts_the_config(self, tmp_path: Path) -> None:
        result = self.new_connector().validate(self.connector_config(tmp_path))
        assert result.error_count == 0, f"the test's config does not validate: {result.errors()}"

    def test_task_class_matches_the_connector(self) -> None:
        connector = self.new_connector()
        task_class = connector.task_class()
        if isinstance(connector, SourceConnector):
            assert issubclass(task_class, SourceTask), f"{task_class} is not a SourceTask"
        elif isinstance(connector, SinkConnector):
            assert issubclass(task_class, SinkTask), f"{task_class} is not a SinkTask"
        task_class()  # tasks are instantiated without arguments

    def test_task_configs(self, started: Connector) -> None:
        for max_tasks in (1, 2, 5):
            configs = started.task_configs(max_tasks)
            assert isinstance(configs, list), f"task_configs({max_tasks}) returned {type(configs).__name__}"
            assert len(configs) <= max_tasks, f"task_configs({max_tasks}) returned {len(configs)} configs"
            for i, config in enumerate(configs):
                assert isinstance(config, dict), f"task_configs({max_tasks})[{i}] is not a dict"
                bad = {k: v for k, v in config.items() if not isinstance(k, str) or not isinstance(v, str)}
                assert not bad, f"task_configs({max_tasks})[{i}] has non-string entries: {bad}"
