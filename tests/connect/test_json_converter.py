"""JsonConverter: golden bytes from Kafka's JsonConverter, round trips for every type, property tests."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect.api import (
    DataException,
    Date,
    Decimal,
    Schema,
    SchemaAndValue,
    SchemaBuilder,
    Struct,
    Time,
    Timestamp,
    Type,
)
from connect.converters._javafmt import f32
from connect.converters.json import JsonConverter
from tests.connect.strategies import schemas, values, with_defaults

TOPIC = "topic"


def write(c: JsonConverter, schema: Schema | None, value: Any) -> bytes:
    out = c.from_connect_data(TOPIC, schema, value)
    assert out is not None
    return out


def converter(**configs: Any) -> JsonConverter:
    c = JsonConverter()
    c.configure({k.replace("_", "."): v for k, v in configs.items()}, False)
    return c


# --- golden bytes -----------------------------------------------------------------------------------------
# Messages written by Kafka's own JsonConverter, as published in Kafka's quickstart, Debezium's tutorial
# output and a Confluent JDBC source connector example. Ours must be byte-for-byte identical.

QUICKSTART = b'{"schema":{"type":"string","optional":false},"payload":"foo"}'

JDBC = (
    b'{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},'
    b'{"type":"string","optional":true,"field":"name"},{"type":"string","optional":true,"field":"email"},'
    b'{"type":"string","optional":true,"field":"department"},{"type":"int64","optional":false,'
    b'"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"modified"}],"optional":false,'
    b'"name":"test"},"payload":{"id":1,"name":"alice","email":"alice@abc.com","department":"engineering",'
    b'"modified":1695723874000}}'
)

DEBEZIUM = (
    b'{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,'
    b'"field":"id"},{"type":"string","optional":false,"field":"first_name"},{"type":"string","optional":false,'
    b'"field":"last_name"},{"type":"string","optional":false,"field":"email"}],"optional":true,'
    b'"name":"dbserver1.inventory.customers.Value","field":"before"},{"type":"struct","fields":[{"type":"int32",'
    b'"optional":false,"field":"id"},{"type":"string","optional":false,"field":"first_name"},{"type":"string",'
    b'"optional":false,"field":"last_name"},{"type":"string","optional":false,"field":"email"}],"optional":true,'
    b'"name":"dbserver1.inventory.customers.Value","field":"after"},{"type":"struct","fields":[{"type":"string",'
    b'"optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},'
    b'{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},'
    b'{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":'
    b'{"allowed":"true,last,false"},"default":"false","field":"snapshot"},{"type":"string","optional":false,'
    b'"field":"db"},{"type":"string","optional":true,"field":"table"},{"type":"int64","optional":false,'
    b'"field":"server_id"},{"type":"string","optional":true,"field":"gtid"},{"type":"string","optional":false,'
    b'"field":"file"},{"type":"int64","optional":false,"field":"pos"},{"type":"int32","optional":false,'
    b'"field":"row"},{"type":"int64","optional":true,"field":"thread"},{"type":"string","optional":true,'
    b'"field":"query"}],"optional":false,"name":"io.debezium.connector.mysql.Source","field":"source"},'
    b'{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],'
    b'"optional":false,"name":"dbserver1.inventory.customers.Envelope"},"payload":{"before":{"id":1004,'
    b'"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"},"after":{"id":1004,'
    b'"first_name":"Anne Mary","last_name":"Kretchmar","email":"annek@noanswer.org"},"source":'
    b'{"version":"0.10.0.Final","connector":"mysql","name":"dbserver1","ts_ms":1574090237000,'
    b'"snapshot":"false","db":"inventory","table":"customers","server_id":223344,"gtid":null,'
    b'"file":"mysql-bin.000003","pos":4311,"row":0,"thread":3,"query":null},"op":"u","ts_ms":1574090237089}}'
)


def debezium_schema_and_value() -> tuple[Schema, Struct]:
    row = (
        SchemaBuilder.struct()
        .name("dbserver1.inventory.customers.Value")
        .optional()
        .field("id", Schema.INT32_SCHEMA)
        .field("first_name", Schema.STRING_SCHEMA)
        .field("last_name", Schema.STRING_SCHEMA)
        .field("email", Schema.STRING_SCHEMA)
        .build()
    )
    snapshot = (
        SchemaBuilder.string()
        .optional()
        .name("io.debezium.data.Enum")
        .version(1)
        .parameter("allowed", "true,last,false")
        .default_value("false")
    )
    source = (
        SchemaBuilder.struct()
        .name("io.debezium.connector.mysql.Source")
        .field("version", Schema.STRING_SCHEMA)
        .field("connector", Schema.STRING_SCHEMA)
        .field("name", Schema.STRING_SCHEMA)
        .field("ts_ms", Schema.INT64_SCHEMA)
        .field("snapshot", snapshot)
        .field("db", Schema.STRING_SCHEMA)
        .field("table", Schema.OPTIONAL_STRING_SCHEMA)
        .field("server_id", Schema.INT64_SCHEMA)
        .field("gtid", Schema.OPTIONAL_STRING_SCHEMA)
        .field("file", Schema.STRING_SCHEMA)
        .field("pos", Schema.INT64_SCHEMA)
        .field("row", Schema.INT32_SCHEMA)
        .field("thread", Schema.OPTIONAL_INT64_SCHEMA)
        .field("query", Schema.OPTIONAL_STRING_SCHEMA)
        .build()
    )
    envelope = (
        SchemaBuilder.struct()
        .name("dbserver1.inventory.customers.Envelope")
        .field("before", row)
        .field("after", row)
        .field("source", source)
        .field("op", Schema.STRING_SCHEMA)
        .field("ts_ms", Schema.OPTIONAL_INT64_SCHEMA)
        .build()
    )
    person = {"id": 1004, "last_name": "Kretchmar", "email": "annek@noanswer.org"}
    value = Struct(
        envelope,
        {
            "before": Struct(row, {**person, "first_name": "Anne"}),
            "after": Struct(row, {**person, "first_name": "Anne Mary"}),
            "source": Struct(
                source,
                {
                    "version": "0.10.0.Final",
                    "connector": "mysql",
                    "name": "dbserver1",
                    "ts_ms": 1574090237000,
                    "snapshot": "false",
                    "db": "inventory",
                    "table": "customers",
                    "server_id": 223344,
                    "file": "mysql-bin.000003",
                    "pos": 4311,
                    "row": 0,
                    "thread": 3,
                },
            ),
            "op": "u",
            "ts_ms": 1574090237089,
        },
    )
    return envelope, value


def test_golden_quickstart_string() -> None:
    c = converter()
    assert c.from_connect_data("connect-test", Schema.STRING_SCHEMA, "foo") == QUICKSTART
    assert c.to_connect_data("connect-test", QUICKSTART) == SchemaAndValue(Schema.STRING_SCHEMA, "foo")


def test_golden_debezium_change_event() -> None:
    schema, value = debezium_schema_and_value()
    c = converter()
    assert c.from_connect_data(TOPIC, schema, value) == DEBEZIUM
    for _ in range(2):  # first read parses everything, the second takes the known-schema fast path
        read = c.to_connect_data(TOPIC, DEBEZIUM)
        assert read.schema == schema
        assert read.value == value


def test_golden_debezium_snapshot_default_replaces_null() -> None:
    schema, value = debezium_schema_and_value()
    source = value.get("source")
    source.put("snapshot", None)  # optional with default "false": Kafka writes the default
    assert converter().from_connect_data(TOPIC, schema, value) == DEBEZIUM


def test_golden_jdbc_timestamp() -> None:
    schema = (
        SchemaBuilder.struct()
        .name("test")
        .field("id", Schema.INT64_SCHEMA)
        .field("name", Schema.OPTIONAL_STRING_SCHEMA)
        .field("email", Schema.OPTIONAL_STRING_SCHEMA)
        .field("department", Schema.OPTIONAL_STRING_SCHEMA)
        .field("modified", Timestamp.SCHEMA)
        .build()
    )
    modified = dt.datetime(2023, 9, 26, 10, 24, 34, tzinfo=dt.UTC)
    value = Struct(
        schema,
        {
            "id": 1,
            "name": "alice",
            "email": "alice@abc.com",
            "department": "engineering",
            "modified": modified,
        },
    )
    c = converter()
    assert c.from_connect_data(TOPIC, schema, value) == JDBC
    assert c.to_connect_data(TOPIC, JDBC) == SchemaAndValue(schema, value)


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        # the examples of Kafka's JsonConverterTest, as exact bytes
        (Schema.BOOLEAN_SCHEMA, True, b'{"schema":{"type":"boolean","optional":false},"payload":true}'),
        (Schema.INT8_SCHEMA, 12, b'{"schema":{"type":"int8","optional":false},"payload":12}'),
        (Schema.INT16_SCHEMA, 12, b'{"schema":{"type":"int16","optional":false},"payload":12}'),
        (Schema.INT32_SCHEMA, 12, b'{"schema":{"type":"int32","optional":false},"payload":12}'),
        (
            Schema.INT64_SCHEMA,
            4398046511104,
            b'{"schema":{"type":"int64","optional":false},"payload":4398046511104}',
        ),
        (Schema.FLOAT32_SCHEMA, 12.34, b'{"schema":{"type":"float","optional":false},"payload":12.34}'),
        (Schema.FLOAT64_SCHEMA, 12.34, b'{"schema":{"type":"double","optional":false},"payload":12.34}'),
        (
            Schema.BYTES_SCHEMA,
            b"test-string",
            b'{"schema":{"type":"bytes","optional":false},"payload":"dGVzdC1zdHJpbmc="}',
        ),
        (
            Schema.OPTIONAL_BOOLEAN_SCHEMA,
            None,
            b'{"schema":{"type":"boolean","optional":true},"payload":null}',
        ),
        (
            SchemaBuilder.boolean().default_value(True).build(),
            True,
            b'{"schema":{"type":"boolean","optional":false,"default":true},"payload":true}',
        ),
        (
            SchemaBuilder.boolean()
            .required()
            .name("bool")
            .version(3)
            .doc("the documentation")
            .parameter("foo", "bar")
            .build(),
            True,
            b'{"schema":{"type":"boolean","optional":false,"name":"bool","version":3,'
            b'"doc":"the documentation","parameters":{"foo":"bar"}},"payload":true}',
        ),
        (
            SchemaBuilder.array(Schema.INT32_SCHEMA).build(),
            [1, 2, 3],
            b'{"schema":{"type":"array","items":{"type":"int32","optional":false},"optional":false},"payload":[1,2,3]}',
        ),
        (
            SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT32_SCHEMA).build(),
            {"key1": 12, "key2": 15},
            b'{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32",'
            b'"optional":false},"optional":false},"payload":{"key1":12,"key2":15}}',
        ),
        (
            SchemaBuilder.map(Schema.INT32_SCHEMA, Schema.INT32_SCHEMA).build(),
            {1: 12, 2: 15},
            b'{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"int32",'
            b'"optional":false},"optional":false},"payload":[[1,12],[2,15]]}',
        ),
        (
            Decimal.schema(2),
            decimal.Decimal("1.56"),
            b'{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal",'
            b'"version":1,"parameters":{"scale":"2"}},"payload":"AJw="}',
        ),
        (
            Date.SCHEMA,
            dt.date(1970, 1, 1) + dt.timedelta(days=10000),
            b'{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date",'
            b'"version":1},"payload":10000}',
        ),
        (
            Time.SCHEMA,
            dt.time(4, 0),
            b'{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time",'
            b'"version":1},"payload":14400000}',
        ),
        (
            Timestamp.SCHEMA,
            dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=4000000000),
            b'{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp",'
            b'"version":1},"payload":4000000000}',
        ),
    ],
)
def test_golden_kafka_examples(schema: Schema, value: Any, expected: bytes) -> None:
    c = converter()
    assert c.from_connect_data(TOPIC, schema, value) == expected
    read = c.to_connect_data(TOPIC, expected)
    assert read.schema == schema
    # FLOAT32 values come back as the exact binary32 value (12.34f is 12.34000015258789)
    assert read.value == (f32(value) if schema.type is Type.FLOAT32 else value)


def test_struct_field_order_and_name_escaping() -> None:
    schema = (
        SchemaBuilder.struct()
        .field("field1", Schema.BOOLEAN_SCHEMA)
        .field('q"uote\\', Schema.STRING_SCHEMA)
        .field("ctl\x01", Schema.OPTIONAL_STRING_SCHEMA)
        .build()
    )
    value = Struct(schema).put("field1", True).put('q"uote\\', "string\x1f\n").put("ctl\x01", None)
    out = converter().from_connect_data(TOPIC, schema, value)
    assert out == (
        b'{"schema":{"type":"struct","fields":[{"type":"boolean","optional":false,"field":"field1"},'
        b'{"type":"string","optional":false,"field":"q\\"uote\\\\"},'
        b'{"type":"string","optional":true,"field":"ctl\\u0001"}],"optional":false},'
        b'"payload":{"field1":true,"q\\"uote\\\\":"string\\u001F\\n","ctl\\u0001":null}}'
    )
    assert converter().to_connect_data(TOPIC, out).value == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e7, b"1.0E7"),
        (12345678.9, b"1.23456789E7"),
        (0.0001, b"1.0E-4"),
        (-1.5e-5, b"-1.5E-5"),
        (5e-324, b"4.9E-324"),
        (float("nan"), b'"NaN"'),
        (float("inf"), b'"Infinity"'),
        (float("-inf"), b'"-Infinity"'),
        (100.0, b"100.0"),
        (-0.0, b"-0.0"),
        (1, b"1.0"),
    ],
)
def test_doubles_are_formatted_like_java(value: float, text: bytes) -> None:
    c = converter(schemas_enable=False)
    assert c.from_connect_data(TOPIC, Schema.FLOAT64_SCHEMA, value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, b"0.1"),
        (0.10000000149011612, b"0.1"),
        (1.0e10, b"1.0E10"),
        (3.4028234663852886e38, b"3.4028235E38"),
    ],
)
def test_floats_are_formatted_like_java(value: float, text: bytes) -> None:
    c = converter(schemas_enable=False)
    assert c.from_connect_data(TOPIC, Schema.FLOAT32_SCHEMA, value) == text


def test_decimal_numeric_format() -> None:
    c = converter(decimal_format="numeric")
    schema = Decimal.schema(2)
    out = write(c, schema, decimal.Decimal("1.56"))
    assert out.endswith(b',"payload":1.56}')
    assert c.to_connect_data(TOPIC, out).value == decimal.Decimal("1.56")
    big = decimal.Decimal("12345678901234567890.10")
    out = write(c, schema, big)
    assert out.endswith(b',"payload":12345678901234567890.10}')
    got = c.to_connect_data(TOPIC, out).value
    assert got == big and str(got) == "12345678901234567890.10"


def test_decimal_rescales_exactly_or_fails() -> None:
    c = converter()
    out = write(c, Decimal.schema(2), decimal.Decimal("1.5"))
    assert out.endswith(b',"payload":"AJY="}')  # 150
    with pytest.raises(DataException):
        c.from_connect_data(TOPIC, Decimal.schema(2), decimal.Decimal("1.555"))


def test_decimal_reads_base64_and_numbers() -> None:
    c = converter()
    head = b'{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,'
    head += b'"parameters":{"scale":"2"}},"payload":'
    assert c.to_connect_data(TOPIC, head + b'"AJw="}').value == decimal.Decimal("1.56")
    assert c.to_connect_data(TOPIC, head + b"1.56}").value == decimal.Decimal("1.56")
    assert c.to_connect_data(TOPIC, head + b"7}").value == decimal.Decimal(7)


def test_kafka_formatted_input_with_whitespace() -> None:
    c = converter()
    msg = b'{ "schema": { "type": "boolean", "optional": false, "name": "bool", "version": 2, "doc": "d", '
    msg += b'"parameters": { "foo": "bar" }}, "payload": true }'
    expected = SchemaBuilder.boolean().name("bool").version(2).doc("d").parameter("foo", "bar").build()
    assert c.to_connect_data(TOPIC, msg) == SchemaAndValue(expected, True)
    default = b'{ "schema": { "type": "boolean", "default": true }, "payload": null }'
    assert c.to_connect_data(TOPIC, default) == SchemaAndValue(
        SchemaBuilder.boolean().default_value(True).build(), True
    )


def test_null_schema_payloads() -> None:
    c = converter()
    assert c.to_connect_data(TOPIC, b'{ "schema": null, "payload": null }') == SchemaAndValue.NULL
    assert c.to_connect_data(TOPIC, b'{"schema":null,"payload":[1,"2",3]}') == SchemaAndValue(
        None, [1, "2", 3]
    )
    assert c.to_connect_data(TOPIC, b'{"schema":null,"payload":12.24}') == SchemaAndValue(None, 12.24)
    assert (
        c.from_connect_data(TOPIC, None, [1, "string", True])
        == b'{"schema":null,"payload":[1,"string",true]}'
    )


def test_tombstones() -> None:
    for c in (converter(), converter(schemas_enable=False)):
        assert c.from_connect_data(TOPIC, None, None) is None
        assert c.to_connect_data(TOPIC, None) == SchemaAndValue.NULL
    # with a schema, a null value is not a tombstone (as in Kafka): the envelope carries null
    assert converter().from_connect_data(TOPIC, Schema.OPTIONAL_STRING_SCHEMA, None) == (
        b'{"schema":{"type":"string","optional":true},"payload":null}'
    )


def test_schemas_disabled() -> None:
    schema, value = debezium_schema_and_value()
    c = converter(schemas_enable=False)
    out = c.from_connect_data(TOPIC, schema, value)
    assert out == DEBEZIUM[DEBEZIUM.index(b',"payload":') + 11 : -1]
    read = c.to_connect_data(TOPIC, out)
    assert read.schema is None
    assert read.value["after"]["first_name"] == "Anne Mary"
    assert c.to_connect_data(TOPIC, b"true") == SchemaAndValue(None, True)
    assert c.to_connect_data(TOPIC, b"") == SchemaAndValue(None, None)
    assert (
        c.from_connect_data(TOPIC, None, {"a": b"\x00", "b": [1.5, None]}) == b'{"a":"AA==","b":[1.5,null]}'
    )
    assert c.from_connect_data(TOPIC, None, {1: "x", "y": 2}) == b'[[1,"x"],["y",2]]'


def test_replace_null_with_default_disabled() -> None:
    schema = SchemaBuilder.struct().field("s", SchemaBuilder.string().optional().default_value("d")).build()
    value = Struct(schema)
    assert write(converter(), schema, value).endswith(b'"payload":{"s":"d"}}')
    c = converter(replace_null_with_default=False)
    out = write(c, schema, value)
    assert out.endswith(b'"payload":{"s":null}}')
    assert c.to_connect_data(TOPIC, out).value.get_without_default("s") is None


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        (Schema.FLOAT64_SCHEMA, True),
        (Schema.STRING_SCHEMA, None),
        (Schema.INT32_SCHEMA, "1"),
        (SchemaBuilder.struct().field("a", Schema.INT32_SCHEMA).build(), {"a": 1}),
        (None, Struct(SchemaBuilder.struct().build())),
        (None, decimal.Decimal(1)),
        (Date.SCHEMA, dt.datetime(2020, 1, 1)),
    ],
)
def test_unconvertible_values_raise_data_exception(schema: Schema | None, value: Any) -> None:
    with pytest.raises(DataException):
        converter().from_connect_data(TOPIC, schema, value)


def test_struct_with_missing_required_field_raises() -> None:
    schema = SchemaBuilder.struct().field("a", Schema.INT32_SCHEMA).field("b", Schema.STRING_SCHEMA).build()
    with pytest.raises(DataException, match="required"):
        converter().from_connect_data(TOPIC, schema, Struct(schema).put("a", 1))


def test_struct_with_other_schema_raises() -> None:
    a = SchemaBuilder.struct().field("a", Schema.INT32_SCHEMA).build()
    b = SchemaBuilder.struct().field("a", Schema.INT64_SCHEMA).build()
    with pytest.raises(DataException, match="Mismatching schema"):
        converter().from_connect_data(TOPIC, a, Struct(b).put("a", 1))


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"schema":{"type":"string"}}',
        b'{"schema":{"type":"string"},"payload":"x","extra":1}',
        b"[1,2]",
        b'{"schema":{"type":"nope"},"payload":1}',
        b'{"schema":{"type":"int8"},"payload":1000}',
        b'{"schema":{"type":"int32"},"payload":"12"}',
        b'{"schema":{"type":"string"},"payload":null}',
        b'{"schema":{"type":"bytes"},"payload":"***"}',
        b'{"schema":{"type":"struct","fields":[{"type":"int32","field":"a"}]},"payload":[1]}',
        b'{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"int32"}},"payload":{"1":2}}',
        b'{"schema":{"type":"array"},"payload":[]}',
        b'{"schema":{"type":"string","parameters":{"a":1}},"payload":"x"}',
        b'{"schema":{"type":"double"},"payload":NaN}',
    ],
)
def test_bad_input_raises_data_exception(data: bytes) -> None:
    with pytest.raises(DataException):
        converter().to_connect_data(TOPIC, data)


def test_schema_prefix_cache_is_not_fooled() -> None:
    c = converter()
    first = b'{"schema":{"type":"string","optional":false},"payload":"a"}'
    assert c.to_connect_data(TOPIC, first).value == "a"
    # same schema prefix, but the rest is not a single payload value
    with pytest.raises(DataException):
        c.to_connect_data(TOPIC, b'{"schema":{"type":"string","optional":false},"payload":"a","x":1}')
    assert (
        c.to_connect_data(TOPIC, b'{"schema":{"type":"string","optional":false},"payload":"b" }').value == "b"
    )


def test_header_converter_interface() -> None:
    c = JsonConverter()
    c.configure({"schemas.enable": "false", "converter.type": "header"})
    assert c.from_connect_header(TOPIC, "h", Schema.INT32_SCHEMA, 5) == b"5"
    assert c.to_connect_header(TOPIC, "h", b"5") == SchemaAndValue(None, 5)


def test_cache_size_zero_still_works() -> None:
    c = converter(schemas_cache_size=0)
    schema, value = debezium_schema_and_value()
    assert c.from_connect_data(TOPIC, schema, value) == DEBEZIUM
    assert c.to_connect_data(TOPIC, DEBEZIUM).value == value


# --- property tests -----------------------------------------------------------------------------------------

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.data(), schemas())
def test_round_trip_with_schemas(data: st.DataObject, schema: Schema) -> None:
    value = data.draw(values(schema))
    c = converter()
    out = c.from_connect_data(TOPIC, schema, value)
    assert out is not None
    json.loads(out)  # valid JSON
    read = c.to_connect_data(TOPIC, out)
    assert read.schema == schema
    assert read.value == with_defaults(schema, value)
    assert c.to_connect_data(TOPIC, out) == read  # again, through the known-schema fast path


@PROPERTY
@given(st.data(), schemas())
def test_round_trip_without_schemas(data: st.DataObject, schema: Schema) -> None:
    value = data.draw(values(schema))
    c = converter(schemas_enable=False)
    out = c.from_connect_data(TOPIC, schema, value)
    assert out is not None
    assert orjson.loads(out) == json.loads(out)
    with_envelope = converter().from_connect_data(TOPIC, schema, value)
    assert with_envelope is not None
    assert with_envelope.endswith(b',"payload":' + out + b"}")
    # a sink that knows the schema out of band reads the same value back
    reader = c._read.reader(schema)
    assert reader(orjson.loads(out)) == with_defaults(schema, value)


@PROPERTY
@given(st.data(), schemas())
def test_fast_path_matches_exact_writer(data: st.DataObject, schema: Schema) -> None:
    value = data.draw(values(schema, allow_nan=True))
    for c in (converter(schemas_enable=False), converter(schemas_enable=False, decimal_format="NUMERIC")):
        assert c.from_connect_data(TOPIC, schema, value) == c._exact.write(schema, value).encode()


schemaless_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=6)
    | st.binary(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
        | st.dictionaries(st.integers(0, 9), children, max_size=2)
    ),
    max_leaves=10,
)


@PROPERTY
@given(schemaless_values)
def test_schemaless_fast_path_matches_exact_writer(value: Any) -> None:
    c = converter(schemas_enable=False)
    if value is None:
        assert c.from_connect_data(TOPIC, None, value) is None
        return
    out = c.from_connect_data(TOPIC, None, value)
    assert out == c._exact.write(None, value).encode()
    json.loads(out)


@PROPERTY
@given(st.data(), schemas())
def test_round_trip_numeric_decimals(data: st.DataObject, schema: Schema) -> None:
    value = data.draw(values(schema))
    c = converter(decimal_format="NUMERIC")
    read = c.to_connect_data(TOPIC, write(c, schema, value))
    assert read.schema == schema
    assert read.value == with_defaults(schema, value)
