"""The ClickHouse writer caches key encodings by the keys' Python values only where Python equality
is Cassandra's identity: -0.0 and 0.0 (equal in Python) are different clustering values."""

from __future__ import annotations

import uuid

from cassandra_cdc.changes.model import CellChange, Op, RowChange, SourcePosition
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.sinks.base import ConflictRules
from cassandra_cdc.sinks.clickhouse import ddl
from cassandra_cdc.sinks.clickhouse.writer import _TableWriter

CQL = """
CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'};
CREATE TABLE k.t (p text, c double, v int, PRIMARY KEY (p, c)) WITH ID = 5a1c0d8e-7cbb-11ee-9858-c9aa1eb53e70;
"""


def _change(table_id: uuid.UUID, c: float) -> RowChange:
    return RowChange(
        "k", "t", table_id, Op.UPDATE, SourcePosition("n1", 1, 1), {"p": "a"}, {"c": c},
        cells=[CellChange("v", 1, 10, raw_value=b"\x00\x00\x00\x01")],
    )  # fmt: skip


def test_negative_zero_is_its_own_clustering() -> None:
    schema, _ = parse_cql_schema(CQL, "test")
    table = next(iter(schema.tables.values()))
    writer = _TableWriter(ddl.TableLayout(table, {}, "4.0+"), ConflictRules.CASSANDRA_4)
    out: list[tuple[object, ...]] = []
    writer.rows(_change(table.id, 0.0), out)
    writer.rows(_change(table.id, -0.0), out)
    keys = [row[2] for row in out if row[3] == ddl.KEYS]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert writer.pk_cacheable and not writer.ck_cacheable
