"""``JsonConverter.to_connect_batch`` is ``to_connect_data`` applied to each value: same schemas, same
values (types and exact reprs), same first exception, and a converter a failed batch went through still
converts every value exactly like a fresh one (the sink runtime redoes such a batch record by record)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect.api import BatchConverter, Schema, SchemaBuilder, Struct
from connect.converters.json import JsonConverter
from connect.runtime.pipeline import Converters
from tests.connect.strategies import schemas, values

TOPIC = "t"
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def converter(**configs: Any) -> JsonConverter:
    c = JsonConverter()
    c.configure({k.replace("_", "."): v for k, v in configs.items()}, False)
    return c


def canon(value: Any) -> Any:
    """A comparable form that tells apart what == does not (int/float/bool, -0.0, key order, ...)."""
    if isinstance(value, Struct):
        return ("struct", value.schema, [(k, canon(v)) for k, v in value.values.items()])
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canon(v) for v in value])
    return (type(value).__name__, repr(value))


Outcome = tuple[str, Any, Any]


def one_by_one(c: JsonConverter, data: list[bytes | None]) -> list[Outcome]:
    out: list[Outcome] = []
    for value in data:
        try:
            sv = c.to_connect_data(TOPIC, value)
        except Exception as e:
            out.append(("error", type(e), str(e)))
        else:
            out.append(("ok", sv.schema, canon(sv.value)))
    return out


_JUNK_PAYLOADS = [b"null", b'"x"', b"1e400", b"-0", b"1.5", b"[1]", b"{}", b"true", b"", b" 7 ", b"NaN"]


@st.composite
def mutated(draw: st.DrawFn, encoded: bytes | None) -> bytes | None:
    """``encoded`` as written, or broken / re-spelled in ways the prefix path must notice."""
    if encoded is None:
        return None
    how = draw(st.integers(0, 11))
    if how <= 5:
        return encoded
    if how == 6:
        return encoded[: draw(st.integers(0, len(encoded)))]
    if how == 7:
        return encoded[:-1] + b',"extra":1}'
    if how == 8:
        return encoded[:-1] + b" }"
    if how == 9:
        cut = encoded.find(b',"payload":')
        if cut < 0:
            return encoded + b"x"
        return encoded[: cut + 11] + draw(st.sampled_from(_JUNK_PAYLOADS)) + b"}"
    if how == 10:
        return draw(st.sampled_from([b"", b"x", b"{", b"}", b'{"schema":null,"payload":3}', b"[]", b"\x00}"]))
    return None


ORDER = (
    SchemaBuilder.struct()
    .name("bench.Order")
    .field("id", Schema.INT64_SCHEMA)
    .field("customer", Schema.STRING_SCHEMA)
    .field("amount", Schema.FLOAT64_SCHEMA)
    .field("note", Schema.OPTIONAL_STRING_SCHEMA)
    .field("paid", Schema.BOOLEAN_SCHEMA)
    .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).optional().build())
    .build()
)
# Schemas whose JSON text orjson writes as Kafka does, so their envelopes take the cached-prefix path
# (generated schemas with non-ASCII names or Java-formatted defaults mostly do not).
PLAIN = [ORDER, Schema.INT64_SCHEMA, Schema.OPTIONAL_STRING_SCHEMA, Schema.INT8_SCHEMA, Schema.FLOAT64_SCHEMA]


@st.composite
def batches(draw: st.DrawFn) -> tuple[dict[str, Any], list[bytes | None]]:
    configs = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "schemas.enable": st.sampled_from(["true", "false"]),
                "schemas.cache.size": st.sampled_from(["0", "1", "1000"]),
                "decimal.format": st.sampled_from(["BASE64", "NUMERIC"]),
                "replace.null.with.default": st.sampled_from(["true", "false"]),
            },
        )
    )
    # replace.null.with.default=false rejects some generated values on writing; it only matters to reads
    writer = converter(**{k: v for k, v in configs.items() if k != "replace.null.with.default"})
    pool = draw(st.lists(st.one_of(st.sampled_from(PLAIN), schemas()), min_size=1, max_size=2))
    data: list[bytes | None] = []
    broken = draw(st.booleans())  # else all as written, so that most batches read through
    for _ in range(draw(st.integers(1, 10))):
        schema = draw(st.sampled_from(pool))
        encoded = writer.from_connect_data(TOPIC, schema, draw(values(schema)))
        # the first one as written: it caches its prefix, which the broken ones then start with
        data.append(draw(mutated(encoded)) if broken and data else encoded)
    return configs, data


@PROPERTY
@given(batches())
def test_batch_equals_one_by_one(case: tuple[dict[str, Any], list[bytes | None]]) -> None:
    configs, data = case
    expected = one_by_one(converter(**configs), data)
    c = converter(**configs)
    try:
        schemas_out, values_out = c.to_connect_batch([TOPIC] * len(data), data)
    except Exception as e:
        first_error = next(o for o in expected if o[0] == "error")
        assert ("error", type(e), str(e)) == first_error
        # the runtime then converts the batch one by one with the same converter
        assert one_by_one(c, data) == expected
    else:
        assert all(o[0] == "ok" for o in expected)
        got = [("ok", s, canon(v)) for s, v in zip(schemas_out, values_out, strict=True)]
        assert got == expected
    # and a converter that has seen the batch converts it again identically, batched or not
    assert one_by_one(c, data) == expected


def test_batch_reads_repeated_and_changing_schemas() -> None:
    a = SchemaBuilder.struct().name("a").field("x", Schema.INT32_SCHEMA).build()
    b = SchemaBuilder.struct().name("b").field("y", Schema.OPTIONAL_STRING_SCHEMA).build()
    c = converter()
    data = [
        c.from_connect_data(TOPIC, a, Struct(a).put("x", 1)),
        c.from_connect_data(TOPIC, a, Struct(a).put("x", 2)),
        None,
        c.from_connect_data(TOPIC, b, Struct(b).put("y", "q")),
        c.from_connect_data(TOPIC, a, Struct(a).put("x", 3)),
    ]
    schemas_out, values_out = converter().to_connect_batch([TOPIC] * len(data), data)
    assert schemas_out == [a, a, None, b, a]
    assert values_out == [
        Struct(a).put("x", 1),
        Struct(a).put("x", 2),
        None,
        Struct(b).put("y", "q"),
        Struct(a).put("x", 3),
    ]


def test_subclass_overriding_to_connect_data_reads_batches_with_its_override() -> None:
    """The inherited fast batch reader would bypass the override: such a subclass's
    ``to_connect_batch`` is its ``to_connect_data`` record by record; overriding both keeps its own."""

    class Upper(JsonConverter):
        def to_connect_data(self, topic: str, value: bytes | None, headers: Any = None) -> Any:
            return super().to_connect_data(topic, value.upper() if value else value, headers)

    class Both(Upper):
        def to_connect_batch(self, topics: Any, values: Any) -> Any:
            return ["mine"], ["mine"]

    data = [b'{"a":"x"}', b'"b"', None]
    plain = converter(schemas_enable=False)
    upper = Upper()
    upper.configure({"schemas.enable": "false"}, False)
    assert isinstance(upper, BatchConverter) and isinstance(Both(), BatchConverter)
    assert Upper.to_connect_batch is BatchConverter.to_connect_each
    got = upper.to_connect_batch([TOPIC] * 3, data)
    assert got == (
        [None, None, None],
        [plain.to_connect_data(TOPIC, v.upper() if v else v).value for v in data],
    )
    assert got[1] == [{"A": "X"}, "B", None]
    assert Both().to_connect_batch([TOPIC], [b"1"]) == (["mine"], ["mine"])


def test_runtime_dispatches_on_the_declared_capability() -> None:
    from connect.converters import load_converter, load_header_converter

    def converters(key: str, value: str) -> Converters:
        return Converters(
            load_converter(key, {}, True), load_converter(value, {}, False), load_header_converter(key, {})
        )

    def batch(c: Converters) -> bool:
        return isinstance(c.key, BatchConverter) and isinstance(c.value, BatchConverter)

    assert batch(converters("JsonConverter", "ByteArrayConverter"))
    assert not batch(converters("JsonConverter", "StringConverter"))
    assert not batch(converters("StringConverter", "JsonConverter"))
