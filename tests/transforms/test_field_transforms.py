"""InsertField, ReplaceField, MaskField, ValueToKey, ExtractField, HoistField, SetSchemaMetadata, Flatten."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from connect.api import (
    ConfigException,
    DataException,
    Date,
    Decimal,
    Schema,
    SchemaBuilder,
    Struct,
    Timestamp,
)
from connect.transforms import (
    ExtractFieldKey,
    ExtractFieldValue,
    FlattenKey,
    FlattenValue,
    HoistFieldKey,
    HoistFieldValue,
    InsertFieldKey,
    InsertFieldValue,
    MaskFieldValue,
    ReplaceFieldKey,
    ReplaceFieldValue,
    SetSchemaMetadataKey,
    SetSchemaMetadataValue,
    ValueToKey,
)
from tests.transforms.helpers import KEY, ROW, configured, row, sink, source

# --- InsertField ----------------------------------------------------------------------------------------


def test_insert_field_with_schema() -> None:
    t = configured(
        InsertFieldValue,
        topic_field="topic",
        partition_field="part!",
        offset_field="off",
        timestamp_field="ts",
        static_field="origin",
        static_value="db1",
    )
    out = t.apply(sink())
    assert out is not None
    schema = out.value_schema
    assert schema is not None
    assert [f.name for f in schema.fields] == ["id", "name", "qty", "topic", "part", "off", "ts", "origin"]
    assert (schema.name, schema.version, schema.doc) == ("shop.orders.Value", 2, "an order")
    assert schema.field("topic").schema == Schema.OPTIONAL_STRING_SCHEMA  # type: ignore[union-attr]
    assert schema.field("part").schema == Schema.INT32_SCHEMA  # type: ignore[union-attr]
    assert schema.field("ts").schema.name == Timestamp.LOGICAL_NAME  # type: ignore[union-attr]
    v = out.value
    assert (v["id"], v["topic"], v["part"], v["off"], v["origin"]) == (7, "orders", 2, 42, "db1")
    assert v["ts"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    v.validate()
    again = t.apply(sink(row(8)))
    assert again is not None and again.value_schema is schema  # derived once, then cached
    assert out.key is None and out.kafka_offset == 42


def test_insert_field_schemaless_and_key() -> None:
    t = configured(InsertFieldKey, topic_field="t", timestamp_field="ts", static_field="s", static_value="v")
    out = t.apply(source(None, key={"id": 1}))
    assert out is not None
    assert out.key == {"id": 1, "t": "orders", "ts": 1_700_000_000_000, "s": "v"}
    assert out.key_schema is None and out.value is None


def test_insert_field_passes_tombstones_and_rejects_bad_input() -> None:
    t = configured(InsertFieldValue, topic_field="t")
    tomb = sink(None, schema=None)
    assert t.apply(tomb) is tomb
    with pytest.raises(
        DataException, match=r"Only Map objects supported in absence of schema for \[field insertion\]"
    ):
        t.apply(sink("text", schema=None))
    with pytest.raises(
        DataException, match=r"Only Struct objects supported for \[field insertion\], found: str"
    ):
        t.apply(sink("text", schema=Schema.STRING_SCHEMA))
    offset = configured(InsertFieldValue, offset_field="o")
    with pytest.raises(DataException, match="SinkRecord"):
        offset.apply(source({"a": 1}))
    with pytest.raises(DataException, match="duplication"):
        configured(InsertFieldValue, topic_field="id").apply(sink())


def test_insert_field_replace_null_with_default() -> None:
    keep = configured(InsertFieldValue, topic_field="t", replace_null_with_default="false")
    fill = configured(InsertFieldValue, topic_field="t")
    rec = sink(row(qty=None))
    assert keep.apply(rec).value.get_without_default("qty") is None  # type: ignore[union-attr]
    assert fill.apply(rec).value.get_without_default("qty") == 1  # type: ignore[union-attr]


# --- ReplaceField ---------------------------------------------------------------------------------------


def test_replace_field_include_exclude_rename() -> None:
    t = configured(ReplaceFieldValue, include="id,name,qty", exclude="qty", renames="id:order_id,name:title")
    out = t.apply(sink())
    assert out is not None
    assert [f.name for f in out.value_schema.fields] == ["order_id", "title"]  # type: ignore[union-attr]
    assert out.value_schema.name == "shop.orders.Value"  # type: ignore[union-attr]
    assert out.value == Struct(out.value_schema, {"order_id": 7, "title": "widget"})  # type: ignore[arg-type]
    schemaless = t.apply(sink({"id": 1, "name": "a", "qty": 2, "x": 3}, schema=None))
    assert schemaless is not None and schemaless.value == {"order_id": 1, "title": "a"}
    assert t.apply(sink(row(9))).value_schema is out.value_schema  # type: ignore[union-attr]


def test_replace_field_old_names_and_key() -> None:
    t = configured(ReplaceFieldKey, blacklist="secret")
    out = t.apply(sink(key={"id": 1, "secret": "x"}, key_schema=None))
    assert out is not None and out.key == {"id": 1}
    t = configured(ReplaceFieldKey, whitelist="id")
    out = t.apply(sink(key=Struct(KEY, {"id": 3}), key_schema=KEY))
    assert out is not None and out.key["id"] == 3
    both = configured(ReplaceFieldValue, exclude="name", blacklist="id")  # the new name wins
    assert both.apply(sink({"id": 1, "name": "n"}, schema=None)).value == {"id": 1}  # type: ignore[union-attr]


def test_replace_field_bad_config_and_input() -> None:
    with pytest.raises(ConfigException, match="Invalid rename mapping: a"):
        configured(ReplaceFieldValue, renames="a")
    assert ReplaceFieldValue().config().validate_all({"renames": "a:b:c"})["renames"].error_messages
    t = configured(ReplaceFieldValue, exclude="x")
    assert t.apply(sink(None, schema=None)).value is None  # type: ignore[union-attr]
    with pytest.raises(DataException, match="field replacement"):
        t.apply(sink([1, 2], schema=None))


# --- MaskField ------------------------------------------------------------------------------------------


def test_mask_field_empty_values_by_type() -> None:
    value = {
        "b": True,
        "i": 5,
        "f": 1.5,
        "s": "secret",
        "d": decimal.Decimal("1.25"),
        "dt": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "date": dt.date(2024, 1, 1),
        "t": dt.time(3, 4),
        "l": [1],
        "m": {"a": 1},
        "by": b"x",
        "n": None,
        "keep": "visible",
    }
    fields = ",".join(k for k in value if k != "keep")
    out = configured(MaskFieldValue, fields=fields).apply(sink(value, schema=None))
    assert out is not None
    assert out.value == {
        "b": False,
        "i": 0,
        "f": 0.0,
        "s": "",
        "d": decimal.Decimal(0),
        "dt": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        "date": dt.date(1970, 1, 1),
        "t": dt.time(0),
        "l": [],
        "m": {},
        "by": b"",
        "n": None,
        "keep": "visible",
    }
    with pytest.raises(DataException, match="Cannot mask value of type: Struct"):
        configured(MaskFieldValue, fields="x").apply(sink({"x": row()}, schema=None))


def test_mask_field_with_schema_and_replacement() -> None:
    out = configured(MaskFieldValue, fields="id,name", replacement="9").apply(sink())
    assert out is not None and out.value_schema is ROW
    assert (out.value["id"], out.value["name"], out.value["qty"]) == (9, "9", 3)
    with pytest.raises(DataException, match="Unable to convert x"):
        configured(MaskFieldValue, fields="id", replacement="x").apply(sink())
    with pytest.raises(DataException, match="Cannot mask value of type bool with custom replacement"):
        configured(MaskFieldValue, fields="b", replacement="1").apply(sink({"b": True}, schema=None))
    with pytest.raises(ConfigException):
        configured(MaskFieldValue, fields="")
    with pytest.raises(ConfigException):
        configured(MaskFieldValue, fields="a", replacement="")
    dec = SchemaBuilder.struct().field("amount", Decimal.schema(2)).build()
    masked = configured(MaskFieldValue, fields="amount", replacement="12.5").apply(
        sink(Struct(dec, {"amount": decimal.Decimal("3.10")}), schema=dec)
    )
    assert masked is not None and masked.value["amount"] == decimal.Decimal("12.5")


# --- ValueToKey -----------------------------------------------------------------------------------------


def test_value_to_key() -> None:
    t = configured(ValueToKey, fields="id,name")
    out = t.apply(sink())
    assert out is not None
    assert [f.name for f in out.key_schema.fields] == ["id", "name"]  # type: ignore[union-attr]
    assert out.key == Struct(out.key_schema, {"id": 7, "name": "widget"})  # type: ignore[arg-type]
    assert t.apply(sink(row(1))).key_schema is out.key_schema  # type: ignore[union-attr]
    schemaless = t.apply(sink({"id": 1, "name": "a", "x": 2}, schema=None))
    assert (
        schemaless is not None and schemaless.key == {"id": 1, "name": "a"} and schemaless.key_schema is None
    )
    tomb = t.apply(sink(None, schema=None))
    assert tomb is not None and tomb.key == {"id": None, "name": None}
    with pytest.raises(DataException, match="Field does not exist: nope"):
        configured(ValueToKey, fields="nope").apply(sink())
    with pytest.raises(ConfigException, match="duplicated"):
        configured(ValueToKey, fields="a,a")


# --- ExtractField ---------------------------------------------------------------------------------------


def test_extract_field() -> None:
    t = configured(ExtractFieldValue, field="name")
    out = t.apply(sink())
    assert out is not None and out.value == "widget" and out.value_schema == Schema.OPTIONAL_STRING_SCHEMA
    assert t.apply(sink({"name": "x"}, schema=None)).value == "x"  # type: ignore[union-attr]
    assert t.apply(sink({}, schema=None)).value is None  # type: ignore[union-attr]
    nulls = t.apply(sink(None, schema=ROW).new_record(value=None))
    assert nulls is not None and nulls.value is None and nulls.value_schema == Schema.OPTIONAL_STRING_SCHEMA
    with pytest.raises(DataException, match="Unknown field: nope"):
        configured(ExtractFieldValue, field="nope").apply(sink())
    key = configured(ExtractFieldKey, field="id").apply(sink(key=Struct(KEY, {"id": 5}), key_schema=KEY))
    assert key is not None and key.key == 5 and key.key_schema == Schema.INT64_SCHEMA
    defaults = configured(ExtractFieldValue, field="qty")
    assert defaults.apply(sink(row(qty=None))).value == 1  # type: ignore[union-attr]
    raw = configured(ExtractFieldValue, field="qty", replace_null_with_default="false")
    assert raw.apply(sink(row(qty=None))).value is None  # type: ignore[union-attr]


def test_extract_field_nested_paths() -> None:
    envelope = (
        SchemaBuilder.struct()
        .field("after", SchemaBuilder.struct().optional().field("id", Schema.INT64_SCHEMA).build())
        .field("a.b", Schema.STRING_SCHEMA)
        .build()
    )
    after_schema = envelope.field("after").schema  # type: ignore[union-attr]
    value = Struct(envelope, {"after": Struct(after_schema, {"id": 3}), "a.b": "dotted"})
    nested = configured(ExtractFieldValue, field="after.id", field_syntax_version="V2")
    out = nested.apply(sink(value, schema=envelope))
    assert out is not None and out.value == 3 and out.value_schema == Schema.INT64_SCHEMA
    empty = Struct(envelope, {"after": None, "a.b": "x"})
    assert nested.apply(sink(empty, schema=envelope)).value is None  # type: ignore[union-attr]
    quoted = configured(ExtractFieldValue, field="`a.b`", field_syntax_version="v2")
    assert quoted.apply(sink(value, schema=envelope)).value == "dotted"  # type: ignore[union-attr]
    assert nested.apply(sink({"after": {"id": 4}}, schema=None)).value == 4  # type: ignore[union-attr]
    assert nested.apply(sink({"after": "x"}, schema=None)).value is None  # type: ignore[union-attr]
    v1 = configured(ExtractFieldValue, field="after.id")  # V1: one root-level name
    with pytest.raises(DataException, match=r"Unknown field: after\.id"):
        v1.apply(sink(value, schema=envelope))
    with pytest.raises(ConfigException):
        configured(ExtractFieldValue, field="a..b", field_syntax_version="V2")
    with pytest.raises(ConfigException):
        configured(ExtractFieldValue, field="x", field_syntax_version="V3")


# --- HoistField -----------------------------------------------------------------------------------------


def test_hoist_field() -> None:
    t = configured(HoistFieldValue, field="line")
    out = t.apply(source("hello", Schema.STRING_SCHEMA))
    assert out is not None
    assert [f.name for f in out.value_schema.fields] == ["line"]  # type: ignore[union-attr]
    assert out.value["line"] == "hello"
    assert t.apply(source("again", Schema.STRING_SCHEMA)).value_schema is out.value_schema  # type: ignore[union-attr]
    assert t.apply(source(5)).value == {"line": 5}  # type: ignore[union-attr]
    k = configured(HoistFieldKey, field="k").apply(source(None, key="abc"))
    assert k is not None and k.key == {"k": "abc"}
    with pytest.raises(DataException, match="null used for required field"):
        t.apply(source(None, Schema.STRING_SCHEMA))


# --- SetSchemaMetadata ----------------------------------------------------------------------------------


def test_set_schema_metadata() -> None:
    t = configured(SetSchemaMetadataValue, schema_name="renamed", schema_version="5")
    out = t.apply(sink())
    assert out is not None
    schema = out.value_schema
    assert schema is not None and (schema.name, schema.version, schema.doc) == ("renamed", 5, "an order")
    assert out.value.schema is schema and out.value["id"] == 7
    out.value.validate()
    assert t.apply(sink(row(2))).value_schema is schema  # type: ignore[union-attr]
    only_version = configured(SetSchemaMetadataKey, schema_version="9")
    k = only_version.apply(sink(key=3, key_schema=Schema.INT64_SCHEMA))
    assert k is not None and k.key == 3 and k.key_schema.version == 9  # type: ignore[union-attr]
    with pytest.raises(DataException, match=r"Schema required for \[updating schema metadata\]"):
        t.apply(sink({"a": 1}, schema=None))
    with pytest.raises(ConfigException, match="Neither schema name nor version configured"):
        configured(SetSchemaMetadataValue)


# --- Flatten --------------------------------------------------------------------------------------------

ADDRESS = (
    SchemaBuilder.struct().optional().field("city", Schema.STRING_SCHEMA).field("zip", Schema.INT32_SCHEMA)
)
NESTED = (
    SchemaBuilder.struct()
    .name("person")
    .field("id", Schema.INT64_SCHEMA)
    .field("address", ADDRESS.build())
    .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).build())
    .field("born", Date.SCHEMA)
    .build()
)


def test_flatten_with_schema() -> None:
    address = Struct(NESTED.field("address").schema, {"city": "Oslo", "zip": 150})  # type: ignore[union-attr]
    value = Struct(NESTED, {"id": 1, "address": address, "tags": ["a"], "born": dt.date(2000, 1, 2)})
    t = configured(FlattenValue, delimiter="_")
    out = t.apply(sink(value, schema=NESTED))
    assert out is not None
    schema = out.value_schema
    assert schema is not None and schema.name == "person"
    assert [(f.name, f.schema.optional) for f in schema.fields] == [
        ("id", False),
        ("address_city", True),  # below an optional struct
        ("address_zip", True),
        ("tags", False),
        ("born", False),
    ]
    assert out.value["address_city"] == "Oslo" and out.value["tags"] == ["a"]
    assert out.value["born"] == dt.date(2000, 1, 2)
    missing = t.apply(sink(Struct(NESTED, {"id": 2, "tags": [], "born": dt.date(2000, 1, 1)}), schema=NESTED))
    assert missing is not None and missing.value["address_zip"] is None
    assert missing.value_schema is schema


def test_flatten_schemaless_and_key() -> None:
    t = configured(FlattenKey)
    out = t.apply(source(None, key={"a": {"b": {"c": 1}, "d": None}, "e": [1, {"x": 1}], "f": b"z"}))
    assert out is not None and out.key == {"a.b.c": 1, "a.d": None, "e": [1, {"x": 1}], "f": b"z"}
    with pytest.raises(
        DataException, match=r"does not support Struct for record without schemas \(for field s\)"
    ):
        configured(FlattenValue).apply(sink({"s": row()}, schema=None))
    tomb = sink(None, schema=None)
    assert configured(FlattenValue).apply(tomb) is tomb
