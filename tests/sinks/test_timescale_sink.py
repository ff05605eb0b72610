"""The TimescaleDB sink on PGlite + TimescaleDB: hypertable state, INSERT staging, convergence."""

from __future__ import annotations

import datetime
import logging
import random
import uuid
from typing import Any

import psycopg
import pytest

from cassandra_cdc.changes.model import CellChange, Op, RowChange, SourcePosition
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.sinks.base import ChangeBatch
from cassandra_cdc.sinks.timescale import HypertableOptions, TimescaleSink

from .pg_helpers import assert_matches_oracle, db_now, view_rows, workload_changes


def test_hypertable_sink_converges_with_replays(timescale_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    schema = benchmark_schema()
    tables = list(schema.tables.values())
    name = "ts_" + uuid.uuid4().hex[:8]
    hypertables = {
        "shop.readings": HypertableOptions("ts", chunk_interval="7 days"),
        "shop.orders": HypertableOptions("placed_at"),  # not a key column: stays a plain table
    }
    with psycopg.connect(timescale_server.dsn, autocommit=True, **timescale_server.connect_kwargs()) as conn:
        now = db_now(conn)
    changes = workload_changes(schema, 500, seed=21, now=now, partitions_per_table=20, rows_per_partition=4)
    sink = TimescaleSink(timescale_server.dsn, name=name, hypertables=hypertables, schema_names={"shop": name})
    with caplog.at_level(logging.WARNING):
        sink.start(tables)
    assert "placed_at" in caplog.text
    try:
        assert sink.is_hypertable("shop", "readings")
        assert not sink.is_hypertable("shop", "orders")
        assert sorted(sink.plain_tables) == ["shop.orders", "shop.users"]
        batches = [changes[i : i + 200] for i in range(0, len(changes), 200)]
        for batch in batches:
            sink.write_batch(ChangeBatch(batch, {"n1": batch[-1].source}))
        assert sink.committed_positions() == {"n1": changes[-1].source}
        with psycopg.connect(timescale_server.dsn, autocommit=True, **timescale_server.connect_kwargs()) as conn:
            assert assert_matches_oracle(conn, tables, changes, schema_name=name) > 50
            before = [view_rows(conn, t, name) for t in tables]
        # Replays in another order (the connection is the server's only session: reuse the sink's).
        for batch in random.Random(3).sample(batches, len(batches)):
            sink.write_batch(ChangeBatch(batch, {"n1": SourcePosition("n1", 9, 9)}))
        assert sink.committed_positions() == {"n1": SourcePosition("n1", 9, 9)}
    finally:
        sink.close()
    with psycopg.connect(timescale_server.dsn, autocommit=True, **timescale_server.connect_kwargs()) as conn:
        assert [view_rows(conn, t, name) for t in tables] == before


def test_tombstone_local_deletion_time_orders_ties_and_purge(timescale_server: Any) -> None:
    """Equal-timestamp tombstones keep the later deletion time; purge goes by it, not the write time."""
    ks = "tsl_" + uuid.uuid4().hex[:8]
    schema, _ = parse_cql_schema(
        f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}};\n"
        f"CREATE TABLE {ks}.r (id int, ts timestamp, v text, w int, PRIMARY KEY (id, ts));"
    )
    table = next(iter(schema.tables.values()))
    at = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)

    def change(pk: int, *cells: CellChange) -> RowChange:
        return RowChange(
            ks, "r", table.id, Op.UPDATE, SourcePosition("n1", 1, pk), {"id": pk}, {"ts": at}, cells=list(cells)
        )

    def tomb(ts_seconds: int, ldt: int) -> CellChange:
        return CellChange("v", None, ts_seconds * 1_000_000, deleted=True, local_deletion_time=ldt)

    live = CellChange("w", 1, 10)
    sink = TimescaleSink(
        timescale_server.dsn, name=ks, hypertables={f"{ks}.r": HypertableOptions("ts")}, grace_seconds=100
    )
    sink.start([table])
    try:
        assert sink.is_hypertable(ks, "r")
        sink.write_batch(ChangeBatch([change(1, live, tomb(1_000, 9_990)), change(1, tomb(1_000, 1_000))]))
        sink.write_batch(ChangeBatch([change(2, live, tomb(1_000, 1_000))]))
        sink.write_batch(ChangeBatch([change(2, tomb(1_000, 9_990))]))
        sink.write_batch(ChangeBatch([change(3, live, tomb(9_990, 1_000))]))
        sink.purge(now=10_000)
    finally:
        sink.close()
    with psycopg.connect(timescale_server.dsn, autocommit=True, **timescale_server.connect_kwargs()) as conn:
        got = conn.execute(f'SELECT id, v__del, v__exp FROM "{ks}".r__state ORDER BY id').fetchall()
    assert got == [(1, True, 9_990), (2, True, 9_990), (3, None, None)]
