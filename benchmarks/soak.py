"""Soak test: the pipeline replicating a steady stream into every sink for a long time, memory watched.

    python benchmarks/soak.py [--minutes 30] [--rate 1000] [--sample 10] [--warmup-minutes N]
                              [--sinks postgres,clickhouse,timescale]

Not part of CI. The project's embedded servers (PostgreSQL, ClickHouse via chdb, TimescaleDB via
PGlite) are started; a simulated node writes ``--rate`` row changes per second (the workload's
changes per mutation are measured first) into cdc_raw, in 100 ms syncs; the pipeline runs in this
process with retention deleting consumed segments. Every ``--sample`` seconds one line gives the
process's RSS, each sink's backlog (durable bytes not yet committed) and cdc_raw's size. At the
end the writer stops, the sinks are given a minute to catch up, and the summary follows. The last
line is the RSS growth between the end of the warm-up (default: a fifth of the run, at least one
sample) and the end: ``rss_growth_pct: N``; the line before it, the least-squares slope of the RSS
after the warm-up (less sensitive to one noisy sample than the two ends).

The warm-up must cover the bounded caches' filling: the workload's 20,000 partitions per table
reach the sinks' key caches (and the workload generator's) within about four minutes at 1,000
changes/s, proportionally later at lower rates: at 300 changes/s, give a warm-up of 10 minutes or more.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import threading
import time
from pathlib import Path

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.segment_retention import directory_usage_bytes
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.config import load_config
from cassandra_cdc.observability.metrics import PipelineMetrics
from cassandra_cdc.pipeline.observe import MetricsObserver
from cassandra_cdc.pipeline.runner import Pipeline
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.servers import ClickHouseWorker, PostgresServer, TimescaleServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator

KEYSPACE = "soak"
SINKS = ("postgres", "clickhouse", "timescale")


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def rss_slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time (bytes per second); 0 with fewer than two samples."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_r = sum(r for _, r in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (r - mean_r) for t, r in samples) / spread if spread else 0.0


def changes_per_mutation(schema: Schema, seed: int) -> float:
    """The workload's average row changes per mutation, over a sample of 2,000 mutations."""
    generator = WorkloadGenerator(list(schema.tables.values()), seed=seed, now=int(time.time()))
    encoder, decoder = MutationEncoder(schema), MutationDecoder(schema)
    changes = 0
    for mutation in generator.mutations(2000):
        for update in decoder.decode(encoder.encode(mutation, 12), 12).updates:
            table = schema.by_id(update.table_id)
            assert table is not None
            changes += sum(1 for _ in update_changes(table, update, SourcePosition("n1", 1, 1)))
    return changes / 2000


