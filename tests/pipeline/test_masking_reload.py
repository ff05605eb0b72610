"""Key rotation while `cassandra-cdc run` runs: SIGHUP reloads the masking section, and only changes
masked afterwards use the new key; tokens already delivered stay as they were."""

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
from tests.pipeline.support import wait_for

KEYSPACE = "rotation"
SINK = "wh_rotation"
CONFIG = """sources: {{n1: {{cdc_raw: cdc_raw}}}}
schema: {{cql: schema.cql}}
sinks:
  {sink}: {{type: postgres, dsn: '{dsn}', batch_size: 200}}
retention: {{mode: keep}}
observability: {{http: {{enabled: false}}}}
secrets: {{pepper: "pepper-pepper-pepper-1", k1: "key-one-key-one-key-one", k2: "key-two-key-two-key-two"}}
masking:
  pepper: "secret:pepper"
  keys: {{v1: "secret:k1", v2: "secret:k2"}}
  active_key: {active}
  tables:
    {keyspace}.users:
      name: {{rule: hmac, classification: pii}}
"""


def _names(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        try:
            rows = conn.execute(f'SELECT name FROM "{KEYSPACE}"."users" WHERE name IS NOT NULL').fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [row[0] for row in rows]


def _position(dsn: str) -> tuple[int, int] | None:
    with psycopg.connect(dsn) as conn:
        try:
            row = conn.execute(
                "SELECT segment_id, position FROM public.cdc_sink_positions WHERE sink = %s AND node = 'n1'", (SINK,)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return (int(row[0]), int(row[1])) if row else None


@pytest.mark.timeout(120)
def test_sighup_rotates_the_token_key_for_later_changes_only(tmp_path: Path, postgres_server: PostgresServer) -> None:
    cql = BENCHMARK_CQL.replace("shop", KEYSPACE)
    (tmp_path / "schema.cql").write_text(cql)
    schema, _ = parse_cql_schema(cql, "rotation test")
    config = tmp_path / "pipeline.yaml"
    fill = {"sink": SINK, "dsn": postgres_server.dsn, "keyspace": KEYSPACE}
    config.write_text(CONFIG.format(active="v1", **fill))
    node = SimulatedNode(tmp_path / "cdc_raw", segment_size=256 * 1024)
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=3, now=int(time.time()))

    def write(count: int) -> tuple[int, int]:
        for _ in range(count // 100):
            node.sync([encoder.encode(m, 12) for m in generator.mutations(100)])
        last = node.positions[-1]
        return last.segment_id, last.position

    env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cassandra_cdc.cli import main; main()", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        end = write(600)
        wait_for(lambda: _position(postgres_server.dsn) == end, 60, "the first half")
        before = _names(postgres_server.dsn)
        assert before and all(name.startswith("tok_v1_") for name in before)

        config.write_text(CONFIG.format(active="v2", **fill))
        process.send_signal(signal.SIGHUP)
        time.sleep(1.0)  # the handler runs between the lane's batches
        end = write(600)
        wait_for(lambda: _position(postgres_server.dsn) == end, 60, "the second half")
        after = _names(postgres_server.dsn)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "masking rules and keys reloaded" in stderr
    v1 = {name for name in after if name.startswith("tok_v1_")}
    v2 = {name for name in after if name.startswith("tok_v2_")}
    assert v2, "changes after the reload use the new key"
    assert v1 and v1 <= set(before), "rows not written since keep the tokens they were given"
    assert v1 | v2 == set(after)
