"""The pipeline process killed with SIGKILL over and over while it replicates, restarted each time.

More than 10,000 changes, written live by a simulated node, go to PostgreSQL, ClickHouse and
TimescaleDB; the `cassandra-cdc run` process is killed at random moments at least 20 times, and
twice kills itself through the fail point between a sink's data write and its position write.
Afterwards every sink equals the oracle row for row: exact counts, no duplicates.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.servers.clickhouse import ClickHouseWorker
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.servers.timescale import TimescaleServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.clickhouse.client import connect as clickhouse_connect
from cassandra_cdc.sinks.clickhouse.positions import PositionStore
from cassandra_cdc.sinks.failpoints import AFTER_DATA_BEFORE_POSITION
from tests.pipeline.support import changes_in, wait_for
from tests.sinks import clickhouse_support, pg_helpers

KEYSPACE = "crash"
KILLS = 22
FAILPOINT_RUNS = {4, 13}  # these runs kill themselves between a data write and its position write
MUTATIONS = 10_500  # each mutation makes at least one change


def _position(dsn: str, sink: str, **connect: object) -> tuple[int, int] | None:
    with psycopg.connect(dsn, connect_timeout=10, **connect) as conn:  # type: ignore[arg-type]
        try:
            row = conn.execute(
                "SELECT segment_id, position FROM public.cdc_sink_positions WHERE sink = %s AND node = 'n1'", (sink,)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return (int(row[0]), int(row[1])) if row else None


def _clickhouse_position(url: str) -> tuple[int, int] | None:
    try:
        position = PositionStore(clickhouse_connect(url), "cassandra_cdc", "olap").read().get("n1")
    except Exception:  # the positions table does not exist before the first commit
        return None
    return (position.segment_id, position.position) if position else None


def _all_at(end: tuple[int, int], positions: Callable[[], dict[str, tuple[int, int] | None]]) -> bool:
    # PGlite serves one session at a time: polling it every 50 ms would slow the lane being waited for.
    time.sleep(0.5)
    return set(positions().values()) == {end}


def _start(config: Path, failpoint: bool, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
    if failpoint:
        env["CDC_FAILPOINT"] = f"{AFTER_DATA_BEFORE_POSITION}:3"
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-c", "from cassandra_cdc.cli import main; main()", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


@pytest.mark.timeout(600)
def test_sigkilled_pipeline_converges_exactly(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    # A TimescaleDB (PGlite) of its own: PGlite is one session for every client, so clients of other
    # tests and this test's killed processes must not meet in it.
    with TimescaleServer() as timescale_server:
        _sigkilled_pipeline_converges_exactly(tmp_path, postgres_server, clickhouse_server, timescale_server)


def _sigkilled_pipeline_converges_exactly(
    tmp_path: Path,
    postgres_server: PostgresServer,
    clickhouse_server: ClickHouseWorker,
    timescale_server: TimescaleServer,
) -> None:
    cql = BENCHMARK_CQL.replace("shop", KEYSPACE)
    (tmp_path / "schema.cql").write_text(cql)
    schema, _ = parse_cql_schema(cql, "crash test")
    cdc_raw = tmp_path / "cdc_raw"
    node = SimulatedNode(cdc_raw, segment_size=512 * 1024)
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=2024, now=int(time.time()))
    (tmp_path / "pipeline.yaml").write_text(
        "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\n"
        "sinks:\n"
        f"  warehouse: {{type: postgres, dsn: '{postgres_server.dsn}', batch_size: 400}}\n"
        f"  olap: {{type: clickhouse, url: '{clickhouse_server.url}', batch_size: 400}}\n"
        f"  series: {{type: timescaledb, dsn: '{timescale_server.dsn}', batch_size: 400,"
        f" hypertables: {{{KEYSPACE}.readings: {{time_column: ts}}}}}}\n"
        "retention: {mode: keep}\nobservability: {http: {enabled: false}}\nshutdown: {grace_period: 30}\n"
    )

    # The node writes half before the first start and the rest while the process is being killed.
    def write(count: int) -> None:
        for _ in range(count // 100):
            node.sync([encoder.encode(m, 12) for m in generator.mutations(100)])

    write(MUTATIONS // 2)
    writer = threading.Thread(target=lambda: (write(MUTATIONS - MUTATIONS // 2), node.close()), daemon=True)
    rng = random.Random(7)
    self_killed = 0
    writer_started = False
    for run in range(KILLS):
        process = _start(tmp_path / "pipeline.yaml", failpoint=run in FAILPOINT_RUNS, log=tmp_path / f"run-{run}.log")
        if not writer_started:
            writer.start()
            writer_started = True
        if run in FAILPOINT_RUNS:
            # The fail point fires on the third data write: the process dies by itself.
            returncode = process.wait(timeout=120)
            assert returncode == -signal.SIGKILL, f"run {run} exited {returncode} instead of hitting the fail point"
            self_killed += 1
            continue
        time.sleep(rng.uniform(0.8, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    writer.join(timeout=120)
    assert self_killed == len(FAILPOINT_RUNS)
    # pglite-socket can be left inside the transaction of a client killed at the wrong moment, which
    # then blocks every other client (docs/servers.md); a real server rolls back on disconnect. Its
    # data stays on disk: restarting it clears the session, as an operator would.
    timescale_server.stop()
    timescale_server.start()

    last = node.positions[-1]
    end = (last.segment_id, last.position)
    ts_connect = timescale_server.connect_kwargs()
    final_log = tmp_path / "final-run.log"
    process = _start(tmp_path / "pipeline.yaml", failpoint=False, log=final_log)

    def positions() -> dict[str, tuple[int, int] | None]:
        return {
            "warehouse": _position(postgres_server.dsn, "warehouse"),
            "olap": _clickhouse_position(clickhouse_server.url),
            "series": _position(timescale_server.dsn, "series", **ts_connect),
        }

    try:
        try:
            wait_for(lambda: _all_at(end, positions), 300, "every sink to reach the end of the log")
        except AssertionError as exc:
            tail = final_log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"{exc}: end {end}, positions {positions()}; its log ends:\n{tail}") from None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()

    changes = changes_in([cdc_raw], schema)
    assert len(changes) >= 10_000
    tables = list(schema.tables.values())
    with psycopg.connect(postgres_server.dsn) as conn:
        assert pg_helpers.assert_matches_oracle(conn, tables, changes) > 0
    with psycopg.connect(timescale_server.dsn, **ts_connect) as conn:  # type: ignore[arg-type]
        assert pg_helpers.assert_matches_oracle(conn, tables, changes) > 0
    oracle = Oracle(tables)
    oracle.apply_all(changes)
    assert clickhouse_support.assert_same(clickhouse_connect(clickhouse_server.url), oracle, tables) > 0
