from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import OpenLog, batch, crash, read_all

SEGMENT_BYTES = 1_500


def _fill(open_log: OpenLog, batches: int = 30) -> tuple[list[int], list[int]]:
    """Append ``batches`` batches of 2 records; return their end positions and base offsets."""
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    ends, bases = [], []
    for i in range(batches):
        info = plog.append(batch(2, ts=1_000 + i), now_ms=i)
        bases.append(info.base_offset)
        ends.append(plog.size_bytes)
    crash(plog)
    return ends, bases


def _segments(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "t-0").glob("*.log"))


def _reopen(open_log: OpenLog):  # type: ignore[no-untyped-def]
    return open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)


def _recovery_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "broker.log" and "Recovered" in r.getMessage()
    ]


def test_torn_tail_is_truncated_with_a_warning(
    open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(open_log)
    last = _segments(tmp_path)[-1]
    size = last.stat().st_size
    with open(last, "r+b") as f:
        f.truncate(size - 10)  # tear the last batch
    plog = _reopen(open_log)
    assert plog.log_end_offset == 58
    (line,) = _recovery_lines(caplog)
    assert str(last) in line
    batch_size = len(batch(2))
    assert f"at position {size - batch_size}" in line
    assert f"dropping {batch_size - 10} bytes" in line
    assert line.endswith("log end offset is now 58")
    assert read_all(plog) == list(range(58))
    assert plog.append(batch(1), now_ms=1).base_offset == 58


def test_flipped_bytes_in_last_batch(
    open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(open_log)
    last = _segments(tmp_path)[-1]
    data = bytearray(last.read_bytes())
    data[-3] ^= 0x55
    last.write_bytes(data)
    plog = _reopen(open_log)
    assert plog.log_end_offset == 58
    (line,) = _recovery_lines(caplog)
    assert "CRC mismatch" in line and str(last) in line
    assert read_all(plog) == list(range(58))


@pytest.mark.parametrize("junk", [b"garbage!" * 20, b"\x00" * 4096, b"\xff" * 7])
def test_trailing_junk_is_dropped(
    open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture, junk: bytes
) -> None:
    _fill(open_log)
    last = _segments(tmp_path)[-1]
    with open(last, "ab") as f:
        f.write(junk)
    plog = _reopen(open_log)
    assert plog.log_end_offset == 60
    (line,) = _recovery_lines(caplog)
    assert f"dropping {len(junk)} bytes" in line
    assert read_all(plog) == list(range(60))


def test_corruption_in_an_earlier_unflushed_segment_drops_later_segments(
    open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(open_log)
    segments = _segments(tmp_path)
    assert len(segments) >= 3
    victim = segments[1]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(data)
    plog = _reopen(open_log)
    (line,) = _recovery_lines(caplog)
    assert str(victim) in line and "later segment(s)" in line
    assert plog.segment_count == 2
    assert read_all(plog) == list(range(plog.log_end_offset))
    assert plog.log_end_offset < 60
    assert [p.name for p in _segments(tmp_path)] == [p.name for p in segments[:2]]


def test_recovery_point_bounds_the_scan(
    open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    for i in range(30):
        plog.append(batch(2), now_ms=i)
    assert plog.flush() == 60
    for i in range(10):
        plog.append(batch(2), now_ms=i)
    crash(plog)
    # Corrupt a batch in the first segment (below the recovery point): not scanned, so not noticed.
    first = _segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[-3] ^= 0x55
    first.write_bytes(data)
    plog = _reopen(open_log)
    assert _recovery_lines(caplog) == []
    assert plog.log_end_offset == 80
    assert plog.recovery_point <= 60


def test_clean_close_skips_the_scan(
    open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    for i in range(30):
        plog.append(batch(2), now_ms=i)
    plog.close()
    last = _segments(tmp_path)[-1]
    data = bytearray(last.read_bytes())
    data[-3] ^= 0x55  # same size: a clean start trusts the files and does not CRC-scan
    last.write_bytes(data)
    plog = _reopen(open_log)
    assert _recovery_lines(caplog) == []
    assert plog.log_end_offset == 60
    assert plog.unflushed_messages == 0
    # After the (unflushed) append and a crash, the clean marker no longer matches: full recovery runs.
    plog.append(batch(1), now_ms=1)
    crash(plog)
    plog = _reopen(open_log)
    (line,) = _recovery_lines(caplog)
    assert "CRC mismatch" in line


def test_clean_marker_does_not_hide_a_torn_append(open_log: OpenLog, tmp_path: Path) -> None:
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    plog.append(batch(2), now_ms=1)
    plog.close()
    plog = _reopen(open_log)
    plog.append(batch(2), now_ms=1)
    crash(plog)
    last = _segments(tmp_path)[-1]
    with open(last, "r+b") as f:
        f.truncate(last.stat().st_size - 1)
    plog = _reopen(open_log)
    assert plog.log_end_offset == 2


def test_torn_index_is_rebuilt(open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    for i in range(30):
        plog.append(batch(2, ts=1_000 + i), now_ms=i)
    plog.close()
    indexes = sorted((tmp_path / "t-0").glob("*.index"))
    first_index, last_index = indexes[0], indexes[-1]
    expected = {p: p.read_bytes() for p in (first_index, last_index)}
    for path in (first_index, last_index):
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size - 3)
    with caplog.at_level("WARNING", logger="broker.log"):
        plog = _reopen(open_log)
        assert plog.log_end_offset == 60
        assert read_all(plog, max_bytes=300) == list(range(60))  # reads load the older segments' indexes
    rebuilt = [r.getMessage() for r in caplog.records if "rebuilding" in r.getMessage()]
    assert any(str(last_index.with_suffix(".log")) in m for m in rebuilt)
    assert any(str(first_index.with_suffix(".log")) in m for m in rebuilt)
    for path in (first_index, last_index):
        assert path.read_bytes() == expected[path]
    assert plog.offset_for_timestamp(1_010) == (20, 1_010)


def test_missing_index_files_are_rebuilt(open_log: OpenLog, tmp_path: Path) -> None:
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    for i in range(30):
        plog.append(batch(2), now_ms=i)
    plog.close()
    for path in (tmp_path / "t-0").glob("*index"):
        path.unlink()
    plog = _reopen(open_log)
    assert read_all(plog) == list(range(60))
    assert plog.log_end_offset == 60


def test_unreadable_checkpoint_means_full_recovery(
    open_log: OpenLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    for i in range(30):
        plog.append(batch(2), now_ms=i)
    plog.close()
    (tmp_path / "t-0" / "partition.checkpoint").write_bytes(b"{not json")
    plog = _reopen(open_log)
    assert "unreadable checkpoint" in caplog.text
    assert plog.log_end_offset == 60 and read_all(plog) == list(range(60))


def test_log_start_offset_survives_a_crash(open_log: OpenLog) -> None:
    plog = open_log(segment_bytes=SEGMENT_BYTES, index_interval_bytes=100)
    for i in range(30):
        plog.append(batch(2), now_ms=i)
    plog.delete_records(33)
    crash(plog)
    plog = _reopen(open_log)
    assert plog.log_start_offset == 33
    assert read_all(plog)[0] == 33


def test_stray_files_are_cleaned(open_log: OpenLog, tmp_path: Path) -> None:
    plog = open_log()
    plog.append(batch(1), now_ms=1)
    plog.close()
    d = tmp_path / "t-0"
    (d / "partition.checkpoint.tmp").write_bytes(b"x")
    (d / f"{500:020d}.index").write_bytes(b"")
    plog = open_log()
    names = sorted(p.name for p in d.iterdir())
    assert not any(re.search(r"\.tmp$|00000500", n) for n in names)
    assert plog.log_end_offset == 1
