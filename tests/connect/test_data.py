"""Schemas, SchemaBuilder, Struct and logical types."""

from __future__ import annotations

import datetime as dt
import decimal
import pickle

import pytest

from connect.api import (
    ConnectSchema,
    DataException,
    Date,
    Decimal,
    Field,
    Schema,
    SchemaAndValue,
    SchemaBuilder,
    SchemaBuilderException,
    Struct,
    Time,
    Timestamp,
    Type,
)

ROW = (
    SchemaBuilder.struct()
    .name("shop.orders.Value")
    .version(2)
    .doc("an order")
    .field("id", Schema.INT64_SCHEMA)
    .field("note", Schema.OPTIONAL_STRING_SCHEMA)
    .field("qty", SchemaBuilder.int16().default_value(1))
    .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).optional())
    .field("amount", Decimal.schema(2))
    .build()
)


def test_builder_example_from_the_brief() -> None:
    s = SchemaBuilder.struct().name("x").field("id", Schema.INT64_SCHEMA).optional().build()
    assert s.type is Type.STRUCT and s.name == "x" and s.optional
    assert s.fields == (Field("id", 0, Schema.INT64_SCHEMA),)
    assert s.field("id") == Field("id", 0, Schema.INT64_SCHEMA)
    assert s.field("nope") is None


def test_predefined_schemas() -> None:
    assert Schema.INT8_SCHEMA.type is Type.INT8 and not Schema.INT8_SCHEMA.optional
    assert Schema.OPTIONAL_BYTES_SCHEMA.type is Type.BYTES and Schema.OPTIONAL_BYTES_SCHEMA.is_optional
    assert Schema.Type.STRING is Type.STRING
    assert Type.FLOAT32.value == "float32" and Type.STRUCT.is_primitive is False


def test_schemas_are_immutable_hashable_and_compared_by_value() -> None:
    a = SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT32_SCHEMA).parameter("k", "v").build()
    b = SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT32_SCHEMA).parameter("k", "v").build()
    c = SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT64_SCHEMA).parameter("k", "v").build()
    assert a == b and hash(a) == hash(b) and a != c
    assert {a: 1}[b] == 1
    with pytest.raises(AttributeError):
        a.name = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(ROW)) == ROW
    assert repr(ROW) == "Schema{shop.orders.Value:STRUCT}" and repr(Schema.INT8_SCHEMA) == "Schema{INT8}"


def test_builder_rules() -> None:
    with pytest.raises(SchemaBuilderException, match="name has already been set"):
        SchemaBuilder.string().name("a").name("b")
    with pytest.raises(SchemaBuilderException, match="optional has already been set"):
        SchemaBuilder.string().optional().required()
    with pytest.raises(SchemaBuilderException, match="duplication"):
        SchemaBuilder.struct().field("a", Schema.INT8_SCHEMA).field("a", Schema.INT8_SCHEMA)
    with pytest.raises(SchemaBuilderException, match="Cannot create fields"):
        SchemaBuilder.string().field("a", Schema.INT8_SCHEMA)
    with pytest.raises(SchemaBuilderException, match="Invalid default value"):
        SchemaBuilder.int8().default_value(1000).build()
    with pytest.raises(SchemaBuilderException):
        SchemaBuilder.array(None)  # type: ignore[arg-type]
    assert SchemaBuilder.int32().default_value(5).build().default_value == 5


def test_fields_only_on_structs() -> None:
    with pytest.raises(DataException):
        _ = Schema.STRING_SCHEMA.fields


def test_struct_put_get_and_defaults() -> None:
    s = Struct(ROW).put("id", 7).put("amount", decimal.Decimal("9.99"))
    assert s.get("id") == 7 and s["id"] == 7
    assert s.get("qty") == 1  # default
    assert s.get_without_default("qty") is None
    assert s.get_int64("id") == 7 and s.get_string("note") is None
    s["note"] = "hi"
    assert s.get(ROW.fields[1]) == "hi"
    s.validate()
    with pytest.raises(DataException, match="not of type INT32"):
        s.get_int32("id")
    with pytest.raises(DataException, match="not a valid field name"):
        s.put("nope", 1)
    assert repr(Struct(ROW).put("id", 1)) == "Struct{id=1}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "7"),
        ("id", True),
        ("id", 2**63),
        ("id", None),
        ("qty", 40000),
        ("tags", ["a", 1]),
        ("tags", "a"),
        ("amount", 1.5),
        ("note", b"x"),
    ],
)
def test_struct_rejects_invalid_values(field: str, value: object) -> None:
    with pytest.raises(DataException):
        Struct(ROW).put(field, value)
    with pytest.raises(DataException):
        Struct(ROW, {field: value})


