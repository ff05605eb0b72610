"""Turns decoded PartitionUpdates into row-level change events with typed values.

One PartitionUpdate becomes: a partition_delete event if it carries a partition deletion, one
event per row (static row included) and one range_delete event per range tombstone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cassandra_cdc.changes.model import (
    Bound,
    CellChange,
    CounterShard,
    Deletion,
    Liveness,
    Op,
    RowChange,
    SourcePosition,
)
from cassandra_cdc.commitlog.counters import read_counter_shards
from cassandra_cdc.commitlog.model import (
    NO_DELETION_TIME,
    Cell,
    Clustering,
    ClusteringKind,
    DeletionTime,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
)
from cassandra_cdc.schema.model import ColumnSchema, TableSchema
from cassandra_cdc.schema.types import CqlType, UserType, split_composite_key


class ChangeConversionError(ValueError):
    """A value in a decoded update does not deserialise with its column's type."""


def _deletion(dt: DeletionTime) -> Deletion | None:
    return None if dt.is_live() else Deletion(dt.marked_for_delete_at, dt.local_deletion_time)


def _typed(type_: CqlType, raw: bytes | None, table: TableSchema, what: str) -> Any:
    if raw is None:
        return None
    try:
        return type_.deserialize(raw)
    except ValueError as exc:
        raise ChangeConversionError(f"{table.qualified_name}: {what}: {exc}") from exc


def partition_key_values(table: TableSchema, raw_key: bytes) -> dict[str, Any]:
    columns = table.partition_key
    if len(columns) == 1:
        return {columns[0].name: _typed(columns[0].type, raw_key, table, f"partition key {columns[0].name}")}
    try:
        parts = split_composite_key(raw_key, len(columns))
    except ValueError as exc:
        raise ChangeConversionError(f"{table.qualified_name}: composite partition key: {exc}") from exc
    return {
        col.name: _typed(col.type, part, table, f"partition key {col.name}")
        for col, part in zip(columns, parts, strict=True)
    }


def clustering_values(table: TableSchema, clustering: Clustering) -> dict[str, Any]:
    columns = table.clustering
    return {
        col.name: _typed(col.type, raw, table, f"clustering column {col.name}")
        for col, raw in zip(columns, clustering, strict=False)
    }


def _cell_change(table: TableSchema, column: ColumnSchema | None, cell: Cell) -> CellChange:
    if column is None:
        raise ChangeConversionError(f"{table.qualified_name}: cell of unknown column {cell.column!r}")
    deleted = cell.is_tombstone()
    expires_at = cell.local_deletion_time if cell.is_expiring() else None
    path: Any = None
    value_type = column.type
    if cell.path is not None:
        path = _typed(column.type.cell_path_type(), cell.path, table, f"element key of {column.name}")
        try:
            value_type = column.type.cell_value_type(cell.path)
        except ValueError as exc:
            raise ChangeConversionError(f"{table.qualified_name}: column {column.name}: {exc}") from exc
        if isinstance(column.type, UserType):
            # A non-frozen UDT's cell path is a field index: name the field instead.
            path = column.type.field_names[path]
    shards: tuple[CounterShard, ...] | None = None
    value: Any = None
    if not deleted:
        if column.type.is_counter:
            shards = read_counter_shards(cell.value)
            value = sum(shard.count for shard in shards)
        elif cell.value or value_type.value_length_if_fixed() <= 0:
            value = _typed(value_type, cell.value, table, f"column {column.name}")
    return CellChange(
        column=cell.column,
        value=value,
        timestamp=cell.timestamp,
        ttl=cell.ttl,
        expires_at=expires_at,
        deleted=deleted,
        path=path,
        has_path=cell.path is not None,
        counter_shards=shards,
        raw_value=cell.value,
        local_deletion_time=cell.local_deletion_time if deleted else None,
    )


