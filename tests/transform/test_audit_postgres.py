"""The audit against the real PostgreSQL sink: masked changes pass, unmasked ones are reported."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.sinks.base import ChangeBatch
from cassandra_cdc.sinks.postgres.writer import PostgresSink
from cassandra_cdc.transform import masker_from_config
from cassandra_cdc.transform.audit import audit
from tests.transform.helpers import masking_section, workload_changes


def _load(dsn: str, changes: list[RowChange], tables: list[TableSchema]) -> tuple[str, PostgresSink]:
    pg_schema = "audit_" + uuid.uuid4().hex[:10]
    sink = PostgresSink(dsn, name=pg_schema, schema_names={"shop": pg_schema})
    sink.start(tables)
    sink.write_batch(ChangeBatch(changes))
    return pg_schema, sink


def _rows(dsn: str, pg_schema: str) -> Callable[[TableSchema], list[dict[str, Any]]]:
    def rows(table: TableSchema) -> list[dict[str, Any]]:
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            return conn.execute(f'SELECT * FROM "{pg_schema}"."{table.name}"').fetchall()

    return rows


def test_audit_of_the_postgres_sink(postgres_server: Any) -> None:
    schema = benchmark_schema()
    masker = masker_from_config(masking_section(), schema)
    changes = workload_changes(schema, 200, seed=11)
    tables = list(schema.tables.values())
    masked_schema, masked_sink = _load(postgres_server.dsn, [masker(c) for c in changes], tables)
    raw_schema, raw_sink = _load(postgres_server.dsn, changes, tables)
    try:
        report = audit(
            schema,
            masker,
            {"pg-masked": _rows(postgres_server.dsn, masked_schema), "pg-raw": _rows(postgres_server.dsn, raw_schema)},
            changes=changes,
        )
    finally:
        masked_sink.close()
        raw_sink.close()
    masked = [t for t in report.tables if t.sink == "pg-masked"]
    assert masked and all(t.ok and t.rows > 0 for t in masked), report.render()
    raw_leaks = {(leak.table, leak.column) for leak in report.leaks if leak.sink == "pg-raw"}
    assert {("shop.users", "email"), ("shop.users", "home"), ("shop.orders", "items")} <= raw_leaks
    assert all(leak.sink == "pg-raw" for leak in report.leaks)
