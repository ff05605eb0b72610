"""End-to-end throughput of one pipeline process: cdc_raw -> decode -> PostgreSQL and ClickHouse.

    python benchmarks/pipeline.py [--mutations 40000] [--sinks postgres,clickhouse] [--batch 5000]

A simulated node first writes the workload's segments into cdc_raw (not timed, streamed: nothing
of it stays in memory). Then the pipeline starts, as `cassandra-cdc run` would, with one lane per
sink, and each lane's time to commit the last position is measured: changes/s per sink by the wall
clock, lanes running together in one process on the machine's cores (each lane reads and decodes
the log itself). The process's peak RSS is printed: the issue's bound is 512 MB. The last line is
the lower of the sinks' rates: ``changes_per_s: N``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import threading
import time
from pathlib import Path

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.config import load_config
from cassandra_cdc.pipeline.runner import Pipeline
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.servers import ClickHouseWorker, PostgresServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator

KEYSPACE = "bench"
SINKS = ("postgres", "clickhouse")


def _write_segments(cdc_raw: Path, cql: str, mutations: int, seed: int) -> tuple[int, SourcePosition]:
    """Write the workload into cdc_raw; returns the number of row changes it holds and its last position."""
    schema, _ = parse_cql_schema(cql, "benchmark")
    encoder, decoder = MutationEncoder(schema), MutationDecoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=seed, partitions_per_table=5000)
    node = SimulatedNode(cdc_raw, segment_size=32 * 1024 * 1024)
    changes = 0
    for start in range(0, mutations, 1000):
        payloads = [encoder.encode(m, 12) for m in generator.mutations(min(1000, mutations - start))]
        for payload in payloads:
            for update in decoder.decode(payload, 12).updates:
                table = schema.by_id(update.table_id)
                assert table is not None
                changes += sum(1 for _ in update_changes(table, update, SourcePosition("n1", 1, 1)))
        node.sync(payloads)
    node.close()
    last = node.positions[-1]
    return changes, SourcePosition("n1", last.segment_id, last.position)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=40_000)
    parser.add_argument("--sinks", default=",".join(SINKS))
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    chosen = [s for s in args.sinks.split(",") if s]
    if not chosen or set(chosen) - set(SINKS):
        parser.error(f"--sinks: choose among {', '.join(SINKS)}")
    cql = BENCHMARK_CQL.replace("shop", KEYSPACE)
    with tempfile.TemporaryDirectory(prefix="cassandra-cdc-bench-") as tmp:
        work = Path(tmp)
        (work / "schema.cql").write_text(cql)
        started = time.perf_counter()
        changes, last = _write_segments(work / "cdc_raw", cql, args.mutations, args.seed)
        size = sum(p.stat().st_size for p in (work / "cdc_raw").glob("CommitLog-*.log"))
        print(f"wrote {args.mutations} mutations = {changes} changes ({size / 2**20:.0f} MiB of segments) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        servers: list[PostgresServer | ClickHouseWorker] = []
        try:
            lines = []
            if "postgres" in chosen:
                pg = PostgresServer(settings={"shared_buffers": "256MB"}).start()
                servers.append(pg)
                lines.append(f"  postgres: {{type: postgres, dsn: '{pg.dsn}'}}")
            if "clickhouse" in chosen:
                ch = ClickHouseWorker().start()
                servers.append(ch)
                lines.append(f"  clickhouse: {{type: clickhouse, url: '{ch.url}'}}")
            (work / "pipeline.yaml").write_text(
                "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\n"
                f"batching: {{batch_size: {args.batch}, flush_interval: 0.5}}\n"
                "retention: {mode: keep}\nobservability: {http: {enabled: false}, log_level: WARNING}\n"
                "sinks:\n" + "\n".join(lines) + "\n"
            )
            config = load_config(work / "pipeline.yaml", environ={})
            schema, _ = parse_cql_schema(cql, "benchmark")
            pipeline = Pipeline(config, schema=schema)
            for lane in pipeline.lanes.values():
                lane.open()  # connect and create tables before the clock starts
            stop = threading.Event()
            began = time.perf_counter()
            runner = threading.Thread(target=pipeline.run, args=(stop,), daemon=True)
            runner.start()
            done: dict[str, float] = {}
            deadline = time.monotonic() + 900
            while len(done) < len(pipeline.lanes) and time.monotonic() < deadline:
                for name, lane in pipeline.lanes.items():
                    if name not in done and lane.committed_positions().get("n1") == last:
                        done[name] = time.perf_counter() - began
                time.sleep(0.02)
            stop.set()
            runner.join(120)
        finally:
            for server in servers:
                server.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rates = {}
        for name in pipeline.lanes:
            if name not in done:
                raise SystemExit(f"sink {name} did not reach the end within 900 s")
            rates[name] = changes / done[name]
            print(f"{name:12} {changes} changes in {done[name]:6.2f} s  {rates[name]:>10,.0f} changes/s", flush=True)
        print(f"peak RSS of the pipeline process: {peak:.0f} MB")
        print(f"changes_per_s: {min(rates.values()):.0f}")


if __name__ == "__main__":
    main()
