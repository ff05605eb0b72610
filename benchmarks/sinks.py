"""Sink throughput: a realistic workload's row changes written into PostgreSQL, ClickHouse and TimescaleDB.

    python benchmarks/sinks.py [--changes 100000] [--sinks postgres,clickhouse,timescale,all]
                               [--batch 5000] [--repeat 3] [--timescale-changes 5000]

The changes are made once, outside the timing (workload -> encode -> decode -> to_changes). Each
sink then gets them in batches of ``--batch`` (the lane's default batch size), each on a fresh
destination, and the best of ``--repeat`` runs is printed: changes/s by the wall clock and per
CPU-second of this process (the machine may be shared; CPU time is the steadier figure). Beside
PostgreSQL's figure is the floor: a plain COPY of the same changes' values (one row per change,
the destination types, rows built beforehand) into a plain table of the same columns, and the
ratio sink/COPY. ``all`` runs the selected sinks together, one thread each as the pipeline's
lanes do. The servers are the project's own (cassandra_cdc.servers). The last line is the lower
of the PostgreSQL and ClickHouse rates: ``changes_per_s: N``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.servers import ClickHouseWorker, PostgresServer, TimescaleServer
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.base import ChangeBatch, Sink
from cassandra_cdc.sinks.clickhouse.writer import ClickHouseSink
from cassandra_cdc.sinks.postgres.ddl import build_layout, q
from cassandra_cdc.sinks.postgres.writer import PostgresSink
from cassandra_cdc.sinks.timescale import TimescaleSink

SINKS = ("postgres", "clickhouse", "timescale", "all")
_runs = itertools.count()


def make_changes(schema: Schema, count: int, seed: int) -> list[RowChange]:
    """At least ``count`` row changes of a seeded workload (cut to ``count``), positions in order."""
    tables = sorted(schema.tables.values(), key=lambda t: t.name)
    generator = WorkloadGenerator(tables, seed=seed, partitions_per_table=5000)
    encoder, decoder = MutationEncoder(schema), MutationDecoder(schema)
    out: list[RowChange] = []
    position = 0
    while len(out) < count:
        for mutation in generator.mutations(1000):
            payload = encoder.encode(mutation, 12)
            position += len(payload) + 12
            decoded = decoder.decode(payload, 12)
            for update in decoded.updates:
                table = schema.by_id(update.table_id)
                assert table is not None
                out.extend(update_changes(table, update, SourcePosition("n1", 1, position)))
    return out[:count]


def batches(changes: list[RowChange], size: int) -> Iterator[ChangeBatch]:
    for start in range(0, len(changes), size):
        chunk = changes[start : start + size]
        yield ChangeBatch(chunk, {"n1": chunk[-1].source})


def tree_cpu(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` and its descendants (a server and its backends)."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # After the name: state, ppid, ... utime (14th field), stime, cutime, cstime.
        stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    total, wanted = 0.0, {pid}
    changed = True
    while changed:
        changed = False
        for p, (ppid, _) in stats.items():
            if ppid in wanted and p not in wanted:
                wanted.add(p)
                changed = True
    for p in wanted:
        total += stats.get(p, (0, 0.0))[1]
    return total


@dataclass(slots=True)
class Figure:
    changes: int
    wall: float
    cpu: float
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.changes / self.wall if self.wall else 0.0

    @property
    def cpu_rate(self) -> float:
        return self.changes / self.cpu if self.cpu else 0.0


def best(figures: list[Figure]) -> Figure:
    return max(figures, key=lambda f: f.rate)


def _drive(sink: Sink, changes: list[RowChange], batch: int) -> None:
    for b in batches(changes, batch):
        sink.write_batch(b)
    flush = getattr(sink, "flush", None)
    if flush is not None:
        flush()


def timed(fn: Callable[[], None], changes: int, server_pid: int | None = None) -> Figure:
    server = tree_cpu(server_pid)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Figure(changes, wall, cpu, tree_cpu(server_pid) - server)


# --- sinks on fresh destinations ----------------------------------------------------------------


class Targets:
    """The servers, and a fresh sink on each for every run (so every run starts from empty tables)."""

    def __init__(self, stack: ExitStack, wanted: set[str]) -> None:
        self.pg: PostgresServer | None = None
        self.ch: ClickHouseWorker | None = None
        self.ts: TimescaleServer | None = None
        if wanted & {"postgres", "all"}:
            self.pg = stack.enter_context(PostgresServer(settings={"shared_buffers": "256MB"}))
        if wanted & {"clickhouse", "all"}:
            self.ch = stack.enter_context(ClickHouseWorker())
        if wanted & {"timescale", "all"}:
            self.ts = stack.enter_context(TimescaleServer())

    def postgres(self, tables: list[TableSchema]) -> PostgresSink:
        assert self.pg is not None
        tag = f"bench{next(_runs)}"
        sink = PostgresSink(self.pg.dsn, name=tag, schema_names={t.keyspace: tag for t in tables})
        sink.start(tables)
        return sink

    def drop_postgres(self, sink: PostgresSink) -> None:
        sink.close()
        assert self.pg is not None
        with psycopg.connect(self.pg.dsn, autocommit=True) as conn:
            for schema in {layout.schema_name for layout in sink.layouts.values()}:
                conn.execute(f"DROP SCHEMA IF EXISTS {q(schema)} CASCADE")

    def clickhouse(self, tables: list[TableSchema]) -> ClickHouseSink:
        assert self.ch is not None
        sink = ClickHouseSink(self.ch.url, name=f"bench{next(_runs)}")
        for keyspace in {t.keyspace for t in tables}:
            sink.client.command(f"DROP DATABASE IF EXISTS `{keyspace}`")
        sink.start(tables)
        return sink

    def timescale(self, tables: list[TableSchema]) -> TimescaleSink:
        assert self.ts is not None
        tag = f"bench{next(_runs)}"
        sink = TimescaleSink(self.ts.dsn, name=tag, schema_names={t.keyspace: tag for t in tables})
        sink.start(tables)
        return sink


# --- the COPY floor -----------------------------------------------------------------------------


def copy_rows(tables: dict[tuple[str, str], TableSchema], changes: list[RowChange]) -> dict[str, list[list[Any]]]:
    """One row per change: its key and simple cell values converted as the sink's mapping does; a
    collection column holds its changed elements' values (jsonb)."""
    layouts = {key: build_layout(t) for key, t in tables.items()}
    out: dict[str, list[list[Any]]] = {}
    for change in changes:
        layout = layouts[(change.keyspace, change.table)]
        table = layout.table
        values: dict[str, Any] = {**change.partition_key, **change.clustering}
        elements: dict[str, list[Any]] = {}
        for cell in change.cells:
            if cell.has_path:
                elements.setdefault(cell.column, []).append(cell.value)
            elif not cell.deleted and cell.value is not None and not cell.counter_shards:
                values[cell.column] = cell.value
        row = []
        for col in table.columns:
            if col.type.is_multi_cell:
                items = elements.get(col.name)
                row.append(None if items is None else "[" + ",".join('"x"' for _ in items) + "]")
            else:
                value = values.get(col.name)
                row.append(None if value is None else layout.pgtypes[col.name].convert(value))
        out.setdefault(f"{table.keyspace}_{table.name}", []).append(row)
    return out


