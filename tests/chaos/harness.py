"""What the chaos tests share: a pipeline whose PostgreSQL and ClickHouse sinks connect through fault
proxies, a simulated node writing live, and the final comparison of both sinks with the oracle."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.config import load_config
from cassandra_cdc.observability.metrics import PipelineMetrics
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.pipeline.observe import MetricsObserver
from cassandra_cdc.pipeline.runner import Pipeline
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.servers.clickhouse import ClickHouseWorker
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.clickhouse.client import connect as clickhouse_connect
from tests.chaos.proxy import FaultProxy
from tests.pipeline.support import wait_for
from tests.sinks import clickhouse_support, pg_helpers


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def readable_changes(cdc_raw_dirs: list[Path], schema: Schema, node: str = "n1") -> list[RowChange]:
    """Every change the segments hold, skipping entries that cannot be read (corrupt or cut off)."""
    decoder = MutationDecoder(schema)
    out: list[RowChange] = []
    for segment in sorted(p for d in cdc_raw_dirs for p in d.glob("CommitLog-*.log")):
        for entry in read_segment(segment):
            if not isinstance(entry, RawEntry):
                continue
            for update in decoder.decode(entry.data, entry.messaging_version).updates:
                table = schema.by_id(update.table_id)
                assert table is not None
                out.extend(update_changes(table, update, SourcePosition(node, entry.segment_id, entry.end)))
    return out


@dataclass
class Writer:
    """Writes ``batches`` syncs of ``per_sync`` mutations, one every ``interval`` seconds, in a thread."""

    node: SimulatedNode
    schema: Schema
    seed: int
    batches: int
    per_sync: int = 100
    interval: float = 0.1
    thread: threading.Thread | None = None
    written: int = 0
    error: BaseException | None = None
    pause: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Writer:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            encoder = MutationEncoder(self.schema)
            generator = WorkloadGenerator(list(self.schema.tables.values()), seed=self.seed, now=int(time.time()))
            for _ in range(self.batches):
                self.node.sync([encoder.encode(m, 12) for m in generator.mutations(self.per_sync)])
                self.written += self.per_sync
                time.sleep(self.interval)
            self.node.close()
        except BaseException as exc:
            self.error = exc
            raise

    def join(self, timeout: float = 120) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the writer did not finish"
        assert self.error is None, self.error


@dataclass
class Chaos:
    """One test's world: directories, schema, proxies, the pipeline and its metrics."""

    tmp: Path
    schema: Schema
    cdc_raw: Path
    archive: Path
    pg_proxy: FaultProxy
    ch_proxy: FaultProxy
    postgres: PostgresServer
    clickhouse: ClickHouseWorker
    pg_name: str
    ch_name: str
    metrics: PipelineMetrics = field(default_factory=lambda: PipelineMetrics(process_metrics=False))
    pipeline: Pipeline | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    result: list[bool] = field(default_factory=list)

    @property
    def pg_dsn(self) -> str:
        return f"postgresql://{self.postgres.user}@127.0.0.1:{self.pg_proxy.port}/{self.postgres.database}"

    @property
    def ch_url(self) -> str:
        return f"http://127.0.0.1:{self.ch_proxy.port}"

    def node(self, segment_size: int = 256 * 1024) -> SimulatedNode:
        return SimulatedNode(self.cdc_raw, segment_size=segment_size)

    def start(self, *, pg_extra: str = "", ch_extra: str = "", extra: str = "") -> Pipeline:
        (self.tmp / "pipeline.yaml").write_text(
            "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\n"
            "batching: {batch_size: 500, flush_interval: 0.1, poll_interval: 0.02}\n"
            "retention: {mode: archive, archive_dir: archive, interval: 0.2}\n"
            "observability: {http: {enabled: false}}\n"
            "shutdown: {grace_period: 15, supervise_interval: 0.05}\n"
            "dead_letter: {directory: dlq}\n"
            "retry: {attempts: 0, base: 0.2, cap: 1.0, jitter: 0.1}\n"
            "sinks:\n"
            f"  {self.pg_name}: {{type: postgres, dsn: '{self.pg_dsn}', query_timeout: 5,"
            f" connect_options: {{connect_timeout: '3'}}{pg_extra}}}\n"
            f"  {self.ch_name}: {{type: clickhouse, url: '{self.ch_url}'{ch_extra}}}\n" + extra
        )
        config = load_config(self.tmp / "pipeline.yaml", environ={})
        self.pipeline = Pipeline(config, schema=self.schema, observer=MetricsObserver(self.metrics))
        pipeline = self.pipeline
        self._thread = threading.Thread(target=lambda: self.result.append(pipeline.run(self._stop)), daemon=True)
        self._thread.start()
        return pipeline

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def committed(self, sink: str) -> tuple[int, int] | None:
        assert self.pipeline is not None
        got = self.pipeline.lanes[sink].committed_positions().get("n1")
        return (got.segment_id, got.position) if got is not None else None

    def at_end(self, sink: str, node: SimulatedNode) -> bool:
        last = node.positions[-1]
        return self.committed(sink) == (last.segment_id, last.position)

    def wait_at_end(self, node: SimulatedNode, timeout: float, sinks: tuple[str, ...] | None = None) -> float:
        """Wait until the sinks committed the node's last position; returns the seconds it took."""
        started = time.monotonic()
        names = sinks or (self.pg_name, self.ch_name)
        wait_for(lambda: all(self.at_end(s, node) for s in names), timeout, f"{', '.join(names)} at the end")
        return time.monotonic() - started

    def backlog(self, sink: str) -> float:
        value = self.metrics.registry.get_sample_value("cdc_backlog_depth", {"destination": sink})
        return value or 0.0

    def assert_converged(self, changes: list[RowChange] | None = None) -> int:
        """Both sinks equal the oracle over every change in cdc_raw and the archive; returns rows compared."""
        if changes is None:
            changes = readable_changes([self.archive / "n1", self.cdc_raw], self.schema)
        tables = list(self.schema.tables.values())
        with psycopg.connect(self.postgres.dsn) as conn:
            pg_rows = pg_helpers.assert_matches_oracle(conn, tables, changes)
        oracle = Oracle(tables)
        oracle.apply_all(changes)
        ch_rows = clickhouse_support.assert_same(clickhouse_connect(self.clickhouse.url), oracle, tables)
        assert pg_rows == ch_rows > 0
        return pg_rows


@contextmanager
def chaos_world(tmp: Path, postgres: PostgresServer, clickhouse: ClickHouseWorker, name: str) -> Iterator[Chaos]:
    """Proxies in front of both servers and a fresh keyspace ``chaos_<name>``; everything stopped after."""
    keyspace = f"chaos_{name}"
    cql = BENCHMARK_CQL.replace("shop", keyspace)
    (tmp / "schema.cql").write_text(cql)
    schema, _ = parse_cql_schema(cql, "chaos test")
    cdc_raw = tmp / "cdc_raw"
    cdc_raw.mkdir()
    with (
        FaultProxy((postgres.host, postgres.port)) as pg_proxy,
        FaultProxy((clickhouse.host, clickhouse.port)) as ch_proxy,
    ):
        world = Chaos(
            tmp, schema, cdc_raw, tmp / "archive", pg_proxy, ch_proxy, postgres, clickhouse, f"pg_{name}", f"ch_{name}"
        )
        try:
            yield world
        finally:
            pg_proxy.heal()
            ch_proxy.heal()
            world.stop()
