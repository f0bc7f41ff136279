"""RegexRouter, HeaderFrom, InsertHeader, DropHeaders, Filter and the predicates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from connect.api import ConfigException, DataException, Header, Headers, Schema, Struct, Timestamp
from connect.transforms import (
    DropHeaders,
    Filter,
    HasHeaderKey,
    HeaderFromKey,
    HeaderFromValue,
    InsertHeader,
    RecordIsTombstone,
    RegexRouter,
    TopicNameMatches,
)
from tests.transforms.helpers import KEY, ROW, configured, sink, source

# --- RegexRouter ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regex", "replacement", "topic", "expected"),
    [
        ("(.*)orders(.*)", "$1sales$2", "eu.orders.v1", "eu.sales.v1"),
        ("db\\.(?<table>.*)", "tables-${table}", "db.users", "tables-users"),
        ("orders", "x", "orders-2", "orders-2"),  # the whole name must match
        ("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", "$11-$10-$1\\$", "abcdefghijk", "k-j-a$"),
        ("(a)", "$10", "a", "a0"),  # no group 10: group 1, then a literal 0
    ],
)
def test_regex_router(regex: str, replacement: str, topic: str, expected: str) -> None:
    t = configured(RegexRouter, regex=regex, replacement=replacement)
    out = t.apply(source("v", topic=topic))
    assert out is not None and out.topic == expected and out.source_offset == {"o": 2}


def test_regex_router_config_errors() -> None:
    with pytest.raises(ConfigException, match="Invalid regex"):
        configured(RegexRouter, regex="(", replacement="x")
    with pytest.raises(ConfigException, match="No group 2"):
        configured(RegexRouter, regex="(a)", replacement="$2")
    with pytest.raises(ConfigException, match="No group with name"):
        configured(RegexRouter, regex="(a)", replacement="${nope}")
    with pytest.raises(ConfigException):
        configured(RegexRouter, regex="a")


# --- HeaderFrom -----------------------------------------------------------------------------------------


def test_header_from_copy_and_move_with_schema() -> None:
    copy = configured(HeaderFromValue, fields="id,name", headers="h_id,h_name", operation="copy")
    rec = sink()
    rec.headers.add_string("existing", "yes")
    out = copy.apply(rec)
    assert out is not None and out.value_schema is ROW and out.value == rec.value
    assert [(h.key, h.value, h.schema) for h in out.headers] == [
        ("existing", "yes", Schema.OPTIONAL_STRING_SCHEMA),
        ("h_id", 7, Schema.INT64_SCHEMA),
        ("h_name", "widget", Schema.OPTIONAL_STRING_SCHEMA),
    ]
    assert len(rec.headers) == 1  # the input record is unchanged
    move = configured(HeaderFromValue, fields="id", headers="h_id", operation="move")
    moved = move.apply(sink())
    assert moved is not None
    assert [f.name for f in moved.value_schema.fields] == ["name", "qty"]  # type: ignore[union-attr]
    assert moved.value_schema.name == "shop.orders.Value"  # type: ignore[union-attr]
    assert moved.headers.last_with_name("h_id") == Header("h_id", 7, Schema.INT64_SCHEMA)
    assert move.apply(sink()).value_schema is moved.value_schema  # type: ignore[union-attr]


def test_header_from_schemaless_key_and_errors() -> None:
    move = configured(HeaderFromKey, fields="id,missing", headers="k,m", operation="move")
    out = move.apply(source("v", key={"id": 1, "other": 2}))
    assert out is not None and out.key == {"other": 2}
    assert [(h.key, h.value, h.schema) for h in out.headers] == [("k", 1, None), ("m", None, None)]
    keyed = configured(HeaderFromKey, fields="id", headers="k", operation="copy")
    struct_key = keyed.apply(sink(key=Struct(KEY, {"id": 4}), key_schema=KEY))
    assert struct_key is not None and struct_key.headers.last_with_name("k").value == 4  # type: ignore[union-attr]
    tomb = source(None)
    assert configured(HeaderFromValue, fields="a", headers="b", operation="copy").apply(tomb) is tomb
    with pytest.raises(ConfigException, match="same number of elements"):
        configured(HeaderFromValue, fields="a,b", headers="x", operation="copy")
    with pytest.raises(ConfigException):
        configured(HeaderFromValue, fields="a", headers="x", operation="cut")
    with pytest.raises(DataException, match="Field nope not found"):
        configured(HeaderFromValue, fields="nope", headers="x", operation="copy").apply(sink())
    with pytest.raises(DataException, match=r"\[header copy\]"):
        configured(HeaderFromValue, fields="a", headers="x", operation="copy").apply(source(5))


# --- InsertHeader / DropHeaders -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value", "schema"),
    [
        ("hello world", "hello world", Schema.STRING_SCHEMA),
        ("42", 42, Schema.INT8_SCHEMA),
        ("true", True, Schema.BOOLEAN_SCHEMA),
        ("2024-01-02T03:04:05.006Z", dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC), Timestamp.SCHEMA),
        ("", "", Schema.STRING_SCHEMA),
    ],
)
def test_insert_header(literal: str, value: object, schema: Schema) -> None:
    t = configured(InsertHeader, header="source", value_literal=literal)
    rec = source("v")
    out = t.apply(rec)
    assert out is not None and out.headers.last_with_name("source") == Header("source", value, schema)
    assert len(rec.headers) == 0


def test_insert_header_config() -> None:
    with pytest.raises(ConfigException):
        configured(InsertHeader, header="x")
    t = configured(InsertHeader, header="x", value_literal="  padded ")
    assert t.apply(source("v")).headers.last_with_name("x").value == "  padded "  # type: ignore[union-attr]


def test_drop_headers() -> None:
    rec = source("v")
    rec.headers.add("a", "1").add("b", "2").add("a", "3").add("c", "4")
    out = configured(DropHeaders, headers="a,c").apply(rec)
    assert out is not None and [h.key for h in out.headers] == ["b"]
    assert len(rec.headers) == 4
    untouched = source("v")
    assert configured(DropHeaders, headers="zz").apply(untouched) is untouched
    with pytest.raises(ConfigException):
        configured(DropHeaders, headers="")


# --- Filter and predicates ------------------------------------------------------------------------------


def test_filter_drops_everything() -> None:
    assert configured(Filter).apply(source("v")) is None
    assert len(Filter().config()) == 0


def test_predicates() -> None:
    topic: TopicNameMatches[Any] = TopicNameMatches()
    topic.configure({"pattern": "orders-(?<n>\\d+)"})
    assert topic.test(source("v", topic="orders-12"))
    assert not topic.test(source("v", topic="orders-12x"))
    with pytest.raises(ConfigException):
        TopicNameMatches().configure({"pattern": "("})
    with pytest.raises(ConfigException):
        TopicNameMatches().configure({"pattern": ""})
    header: HasHeaderKey[Any] = HasHeaderKey()
    header.configure({"name": "trace"})
    rec = source("v", key=None)
    assert not header.test(rec)
    assert header.test(rec.new_record(headers=Headers().add("trace", None)))
    tomb: RecordIsTombstone[Any] = RecordIsTombstone()
    tomb.configure({})
    assert tomb.test(source(None)) and not tomb.test(source(0))
    assert tomb.config().names() == []