class Writer(threading.Thread):
    """Writes ``mutations_per_s`` in syncs every 100 ms until stopped; counts what it wrote."""

    def __init__(self, node: SimulatedNode, schema: Schema, mutations_per_s: float, seed: int) -> None:
        super().__init__(name="soak-writer", daemon=True)
        self.node = node
        self.schema = schema
        self.rate = mutations_per_s
        self.seed = seed
        self.stop = threading.Event()
        self.mutations = 0

    def run(self) -> None:
        encoder = MutationEncoder(self.schema)
        generator = WorkloadGenerator(
            list(self.schema.tables.values()), seed=self.seed, now=int(time.time()), partitions_per_table=20_000
        )
        started = time.monotonic()
        tick = 0.1
        while not self.stop.is_set():
            due = int(self.rate * (time.monotonic() - started + tick)) - self.mutations
            if due > 0:
                self.node.sync([encoder.encode(m, 12) for m in generator.mutations(due)])
                self.mutations += due
            next_at = started + tick * math.ceil((time.monotonic() - started) / tick + 1e-9)
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        self.node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="row changes per second")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--warmup-minutes", type=float, default=None, help="default: a fifth of the run")
    parser.add_argument("--sinks", default=",".join(SINKS))
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    chosen = [s for s in args.sinks.split(",") if s]
    unknown = set(chosen) - set(SINKS)
    if unknown or not chosen:
        parser.error(f"--sinks: choose among {', '.join(SINKS)}")

    cql = BENCHMARK_CQL.replace("shop", KEYSPACE)
    schema, _ = parse_cql_schema(cql, "soak")
    ratio = changes_per_mutation(schema, args.seed)
    work = Path(tempfile.mkdtemp(prefix="cassandra-cdc-soak-"))
    servers: list[PostgresServer | ClickHouseWorker | TimescaleServer] = []
    try:
        sink_lines: list[str] = []
        if "postgres" in chosen:
            pg = PostgresServer().start()
            servers.append(pg)
            sink_lines.append(f"  pg: {{type: postgres, dsn: '{pg.dsn}'}}")
        if "clickhouse" in chosen:
            ch = ClickHouseWorker().start()
            servers.append(ch)
            sink_lines.append(f"  ch: {{type: clickhouse, url: '{ch.url}'}}")
        if "timescale" in chosen:
            ts = TimescaleServer().start()
            servers.append(ts)
            hypertables = f"{{{KEYSPACE}.readings: {{time_column: ts}}}}"
            sink_lines.append(f"  ts: {{type: timescaledb, dsn: '{ts.dsn}', hypertables: {hypertables}}}")
        (work / "schema.cql").write_text(cql)
        (work / "cdc_raw").mkdir()
        (work / "pipeline.yaml").write_text(
            "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\n"
            "batching: {batch_size: 5000, flush_interval: 0.5}\n"
            "retention: {mode: delete, interval: 5}\nobservability: {http: {enabled: false}, log_level: WARNING}\n"
            "sinks:\n" + "\n".join(sink_lines) + "\n"
        )
        config = load_config(work / "pipeline.yaml", environ={})
        metrics = PipelineMetrics(process_metrics=False)
        pipeline = Pipeline(config, schema=schema, observer=MetricsObserver(metrics))
        stop = threading.Event()
        runner = threading.Thread(target=pipeline.run, args=(stop,), name="soak-pipeline", daemon=True)
        runner.start()
        # Only the last position is needed (the catch-up check): keeping one per entry would grow the RSS measured.
        node = SimulatedNode(work / "cdc_raw", segment_size=4 * 1024 * 1024, keep_positions="last")
        writer = Writer(node, schema, args.rate / ratio, args.seed)
        duration = args.minutes * 60
        warmup = args.warmup_minutes * 60 if args.warmup_minutes is not None else duration / 5
        print(
            f"soak: {args.minutes:g} min at {args.rate:g} changes/s ({args.rate / ratio:.0f} mutations/s, "
            f"{ratio:.2f} changes/mutation) into {', '.join(chosen)}; warm-up {warmup:.0f}s; samples every "
            f"{args.sample:g}s",
            flush=True,
        )
        started = time.monotonic()
        writer.start()
        samples: list[tuple[float, int]] = []
        while (elapsed := time.monotonic() - started) < duration:
            time.sleep(min(args.sample, max(0.0, duration - elapsed)))
            now = time.monotonic() - started
            rss = rss_bytes()
            samples.append((now, rss))
            depth = {
                name: metrics.registry.get_sample_value("cdc_backlog_depth", {"destination": name}) or 0.0
                for name in pipeline.lanes
            }
            backlog = ", ".join(f"{name} {value / 1e6:.1f} MB" for name, value in depth.items())
            print(
                f"t={now:6.0f}s rss={rss / 1e6:7.1f} MB written={writer.mutations * ratio:9.0f} changes "
                f"backlog: {backlog}; cdc_raw {directory_usage_bytes(work / 'cdc_raw') / 1e6:.1f} MB",
                flush=True,
            )
        writer.stop.set()
        writer.join()
        last = node.last_position
        deadline = time.monotonic() + 60
        while last is not None and time.monotonic() < deadline:
            done = all(
                (p := lane.committed_positions().get("n1")) is not None
                and (p.segment_id, p.position) == (last.segment_id, last.position)
                for lane in pipeline.lanes.values()
            )
            if done:
                break
            time.sleep(0.5)
        caught_up = time.monotonic() < deadline
        stop.set()
        runner.join(60)
        elapsed = time.monotonic() - started
        written = writer.mutations * ratio
        print(f"written: ~{written:.0f} changes ({writer.mutations} mutations) in {duration:.0f}s")
        for status in pipeline.status():
            print(
                f"sink {status.sink}: {status.changes} changes in {status.batches} batches, "
                f"{status.retries} retries, state {status.state}"
            )
        print(f"all sinks caught up after the writer stopped: {'yes' if caught_up else 'NO (within 60s)'}")
        after_warmup = [rss for t, rss in samples if t >= warmup] or [samples[-1][1]]
        base, end, peak = after_warmup[0], samples[-1][1], max(rss for _, rss in samples)
        print(f"rss: after warm-up {base / 1e6:.1f} MB, end {end / 1e6:.1f} MB, peak {peak / 1e6:.1f} MB")
        print(f"elapsed: {elapsed:.0f}s")
        print(f"rss_slope_mb_per_min: {rss_slope([(t, rss) for t, rss in samples if t >= warmup]) * 60 / 1e6:.2f}")
        print(f"rss_growth_pct: {100 * (end - base) / base:.1f}")
    finally:
        for server in servers:
            server.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
