"""Decoded partition updates -> row change events: ops, typed values, ranges, dropped columns."""

from __future__ import annotations

import struct

from cassandra_cdc.changes.model import Bound, Deletion, Op, SourcePosition
from cassandra_cdc.commitlog.model import (
    Cell,
    ClusteringKind,
    DeletionTime,
    LivenessInfo,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
)
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import TableSchema

CQL = """
CREATE TYPE ks.addr (street text, zip int);
CREATE TABLE ks.t (
    p int, c1 text, c2 int, v text, n int, tags set<int>, home addr, s text static,
    PRIMARY KEY (p, c1, c2)
) WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC) AND ID = 11111111-2222-1333-8444-555555555555;
ALTER TABLE ks.t DROP old USING TIMESTAMP 1000;
"""
SOURCE = SourcePosition("n1", 7, 99)
INT = struct.Struct(">i")


def _table() -> TableSchema:
    schema, _ = parse_cql_schema(
        CQL.replace("ALTER TABLE ks.t DROP old", "ALTER TABLE ks.t ADD old text;\nALTER TABLE ks.t DROP old"), "t"
    )
    return next(iter(t for t in schema.tables.values() if t.name == "t"))


def test_insert_update_and_delete_ops_with_typed_values() -> None:
    table = _table()
    key = INT.pack(5)
    clustering = (b"a", INT.pack(2))
    insert = Row(clustering, LivenessInfo(100, 60, 1060), cells=[Cell("v", 100, b"hello", 60, 1060)])
    update = Row(clustering, cells=[Cell("n", 101, INT.pack(-3)), Cell("v", 101, b"", 0, 50)])
    delete = Row(clustering, deletion=DeletionTime(102, 40))
    pu = PartitionUpdate(table.id, key, unfiltereds=[insert, update, delete])
    changes = list(update_changes(table, pu, SOURCE))
    assert [c.op for c in changes] == [Op.INSERT, Op.UPDATE, Op.DELETE]
    first = changes[0]
    assert first.partition_key == {"p": 5} and first.clustering == {"c1": "a", "c2": 2}
    assert first.liveness is not None and first.liveness.expires_at == 1060 and first.liveness.ttl == 60
    assert first.cells[0].value == "hello" and first.cells[0].expires_at == 1060
    assert changes[1].cells[0].value == -3
    tombstone = changes[1].cells[1]
    assert tombstone.deleted and tombstone.value is None and tombstone.expires_at is None
    # The tombstone keeps its local deletion time; live and expiring cells have none (expiry is expires_at).
    assert tombstone.local_deletion_time == 50 and tombstone.deletion_time() == 50
    assert first.cells[0].local_deletion_time is None and changes[1].cells[0].local_deletion_time is None
    assert changes[2].row_deletion == Deletion(102, 40)
    assert all(c.source == SOURCE for c in changes)


def test_collection_and_udt_elements_carry_typed_paths() -> None:
    table = _table()
    row = Row(
        (b"a", INT.pack(1)),
        cells=[
            Cell("tags", 10, b"", path=INT.pack(7)),
            Cell("home", 10, INT.pack(75001), path=struct.pack(">h", 1)),
        ],
        complex_deletions={"tags": DeletionTime(9, 1)},
    )
    (change,) = update_changes(table, PartitionUpdate(table.id, INT.pack(1), unfiltereds=[row]), SOURCE)
    tags, home = change.cells
    assert tags.has_path and tags.path == 7 and tags.value is None
    assert home.path == "zip" and home.value == 75001
    assert change.collection_deletions == {"tags": Deletion(9, 1)}


def test_range_bounds_and_boundaries_pair_into_ranges() -> None:
    table = _table()
    d1, d2 = DeletionTime(50, 5), DeletionTime(60, 6)
    markers = [
        RangeTombstoneMarker(ClusteringKind.INCL_START_BOUND, (b"a",), d1),
        RangeTombstoneMarker(ClusteringKind.EXCL_END_INCL_START_BOUNDARY, (b"b", INT.pack(3)), d2, end_deletion=d1),
        RangeTombstoneMarker(ClusteringKind.EXCL_END_BOUND, (b"c",), d2),
    ]
    changes = list(update_changes(table, PartitionUpdate(table.id, INT.pack(1), unfiltereds=markers), SOURCE))
    assert [c.op for c in changes] == [Op.RANGE_DELETE, Op.RANGE_DELETE]
    assert changes[0].range_start == Bound({"c1": "a"}, True)
    assert changes[0].range_end == Bound({"c1": "b", "c2": 3}, False)
    assert changes[0].range_deletion == Deletion(50, 5)
    assert changes[1].range_start == Bound({"c1": "b", "c2": 3}, True)
    assert changes[1].range_end == Bound({"c1": "c"}, False)
    assert changes[1].range_deletion == Deletion(60, 6)


def test_partition_deletion_and_static_row() -> None:
    table = _table()
    static = Row((), cells=[Cell("s", 70, b"st")], is_static=True)
    pu = PartitionUpdate(table.id, INT.pack(3), partition_deletion=DeletionTime(69, 2), static_row=static)
    partition, static_change = update_changes(table, pu, SOURCE)
    assert partition.op is Op.PARTITION_DELETE and partition.partition_deletion == Deletion(69, 2)
    assert static_change.is_static and static_change.clustering == {} and static_change.cells[0].value == "st"


def test_cells_of_a_dropped_column_written_before_the_drop_are_hidden() -> None:
    table = _table()
    assert table.column("old") is None and table.dropped_columns["old"].dropped_time == 1000
    clustering = (b"a", INT.pack(1))
    before = Row(clustering, cells=[Cell("old", 999, b"x")])
    mixed = Row(clustering, cells=[Cell("old", 1000, b"x"), Cell("v", 1000, b"kept")])
    changes = list(update_changes(table, PartitionUpdate(table.id, INT.pack(1), unfiltereds=[before, mixed]), SOURCE))
    assert len(changes) == 1
    assert [c.column for c in changes[0].cells] == ["v"]
