"""Every MySQL type the issue names round-trips through snapshot and binlog with Debezium's logical
type names: DECIMAL, DATETIME(6), TIMESTAMP (UTC), JSON, ENUM/SET, BIT, unsigned integers, spatial."""

from __future__ import annotations

import decimal
import struct

from tests.connectors.mysql.helpers import data_records, started_task
from tests.support.mariadb import MariaDbServer
from tests.support.source_tasks import as_dict, poll_for

COLUMNS = (
    "id INT UNSIGNED PRIMARY KEY, d DECIMAL(10,3), dt DATETIME(6), dt3 DATETIME(3), ts TIMESTAMP(3) NULL, "
    "j JSON, e ENUM('a','b','c'), s SET('x','y','z'), b1 BIT(1), b BIT(10), bi BIGINT UNSIGNED, "
    "ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT UNSIGNED, g GEOMETRY, p POINT, f FLOAT, db DOUBLE, "
    "vc VARCHAR(20), bl BLOB, dd DATE, tm TIME(3), yr YEAR, bn VARBINARY(4)"
)
ROW = (
    "(1, 12.345, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123', '2024-01-02 03:04:05.120', "
    "'{\"a\": 1}', 'b', 'z,x', b'1', b'1010101010', 18446744073709551615, -5, 65535, 16777215, "
    "ST_GeomFromText('LINESTRING(0 0, 1 1)'), ST_GeomFromText('POINT(1 2)'), 1.5, 2.25, 'héllo', x'0102', "
    "'2024-02-29', '12:34:56.789', 2024, x'01020304')"
)


def _expected_after(row_id: int) -> dict[str, object]:
    return {
        "id": row_id,
        "d": decimal.Decimal("12.345"),
        "dt": 1704164645123456,
        "dt3": 1704164645123,
        "ts": "2024-01-02T03:04:05.12Z",
        "e": "b",
        "s": "x,z",
        "b1": True,
        "b": (0b1010101010).to_bytes(2, "little"),
        "bi": -1,  # bigint.unsigned.handling.mode=long wraps like Debezium
        "ti": -5,
        "si": 65535,
        "mi": 16777215,
        "f": 1.5,
        "db": 2.25,
        "vc": "héllo",
        "bl": b"\x01\x02",
        "dd": 19782,
        "tm": (12 * 3600 + 34 * 60 + 56) * 1_000_000 + 789_000,
        "yr": 2024,
        "bn": b"\x01\x02\x03\x04",
    }


def test_types_round_trip_in_snapshot_and_stream(
    my: MariaDbServer, my_db: str, my_config: dict[str, str]
) -> None:
    my.execute(f"CREATE TABLE ty ({COLUMNS})", f"INSERT INTO ty VALUES {ROW}", database=my_db)
    task = started_task(my_config)
    try:
        snap = poll_for(task, lambda r: len(data_records(r)) >= 1, what="the snapshot")
        my.execute(f"INSERT INTO ty VALUES {ROW.replace('(1,', '(2,', 1)}", database=my_db)
        streamed = poll_for(task, lambda r: len(data_records(r)) >= 1, what="the insert")
    finally:
        task.stop()
    for record, row_id in ((data_records(snap)[0], 1), (data_records(streamed)[0], 2)):
        after = as_dict(record.value)["after"]
        for name, expected in _expected_after(row_id).items():
            assert after[name] == expected, (name, after[name], expected, row_id)
        assert after["j"].replace(" ", "") == '{"a":1}'
        assert after["g"]["srid"] is None and after["g"]["wkb"][:5] == b"\x01\x02\x00\x00\x00"
        assert (after["p"]["x"], after["p"]["y"]) == (1.0, 2.0)
        assert struct.unpack_from("<dd", after["p"]["wkb"], 5) == (1.0, 2.0)
        fields = {f.name: f.schema for f in record.value.schema.field("after").schema.fields}
        names = {n: (s.name, dict(s.parameters or {})) for n, s in fields.items()}
        assert names["d"] == (
            "org.apache.kafka.connect.data.Decimal",
            {"scale": "3", "connect.decimal.precision": "10"},
        )
        assert names["dt"][0] == "io.debezium.time.MicroTimestamp"
        assert names["dt3"][0] == "io.debezium.time.Timestamp"
        assert names["ts"][0] == "io.debezium.time.ZonedTimestamp"
        assert names["j"][0] == "io.debezium.data.Json"
        assert names["e"] == ("io.debezium.data.Enum", {"allowed": "a,b,c"})
        assert names["s"] == ("io.debezium.data.EnumSet", {"allowed": "x,y,z"})
        assert names["b"] == ("io.debezium.data.Bits", {"length": "10"})
        assert names["g"][0] == "io.debezium.data.geometry.Geometry"
        assert names["p"][0] == "io.debezium.data.geometry.Point"
        assert names["dd"][0] == "io.debezium.time.Date"
        assert names["tm"][0] == "io.debezium.time.MicroTime"
        assert names["yr"][0] == "io.debezium.time.Year"
        assert fields["si"].type.name == "INT32" and fields["id"].type.name == "INT64"
        assert fields["ti"].type.name == "INT16" and fields["f"].type.name == "FLOAT32"


