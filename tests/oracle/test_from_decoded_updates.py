"""The oracle fed with events exactly as commitlog/to_changes.py makes them from decoded updates.

The updates are written by hand with Cassandra's byte encodings (int: 4 bytes big-endian; UDT cell
path: the field index as a 2-byte short; counter context: header count, global mark -32768 + index,
then id/clock/count), so the oracle is checked against the shapes real events have.
"""

from __future__ import annotations

import uuid

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.commitlog.model import (
    LIVE,
    Cell,
    ClusteringKind,
    DeletionTime,
    LivenessInfo,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
)
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import TableSchema

from .helpers import KS, make_table

SOURCE = SourcePosition("n1", 1, 0)
UDT = T.UserType(KS, "pt", ["x", "y"], [T.INT, T.TEXT])
TABLE = make_table(
    "decoded",
    [("id", T.INT)],
    [("c", T.INT, True)],
    [("v", T.TEXT), ("l", T.ListType(T.INT)), ("s", T.SetType(T.TEXT)), ("m", T.MapType(T.INT, T.TEXT)), ("u", UDT)],
    static=[("st", T.INT)],
)
COUNTERS = make_table("decoded_counts", [("id", T.INT)], regular=[("n", T.COUNTER)])

PK = b"\x00\x00\x00\x01"


def i32(n: int) -> bytes:
    return n.to_bytes(4, "big", signed=True)


def feed(oracle: Oracle, table: TableSchema, *updates: PartitionUpdate) -> None:
    for update in updates:
        oracle.apply_all(update_changes(table, update, SOURCE))


def test_rows_collections_udt_statics_and_range_tombstone() -> None:
    # list cell paths: version-1 timeuuids; time 2 sorts before time 3 whatever the node bytes.
    early = uuid.UUID("00000002-0000-1000-8000-ffffffffffff").bytes
    late = uuid.UUID("00000003-0000-1000-8000-000000000000").bytes
    rows = [
        Row(
            (i32(c),),
            liveness=LivenessInfo(10),
            cells=[
                Cell("v", 10, f"row{c}".encode()),
                Cell("l", 10, i32(30), path=late),
                Cell("l", 10, i32(20), path=early),
                Cell("s", 10, b"", path=b"b"),
                Cell("s", 10, b"", path=b"a"),
                Cell("m", 10, b"one", path=i32(1)),
                Cell("u", 10, b"why", path=b"\x00\x01"),
            ],
        )
        for c in (1, 2, 3)
    ]
    write = PartitionUpdate(TABLE.id, PK, static_row=Row((), cells=[Cell("st", 10, i32(7))], is_static=True))
    write.unfiltereds.extend(rows)
    # c is DESC: rows are stored 3, 2, 1. Delete c in [2, 1) -> (start c=2 inclusive, end c=1 exclusive).
    delete = PartitionUpdate(
        TABLE.id,
        PK,
        unfiltereds=[
            RangeTombstoneMarker(ClusteringKind.INCL_START_BOUND, (i32(2),), DeletionTime(20, 100)),
            RangeTombstoneMarker(ClusteringKind.EXCL_END_BOUND, (i32(1),), DeletionTime(20, 100)),
        ],
    )
    # Remove one set element and overwrite the map (complex deletion at 29, new element at 30).
    edit = PartitionUpdate(
        TABLE.id,
        PK,
        unfiltereds=[
            Row(
                (i32(1),),
                cells=[Cell("s", 30, b"", local_deletion_time=100, path=b"a"), Cell("m", 30, b"two", path=i32(2))],
                complex_deletions={"m": DeletionTime(29, 100)},
            )
        ],
    )
    oracle = Oracle([TABLE])
    feed(oracle, TABLE, edit, delete, write, write)
    got = oracle.rows(KS, "decoded", now=0)
    assert got == [
        {
            "id": 1,
            "c": 3,
            "st": 7,
            "v": "row3",
            "l": [20, 30],
            "s": ["a", "b"],
            "m": {1: "one"},
            "u": {"x": None, "y": "why"},
        },
        {
            "id": 1,
            "c": 1,
            "st": 7,
            "v": "row1",
            "l": [20, 30],
            "s": ["b"],
            "m": {2: "two"},
            "u": {"x": None, "y": "why"},
        },
    ]


def test_partition_deletion_and_ttl() -> None:
    write = PartitionUpdate(
        TABLE.id,
        PK,
        unfiltereds=[Row((i32(1),), liveness=LivenessInfo(10, 60, 1060), cells=[Cell("v", 10, b"a", 60, 1060)])],
    )
    oracle = Oracle([TABLE])
    feed(oracle, TABLE, write)
    assert [r["v"] for r in oracle.rows(KS, "decoded", now=1059)] == ["a"]
    assert oracle.rows(KS, "decoded", now=1060) == []
    feed(oracle, TABLE, PartitionUpdate(TABLE.id, PK, partition_deletion=DeletionTime(10, 50)))
    assert oracle.rows(KS, "decoded", now=0) == []


def _context(counter_id: uuid.UUID, clock: int, count: int) -> bytes:
    # One global shard: header count 1, mark 0x8000 (-32768 + index 0), then the shard.
    return b"\x00\x01\x80\x00" + counter_id.bytes + clock.to_bytes(8, "big") + count.to_bytes(8, "big", signed=True)


def test_counters_from_contexts() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    updates = [
        PartitionUpdate(COUNTERS.id, PK, unfiltereds=[Row((), cells=[Cell("n", ts, _context(cid, clock, count))])])
        for ts, cid, clock, count in [(10, a, 1, 5), (11, a, 2, 8), (12, b, 1, -3)]
    ]
    oracle = Oracle([COUNTERS])
    feed(oracle, COUNTERS, *reversed(updates))
    assert oracle.rows(KS, "decoded_counts", now=0) == [{"id": 1, "n": 5}]
    tombstone = Row((), deletion=LIVE, cells=[Cell("n", 1, b"", local_deletion_time=100)])
    feed(oracle, COUNTERS, PartitionUpdate(COUNTERS.id, PK, unfiltereds=[tombstone]))
    assert oracle.rows(KS, "decoded_counts", now=0) == []
