"""A seeded realistic workload into PostgreSQL: in order, as three replicas' interleaved streams, and
with replayed batches, the final-state views equal the oracle's rows and each other."""

from __future__ import annotations

import dataclasses
import random
import uuid
from typing import Any

import psycopg
import pytest

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.sinks.base import ChangeBatch, ConflictRules
from cassandra_cdc.sinks.postgres import PostgresSink

from .pg_helpers import assert_matches_oracle, db_now, view_rows, workload_changes

MUTATIONS = 2500


@pytest.fixture(scope="module")
def changes(schema: Schema, conn: psycopg.Connection[Any]) -> list[RowChange]:
    # Few keys, so that rows see many conflicting writes, deletions and collection changes.
    return workload_changes(schema, MUTATIONS, seed=11, now=db_now(conn), partitions_per_table=40, rows_per_partition=5)


def deliver(
    dsn: str, schema: Schema, batches: list[list[RowChange]], rules: ConflictRules = ConflictRules.CASSANDRA_4
) -> str:
    name = "c_" + uuid.uuid4().hex[:10]
    sink = PostgresSink(dsn, name=name, schema_names={"shop": name}, conflict_rules=rules)
    sink.start(list(schema.tables.values()))
    try:
        for batch in batches:
            positions = {c.source.node: c.source for c in batch}
            sink.write_batch(ChangeBatch(batch, positions))
    finally:
        sink.close()
    return name


def in_batches(changes: list[RowChange], size: int) -> list[list[RowChange]]:
    return [changes[i : i + size] for i in range(0, len(changes), size)]


def views(conn: psycopg.Connection[Any], schema: Schema, schema_name: str) -> list[list[dict[str, Any]]]:
    return [view_rows(conn, t, schema_name) for t in sorted(schema.tables.values(), key=lambda t: t.name)]


def test_in_order_three_replicas_and_replays_converge(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any], changes: list[RowChange]
) -> None:
    tables = list(schema.tables.values())
    in_order = deliver(postgres_server.dsn, schema, in_batches(changes, 400))
    compared = assert_matches_oracle(conn, tables, changes, schema_name=in_order)
    assert compared > 300

    # Three replicas log the same writes; their streams arrive interleaved, each in its own order.
    rng = random.Random(5)
    streams = [
        [dataclasses.replace(c, source=SourcePosition(node, c.source.segment_id, c.source.position)) for c in changes]
        for node in ("n1", "n2", "n3")
    ]
    merged: list[RowChange] = []
    cursors = [0, 0, 0]
    while any(cursors[i] < len(s) for i, s in enumerate(streams)):
        i = rng.choice([i for i, s in enumerate(streams) if cursors[i] < len(s)])
        take = rng.randint(1, 40)
        merged += streams[i][cursors[i] : cursors[i] + take]
        cursors[i] += take
    replicas = deliver(postgres_server.dsn, schema, in_batches(merged, 700))

    # Replays: every batch again later, some twice, in shuffled order, after the originals.
    batches = in_batches(changes, 300)
    replayed = batches + rng.sample(batches, len(batches)) + rng.sample(batches, len(batches) // 2)
    replays = deliver(postgres_server.dsn, schema, replayed)

    # Reverse order of delivery: merges are commutative.
    reverse = deliver(postgres_server.dsn, schema, in_batches(changes[::-1], 500))

    expected = views(conn, schema, in_order)
    for name in (replicas, replays, reverse):
        assert views(conn, schema, name) == expected
        assert_matches_oracle(conn, tables, changes, schema_name=name)


def test_cassandra_3_rules_and_expired_ttls(
    postgres_server: Any, schema: Schema, conn: psycopg.Connection[Any]
) -> None:
    # Written two days ago: every TTL (at most one day) has expired by the database's clock.
    old = workload_changes(
        schema, 1200, seed=12, now=db_now(conn) - 2 * 86_400, partitions_per_table=30, rows_per_partition=4
    )
    name = deliver(postgres_server.dsn, schema, in_batches(old, 250), ConflictRules.CASSANDRA_3)
    assert assert_matches_oracle(conn, list(schema.tables.values()), old, "3.x", schema_name=name) > 50