def test_struct_constructor_validates_and_orders() -> None:
    s = Struct(ROW, {"amount": decimal.Decimal("1.00"), "id": 1})
    assert list(s.values) == ["id", "note", "qty", "tags", "amount"]
    assert s == Struct(ROW).put("id", 1).put("amount", decimal.Decimal("1.00"))
    with pytest.raises(DataException, match="nope is not a valid field name"):
        Struct(ROW, {"id": 1, "nope": 2})
    with pytest.raises(DataException, match="Not a struct schema"):
        Struct(Schema.STRING_SCHEMA)


def test_validate_reports_missing_required_fields_with_path() -> None:
    outer = SchemaBuilder.struct().field("after", ROW).build()
    with pytest.raises(DataException, match='"id"'):
        Struct(ROW).validate()
    with pytest.raises(DataException, match=r'"after\.id"'):
        ConnectSchema.validate_value(outer, Struct(outer, {"after": Struct(ROW)}))


def test_nested_struct_must_be_complete_and_match() -> None:
    outer = SchemaBuilder.struct().field("after", ROW).build()
    with pytest.raises(DataException):
        Struct(outer).put("after", Struct(ROW))  # required fields of the nested struct unset
    other = SchemaBuilder.struct().field("id", Schema.INT64_SCHEMA).build()
    with pytest.raises(DataException, match="do not match"):
        Struct(outer).put("after", Struct(other).put("id", 1))
    Struct(outer).put("after", Struct(ROW, {"id": 1, "amount": decimal.Decimal(0)}))


def test_validate_value_paths() -> None:
    schema = SchemaBuilder.map(Schema.STRING_SCHEMA, SchemaBuilder.array(Schema.INT32_SCHEMA)).build()
    with pytest.raises(DataException, match=r"\['k'\]\[1\]"):
        Schema.validate_value(schema, {"k": [1, "x"]})
    Schema.validate_value(schema, {"k": [1, 2]})
    Schema.validate_value(Schema.FLOAT64_SCHEMA, 3)  # ints are fine for floats


def test_struct_equality_and_hash() -> None:
    a = Struct(ROW, {"id": 1, "tags": ["x"], "amount": decimal.Decimal("1.00")})
    b = Struct(ROW, {"id": 1, "tags": ["x"], "amount": decimal.Decimal("1.00")})
    assert a == b and hash(a) == hash(b)
    b.put("note", "n")
    assert a != b


def test_decimal_logical_type() -> None:
    schema = Decimal.schema(2)
    assert schema.name == "org.apache.kafka.connect.data.Decimal" and schema.parameters == {"scale": "2"}
    assert Decimal.from_logical(schema, decimal.Decimal("1.56")) == bytes([0, 156])
    assert Decimal.from_logical(schema, decimal.Decimal("-1.28")) == bytes([0x80])
    assert Decimal.from_logical(schema, decimal.Decimal("0")) == b"\x00"
    assert Decimal.to_logical(schema, bytes([0, 156])) == decimal.Decimal("1.56")
    big = decimal.Decimal("123456789012345678901234567890123456789.12")
    assert Decimal.to_logical(schema, Decimal.from_logical(schema, big)) == big
    with pytest.raises(DataException):
        Decimal.from_logical(schema, decimal.Decimal("1.234"))
    with pytest.raises(DataException):
        Decimal.from_logical(Date.SCHEMA, decimal.Decimal(1))


def test_date_time_timestamp_logical_types() -> None:
    assert Date.from_logical(Date.SCHEMA, dt.date(1997, 5, 19)) == 10000
    assert Date.to_logical(Date.SCHEMA, -1) == dt.date(1969, 12, 31)
    assert Time.from_logical(Time.SCHEMA, dt.time(4, 0, 0, 999)) == 14400000
    assert Time.to_logical(Time.SCHEMA, 14400001) == dt.time(4, 0, 0, 1000)
    with pytest.raises(DataException):
        Time.to_logical(Time.SCHEMA, 86_400_000)
    utc = dt.UTC
    assert Timestamp.from_logical(Timestamp.SCHEMA, dt.datetime(1970, 1, 2, tzinfo=utc)) == 86_400_000
    assert Timestamp.from_logical(Timestamp.SCHEMA, dt.datetime(1970, 1, 2)) == 86_400_000  # naive = UTC
    assert Timestamp.to_logical(Timestamp.SCHEMA, -1) == dt.datetime(
        1969, 12, 31, 23, 59, 59, 999000, tzinfo=utc
    )
    with pytest.raises(DataException):
        Date.from_logical(Date.SCHEMA, dt.datetime(2020, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(DataException):
        Schema.validate_value(Date.SCHEMA, dt.datetime(2020, 1, 1))


def test_schema_and_value() -> None:
    assert SchemaAndValue(None, None) == SchemaAndValue.NULL
    schema, value = SchemaAndValue(Schema.STRING_SCHEMA, "x")
    assert (schema, value) == (Schema.STRING_SCHEMA, "x")
