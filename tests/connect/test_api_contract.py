"""The plugin contract: public names, no runtime imports, a minimal connector/task pair works."""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import connect.api as api
import connect.api.cdc
import connect.api.json_schema  # noqa: F401
from connect.api import (
    Config,
    ConfigDef,
    Connector,
    ConnectorContext,
    Predicate,
    RecordMetadata,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SinkTaskContext,
    SourceConnector,
    SourceRecord,
    SourceTask,
    Task,
    TopicPartition,
    Transformation,
)

API_DIR = Path(api.__file__).parent


def test_public_names_are_exported() -> None:
    for name in api.__all__:
        assert hasattr(api, name), name
    for module in (
        "config",
        "connector",
        "converter",
        "data",
        "errors",
        "json_schema",
        "records",
        "task",
        "transforms",
    ):
        mod = sys.modules[f"connect.api.{module}"]
        assert set(mod.__all__) <= set(dir(mod))


def test_abstract_config_has_one_name() -> None:
    """Kafka's ``AbstractConfig``; ``ConnectorConfig`` is the runtime's (connect.runtime.connector_config)."""
    assert api.AbstractConfig.__name__ == "AbstractConfig"
    assert not hasattr(api, "ConnectorConfig")
    assert not hasattr(sys.modules["connect.api.config"], "ConnectorConfig")


def test_api_imports_only_stdlib_and_itself() -> None:
    allowed_roots = set(sys.stdlib_module_names) | {"connect"}
    for path in API_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed_roots, f"{path.name} imports {name}"
                if name.startswith("connect"):
                    assert name == "connect.api" or name.startswith("connect.api."), (
                        f"{path.name} imports {name}"
                    )


def test_lifecycle_docstrings_say_which_thread() -> None:
    for cls in (Task, SourceTask, SinkTask, Connector):
        doc = cls.__doc__ or ""
        assert "thread" in doc.lower() and "1." in doc and "stop()" in doc, cls


class _Source(SourceTask):
    def __init__(self) -> None:
        self.stopped = False
        self.committed: list[RecordMetadata | None] = []

    def version(self) -> str:
        return "1.0"

    def start(self, props: dict[str, str]) -> None:
        self.topic = props["topic"]

    def poll(self) -> list[SourceRecord] | None:
        return None if self.stopped else [SourceRecord({"f": "x"}, {"pos": 1}, self.topic, value="v")]

    def commit_record(self, record: SourceRecord, metadata: RecordMetadata | None) -> None:
        self.committed.append(metadata)

    def stop(self) -> None:
        self.stopped = True


class _SourceConnector(SourceConnector):
    def version(self) -> str:
        return "1.0"

    def config(self) -> ConfigDef:
        return ConfigDef().define("topic", "string", importance="high", doc="Topic to write to.")

    def start(self, props: dict[str, str]) -> None:
        self.props = props

    def task_class(self) -> type[SourceTask]:
        return _Source

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def stop(self) -> None:
        pass


class _Ctx(ConnectorContext):
    def __init__(self) -> None:
        self.reconfigured = 0

    def request_task_reconfiguration(self) -> None:
        self.reconfigured += 1

    def raise_error(self, exc: BaseException) -> None:
        raise exc


def test_minimal_source_connector_lifecycle() -> None:
    c = _SourceConnector()
    result = c.validate({})
    assert isinstance(result, Config) and result.errors() == {
        "topic": ['Missing required configuration "topic" which has no default value.']
    }
    c.initialize(_Ctx())
    c.start({"topic": "t"})
    [cfg] = c.task_configs(3)
    task = c.task_class()()
    task.start(cfg)
    records = task.poll()
    assert records and records[0].topic == "t"
    task.commit_record(records[0], RecordMetadata("t", 0, 0))
    task.stop()
    assert task.poll() is None
    assert c.alter_offsets({}, [({"f": "x"}, None)]) is False
    c.stop()