def copy_floor(
    dsn: str, server_pid: int | None, tables: dict[tuple[str, str], TableSchema], rows: dict[str, list[list[Any]]]
) -> Figure:
    tag = f"floor{next(_runs)}"
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE SCHEMA {tag}")
        for table in tables.values():
            layout = build_layout(table)
            cols = ", ".join(f"{q(c.name)} {layout.pgtypes[c.name].sql}" for c in table.columns)
            conn.execute(f"CREATE TABLE {tag}.{q(table.keyspace + '_' + table.name)} ({cols})")
        conn.commit()

        def run() -> None:
            with conn.cursor() as cur:
                for name, table_rows in rows.items():
                    with cur.copy(f"COPY {tag}.{q(name)} FROM STDIN") as copy:
                        for row in table_rows:
                            copy.write_row(row)
            conn.commit()

        figure = timed(run, sum(len(r) for r in rows.values()), server_pid)
        conn.execute(f"DROP SCHEMA {tag} CASCADE")
        conn.commit()
    return figure


# --- main ---------------------------------------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _line(label: str, f: Figure, extra: str = "") -> None:
    print(
        f"{label:<28} {f.changes:>8} changes  {f.wall:7.2f} s  {f.rate:>9,.0f} changes/s  "
        f"cpu {f.cpu:6.2f} s  {f.cpu_rate:>9,.0f} changes/cpu-s  server cpu {f.server_cpu:6.2f} s{extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--timescale-changes", type=int, default=5_000, help="PGlite is slow: fewer changes")
    parser.add_argument("--sinks", default=",".join(SINKS))
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    wanted = {s.strip() for s in args.sinks.split(",") if s.strip()}
    unknown = wanted - set(SINKS)
    if unknown:
        parser.error(f"unknown sinks {sorted(unknown)}; choose from {','.join(SINKS)}")

    schema = benchmark_schema()
    tables = list(schema.tables.values())
    by_key = {(t.keyspace, t.name): t for t in tables}
    started = time.perf_counter()
    changes = make_changes(schema, args.changes, args.seed)
    cells = sum(len(c.cells) for c in changes)
    # The changes stay alive for the whole run; freezing them keeps the collector from walking them
    # again and again, as a pipeline holding one batch at a time would not need it to.
    gc.freeze()
    print(f"made {len(changes)} changes ({cells} cells) in {time.perf_counter() - started:.1f} s", flush=True)
    # The changes themselves are the benchmark's, not the sinks': a pipeline holds one batch at a time.
    print(f"RSS with the changes in memory: {_rss_mb():.0f} MB", flush=True)
    ts_changes = changes[: args.timescale_changes]
    results: dict[str, Figure] = {}

    with ExitStack() as stack:
        targets = Targets(stack, wanted)

        if targets.pg is not None and wanted & {"postgres", "all"}:
            rows = copy_rows(by_key, changes)
            floor = best([copy_floor(targets.pg.dsn, targets.pg.pid, by_key, rows) for _ in range(args.repeat)])
            del rows
            _line("postgres COPY floor", floor)
            results["copy"] = floor

        if "postgres" in wanted:
            figures = []
            for _ in range(args.repeat):
                sink = targets.postgres(tables)
                run = functools.partial(_drive, sink, changes, args.batch)
                figures.append(timed(run, len(changes), targets.pg.pid if targets.pg else None))
                targets.drop_postgres(sink)
            results["postgres"] = best(figures)
            ratio = results["copy"].rate / results["postgres"].rate if "copy" in results else 0.0
            _line("postgres sink", results["postgres"], f"  (COPY is {ratio:.1f}x faster)")

        if "clickhouse" in wanted:
            figures = []
            for _ in range(args.repeat):
                ch_sink = targets.clickhouse(tables)
                run = functools.partial(_drive, ch_sink, changes, args.batch)
                figures.append(timed(run, len(changes), targets.ch.pid if targets.ch else None))
                ch_sink.close()
            results["clickhouse"] = best(figures)
            _line("clickhouse sink", results["clickhouse"])

        if "timescale" in wanted:
            ts_sink = targets.timescale(tables)
            run = functools.partial(_drive, ts_sink, ts_changes, args.batch)
            results["timescale"] = timed(run, len(ts_changes), targets.ts.pid if targets.ts else None)
            ts_sink.close()
            _line("timescale sink (PGlite)", results["timescale"])

        if "all" in wanted:
            lanes: list[tuple[str, Sink, list[RowChange]]] = []
            pg_sink = targets.postgres(tables)
            lanes.append(("postgres", pg_sink, changes))
            lanes.append(("clickhouse", targets.clickhouse(tables), changes))
            lanes.append(("timescale", targets.timescale(tables), ts_changes))
            lane_figures: dict[str, Figure] = {}
            errors: list[BaseException] = []

            def lane(name: str, sink: Sink, items: list[RowChange]) -> None:
                try:
                    t0 = time.perf_counter()
                    _drive(sink, items, args.batch)
                    lane_figures[name] = Figure(len(items), time.perf_counter() - t0, 0.0)
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=lane, args=entry) for entry in lanes]
            wall, cpu = time.perf_counter(), time.process_time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            for _, lane_sink, _ in lanes:
                lane_sink.close()
            targets.drop_postgres(pg_sink)
            if errors:
                raise errors[0]
            for name, f in lane_figures.items():
                _line(f"all together: {name} lane", f)
            # Every PostgreSQL and ClickHouse change delivered, by the wall clock and the process's CPU.
            together = Figure(len(changes), max(lane_figures[n].wall for n in ("postgres", "clickhouse")), cpu)
            _line("all together (pg+ch lanes)", together, f"  (whole run {wall:.2f} s)")
            results["all"] = together

    print(f"max RSS: {_rss_mb():.0f} MB")
    headline = [results[n].rate for n in ("postgres", "clickhouse") if n in results]
    if not headline and "all" in results:
        headline = [results["all"].rate]
    print(f"changes_per_s: {min(headline) if headline else 0:.0f}")


if __name__ == "__main__":
    main()
