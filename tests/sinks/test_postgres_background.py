"""Batches committed on the sink's own thread while the caller folds the next (as the pipeline runs the
PostgreSQL sink): the result equals the oracle's and synchronous delivery's, positions count only what
has committed, a refused value takes nothing, and a failed commit is retried without losing anything."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import psycopg
import pytest

from cassandra_cdc.changes.model import CellChange, RowChange, SourcePosition
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.sinks.base import ChangeBatch, ConflictRules, SinkError, ValueOutOfRangeError
from cassandra_cdc.sinks.postgres import PostgresSink

from .pg_helpers import assert_matches_oracle, db_now, view_rows, workload_changes


@pytest.fixture(scope="module")
def changes(schema: Schema, conn: psycopg.Connection[Any]) -> list[RowChange]:
    # Few keys: the same rows recur across batches.
    return workload_changes(schema, 1200, seed=23, now=db_now(conn), partitions_per_table=30, rows_per_partition=4)


def _sink(dsn: str, schema: Schema, background: bool, rules: ConflictRules = ConflictRules.CASSANDRA_4) -> PostgresSink:
    name = "p_" + uuid.uuid4().hex[:10]
    sink = PostgresSink(dsn, name=name, schema_names={"shop": name}, conflict_rules=rules, background=background)
    sink.start(list(schema.tables.values()))
    return sink


def _deliver(sink: PostgresSink, changes: list[RowChange], size: int) -> None:
    for i in range(0, len(changes), size):
        batch = changes[i : i + size]
        sink.write_batch(ChangeBatch(batch, {"n1": batch[-1].source}))


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_4, ConflictRules.CASSANDRA_3])
def test_background_commits_match_oracle_and_synchronous_delivery(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any], changes: list[RowChange], rules: ConflictRules
) -> None:
    assert len(changes) > 1000
    background = _sink(postgres_server.dsn, schema, background=True, rules=rules)
    synchronous = _sink(postgres_server.dsn, schema, background=False, rules=rules)
    try:
        _deliver(background, changes, 70)
        _deliver(synchronous, changes, 70)
        background.flush()
        tables = sorted(schema.tables.values(), key=lambda t: t.name)
        for table in tables:
            assert view_rows(conn, table, background.name) == view_rows(conn, table, synchronous.name)
        compared = assert_matches_oracle(conn, tables, changes, rules.value, schema_name=background.name)
        assert compared > 50
        assert background.durable_positions() == {"n1": changes[-1].source}
        assert background.committed_positions() == {"n1": changes[-1].source}
    finally:
        background.close()
        synchronous.close()


def test_durable_positions_follow_commits(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any], changes: list[RowChange]
) -> None:
    sink = _sink(postgres_server.dsn, schema, background=True)
    try:
        sink.write_batch(ChangeBatch(changes[:300], {"n1": SourcePosition("n1", 1, 1)}))
        sink._applies.join(timeout=30)  # committed on the sink's thread: durable now
        assert sink.durable_positions() == {"n1": SourcePosition("n1", 1, 1)}
        sink.write_batch(ChangeBatch(changes[300:600], {"n1": SourcePosition("n1", 1, 2)}))
        sink.flush()
        assert sink.durable_positions() == {"n1": SourcePosition("n1", 1, 2)}
    finally:
        sink.close()


def test_a_refused_value_takes_nothing_of_its_batch(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any], changes: list[RowChange]
) -> None:
    sink = _sink(postgres_server.dsn, schema, background=True)
    try:
        sink.write_batch(ChangeBatch(changes[:200], {"n1": SourcePosition("n1", 1, 1)}))
        sink.flush()
        users = schema.tables[next(k for k, t in schema.tables.items() if t.name == "users")]
        before = view_rows(conn, users, sink.name)
        # A text value with NUL (PostgreSQL text cannot hold it) near the end of a 600-change batch.
        batch = list(changes[200:800])
        victim = next(i for i in range(len(batch) - 1, 0, -1) if batch[i].table == "users" and batch[i].cells)
        cells = [
            dataclasses.replace(c, value="a\x00b", raw_value=b"") if c.column == "email" else c
            for c in batch[victim].cells
        ]
        if not any(c.column == "email" for c in cells):
            cells.append(CellChange("email", "a\x00b", batch[victim].cells[0].timestamp))
        batch[victim] = dataclasses.replace(batch[victim], cells=cells)
        with pytest.raises(ValueOutOfRangeError):
            sink.write_batch(ChangeBatch(batch, {"n1": SourcePosition("n1", 1, 2)}))
        sink.flush()
        assert view_rows(conn, users, sink.name) == before
        assert sink.committed_positions() == {"n1": SourcePosition("n1", 1, 1)}
        # The sink is usable afterwards: the same batch without the bad change lands.
        del batch[victim]
        sink.write_batch(ChangeBatch(batch, {"n1": SourcePosition("n1", 1, 3)}))
        sink.flush()
        assert sink.committed_positions() == {"n1": SourcePosition("n1", 1, 3)}
    finally:
        sink.close()


def test_a_failed_background_commit_is_retried_in_order_and_loses_nothing(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any], changes: list[RowChange]
) -> None:
    sink = _sink(postgres_server.dsn, schema, background=True)
    try:
        sink.write_batch(ChangeBatch(changes[:400], {"n1": SourcePosition("n1", 1, 1)}))
        sink.flush()
        # The server ends the sink's session while the next batch is on its way: its commit fails on
        # the sink's thread, after write_batch returned.
        backend = sink._conn.info.backend_pid if sink._conn is not None else None
        assert backend is not None
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        sink.write_batch(ChangeBatch(changes[400:800], {"n1": SourcePosition("n1", 1, 2)}))
        sink._applies.join(timeout=30)
        assert sink.durable_positions() == {"n1": SourcePosition("n1", 1, 1)}
        # The next call retries it first (on a new connection), then takes its own batch.
        sink.write_batch(ChangeBatch(changes[800:], {"n1": SourcePosition("n1", 1, 3)}))
        sink.flush()
        assert sink.committed_positions() == {"n1": SourcePosition("n1", 1, 3)}
        tables = sorted(schema.tables.values(), key=lambda t: t.name)
        assert assert_matches_oracle(conn, tables, changes, "4.0+", schema_name=sink.name) > 50
    finally:
        sink.close()


def test_a_commit_that_keeps_failing_is_raised_before_the_next_batch_is_taken(
    postgres_server: Any, schema: Schema, changes: list[RowChange]
) -> None:
    sink = _sink(postgres_server.dsn, schema, background=True)
    try:
        sink.write_batch(ChangeBatch(changes[:100], {"n1": SourcePosition("n1", 1, 1)}))
        sink.flush()
        sink.dsn = "postgresql://nobody@127.0.0.1:1/none"  # the server is gone: reconnecting fails
        assert sink._conn is not None
        sink._conn.close()
        sink.write_batch(ChangeBatch(changes[100:200], {"n1": SourcePosition("n1", 1, 2)}))
        sink._applies.join(timeout=30)
        with pytest.raises(SinkError) as failed:
            sink.write_batch(ChangeBatch(changes[200:300], {"n1": SourcePosition("n1", 1, 3)}))
        assert failed.value.retryable
        sink.dsn = postgres_server.dsn  # back: the failed batch lands first, then the retried one
        sink.write_batch(ChangeBatch(changes[200:300], {"n1": SourcePosition("n1", 1, 3)}))
        sink.flush()
        assert sink.committed_positions() == {"n1": SourcePosition("n1", 1, 3)}
    finally:
        sink.close()


def test_the_runner_commits_in_the_background_only_when_configured(
    postgres_server: Any, schema: Schema, changes: list[RowChange]
) -> None:
    from cassandra_cdc.config.model import PostgresSinkSettings
    from cassandra_cdc.pipeline.runner import build_sink

    base = {"type": "postgres", "dsn": postgres_server.dsn}
    plain = build_sink("p_plain", PostgresSinkSettings.model_validate(base))
    overlapped = build_sink("p_bg", PostgresSinkSettings.model_validate({**base, "background_commit": True}))
    assert isinstance(plain, PostgresSink) and isinstance(overlapped, PostgresSink)
    try:
        assert plain._applies._executor is None and overlapped._applies._executor is not None
    finally:
        plain.close()
        overlapped.close()