def test_bigint_unsigned_precise(my: MariaDbServer, my_db: str, my_config: dict[str, str]) -> None:
    my.execute(
        "CREATE TABLE u (id BIGINT UNSIGNED PRIMARY KEY)",
        "INSERT INTO u VALUES (18446744073709551615)",
        database=my_db,
    )
    task = started_task({**my_config, "bigint.unsigned.handling.mode": "precise"})
    try:
        snap = poll_for(task, lambda r: len(data_records(r)) >= 1, what="the snapshot")
    finally:
        task.stop()
    assert as_dict(data_records(snap)[0].value)["after"]["id"] == decimal.Decimal(18446744073709551615)


TIMES = ("-00:00:01.1", "-00:00:00.5", "-838:59:58.9", "-12:34:56", "00:00:01.1", "838:59:59")


def _micros(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    h, m, s = text.lstrip("-").split(":")
    whole, _, frac = s.partition(".")
    return sign * ((int(h) * 3600 + int(m) * 60 + int(whole)) * 1_000_000 + int((frac or "0").ljust(6, "0")))


def test_negative_times_with_fractions_round_trip_in_snapshot_and_stream(
    my: MariaDbServer, my_db: str, my_config: dict[str, str]
) -> None:
    """TIME(1..6) with negative values and fractions: the binlog decoder of pymysqlreplication gets them
    wrong; the connector's own TIME2 decoding must agree with the snapshot (text protocol)."""
    columns = ", ".join(f"t{fsp} TIME({fsp})" for fsp in range(7))
    my.execute(f"CREATE TABLE tt (id INT PRIMARY KEY, {columns})", database=my_db)
    rows = ", ".join(f"({i}, {', '.join([repr(t)] * 7)})" for i, t in enumerate(TIMES))
    my.execute(f"INSERT INTO tt VALUES {rows}", database=my_db)
    task = started_task(my_config)
    try:
        snap = poll_for(task, lambda r: len(data_records(r)) >= len(TIMES), what="the snapshot")
        stream_rows = rows.replace("(", "(100 + ", len(TIMES))
        my.execute(f"INSERT INTO tt VALUES {stream_rows}", database=my_db)
        streamed = poll_for(task, lambda r: len(data_records(r)) >= len(TIMES), what="the inserts")
    finally:
        task.stop()
    by_id = {as_dict(r.value)["after"]["id"] % 100: as_dict(r.value)["after"] for r in data_records(snap)}
    assert sorted(by_id) == list(range(len(TIMES)))
    for record in data_records(streamed):
        after = as_dict(record.value)["after"]
        i = after["id"] - 100
        for fsp in range(7):
            column = f"t{fsp}"
            assert after[column] == by_id[i][column], ("stream != snapshot", TIMES[i], fsp, after[column])
            if fsp >= len(
                TIMES[i].partition(".")[2]
            ):  # exact (fewer digits: MariaDB truncates, MySQL rounds)
                assert after[column] == _micros(TIMES[i]), (TIMES[i], fsp, after[column])
