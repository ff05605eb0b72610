"""A sink's server stops while the others go on; started again, it catches up from its own position.

Real servers (PostgreSQL, ClickHouse), real segments written live by a simulated node, one lane per
sink; at the end both destinations equal the oracle row for row.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.pipeline.lane import SinkLane, SourceNode
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.servers.clickhouse import ClickHouseWorker
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.clickhouse.client import connect as clickhouse_connect
from cassandra_cdc.sinks.clickhouse.writer import ClickHouseSink
from cassandra_cdc.sinks.postgres.writer import PostgresSink
from tests.pipeline.support import changes_in, wait_for
from tests.sinks import clickhouse_support, pg_helpers

KEYSPACE = "outage"


def _schema() -> Schema:
    schema, _ = parse_cql_schema(BENCHMARK_CQL.replace("shop", KEYSPACE), "outage schema")
    return schema


def _write(node: SimulatedNode, generator: WorkloadGenerator, schema: Schema, mutations: int) -> None:
    encoder = MutationEncoder(schema)
    for _ in range(mutations // 100):
        node.sync([encoder.encode(m, 12) for m in generator.mutations(100)])


def _at(lane: SinkLane, position: CommitLogPosition) -> bool:
    """Whether the lane has committed up to ``position`` (read from the lane: sinks are single-threaded)."""
    committed = lane.stats.committed.get("n1")
    return committed is not None and (committed.segment_id, committed.position) == (
        position.segment_id,
        position.position,
    )


@pytest.mark.timeout(240)
def test_stopped_sink_catches_up_while_the_other_stays_current(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    schema = _schema()
    cdc_raw = tmp_path / "cdc_raw"
    node = SimulatedNode(cdc_raw, segment_size=512 * 1024)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=11, now=int(time.time()))
    pg = PostgresSink(postgres_server.dsn, name="pg-outage", positions_schema="public")
    # Each lane batch durable at once, as the runner builds it.
    ch = ClickHouseSink(clickhouse_server.url, name="ch-outage", flush_changes=1, flush_interval=0)
    lanes = [
        SinkLane(sink, [SourceNode("n1", cdc_raw)], schema, batch_size=500, flush_interval=0.1, retry_delay=0.1)
        for sink in (pg, ch)
    ]
    pg_lane, ch_lane = lanes
    _write(node, generator, schema, 1000)
    for lane in lanes:
        lane.start()
    try:
        first = node.positions[-1]
        wait_for(lambda: all(_at(lane, first) for lane in lanes), 60, "both sinks to reach the first half")

        postgres_server.stop()
        try:
            _write(node, generator, schema, 1000)
            last = node.positions[-1]
            wait_for(lambda: _at(ch_lane, last), 60, "ClickHouse to stay current")
            assert pg_lane.alive and pg_lane.stats.retries > 0
            assert not _at(pg_lane, last)
        finally:
            postgres_server.start()
        wait_for(lambda: _at(pg_lane, last), 90, "PostgreSQL to catch up")
    finally:
        for lane in lanes:
            lane.stop(timeout=10)
    assert all(lane.error is None for lane in lanes)

    changes = changes_in([cdc_raw], schema)
    tables = list(schema.tables.values())
    with psycopg.connect(postgres_server.dsn) as conn:
        assert pg_helpers.assert_matches_oracle(conn, tables, changes) > 0
    oracle = Oracle(tables)
    oracle.apply_all(changes)
    client = clickhouse_connect(clickhouse_server.url)
    assert clickhouse_support.assert_same(client, oracle, tables) > 0
