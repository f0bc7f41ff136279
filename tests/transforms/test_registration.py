"""The SMTs register through the public plugin path and work in the runtime's transformation chain."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from connect import transforms
from connect.api import ConfigDef, Predicate, Schema, Transformation
from connect.runtime.connector_config import validate
from connect.runtime.pipeline import build_chain
from connect.runtime.plugins import discover
from tests.transforms.helpers import sink, source

KAFKA = "org.apache.kafka.connect.transforms."
KEY_VALUE = [
    "Cast",
    "ExtractField",
    "Flatten",
    "HeaderFrom",
    "HoistField",
    "InsertField",
    "MaskField",
    "ReplaceField",
    "SetSchemaMetadata",
    "TimestampConverter",
]
SINGLE = ["DropHeaders", "Filter", "InsertHeader", "RegexRouter", "TimestampRouter", "ValueToKey"]
PREDICATES = ["HasHeaderKey", "RecordIsTombstone", "TopicNameMatches"]


def kafka_names() -> list[tuple[str, str]]:
    """(name as configured, class name) for every Kafka class name."""
    names: list[tuple[str, str]] = []
    for base in KEY_VALUE:
        for part in ("Key", "Value"):
            names += [(f"{KAFKA}{base}${part}", base + part), (f"{base}${part}", base + part)]
    names += [(KAFKA + n, n) for n in SINGLE]
    names += [(f"{KAFKA}predicates.{n}", n) for n in PREDICATES]
    names.append(("io.debezium.transforms.ExtractNewRecordState", "ExtractNewRecordState"))
    return names


@pytest.fixture(scope="module")
def registry() -> Any:
    return discover()


def test_every_transform_has_an_entry_point() -> None:
    points = {ep.value for ep in importlib.metadata.entry_points(group="headrace.plugins")}
    missing = [n for n in transforms.__all__ if f"connect.transforms:{n}" not in points]
    assert not missing, f"not in pyproject's headrace.plugins entry points (pip install -e . ?): {missing}"


@pytest.mark.parametrize(("name", "cls"), kafka_names())
def test_kafka_names_resolve(registry: Any, name: str, cls: str) -> None:
    desc = registry.lookup(name)
    assert desc.cls is getattr(transforms, cls)
    assert desc.type == ("predicate" if cls in PREDICATES else "transformation")
    assert registry.lookup(cls).cls is desc.cls


def test_no_name_conflicts(registry: Any) -> None:
    assert registry.conflicts() == {}


@pytest.mark.parametrize("name", transforms.__all__)
def test_declared_config_is_documented(name: str) -> None:
    cls = getattr(transforms, name)
    instance = cls()
    assert isinstance(instance, Transformation | Predicate)
    definition = instance.config()  # on an unconfigured instance, as validation and docs do
    assert isinstance(definition, ConfigDef)
    assert all(k.documentation for k in definition.config_keys().values())
    assert cls.__doc__
    instance.close()


def test_chain_with_kafka_style_config(registry: Any) -> None:
    props = {
        "transforms": "dropTombstones,hoist,insert,route",
        "transforms.dropTombstones.type": "org.apache.kafka.connect.transforms.Filter",
        "transforms.dropTombstones.predicate": "isTombstone",
        "transforms.hoist.type": "HoistField$Value",
        "transforms.hoist.field": "line",
        "transforms.insert.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.insert.static.field": "origin",
        "transforms.insert.static.value": "file",
        "transforms.insert.topic.field": "topic",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "logs-(.*)",
        "transforms.route.replacement": "archive-$1",
        "transforms.route.predicate": "isLogs",
        "predicates": "isTombstone,isLogs",
        "predicates.isTombstone.type": "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        "predicates.isLogs.type": "TopicNameMatches",
        "predicates.isLogs.pattern": "logs-.*",
    }
    chain = build_chain(props, registry)
    try:
        assert chain.apply(source(None, topic="logs-a")) is None
        out = chain.apply(source("hello", Schema.STRING_SCHEMA, topic="logs-a"))
        assert out is not None and out.topic == "archive-a"
        assert (
            out.value["line"] == "hello" and out.value["origin"] == "file" and out.value["topic"] == "logs-a"
        )
        other = chain.apply(source("x", Schema.STRING_SCHEMA, topic="metrics"))
        assert other is not None and other.topic == "metrics"
    finally:
        chain.close()


def test_negated_predicate(registry: Any) -> None:
    props = {
        "transforms": "keepOrders",
        "transforms.keepOrders.type": "Filter",
        "transforms.keepOrders.predicate": "isOrders",
        "transforms.keepOrders.negate": "true",
        "predicates": "isOrders",
        "predicates.isOrders.type": "TopicNameMatches",
        "predicates.isOrders.pattern": "orders",
    }
    chain = build_chain(props, registry)
    assert chain.apply(sink()) is not None
    assert chain.apply(sink(topic="payments")) is None


def test_connector_validation_reports_transform_config_errors(registry: Any) -> None:
    props = {
        "name": "out",
        "connector.class": "FileStreamSink",
        "topics": "orders",
        "transforms": "cast,unwrap",
        "transforms.cast.type": "Cast$Value",
        "transforms.cast.spec": "a:nosuchtype",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.delete.handling.mode": "sometimes",
    }
    result = validate(props, registry)
    errors = {c.value.name: c.value.errors for c in result.configs if c.value.errors}
    assert "transforms.cast.spec" in errors and "nosuchtype" in errors["transforms.cast.spec"][0]
    assert "transforms.unwrap.delete.handling.mode" in errors
    keys = {c.definition.name for c in result.configs if c.definition is not None}
    assert {"transforms.unwrap.add.fields", "transforms.cast.replace.null.with.default"} <= keys