def _dropped_at(table: TableSchema, column: str, timestamp: int) -> bool:
    """Cassandra hides data of a dropped column written at or before the drop, even once re-added."""
    dropped = table.dropped_columns.get(column)
    return dropped is not None and timestamp <= dropped.dropped_time


def _dropped(table: TableSchema, cell: Cell) -> bool:
    return _dropped_at(table, cell.column, cell.timestamp)


def _row_change(
    table: TableSchema, update: PartitionUpdate, row: Row, key: dict[str, Any], source: SourcePosition
) -> RowChange:
    columns = {c.name: c for c in table.columns}
    row_deletion = _deletion(row.deletion)
    liveness = None
    if not row.liveness.is_empty():
        expires = row.liveness.local_expiration_time
        liveness = Liveness(
            row.liveness.timestamp,
            row.liveness.ttl,
            expires if row.liveness.is_expiring() and expires != NO_DELETION_TIME else None,
        )
    if row_deletion is not None:
        op = Op.DELETE
    elif liveness is not None:
        op = Op.INSERT
    else:
        op = Op.UPDATE
    return RowChange(
        keyspace=table.keyspace,
        table=table.name,
        table_id=table.id,
        op=op,
        source=source,
        partition_key=key,
        clustering={} if row.is_static else clustering_values(table, row.clustering),
        is_static=row.is_static,
        liveness=liveness,
        row_deletion=row_deletion,
        shadowable=row.shadowable,
        cells=[_cell_change(table, columns.get(cell.column), cell) for cell in row.cells if not _dropped(table, cell)],
        collection_deletions={
            name: Deletion(dt.marked_for_delete_at, dt.local_deletion_time)
            for name, dt in row.complex_deletions.items()
            if not _dropped_at(table, name, dt.marked_for_delete_at)
        },
    )


def _bound(table: TableSchema, marker: RangeTombstoneMarker, *, as_start: bool) -> Bound:
    kind = marker.kind
    if as_start:
        inclusive = kind in (ClusteringKind.INCL_START_BOUND, ClusteringKind.EXCL_END_INCL_START_BOUNDARY)
    else:
        inclusive = kind in (ClusteringKind.INCL_END_BOUND, ClusteringKind.INCL_END_EXCL_START_BOUNDARY)
    return Bound(clustering_values(table, marker.clustering), inclusive)


def update_changes(table: TableSchema, update: PartitionUpdate, source: SourcePosition) -> Iterator[RowChange]:
    """Every change one PartitionUpdate makes, in the order Cassandra serialised them."""
    key = partition_key_values(table, update.partition_key)
    partition_deletion = _deletion(update.partition_deletion)
    if partition_deletion is not None:
        yield RowChange(
            keyspace=table.keyspace,
            table=table.name,
            table_id=table.id,
            op=Op.PARTITION_DELETE,
            source=source,
            partition_key=key,
            partition_deletion=partition_deletion,
        )
    if update.static_row is not None:
        static = _row_change(table, update, update.static_row, key, source)
        if static.cells or static.collection_deletions or static.row_deletion:
            yield static
    open_marker: RangeTombstoneMarker | None = None
    for unfiltered in update.unfiltereds:
        if isinstance(unfiltered, Row):
            change = _row_change(table, update, unfiltered, key, source)
            if change.cells or change.collection_deletions or change.row_deletion or change.liveness:
                yield change
            continue
        marker = unfiltered
        if marker.kind.is_start():
            open_marker = marker
            continue
        closing = marker.end_deletion if marker.kind.is_boundary() else marker.deletion
        start = _bound(table, open_marker, as_start=True) if open_marker is not None else Bound({}, True)
        deletion = _deletion(closing) if closing is not None else None
        yield RowChange(
            keyspace=table.keyspace,
            table=table.name,
            table_id=table.id,
            op=Op.RANGE_DELETE,
            source=source,
            partition_key=key,
            range_start=start,
            range_end=_bound(table, marker, as_start=False),
            range_deletion=deletion,
        )
        open_marker = marker if marker.kind.is_boundary() else None
