"""Shared helpers of the PostgreSQL/TimescaleDB sink tests: workloads, view reads, oracle comparison."""

from __future__ import annotations

import datetime
import decimal
import struct
import uuid
from collections.abc import Iterable
from typing import Any

import psycopg

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import Schema, TableSchema
from tests.workload import generated_changes


def workload_changes(
    schema: Schema, count: int, *, seed: int, now: int, node: str = "n1", **kwargs: Any
) -> list[RowChange]:
    """``count`` mutations of a seeded workload (tables in name order), as change events."""
    tables = sorted(schema.tables.values(), key=lambda t: t.name)
    return generated_changes(schema, count, seed=seed, node=node, tables=tables, first_position=100, now=now, **kwargs)


def db_now(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT floor(extract(epoch FROM now()))::bigint").fetchone()
    assert row is not None
    return int(row[0])


def _normal(type_: T.CqlType, value: Any) -> Any:
    """A value as the view returns it, from the oracle's Python value (None stays None)."""
    if value is None:
        return None
    if type_ == T.FLOAT:
        return struct.pack(">f", value)
    if type_ in (T.VARINT, T.DECIMAL):
        return decimal.Decimal(value)
    if type_ == T.DURATION:
        return type_.to_json(value)
    if type_ in (T.TEXT, T.ASCII, T.BLOB, T.BOOLEAN, T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.COUNTER, T.DOUBLE):
        return value
    if type_ in (T.UUID, T.TIMEUUID, T.DATE, T.TIME, T.TIMESTAMP):
        return value
    if type_ == T.INET:
        return str(value)
    if isinstance(type_, T.VectorType) and type_.element in (T.FLOAT, T.DOUBLE):
        return [struct.pack(">f", v) if type_.element == T.FLOAT else v for v in value]
    return type_.to_json(value)


def _normal_db(type_: T.CqlType, value: Any) -> Any:
    if value is None:
        return None
    if type_ == T.FLOAT:
        return struct.pack(">f", value)
    if type_ == T.INET:
        return str(value)
    if isinstance(type_, T.VectorType) and type_.element == T.FLOAT:
        return [struct.pack(">f", v) for v in value]
    return value


def _key(table: TableSchema, row: dict[str, Any]) -> str:
    return repr([row[c.name] for c in (*table.partition_key, *table.clustering)])


def view_rows(
    conn: psycopg.Connection[Any], table: TableSchema, schema_name: str | None = None
) -> list[dict[str, Any]]:
    """The final-state view's rows, normalised, sorted by key."""
    names = [c.name for c in table.columns]
    cols = ", ".join(f'"{n}"' for n in names)
    with conn.cursor() as cur:
        cur.execute(f'SELECT {cols} FROM "{schema_name or table.keyspace}"."{table.name}"')
        rows = cur.fetchall()
    out = [{c.name: _normal_db(c.type, v) for c, v in zip(table.columns, row, strict=True)} for row in rows]
    return sorted(out, key=lambda r: _key(table, r))


def oracle_rows(oracle: Oracle, table: TableSchema, now: int) -> list[dict[str, Any]]:
    rows = oracle.rows(table.keyspace, table.name, now=now)
    out = [{c.name: _normal(c.type, r[c.name]) for c in table.columns} for r in rows]
    return sorted(out, key=lambda r: _key(table, r))


def assert_matches_oracle(
    conn: psycopg.Connection[Any],
    tables: Iterable[TableSchema],
    changes: list[RowChange],
    rules: str = "4.0+",
    schema_name: str | None = None,
) -> int:
    """The view of every table equals the oracle's rows (at the database's clock); returns rows compared."""
    tables = list(tables)
    oracle = Oracle(tables, conflict_rules=rules)  # type: ignore[arg-type]
    oracle.apply_all(changes)
    total = 0
    for table in tables:
        now = db_now(conn)
        got = view_rows(conn, table, schema_name)
        want = oracle_rows(oracle, table, now)
        keys_got = [_key(table, r) for r in got]
        assert len(keys_got) == len(set(keys_got)), f"{table.name}: duplicate rows in the view"
        if got != want:
            by_key = {_key(table, r): r for r in want}
            for r in got:
                w = by_key.pop(_key(table, r), None)
                if w != r:
                    diff = {k: (r[k], None if w is None else w[k]) for k in r if w is None or r[k] != w[k]}
                    raise AssertionError(f"{table.name} row {_key(table, r)} differs (got, want): {diff}")
            raise AssertionError(f"{table.name}: rows missing from the view: {list(by_key)[:5]}")
        total += len(got)
    return total


def clock_now(conn: psycopg.Connection[Any]) -> datetime.datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


__all__ = ["assert_matches_oracle", "clock_now", "db_now", "oracle_rows", "uuid", "view_rows", "workload_changes"]
