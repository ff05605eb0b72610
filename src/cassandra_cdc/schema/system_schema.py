"""Schemas from a cluster's ``system_schema`` tables (3.0+), live or recorded.

Follows SchemaKeyspace.fetchKeyspace / fetchTable / createColumnFromRow /
createDroppedColumnFromRow: one row per keyspace, table, view, column, user type and dropped
column, types as CQL text. ``schema_from_rows`` is the pure part (tested on recorded rows);
``load_from_cluster`` only runs the SELECTs through the DataStax driver and feeds it the rows.

Row values may come straight from the driver (uuid.UUID, datetime, sets) or from JSON (strings,
ISO-8601 or epoch-millisecond timestamps, lists): both are accepted.

``dropped_columns.dropped_time`` is a CQL timestamp (milliseconds); Cassandra turns it back into
microseconds by multiplying by 1000 (so sub-millisecond drop times are lost in the cluster too).
Tables whose ``flags`` say they are not CQL tables (COMPACT STORAGE: dense, super or not compound)
are reported and left out: their cells are laid out unlike their CQL columns.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cassandra_cdc.schema.loader import SchemaLoadReport
from cassandra_cdc.schema.model import (
    ColumnKind,
    ColumnSchema,
    DroppedColumn,
    Schema,
    TableSchema,
    UserTypeDef,
)
from cassandra_cdc.schema.types import CqlType, parse_cql_type

Row = Mapping[str, Any]
# Rows as held in SystemSchemaRows: plain dicts (driver dict_factory rows, JSON objects).
RowDict = dict[str, Any]

SYSTEM_SCHEMA_TABLES: tuple[str, ...] = (
    "keyspaces",
    "tables",
    "columns",
    "types",
    "dropped_columns",
    "views",
)

_KINDS = {
    "partition_key": ColumnKind.PARTITION_KEY,
    "clustering": ColumnKind.CLUSTERING,
    "regular": ColumnKind.REGULAR,
    "static": ColumnKind.STATIC,
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class SystemSchemaError(ValueError):
    """A system_schema row that cannot be understood; the message names the table and row."""


@dataclass(slots=True)
class SystemSchemaRows:
    """The rows of the system_schema tables this loader reads, as column-name -> value mappings."""

    keyspaces: list[RowDict] = field(default_factory=list)
    tables: list[RowDict] = field(default_factory=list)
    columns: list[RowDict] = field(default_factory=list)
    types: list[RowDict] = field(default_factory=list)
    dropped_columns: list[RowDict] = field(default_factory=list)
    views: list[RowDict] = field(default_factory=list)


def rows_from_json(path: str | Path) -> SystemSchemaRows:
    """Recorded rows: a JSON object with one list of row objects per system_schema table."""
    file_path = Path(path)
    try:
        data = json.loads(file_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SystemSchemaError(f"{file_path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise SystemSchemaError(f"{file_path}: expected a JSON object keyed by system_schema table name")
    rows = SystemSchemaRows()
    for name in SYSTEM_SCHEMA_TABLES:
        table_rows = data.get(name, [])
        if not isinstance(table_rows, list) or not all(isinstance(r, dict) for r in table_rows):
            raise SystemSchemaError(f"{file_path}: {name!r} must be a list of row objects")
        setattr(rows, name, table_rows)
    return rows


# --------------------------------------------------------------------------------------------------
# Row values


def _where(table: str, row: Row) -> str:
    keys = [str(row[k]) for k in ("keyspace_name", "table_name", "view_name", "type_name", "column_name") if k in row]
    return f"system_schema.{table} row {'/'.join(keys) or '?'}"


def _text(table: str, row: Row, column: str) -> str:
    value = row.get(column)
    if not isinstance(value, str):
        raise SystemSchemaError(f"{_where(table, row)}: {column} must be text, got {value!r}")
    return value


def _int(table: str, row: Row, column: str, default: int) -> int:
    value = row.get(column)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise SystemSchemaError(f"{_where(table, row)}: {column} must be an int, got {value!r}")
    return int(value)


def _bool(table: str, row: Row, column: str) -> bool:
    value = row.get(column)
    if value is None:  # cdc is null on tables created before 3.8 or never altered
        return False
    if not isinstance(value, bool):
        raise SystemSchemaError(f"{_where(table, row)}: {column} must be a boolean, got {value!r}")
    return value


def _uuid(table: str, row: Row, column: str) -> uuid.UUID:
    value = row.get(column)
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise SystemSchemaError(f"{_where(table, row)}: {column} must be a uuid, got {value!r}")


def _text_list(table: str, row: Row, column: str) -> list[str]:
    value = row.get(column)
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise SystemSchemaError(f"{_where(table, row)}: {column} must be a list of text, got {value!r}")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise SystemSchemaError(f"{_where(table, row)}: {column} must be a list of text, got {value!r}")
    return items


def _timestamp_micros(table: str, row: Row, column: str) -> int:
    """A CQL timestamp (datetime from the driver, epoch millis or ISO-8601 text) in microseconds."""
    value = row.get(column)
    if isinstance(value, dt.datetime):
        # The driver returns naive datetimes in UTC.
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return (moment - _EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1000
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            moment = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
            return (moment - _EPOCH) // dt.timedelta(microseconds=1)
    raise SystemSchemaError(f"{_where(table, row)}: {column} must be a timestamp, got {value!r}")


# --------------------------------------------------------------------------------------------------
# Building the schema


class _UserTypes:
    """Resolves user types on demand: system_schema.types is ordered by name, not by dependency."""

    def __init__(self, rows: Sequence[Row], report: SchemaLoadReport) -> None:
        self.rows: dict[tuple[str, str], Row] = {}
        for row in rows:
            key = (_text("types", row, "keyspace_name"), _text("types", row, "type_name"))
            self.rows[key] = row
        self.report = report
        self.done: dict[tuple[str, str], UserTypeDef] = {}
        self.in_progress: set[tuple[str, str]] = set()

    def __call__(self, keyspace: str | None, name: str) -> UserTypeDef | None:
        if keyspace is None:
            return None
        return self.resolve((keyspace, name))

    def resolve(self, key: tuple[str, str]) -> UserTypeDef | None:
        if key in self.done:
            return self.done[key]
        row = self.rows.get(key)
        if row is None:
            return None
        if key in self.in_progress:
            raise SystemSchemaError(f"{_where('types', row)}: user type refers to itself")
        self.in_progress.add(key)
        try:
            names = _text_list("types", row, "field_names")
            type_texts = _text_list("types", row, "field_types")
            if len(names) != len(type_texts):
                raise SystemSchemaError(
                    f"{_where('types', row)}: {len(names)} field_names but {len(type_texts)} field_types"
                )
            field_types = [parse_cql_type(text, self, key[0]) for text in type_texts]
        finally:
            self.in_progress.discard(key)
        udt = UserTypeDef(key[0], key[1], names, field_types)
        self.done[key] = udt
        return udt

    def all(self) -> dict[tuple[str, str], UserTypeDef]:
        for key in self.rows:
            try:
                self.resolve(key)
            except ValueError as exc:
                self.report.skip(f"user type {key[0]}.{key[1]}", str(exc))
        return dict(self.done)


class _Skip(Exception):
    """A table that cannot be built; the message says why."""


def _compact_flags(table: str, row: Row) -> list[str] | None:
    """The flags of a non-CQL (COMPACT STORAGE) table, None for a CQL table.

    Follows TableMetadata.Flag.isCQLTable: compound, neither dense nor super. Rows without flags
    (views, hand-written fixtures) count as CQL tables.
    """
    if row.get("flags") is None:
        return None
    flags = sorted(flag.lower() for flag in _text_list(table, row, "flags"))
    if "compound" in flags and "dense" not in flags and "super" not in flags:
        return None
    return flags


def _build_columns(
    qualified: str, column_rows: list[Row], user_types: _UserTypes, report: SchemaLoadReport
) -> list[ColumnSchema]:
    columns: list[ColumnSchema] = []
    for row in column_rows:
        name = _text("columns", row, "column_name")
        kind_text = _text("columns", row, "kind").lower()
        kind = _KINDS.get(kind_text)
        if kind is None:
            raise SystemSchemaError(f"{_where('columns', row)}: unknown column kind {kind_text!r}")
        type_text = _text("columns", row, "type")
        cql_type = _parse_type(qualified, name, type_text, user_types, report)
        position = _int("columns", row, "position", -1)
        order = str(row.get("clustering_order") or "none").lower()
        columns.append(
            ColumnSchema(
                name,
                cql_type,
                kind,
                max(position, 0) if kind in (ColumnKind.REGULAR, ColumnKind.STATIC) else position,
                reversed=order == "desc",
            )
        )
    for kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING):
        positions = sorted(c.position for c in columns if c.kind is kind)
        if positions != list(range(len(positions))):
            raise SystemSchemaError(f"{qualified}: {kind.value} column positions {positions} are not 0..n-1")
    if not any(c.kind is ColumnKind.PARTITION_KEY for c in columns):
        raise _Skip("no partition key column in system_schema.columns")
    return columns


def _parse_type(qualified: str, column: str, text: str, user_types: _UserTypes, report: SchemaLoadReport) -> CqlType:
    keyspace = qualified.split(".", 1)[0]
    try:
        return parse_cql_type(text, user_types, keyspace)
    except ValueError as exc:
        report.unknown_types.append(f"{qualified}.{column}: {text}: {exc}")
        raise _Skip(f"cannot parse type {text!r} of column {column}: {exc}") from exc


def _build_dropped(
    qualified: str, rows: list[Row], user_types: _UserTypes, report: SchemaLoadReport
) -> dict[str, DroppedColumn]:
    dropped: dict[str, DroppedColumn] = {}
    for row in rows:
        name = _text("dropped_columns", row, "column_name")
        cql_type = _parse_type(qualified, name, _text("dropped_columns", row, "type"), user_types, report)
        kind_text = str(row.get("kind") or "regular").lower()  # kind is absent in early 3.x rows
        kind = _KINDS.get(kind_text)
        if kind is None:
            raise SystemSchemaError(f"{_where('dropped_columns', row)}: unknown column kind {kind_text!r}")
        micros = _timestamp_micros("dropped_columns", row, "dropped_time")
        dropped[name] = DroppedColumn(name, cql_type, micros, kind)
    return dropped


def schema_from_rows(
    rows: SystemSchemaRows, source: str = "system_schema", keyspaces: Iterable[str] | None = None
) -> tuple[Schema, SchemaLoadReport]:
    """Build a Schema from system_schema rows; tables that cannot be built are reported, not raised.

    ``keyspaces`` limits the result to those keyspaces (default: all). Malformed rows (a missing
    id, a bad kind) raise SystemSchemaError naming the table and row.
    """
    wanted = set(keyspaces) if keyspaces is not None else None

    def keep(table: str, row: Row) -> bool:
        return wanted is None or _text(table, row, "keyspace_name") in wanted

    report = SchemaLoadReport(source=source)
    schema = Schema()
    schema.keyspaces.update(_text("keyspaces", r, "keyspace_name") for r in rows.keyspaces if keep("keyspaces", r))

    user_types = _UserTypes([r for r in rows.types if keep("types", r)], report)
    schema.user_types.update(user_types.all())

    columns_by_table: dict[tuple[str, str], list[Row]] = {}
    for row in rows.columns:
        if keep("columns", row):
            key = (_text("columns", row, "keyspace_name"), _text("columns", row, "table_name"))
            columns_by_table.setdefault(key, []).append(row)
    dropped_by_table: dict[tuple[str, str], list[Row]] = {}
    for row in rows.dropped_columns:
        if keep("dropped_columns", row):
            key = (
                _text("dropped_columns", row, "keyspace_name"),
                _text("dropped_columns", row, "table_name"),
            )
            dropped_by_table.setdefault(key, []).append(row)

    entries = [("tables", "table_name", row) for row in rows.tables if keep("tables", row)]
    entries += [("views", "view_name", row) for row in rows.views if keep("views", row)]
    for table, name_column, row in entries:
        keyspace = _text(table, row, "keyspace_name")
        name = _text(table, row, name_column)
        qualified = f"{keyspace}.{name}"
        table_id = _uuid(table, row, "id")
        is_view = table == "views"
        try:
            compact = None if is_view else _compact_flags(table, row)
            if compact is not None:
                raise _Skip(f"COMPACT STORAGE table (flags {compact}) is not supported")
            column_rows = columns_by_table.get((keyspace, name), [])
            if not column_rows:
                raise _Skip("no rows in system_schema.columns")
            columns = _build_columns(qualified, column_rows, user_types, report)
            dropped = _build_dropped(qualified, dropped_by_table.get((keyspace, name), []), user_types, report)
        except _Skip as exc:
            report.skip(f"{'view' if is_view else 'table'} {qualified}", str(exc))
            report.unsupported_table_ids[table_id] = f"{qualified}: {exc}"
            continue
        schema_table = TableSchema(
            keyspace=keyspace,
            name=name,
            id=table_id,
            columns=columns,
            dropped_columns=dropped,
            cdc=_bool(table, row, "cdc"),
            gc_grace_seconds=_int(table, row, "gc_grace_seconds", 864000),
            default_time_to_live=_int(table, row, "default_time_to_live", 0),
        )
        schema_table.is_view = is_view
        if table_id in schema.tables:
            other = schema.tables[table_id]
            raise SystemSchemaError(f"{qualified} and {other.qualified_name} have the same id {table_id}")
        schema.keyspaces.add(keyspace)
        schema.add(schema_table)
    return schema, report


# --------------------------------------------------------------------------------------------------
# Live cluster


class _Session(Protocol):
    def execute(self, query: str) -> Iterable[Any]: ...


def fetch_rows(session: _Session, keyspaces: Iterable[str] | None = None) -> SystemSchemaRows:
    """SELECT the system_schema tables through a driver session (rows as mappings or named tuples)."""
    wanted = set(keyspaces) if keyspaces is not None else None
    rows = SystemSchemaRows()
    for name in SYSTEM_SCHEMA_TABLES:
        result: list[RowDict] = []
        for raw in session.execute(f"SELECT * FROM system_schema.{name}"):
            row: RowDict = dict(raw) if isinstance(raw, Mapping) else dict(raw._asdict())
            if wanted is None or row.get("keyspace_name") in wanted:
                result.append(row)
        setattr(rows, name, result)
    return rows


def load_from_cluster(
    contact_points: Sequence[str],
    port: int = 9042,
    *,
    username: str | None = None,
    password: str | None = None,
    ssl_context: Any = None,
    keyspaces: Iterable[str] | None = None,
    connect_timeout: float = 10.0,
) -> tuple[Schema, SchemaLoadReport]:
    """Read the schema of a live cluster (needs the ``cluster`` extra: cassandra-driver)."""
    try:
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import Cluster
        from cassandra.query import dict_factory
    except ImportError as exc:
        raise RuntimeError(
            "loading the schema from a cluster needs the DataStax driver: "
            "pip install 'cassandra-cdc[cluster]' (cassandra-driver)"
        ) from exc
    auth = PlainTextAuthProvider(username=username, password=password or "") if username is not None else None
    cluster = Cluster(
        list(contact_points),
        port=port,
        auth_provider=auth,
        ssl_context=ssl_context,
        connect_timeout=connect_timeout,
    )
    try:
        session = cluster.connect()
        session.row_factory = dict_factory
        rows = fetch_rows(session, keyspaces)
    finally:
        cluster.shutdown()
    where = f"system_schema at {','.join(contact_points)}:{port}"
    return schema_from_rows(rows, source=where, keyspaces=keyspaces)
