"""Small builders for the oracle tests: tables, cells and row changes written by hand."""

from __future__ import annotations

import uuid
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
from cassandra_cdc.schema.model import ColumnKind, ColumnSchema, DroppedColumn, TableSchema
from cassandra_cdc.schema.types import CqlType

KS = "ks"
SOURCE = SourcePosition("node1", 1, 0)


def make_table(
    name: str,
    partition: list[tuple[str, CqlType]],
    clustering: list[tuple[str, CqlType, bool]] | None = None,
    regular: list[tuple[str, CqlType]] | None = None,
    static: list[tuple[str, CqlType]] | None = None,
    dropped: dict[str, DroppedColumn] | None = None,
) -> TableSchema:
    columns = [ColumnSchema(n, t, ColumnKind.PARTITION_KEY, i) for i, (n, t) in enumerate(partition)]
    columns += [ColumnSchema(n, t, ColumnKind.CLUSTERING, i, rev) for i, (n, t, rev) in enumerate(clustering or [])]
    columns += [ColumnSchema(n, t, ColumnKind.STATIC) for n, t in static or []]
    columns += [ColumnSchema(n, t, ColumnKind.REGULAR) for n, t in regular or []]
    table_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{KS}.{name}")
    return TableSchema(KS, name, table_id, columns, dropped_columns=dropped or {})


def cell(column: str, value: Any, ts: int, *, ttl: int = 0, expires: int | None = None, raw: bytes = b"") -> CellChange:
    return CellChange(column, value, ts, ttl=ttl, expires_at=expires, raw_value=raw)


def tomb(column: str, ts: int, ldt: int | None = None) -> CellChange:
    return CellChange(column, None, ts, deleted=True, local_deletion_time=ldt)


def elem(
    column: str, path: Any, value: Any, ts: int, *, deleted: bool = False, ttl: int = 0, expires: int | None = None
) -> CellChange:
    return CellChange(
        column, None if deleted else value, ts, ttl=ttl, expires_at=expires, deleted=deleted, path=path, has_path=True
    )


def counter(column: str, ts: int, *shards: tuple[uuid.UUID, int, int, str]) -> CellChange:
    parsed = tuple(CounterShard(cid, clock, count, kind) for cid, clock, count, kind in shards)
    return CellChange(column, sum(s.count for s in parsed), ts, counter_shards=parsed)


def upsert(
    table: TableSchema,
    pk: dict[str, Any],
    ck: dict[str, Any] | None = None,
    *cells: CellChange,
    liveness: Liveness | None = None,
    row_deletion: Deletion | None = None,
    shadowable: bool = False,
    collection_deletions: dict[str, Deletion] | None = None,
    static: bool = False,
) -> RowChange:
    op = Op.DELETE if row_deletion else Op.INSERT if liveness else Op.UPDATE
    return RowChange(
        KS,
        table.name,
        table.id,
        op,
        SOURCE,
        dict(pk),
        dict(ck or {}),
        is_static=static,
        liveness=liveness,
        row_deletion=row_deletion,
        shadowable=shadowable,
        cells=list(cells),
        collection_deletions=dict(collection_deletions or {}),
    )


def insert(
    table: TableSchema,
    pk: dict[str, Any],
    ck: dict[str, Any] | None,
    ts: int,
    *cells: CellChange,
    ttl: int = 0,
    expires: int | None = None,
) -> RowChange:
    return upsert(table, pk, ck, *cells, liveness=Liveness(ts, ttl, expires))


def delete_row(
    table: TableSchema, pk: dict[str, Any], ck: dict[str, Any] | None, ts: int, *, shadowable: bool = False
) -> RowChange:
    return upsert(table, pk, ck, row_deletion=Deletion(ts, 1000), shadowable=shadowable)


def delete_partition(table: TableSchema, pk: dict[str, Any], ts: int, ldt: int = 1000) -> RowChange:
    return RowChange(
        KS, table.name, table.id, Op.PARTITION_DELETE, SOURCE, dict(pk), partition_deletion=Deletion(ts, ldt)
    )


def delete_range(
    table: TableSchema,
    pk: dict[str, Any],
    start: dict[str, Any],
    start_inclusive: bool,
    end: dict[str, Any],
    end_inclusive: bool,
    ts: int,
) -> RowChange:
    return RowChange(
        KS,
        table.name,
        table.id,
        Op.RANGE_DELETE,
        SOURCE,
        dict(pk),
        range_start=Bound(dict(start), start_inclusive),
        range_end=Bound(dict(end), end_inclusive),
        range_deletion=Deletion(ts, 1000),
    )
