"""The runner end to end on real servers, with a simulated node writing live into cdc_raw."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.config import load_config
from cassandra_cdc.config.model import PipelineConfig, SinkSettings
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.pipeline.runner import Pipeline, build_sink
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.servers.clickhouse import ClickHouseWorker
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.base import ChangeBatch, Sink, SinkError
from cassandra_cdc.sinks.clickhouse.client import connect as clickhouse_connect
from tests.pipeline.support import changes_in, wait_for
from tests.sinks import clickhouse_support, pg_helpers


def _setup(tmp_path: Path, keyspace: str, sinks: str, extra: str = "") -> tuple[PipelineConfig, Schema, Path]:
    cql = BENCHMARK_CQL.replace("shop", keyspace)
    (tmp_path / "schema.cql").write_text(cql)
    cdc_raw = tmp_path / "cdc_raw"
    cdc_raw.mkdir()
    (tmp_path / "pipeline.yaml").write_text(
        "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\n"
        "batching: {batch_size: 400, flush_interval: 0.05, poll_interval: 0.02}\n"
        "retention: {interval: 0.1}\nobservability: {http: {enabled: false}}\n"
        "shutdown: {grace_period: 10, supervise_interval: 0.05}\n"
        f"sinks:\n{sinks}{extra}"
    )
    schema, _ = parse_cql_schema(cql, "runner test")
    return load_config(tmp_path / "pipeline.yaml", environ={}), schema, cdc_raw


def _write_live(cdc_raw: Path, schema: Schema, mutations: int, seed: int) -> SimulatedNode:
    node = SimulatedNode(cdc_raw, segment_size=96 * 1024)
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=seed, now=int(time.time()))
    for _ in range(mutations // 100):
        node.sync([encoder.encode(m, 12) for m in generator.mutations(100)])
        time.sleep(0.01)
    node.close()
    return node


def _state(pipeline: Pipeline, sink: str) -> str:
    return {s.sink: s for s in pipeline.status()}[sink].state


def _run_in_thread(pipeline: Pipeline) -> tuple[threading.Event, threading.Thread, list[bool]]:
    stop = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(pipeline.run(stop)), daemon=True)
    thread.start()
    return stop, thread, result


def _at(pipeline: Pipeline, sink: str, last: SourcePosition) -> bool:
    got = pipeline.lanes[sink].committed_positions().get("n1")
    return got is not None and (got.segment_id, got.position) == (last.segment_id, last.position)


@pytest.mark.timeout(120)
def test_runner_delivers_live_changes_to_postgres_and_clickhouse_and_archives(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    keyspace = "runner_e2e"
    sinks = (
        f"  wh_e2e: {{type: postgres, dsn: '{postgres_server.dsn}'}}\n"
        f"  ch_e2e: {{type: clickhouse, url: '{clickhouse_server.url}', batch_size: 1000}}\n"
    )
    archive = tmp_path / "archive"
    config, schema, cdc_raw = _setup(
        tmp_path, keyspace, sinks, "retention: {mode: archive, archive_dir: archive, interval: 0.1}\n"
    )
    pipeline = Pipeline(config)
    assert sorted(pipeline.lanes) == ["ch_e2e", "wh_e2e"]
    stop, thread, result = _run_in_thread(pipeline)
    try:
        node = _write_live(cdc_raw, schema, 1500, seed=21)
        last = node.positions[-1]
        last_pos = SourcePosition("n1", last.segment_id, last.position)
        wait_for(lambda: all(_at(pipeline, s, last_pos) for s in ("wh_e2e", "ch_e2e")), 60, "both sinks at the end")
        # Every segment is COMPLETED and committed by both: all of them move to the archive.
        wait_for(lambda: not any(cdc_raw.iterdir()), 10, "retention to archive every segment")
    finally:
        stop.set()
        thread.join(30)
    assert result == [True]
    assert all(s.state == "stopped" for s in pipeline.status())
    archived = archive / "n1"
    assert len(list(archived.glob("*.log"))) >= 3 and len(list(archived.glob("*_cdc.idx"))) == len(
        list(archived.glob("*.log"))
    )

    changes = changes_in([archived], schema)
    assert sum(s.changes for s in pipeline.status() if s.sink == "wh_e2e") == len(changes)
    tables: list[TableSchema] = list(schema.tables.values())
    with psycopg.connect(postgres_server.dsn) as conn:
        assert pg_helpers.assert_matches_oracle(conn, tables, changes) > 0
        rows = conn.execute(
            "SELECT node, segment_id, position FROM public.cdc_sink_positions WHERE sink = 'wh_e2e'"
        ).fetchall()
    assert rows == [("n1", last.segment_id, last.position)]
    oracle = Oracle(tables)
    oracle.apply_all(changes)
    assert clickhouse_support.assert_same(clickhouse_connect(clickhouse_server.url), oracle, tables) > 0


class _Store:
    """A destination shared by successive sink objects (what survives a sink's restart)."""

    def __init__(self) -> None:
        self.changes: list[RowChange] = []
        self.positions: dict[str, SourcePosition] = {}
        self.lock = threading.Lock()
        self.instances = 0


class _FlakySink:
    """Fails for good (non-retryable) on its first write while ``broken``; later instances work."""

    def __init__(self, store: _Store, broken: bool) -> None:
        self.name = "flaky"
        self.store = store
        self.broken = broken
        store.instances += 1

    def start(self, tables: list[TableSchema]) -> None:
        pass

    def committed_positions(self) -> dict[str, SourcePosition]:
        with self.store.lock:
            return dict(self.store.positions)

    def write_batch(self, batch: ChangeBatch) -> None:
        if self.broken:
            raise SinkError("schema mismatch in the destination", retryable=False)
        with self.store.lock:
            self.store.changes.extend(batch.changes)
            self.store.positions.update(batch.positions)

    def purge(self, now: int) -> int:
        return 0

    def close(self) -> None:
        pass


@pytest.mark.timeout(120)
def test_a_parked_sink_does_not_stop_the_others_and_catches_up(tmp_path: Path, postgres_server: PostgresServer) -> None:
    sinks = (
        f"  wh_parked: {{type: postgres, dsn: '{postgres_server.dsn}', positions_schema: public}}\n"
        "  flaky: {type: clickhouse, url: 'http://unused', retry: {attempts: 2, base: 0.3, cap: 0.6, jitter: 0}}\n"
    )
    config, schema, cdc_raw = _setup(tmp_path, "runner_parked", sinks)
    store = _Store()
    repaired = threading.Event()

    def factory(name: str, settings: SinkSettings) -> Sink:
        if name == "flaky":
            return _FlakySink(store, broken=not repaired.is_set())
        return build_sink(name, settings)

    pipeline = Pipeline(config, sink_factory=factory)
    stop, thread, result = _run_in_thread(pipeline)
    try:
        node = _write_live(cdc_raw, schema, 1000, seed=5)
        last = node.positions[-1]
        last_pos = SourcePosition("n1", last.segment_id, last.position)
        wait_for(lambda: _at(pipeline, "wh_parked", last_pos), 60, "the healthy sink to reach the end")
        # Between probes the failing sink is parked (a probe briefly shows it starting).
        wait_for(lambda: _state(pipeline, "flaky") == "parked", 10, "the failing sink to be parked")
        status = {s.sink: s for s in pipeline.status()}
        assert "schema mismatch" in (status["flaky"].reason or "")
        assert status["wh_parked"].state == "running"
        # The parked sink committed nothing: retention keeps every segment for it.
        segments = sorted(cdc_raw.glob("*.log"))
        assert len(segments) == len({p.segment_id for p in node.positions}) >= 2
        expected = changes_in([cdc_raw], schema)
        wait_for(lambda: store.instances >= 3, 10, "the parked sink to be probed again")  # probes with backoff
        repaired.set()
        wait_for(lambda: _at(pipeline, "flaky", last_pos), 30, "the repaired sink to catch up")
        wait_for(lambda: not any(cdc_raw.glob("*.log")), 10, "retention once both are past")
    finally:
        stop.set()
        thread.join(30)
    assert result == [True]
    assert len(store.changes) == len(expected)
    assert [c.source for c in store.changes] == [c.source for c in expected]
    with psycopg.connect(postgres_server.dsn) as conn:
        assert pg_helpers.assert_matches_oracle(conn, list(schema.tables.values()), expected) > 0
