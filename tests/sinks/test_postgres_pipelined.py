"""Large batches are folded and merged in chunks (one transaction, the server merging one chunk while
Python folds the next): the result equals the oracle's and one-chunk delivery's, and a bad change in
a later chunk leaves nothing of its batch behind."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from cassandra_cdc.changes.model import CellChange, RowChange, SourcePosition
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.sinks.base import ChangeBatch, ConflictRules, ValueOutOfRangeError
from cassandra_cdc.sinks.postgres import PostgresSink

from .pg_helpers import assert_matches_oracle, db_now, view_rows, workload_changes


@pytest.fixture(scope="module")
def schema() -> Schema:
    return benchmark_schema()


@pytest.fixture(scope="module")
def conn(postgres_server: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(postgres_server.dsn, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def changes(schema: Schema, conn: psycopg.Connection[Any]) -> list[RowChange]:
    # Few keys: the same rows recur across chunks of one batch.
    return workload_changes(schema, 1200, seed=23, now=db_now(conn), partitions_per_table=30, rows_per_partition=4)


def _sink(dsn: str, schema: Schema, chunk: int, rules: ConflictRules = ConflictRules.CASSANDRA_4) -> PostgresSink:
    name = "p_" + uuid.uuid4().hex[:10]
    sink = PostgresSink(dsn, name=name, schema_names={"shop": name}, conflict_rules=rules, pipeline_chunk=chunk)
    sink.start(list(schema.tables.values()))
    return sink


def _deliver(sink: PostgresSink, changes: list[RowChange], size: int) -> None:
    for i in range(0, len(changes), size):
        batch = changes[i : i + size]
        sink.write_batch(ChangeBatch(batch, {"n1": batch[-1].source}))


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_4, ConflictRules.CASSANDRA_3])
def test_chunked_batches_match_oracle_and_unchunked(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any], changes: list[RowChange], rules: ConflictRules
) -> None:
    assert len(changes) > 1000
    chunked = _sink(postgres_server.dsn, schema, chunk=60, rules=rules)
    whole = _sink(postgres_server.dsn, schema, chunk=0, rules=rules)
    try:
        assert len(chunked._chunks(changes[:700])) == 11  # the path under test is really taken
        _deliver(chunked, changes, 700)
        _deliver(whole, changes, 700)
        tables = sorted(schema.tables.values(), key=lambda t: t.name)
        for table in tables:
            assert view_rows(conn, table, chunked.name) == view_rows(conn, table, whole.name)
        compared = assert_matches_oracle(conn, tables, changes, rules.value, schema_name=chunked.name)
        assert compared > 50
        assert chunked.committed_positions() == {"n1": changes[-1].source}
    finally:
        chunked.close()
        whole.close()


def test_bad_change_in_a_later_chunk_leaves_nothing(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any], changes: list[RowChange]
) -> None:
    sink = _sink(postgres_server.dsn, schema, chunk=50)
    try:
        first = changes[:200]
        sink.write_batch(ChangeBatch(first, {"n1": SourcePosition("n1", 1, 1)}))
        users = schema.tables[next(k for k, t in schema.tables.items() if t.name == "users")]
        before = view_rows(conn, users, sink.name)
        # A text value with NUL (PostgreSQL text cannot hold it) near the end of a 600-change batch:
        # the chunks before it were already merged inside the transaction when the fold fails.
        batch = list(changes[200:800])
        victim = next(i for i in range(len(batch) - 1, 0, -1) if batch[i].table == "users" and batch[i].cells)
        cells = [
            dataclasses.replace(c, value="a\x00b", raw_value=b"") if c.column == "email" else c
            for c in batch[victim].cells
        ]
        if not any(c.column == "email" for c in cells):
            cells.append(CellChange("email", "a\x00b", batch[victim].cells[0].timestamp))
        batch[victim] = dataclasses.replace(batch[victim], cells=cells)
        assert victim > 150
        with pytest.raises(ValueOutOfRangeError):
            sink.write_batch(ChangeBatch(batch, {"n1": SourcePosition("n1", 1, 2)}))
        assert view_rows(conn, users, sink.name) == before
        assert sink.committed_positions() == {"n1": SourcePosition("n1", 1, 1)}
        # The sink is usable afterwards: the same batch without the bad change lands.
        del batch[victim]
        sink.write_batch(ChangeBatch(batch, {"n1": SourcePosition("n1", 1, 3)}))
        assert sink.committed_positions() == {"n1": SourcePosition("n1", 1, 3)}
    finally:
        sink.close()
