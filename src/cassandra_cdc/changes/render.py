"""Renders row changes as the JSON objects `cassandra-cdc inspect` prints, one per changed row.

Keys: segment, position, keyspace, table, op, key, cells, and the deletion info that applies
(row_deletion, range, partition_deletion) plus the INSERT's primary-key liveness; a cell tombstone
also shows its local_deletion_time. Values use each
CQL type's natural JSON (schema.types); times are Cassandra's: writetime in microseconds since the
epoch, expires_at and local deletion times as ISO-8601 UTC instants.
"""

from __future__ import annotations

import datetime
from typing import Any

from cassandra_cdc.changes.model import Bound, CellChange, Deletion, RowChange
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.schema.types import CqlType, ListType, MapType, SetType, UserType


def iso_seconds(seconds: int) -> str:
    """An instant in whole seconds as ISO-8601 UTC (Cassandra's local deletion and expiry times)."""
    try:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return str(seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _deletion_json(deletion: Deletion) -> dict[str, Any]:
    return {"deleted_at": deletion.timestamp, "local_deletion_time": iso_seconds(deletion.local_deletion_time)}


def _cell_json(type_: CqlType | None, cell: CellChange) -> dict[str, Any]:
    value = None
    if type_ is not None and cell.value is not None:
        value = type_.to_json(cell.value)
    rendered: dict[str, Any] = {
        "value": value,
        "writetime": cell.timestamp,
        "ttl": cell.ttl or None,
        "expires_at": iso_seconds(cell.expires_at) if cell.expires_at is not None else None,
        "deleted": cell.deleted,
    }
    if cell.deleted and cell.local_deletion_time is not None:
        rendered["local_deletion_time"] = iso_seconds(cell.local_deletion_time)
    if cell.counter_shards is not None:
        rendered["shards"] = [
            {"counter_id": str(s.counter_id), "clock": s.clock, "count": s.count, "kind": s.kind}
            for s in cell.counter_shards
        ]
    return rendered


def _collection_value(type_: CqlType, cells: list[CellChange]) -> Any:
    """The collection the live elements of one change make up, in the type's own Python form."""
    live = [c for c in cells if not c.deleted]
    if isinstance(type_, ListType):
        return [c.value for c in live]
    if isinstance(type_, SetType):
        return [c.path for c in live]
    if isinstance(type_, MapType):
        try:
            return {c.path: c.value for c in live}
        except TypeError:
            return [(c.path, c.value) for c in live]
    if isinstance(type_, UserType):
        return {name: next((c.value for c in live if c.path == name), None) for name in type_.field_names}
    raise TypeError(f"{type_.cql()} is not a multi-cell type")


def _complex_json(type_: CqlType | None, cells: list[CellChange], deletion: Deletion | None) -> dict[str, Any]:
    element_type: CqlType | None = None
    key_type: CqlType | None = None
    if type_ is not None and type_.is_multi_cell:
        key_type = type_.cell_path_type()
        if isinstance(type_, ListType | SetType | MapType):
            element_type = type_.cell_value_type(b"")
    elements = []
    for cell in cells:
        if isinstance(type_, UserType):
            key_json: Any = cell.path
            value_type: CqlType | None = type_.field_types[type_.field_names.index(cell.path)]
        else:
            key_json = key_type.to_json(cell.path) if key_type is not None and cell.path is not None else None
            value_type = element_type
        element = _cell_json(value_type, cell)
        element["key"] = key_json
        if isinstance(type_, SetType):
            element.pop("value")
        elements.append(element)
    live = [c for c in cells if not c.deleted]
    rendered: dict[str, Any] = {
        "value": type_.to_json(_collection_value(type_, cells)) if type_ is not None and live else None,
        "writetime": max((c.timestamp for c in cells), default=deletion.timestamp if deletion else None),
        "ttl": next((c.ttl for c in live if c.ttl), None),
        "expires_at": next((iso_seconds(c.expires_at) for c in live if c.expires_at is not None), None),
        "deleted": not live,
        "elements": elements,
    }
    if deletion is not None:
        rendered["collection_deletion"] = _deletion_json(deletion)
    return rendered


def _key_json(table: TableSchema, values: dict[str, Any]) -> dict[str, Any]:
    types = {c.name: c.type for c in table.columns}
    return {name: (types[name].to_json(v) if v is not None else None) for name, v in values.items()}


def _bound_json(table: TableSchema, bound: Bound) -> dict[str, Any]:
    return {"clustering": _key_json(table, bound.clustering), "inclusive": bound.inclusive}


def change_to_json(change: RowChange, table: TableSchema, segment: int | str, position: int) -> dict[str, Any]:
    types: dict[str, CqlType] = {d.name: d.type for d in table.dropped_columns.values()}
    types.update({c.name: c.type for c in table.columns})
    cells: dict[str, Any] = {}
    grouped: dict[str, list[CellChange]] = {}
    for cell in change.cells:
        if cell.has_path:
            grouped.setdefault(cell.column, []).append(cell)
        else:
            cells[cell.column] = _cell_json(types.get(cell.column), cell)
    for name in sorted(set(grouped) | set(change.collection_deletions)):
        cells[name] = _complex_json(types.get(name), grouped.get(name, []), change.collection_deletions.get(name))
    rendered: dict[str, Any] = {
        "segment": segment,
        "position": position,
        "keyspace": change.keyspace,
        "table": change.table,
        "op": change.op.value,
        "key": _key_json(table, change.key),
        "cells": cells,
    }
    if change.is_static:
        rendered["static"] = True
    if change.liveness is not None:
        rendered["liveness"] = {
            "writetime": change.liveness.timestamp,
            "ttl": change.liveness.ttl or None,
            "expires_at": iso_seconds(change.liveness.expires_at) if change.liveness.expires_at else None,
        }
    if change.row_deletion is not None:
        rendered["row_deletion"] = {**_deletion_json(change.row_deletion), "shadowable": change.shadowable}
    if change.range_start is not None and change.range_end is not None:
        rendered["range"] = {
            "start": _bound_json(table, change.range_start),
            "end": _bound_json(table, change.range_end),
            **(_deletion_json(change.range_deletion) if change.range_deletion else {}),
        }
    if change.partition_deletion is not None:
        rendered["partition_deletion"] = _deletion_json(change.partition_deletion)
    return rendered