class _Sink(SinkTask):
    def __init__(self) -> None:
        self.flushed: list[Mapping[TopicPartition, int]] = []

    def version(self) -> str:
        return "1.0"

    def start(self, props: dict[str, str]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        pass

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        self.flushed.append(dict(current_offsets))

    def stop(self) -> None:
        pass


class _SinkCtx(SinkTaskContext):
    def __init__(self) -> None:
        self.resets: list[dict[TopicPartition, int]] = []

    def configs(self) -> dict[str, str]:
        return {}

    def reset_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        self.resets.append(offsets)

    def timeout(self, timeout_ms: int) -> None:
        pass

    def assignment(self) -> set[TopicPartition]:
        return set()

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def resume(self, *partitions: TopicPartition) -> None:
        pass

    def request_commit(self) -> None:
        pass


def test_sink_task_defaults() -> None:
    task = _Sink()
    ctx = _SinkCtx()
    task.initialize(ctx)
    tp = TopicPartition("t", 0)
    assert task.pre_commit({tp: 5}) == {tp: 5}
    assert task.flushed == [{tp: 5}]
    ctx.offset(tp, 3)
    ctx.offset({tp: 1})
    assert ctx.resets == [{tp: 3}, {tp: 1}]
    assert ctx.errant_record_reporter() is None
    assert SinkConnector.TOPICS_CONFIG == "topics"


def test_abstract_classes_cannot_be_instantiated() -> None:
    classes: list[type[Any]] = [Task, SourceTask, SinkTask, Connector, SourceConnector, SinkConnector]
    classes += [Transformation, Predicate]
    for cls in classes:
        with pytest.raises(TypeError):
            cls()


class _Upper(Transformation[SourceRecord]):
    def configure(self, props: Mapping[str, Any]) -> None:
        pass

    def apply(self, record: SourceRecord) -> SourceRecord | None:
        return record.new_record(value=str(record.value).upper())

    def config(self) -> ConfigDef:
        return ConfigDef()


def test_transformation() -> None:
    r = SourceRecord(None, None, "t", value="abc")
    out = _Upper().apply(r)
    assert out is not None and out.value == "ABC" and r.value == "abc"


# The public plugin contract, pinned: adding or removing a name is a deliberate API change (update this
# list, docs/ARCHITECTURE.md and the changelog in the same commit). Helper sessions must not grow it by
# accident, and a rename (as ConnectorConfig -> AbstractConfig) shows here.
PINNED_API = frozenset(
    {
        "AbstractConfig",
        "AlreadyExistsException",
        "BatchConverter",
        "CaseInsensitiveValidString",
        "CompositeValidator",
        "Config",
        "ConfigDef",
        "ConfigException",
        "ConfigKey",
        "ConfigType",
        "ConfigValue",
        "ConnectException",
        "ConnectRecord",
        "ConnectSchema",
        "Connector",
        "ConnectorContext",
        "Converter",
        "DataException",
        "Date",
        "Decimal",
        "ErrantRecordReporter",
        "Field",
        "Header",
        "HeaderConverter",
        "Headers",
        "IllegalWorkerStateException",
        "Importance",
        "LambdaValidator",
        "NO_DEFAULT",
        "NonEmptyString",
        "NonNullValidator",
        "NotFoundException",
        "OffsetStorageReader",
        "Password",
        "Predicate",
        "Range",
        "Recommender",
        "RecordMetadata",
        "RetriableException",
        "Schema",
        "SchemaAndValue",
        "SchemaBuilder",
        "SchemaBuilderException",
        "SchemaProjectorException",
        "SinkConnector",
        "SinkConnectorContext",
        "SinkRecord",
        "SinkTask",
        "SinkTaskContext",
        "SourceConnector",
        "SourceConnectorContext",
        "SourceRecord",
        "SourceTask",
        "SourceTaskContext",
        "Struct",
        "Task",
        "TaskContext",
        "Time",
        "Timestamp",
        "TimestampType",
        "TopicPartition",
        "Transformation",
        "Type",
        "ValidList",
        "ValidString",
        "Validator",
        "Width",
        "schema_from_json",
        "schema_to_json",
    }
)


def test_public_api_is_pinned() -> None:
    assert set(api.__all__) == PINNED_API, (
        f"added: {sorted(set(api.__all__) - PINNED_API)}, removed: {sorted(PINNED_API - set(api.__all__))}"
    )
    assert len(api.__all__) == len(set(api.__all__))
