"""GTID sets of the offsets: MySQL sets keep every interval per source (a set with holes, e.g. after
a filtered or skipped transaction, stays exact); MariaDB keeps the last GTID per domain."""

from __future__ import annotations

from connectors.mysql.task import GtidSet

A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
B = "4f22fa47-71ca-11e1-9e33-c80aa9429562"


def test_mysql_sets_keep_several_intervals_per_uuid_and_merge_adjacent_ones() -> None:
    gtids = GtidSet(f"{A}:1-5:7-9:12,\n{B}:1-3", mariadb=False)
    assert str(gtids) == f"{A}:1-5:7-9:12,{B}:1-3"
    gtids.add(f"{A}:10")
    assert str(gtids) == f"{A}:1-5:7-10:12,{B}:1-3"
    gtids.add(f"{A}:6")  # closes the hole
    assert str(gtids) == f"{A}:1-10:12,{B}:1-3"
    gtids.add(f"{A}:11")
    assert str(gtids) == f"{A}:1-12,{B}:1-3"
    gtids.add(f"{A}:3")  # already in the set
    assert str(gtids) == f"{A}:1-12,{B}:1-3"
    gtids.add(f"{B}:7")
    gtids.add("5a33fa47-71ca-11e1-9e33-c80aa9429562:1")
    assert str(gtids) == f"{A}:1-12,{B}:1-3:7,5a33fa47-71ca-11e1-9e33-c80aa9429562:1"


def test_mysql_set_from_empty_and_before_the_first_interval() -> None:
    gtids = GtidSet("", mariadb=False)
    gtids.add(f"{A}:5")
    gtids.add(f"{A}:4")
    gtids.add(f"{A}:1")
    assert str(gtids) == f"{A}:1:4-5"


def test_mariadb_sets_keep_the_last_gtid_per_domain() -> None:
    gtids = GtidSet("0-1-10,1-2-5", mariadb=True)
    gtids.add("0-1-11")
    gtids.add("2-1-1")
    assert str(gtids) == "0-1-11,1-2-5,2-1-1"
