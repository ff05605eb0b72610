"""`cassandra-cdc run` as a real process: start summary, SIGTERM commits and exits cleanly, a restart resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator
from tests.pipeline.support import changes_in
from tests.sinks import pg_helpers

SINK = "wh_cli"


def _command() -> list[str]:
    return [sys.executable, "-c", "from cassandra_cdc.cli import main; main()"]


def _position(dsn: str) -> tuple[int, int] | None:
    with psycopg.connect(dsn) as conn:
        try:
            row = conn.execute(
                "SELECT segment_id, position FROM public.cdc_sink_positions WHERE sink = %s AND node = 'n1'", (SINK,)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return (row[0], row[1]) if row else None


def _start(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
    return subprocess.Popen(
        [*_command(), "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(condition, timeout: float, what: str, process: subprocess.Popen[str]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            errors = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"process exited ({process.returncode}) while waiting for {what}: {errors}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.timeout(120)
def test_run_until_sigterm_commits_and_resumes(tmp_path: Path, postgres_server: PostgresServer) -> None:
    keyspace = "cli_run"
    cql = BENCHMARK_CQL.replace("shop", keyspace)
    (tmp_path / "schema.cql").write_text(cql)
    schema, _ = parse_cql_schema(cql, "cli run test")
    cdc_raw = tmp_path / "cdc_raw"
    node = SimulatedNode(cdc_raw, segment_size=128 * 1024)
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=9, now=int(time.time()))
    for _ in range(30):
        node.sync([encoder.encode(m, 12) for m in generator.mutations(100)])
    node.close()
    last = node.positions[-1]
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\n"
        f"sinks:\n  {SINK}: {{type: postgres, dsn: '{postgres_server.dsn}', batch_size: 150}}\n"
        "retention: {mode: keep}\nobservability: {http: {port: 0}, log_format: json}\n"
        "shutdown: {grace_period: 20}\n"
    )

    # First run: stopped by SIGTERM while it still has a backlog.
    process = _start(config)
    try:
        assert process.stdout is not None
        summary = process.stdout.readline()
        assert summary.startswith("cassandra-cdc: 1 node(s) [n1], 3 table(s), sinks: wh_cli (postgres); retention keep")
        assert "http http://127.0.0.1:" in summary
        assert postgres_server.dsn not in summary
        _wait_for(lambda: _position(postgres_server.dsn) is not None, 30, "a first commit", process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=25)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "SIGTERM received" in stderr
    stopped_at = _position(postgres_server.dsn)
    assert stopped_at is not None and stopped_at <= (last.segment_id, last.position)

    # Second run resumes from the committed position and reaches the end; SIGINT stops it too.
    process = _start(config)
    try:
        _wait_for(lambda: _position(postgres_server.dsn) == (last.segment_id, last.position), 60, "the end", process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=25)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    with psycopg.connect(postgres_server.dsn) as conn:
        assert pg_helpers.assert_matches_oracle(conn, list(schema.tables.values()), changes_in([cdc_raw], schema)) > 0


def test_run_with_an_invalid_configuration_exits_two(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text("sources: {n1: {cdc_raw: nowhere}}\nschema: {cql: s.cql}\nsinks: {x: {type: postgres, dsn: d}}\n")
    result = subprocess.run([*_command(), "run", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"error: {config}:1: sources.n1.cdc_raw: {tmp_path / 'nowhere'} is not a directory" in result.stderr
    assert f"error: {config}:2: schema.cql: {tmp_path / 's.cql'}: no such file or directory" in result.stderr
