"""Shared helpers of the ClickHouse sink tests: workloads as change events, and comparing the
sink's final-state view with the oracle."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import math
import uuid
from collections.abc import Iterable
from typing import Any

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.sinks.clickhouse.client import ClickHouseClient
from tests.workload import generated_changes

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def workload_changes(schema: Schema, count: int, *, seed: int, node: str = "n1", **kwargs: Any) -> list[RowChange]:
    """``count`` generated mutations, as change events."""
    return generated_changes(schema, count, seed=seed, node=node, **kwargs)


def engine_now(client: ClickHouseClient) -> int:
    return int(client.query("SELECT toUnixTimestamp(now())")[0][0])


def canon(type_: T.CqlType, value: Any) -> Any:
    """One comparable form of a value, whether the oracle or ClickHouse produced it."""
    if value is None:
        return None
    t = type_
    if isinstance(t, T.ListType | T.SetType | T.VectorType):
        items = [canon(t.element, v) for v in value]
        return items or None
    if isinstance(t, T.MapType):
        pairs = list(value.items()) if isinstance(value, dict) else list(value)
        return [(canon(t.key, k), canon(t.value, v)) for k, v in pairs] or None
    if isinstance(t, T.UserType):
        values = [value.get(n) for n in t.field_names] if isinstance(value, dict) else list(value)
        out = [canon(ft, v) for ft, v in zip(t.field_types, values, strict=False)]
        return out if any(v is not None for v in out) else None
    if isinstance(t, T.TupleType):
        values = list(value.values()) if isinstance(value, dict) else list(value)
        return [canon(e, v) for e, v in zip(t.elements, values, strict=False)]
    if t in (T.TEXT, T.ASCII, T.BLOB) or isinstance(t, T.CustomType):
        return value.encode() if isinstance(value, str) else bytes(value)
    if t in (T.FLOAT, T.DOUBLE):
        return "NaN" if math.isnan(value) else float(value)
    if t == T.DECIMAL:
        return str(decimal.Decimal(value.decode() if isinstance(value, bytes) else str(value)))
    if t == T.INET:
        return value.decode() if isinstance(value, bytes) else str(ipaddress.ip_address(value))
    if t in (T.UUID, T.TIMEUUID):
        return uuid.UUID(str(value))
    if t == T.TIMESTAMP:
        if isinstance(value, T.CqlTimestamp):
            return value.millis
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return round((value - _EPOCH).total_seconds() * 1000)
    if t == T.DURATION:
        if isinstance(value, dict):
            return (value["months"], value["days"], value["nanoseconds"])
        if isinstance(value, tuple):
            return value
        return (value.months, value.days, value.nanoseconds)
    return value


def view_rows(client: ClickHouseClient, table: TableSchema) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    select = ", ".join(f"`{n}`" for n in names)
    rows = client.query(f"SELECT {select} FROM `{table.keyspace}`.`{table.name}`", binary=True)
    return [{n: canon(c.type, v) for n, c, v in zip(names, table.columns, row, strict=True)} for row in rows]


def oracle_rows(oracle: Oracle, table: TableSchema, now: int) -> list[dict[str, Any]]:
    return [
        {c.name: canon(c.type, row[c.name]) for c in table.columns}
        for row in oracle.rows(table.keyspace, table.name, now=now)
    ]


def _key(row: dict[str, Any]) -> str:
    return repr(sorted(row.items(), key=lambda kv: kv[0]))


def assert_same(client: ClickHouseClient, oracle: Oracle, tables: Iterable[TableSchema]) -> int:
    """The view equals the oracle row for row (order aside), with no duplicates; returns the row count."""
    total = 0
    for table in tables:
        now = engine_now(client)
        got = sorted(view_rows(client, table), key=_key)
        want = sorted(oracle_rows(oracle, table, now), key=_key)
        if got != want:
            got_keys = {_key(r) for r in got}
            want_keys = {_key(r) for r in want}
            missing = [r for r in want if _key(r) not in got_keys][:3]
            extra = [r for r in got if _key(r) not in want_keys][:3]
            raise AssertionError(
                f"{table.qualified_name}: view has {len(got)} rows, oracle {len(want)}\n"
                f"missing: {missing}\nextra: {extra}"
            )
        total += len(got)
    return total
