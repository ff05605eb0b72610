"""Cassandra's value order: hand-checked cases for the comparators the oracle needs."""

from __future__ import annotations

import datetime
import uuid

from cassandra_cdc.oracle.ordering import clustering_comparator, comparator, compare_timeuuid, compare_uuid
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnKind, ColumnSchema


def tu(time: int, node: int = 1, clock_seq: int = 0) -> uuid.UUID:
    """A version-1 uuid with the given 60-bit timestamp."""
    return uuid.UUID(
        fields=(
            time & 0xFFFFFFFF,
            (time >> 32) & 0xFFFF,
            ((time >> 48) & 0x0FFF) | 0x1000,
            0x80 | (clock_seq >> 8),
            clock_seq & 0xFF,
            node,
        )
    )


def test_timeuuid_orders_by_time_not_by_bytes() -> None:
    # time_low is the first field: 0x00000002 with a higher time_mid must still sort after.
    early, late = tu(0x0001_00000002), tu(0x0002_00000001)
    assert early.bytes > late.bytes  # the bytes alone would order them the other way
    assert compare_timeuuid(early, late) < 0
    assert compare_timeuuid(late, early) > 0
    assert compare_timeuuid(early, early) == 0


def test_timeuuid_equal_times_compare_low_bytes_signed() -> None:
    # clock_seq_hi byte 0x80|x: node 0x80.. (negative as signed) sorts before node 0x01..
    a = tu(5, node=0x800000000000)
    b = tu(5, node=0x010000000000)
    assert compare_timeuuid(a, b) < 0


def test_uuid_orders_by_version_first() -> None:
    v4 = uuid.UUID("00000000-0000-4000-8000-000000000000")
    v1 = tu(2**59)
    assert compare_uuid(v1, v4) < 0
    assert compare_uuid(uuid.UUID("ffffffff-ffff-4fff-8fff-ffffffffffff"), v4) > 0


def test_text_orders_by_utf8_bytes() -> None:
    cmp = comparator(T.TEXT)
    # UTF8Type compares the encoded bytes unsigned: "é" (C3 A9) after "z" (7A), U+FF21 (EF BC A1)
    # before U+1F600 (F0 9F 98 80), which a UTF-16 (Java String) order would reverse.
    assert cmp("z", "é") < 0
    assert cmp("\uff21", "\U0001f600") < 0
    assert cmp("", "a") < 0


def test_numbers_floats_dates() -> None:
    assert comparator(T.INT)(-1, 0) < 0
    assert comparator(T.VARINT)(-(10**30), 1) < 0
    f = comparator(T.DOUBLE)
    assert f(-0.0, 0.0) < 0
    assert f(float("nan"), float("inf")) > 0
    assert f(float("nan"), float("nan")) == 0
    d = comparator(T.DATE)
    assert d(datetime.date(1969, 12, 31), T.CqlDate(0)) < 0
    ts = comparator(T.TIMESTAMP)
    assert ts(T.CqlTimestamp(-(10**15)), datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)) < 0


def test_none_sorts_first() -> None:
    assert comparator(T.INT)(None, -(2**31)) < 0
    assert comparator(T.INT)(None, None) == 0


def test_frozen_collections_and_tuples() -> None:
    lst = comparator(T.ListType(T.INT, frozen=True))
    assert lst([1, 2], [1, 3]) < 0
    assert lst([1, 2], [1, 2, 0]) < 0
    m = comparator(T.MapType(T.INT, T.TEXT, frozen=True))
    assert m({1: "b"}, {1: "a", 2: "a"}) > 0
    tup = comparator(T.TupleType([T.INT, T.TEXT]))
    assert tup((1, None), (1, "a")) < 0


def test_clustering_desc_column_is_reversed() -> None:
    cols = [
        ColumnSchema("a", T.INT, ColumnKind.CLUSTERING, 0),
        ColumnSchema("b", T.INT, ColumnKind.CLUSTERING, 1, reversed=True),
    ]
    cmp = clustering_comparator(cols)
    assert cmp((1, 5), (2, 0)) < 0
    assert cmp((1, 5), (1, 4)) < 0
    assert cmp((1,), (1, 4)) == 0
