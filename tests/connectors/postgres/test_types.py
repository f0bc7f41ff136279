"""Column types map to Debezium's schemas and values (default modes, and the alternative modes)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json

from connect.api.data import Struct, Type
from connect.converters.json import JsonConverter
from tests.connectors.postgres.conftest import execute
from tests.connectors.postgres.helpers import started_task
from tests.support.postgres import PostgresServer
from tests.support.source_tasks import as_dict, poll_count

COLUMNS = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE typed (
  id bigint PRIMARY KEY,
  b bool, i2 int2, i4 int4 NOT NULL, f4 float4, f8 float8,
  n numeric(10, 3), nv numeric, m money,
  t text, vc varchar(5), c char(3), by bytea,
  d date, tm time(3), tmu time, tz timetz,
  ts timestamp(3), tsu timestamp, tstz timestamptz,
  iv interval, u uuid, j json, jb jsonb, x xml,
  e mood, ai int[], at text[], inet_col inet
)
"""
ROW = """
INSERT INTO typed VALUES (
  9000000000, true, -7, 42, 1.5, 2.25,
  1234.5, -0.000123, 12.34,
  'héllo', 'abc', 'xy', '\\x00ff10',
  '2024-02-29', '13:14:15.123', '13:14:15.123456', '10:00:00+02',
  '2024-02-29 13:14:15.123', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.5+01',
  '1 day 2 hours 3.5 seconds', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": null}',
  '<r>1</r>', 'happy', '{1,NULL,3}', '{"a b","c,d",NULL}', '10.0.0.1/32'
)
"""


def _after(record_value: Struct) -> dict[str, object]:
    after = as_dict(record_value)["after"]
    assert isinstance(after, dict)
    return after


def test_default_type_mapping_snapshot_and_stream_agree(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str]
) -> None:
    execute(pg, pg_db, COLUMNS, ROW)
    task = started_task(pg_config)
    try:
        (snap,) = poll_count(task, 1)
        execute(pg, pg_db, "DELETE FROM typed", ROW)
        streamed = [r for r in poll_count(task, 3) if r.value is not None and as_dict(r.value)["op"] == "c"]
    finally:
        task.stop()
    assert _after(snap.value) == _after(streamed[0].value), "snapshot (COPY text) and pgoutput must agree"
    row = _after(snap.value)
    epoch = dt.datetime(1970, 1, 1)
    assert row["id"] == 9000000000 and row["b"] is True and row["i2"] == -7 and row["i4"] == 42
    assert row["f4"] == 1.5 and row["f8"] == 2.25
    assert row["n"] == decimal.Decimal("1234.500")
    assert row["nv"] == {"scale": 6, "value": (-123).to_bytes(1, "big", signed=True)}
    assert row["m"] == decimal.Decimal("12.34")
    assert (row["t"], row["vc"], row["c"]) == ("héllo", "abc", "xy ")
    assert row["by"] == b"\x00\xff\x10"
    assert row["d"] == (dt.date(2024, 2, 29) - dt.date(1970, 1, 1)).days
    assert row["tm"] == (13 * 3600 + 14 * 60 + 15) * 1000 + 123
    assert row["tmu"] == (13 * 3600 + 14 * 60 + 15) * 1_000_000 + 123456
    assert row["tz"] == "08:00:00Z"
    assert row["ts"] == (dt.datetime(2024, 2, 29, 13, 14, 15, 123000) - epoch) // dt.timedelta(milliseconds=1)
    assert row["tsu"] == (dt.datetime(2024, 2, 29, 13, 14, 15, 123456) - epoch) // dt.timedelta(
        microseconds=1
    )
    assert row["tstz"] == "2024-02-29T12:14:15.5Z"
    assert row["iv"] == (26 * 3600 + 3.5) * 1_000_000
    assert row["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert json.loads(row["j"]) == {"a": [1, 2]} and json.loads(row["jb"]) == {"b": None}  # type: ignore[arg-type]
    assert row["x"] == "<r>1</r>" and row["e"] == "happy"
    assert row["ai"] == [1, None, 3] and row["at"] == ["a b", "c,d", None]
    assert row["inet_col"] == "10.0.0.1"

    schema = snap.value_schema.field("after").schema  # type: ignore[union-attr]
    names = {f.name: (f.schema.type, f.schema.name, f.schema.optional) for f in schema.fields}
    assert names["id"] == (Type.INT64, None, False)
    assert names["i4"] == (Type.INT32, None, False)
    assert names["n"] == (Type.BYTES, "org.apache.kafka.connect.data.Decimal", True)
    assert names["nv"][1] == "io.debezium.data.VariableScaleDecimal"
    assert names["d"][1] == "io.debezium.time.Date" and names["tm"][1] == "io.debezium.time.Time"
    assert names["tmu"][1] == "io.debezium.time.MicroTime"
    assert (
        names["ts"][1] == "io.debezium.time.Timestamp"
        and names["tsu"][1] == "io.debezium.time.MicroTimestamp"
    )
    assert (
        names["tstz"][1] == "io.debezium.time.ZonedTimestamp"
        and names["tz"][1] == "io.debezium.time.ZonedTime"
    )
    assert names["iv"][1] == "io.debezium.time.MicroDuration"
    assert names["u"][1] == "io.debezium.data.Uuid" and names["jb"][1] == "io.debezium.data.Json"
    assert names["e"][1] == "io.debezium.data.Enum"
    assert schema.field("e").schema.parameters == {"allowed": "sad,ok,happy"}  # type: ignore[union-attr]
    assert names["ai"][0] == Type.ARRAY

    # The JsonConverter envelope carries the schema and serializes every value.
    converter = JsonConverter()
    converter.configure({"schemas.enable": "true"}, False)
    doc = json.loads(
        converter.from_connect_data("srv.public.typed", snap.value_schema, snap.value) or b"null"
    )
    assert doc["schema"]["name"] == "srv.public.typed.Envelope"
    payload = doc["payload"]
    assert payload["op"] == "r" and payload["after"]["n"] == base64.b64encode(b"\x12\xd6\x44").decode()
    key = json.loads(converter.from_connect_data("srv.public.typed", snap.key_schema, snap.key) or b"null")
    assert key == {
        "schema": {
            "type": "struct",
            "fields": [{"type": "int64", "optional": False, "field": "id"}],
            "optional": False,
            "name": "srv.public.typed.Key",
        },
        "payload": {"id": 9000000000},
    }


def test_alternative_decimal_and_time_modes(
    pg: PostgresServer, pg_db: str, pg_config: dict[str, str]
) -> None:
    execute(pg, pg_db, COLUMNS, ROW)
    for config, check in (
        ({"decimal.handling.mode": "double", "time.precision.mode": "connect"}, "double"),
        ({"decimal.handling.mode": "string", "time.precision.mode": "adaptive_time_microseconds"}, "string"),
    ):
        task = started_task({**pg_config, **config, "slot.name": pg_config["slot.name"] + check[0]})
        try:
            (snap,) = poll_count(task, 1)
        finally:
            task.stop()
        row = _after(snap.value)
        if check == "double":
            assert row["n"] == 1234.5 and row["nv"] == -0.000123 and row["m"] == 12.34
            assert row["d"] == dt.date(2024, 2, 29)
            assert row["tm"] == dt.time(13, 14, 15, 123000)
            assert row["ts"] == dt.datetime(2024, 2, 29, 13, 14, 15, 123000)
        else:
            assert row["n"] == "1234.500" and row["nv"] == "-0.000123"
            assert row["tm"] == (13 * 3600 + 14 * 60 + 15) * 1_000_000 + 123000
