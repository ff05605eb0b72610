"""`cassandra-cdc audit --config`: a masked pipeline passes; a sink written without masking fails (exit 1)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.cli import app
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.config import load_config
from cassandra_cdc.pipeline.audit import run_audit, source_segments
from cassandra_cdc.pipeline.runner import Pipeline, PipelineSetupError
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.simulator.demo_workload import demo_generator
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import DEMO_CQL, demo_schema
from tests.pipeline.support import changes_in, wait_for

MASKING = """\
masking:
  pepper: "secret:pepper"
  tables:
    demo.users:
      user_id: {classification: pii, rule: hash}
      email: {classification: pii, rule: partial, keep: email_domain}
      phone: {classification: pii, rule: partial, keep: last_digits}
      name: {classification: pii, rule: hash}
      home: {classification: pii, rule: redact}
    demo.patients:
      ssn: {classification: phi, rule: hash}
      notes: {classification: phi, rule: redact}
secrets:
  pepper: ${env:AUDIT_TEST_PEPPER}
"""


def _config(directory: Path, name: str, sink: str, dsn: str, pg_schema: str, *, masking: bool) -> Path:
    text = (
        "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\ntables: {include: ['demo.*']}\n"
        f"sinks:\n  {sink}: {{type: postgres, dsn: '{dsn}', schema_names: {{demo: {pg_schema}}}}}\n"
        "batching: {batch_size: 500, flush_interval: 0.05, poll_interval: 0.02}\n"
        "retention: {mode: keep}\nobservability: {http: {enabled: false}}\n"
        "shutdown: {grace_period: 10, supervise_interval: 0.05}\n" + (MASKING if masking else "")
    )
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cdc_raw holding 300 mutations of the demo workload, plus schema and .env beside it."""
    directory = tmp_path_factory.mktemp("audit")
    (directory / "schema.cql").write_text(DEMO_CQL)
    (directory / ".env").write_text("AUDIT_TEST_PEPPER=0123456789abcdef0123456789abcdef\n")
    schema = demo_schema()
    node = SimulatedNode(directory / "cdc_raw", segment_size=64 * 1024)
    generator = demo_generator(schema, seed=11, now=int(time.time()))
    encoder = MutationEncoder(schema)
    for _ in range(3):
        node.sync([encoder.encode(m, 12) for m in generator.mutations(100)])
        node.roll()  # three segments
    node.close()
    return directory


def _replicate(config_path: Path, sink: str) -> None:
    """Run the pipeline of ``config_path`` until its sink committed the whole cdc_raw."""
    config = load_config(config_path)
    pipeline = Pipeline(config)
    last = changes_in([config.sources["n1"].cdc_raw], pipeline.schema)[-1].source
    stop = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(pipeline.run(stop)), daemon=True)
    thread.start()
    try:
        wait_for(lambda: pipeline.lanes[sink].committed_positions().get("n1") == last, 60, f"{sink} at the end")
    finally:
        stop.set()
        thread.join(30)
    assert result == [True]


def _raw_emails(workload: Path) -> set[str]:
    changes = changes_in([workload / "cdc_raw"], demo_schema())
    return {str(c.value) for ch in changes if ch.table == "users" for c in ch.cells if c.column == "email"}


@pytest.mark.timeout(120)
def test_audit_passes_on_a_masked_sink(workload: Path, postgres_server: PostgresServer) -> None:
    config = _config(workload, "masked.yaml", "audit_masked", postgres_server.dsn, "audit_masked", masking=True)
    _replicate(config, "audit_masked")
    result = CliRunner().invoke(app, ["audit", "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("audit_masked demo.users:") and line.endswith(": OK") for line in lines), lines
    assert any(line.startswith("audit_masked demo.patients:") and line.endswith(": OK") for line in lines), lines
    assert lines[-1] == "audit passed"
    # The values really were checked: many rows, many raw values.
    loaded = load_config(config)
    run = run_audit(loaded)
    users = next(t for t in run.report.tables if t.table == "demo.users")
    assert users.rows > 20 and users.raw_values > 50 and users.values_checked > 100
    assert run.report.changes_read >= 300 and not run.report.read_errors


@pytest.mark.timeout(120)
def test_audit_fails_on_a_sink_written_without_masking(workload: Path, postgres_server: PostgresServer) -> None:
    # The pipeline ran WITHOUT its masking section into schema audit_plain...
    plain = _config(workload, "plain.yaml", "audit_plain", postgres_server.dsn, "audit_plain", masking=False)
    _replicate(plain, "audit_plain")
    # ...and the audit, which knows the classification, reads that sink.
    audited = _config(workload, "audited.yaml", "audit_plain", postgres_server.dsn, "audit_plain", masking=True)
    result = CliRunner().invoke(app, ["audit", "--config", str(audited)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    output = result.output
    assert "audit FAILED: classified values reached a sink unmasked" in output
    assert "audit_plain demo.users:" in output and "LEAK" in output
    for column in ("email", "phone", "name", "user_id"):
        assert f"column {column} (pii, selector {column})" in output, column
    assert "column ssn (phi, selector ssn)" in output
    # The report names columns and counts rows; it never quotes a raw value.
    emails = _raw_emails(workload)
    assert emails and not [e for e in emails if e in output]


def test_audit_config_errors_exit_2(workload: Path, postgres_server: PostgresServer) -> None:
    config = _config(workload, "errors.yaml", "audit_err", postgres_server.dsn, "audit_err", masking=True)
    result = CliRunner().invoke(app, ["audit", "--config", str(config), "--sink", "nope"])
    assert result.exit_code == 2
    assert "sinks.nope: no such sink" in result.output
    bad = workload / "bad.yaml"
    bad.write_text(config.read_text().replace("rule: redact", "rule: vanish"))
    result = CliRunner().invoke(app, ["audit", "--config", str(bad)])
    assert result.exit_code == 2 and "unknown rule 'vanish'" in result.output


class _Reader:
    """A sink reader over fixed rows, for the audit's logic without a server."""

    def __init__(self, name: str, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.name = name
        self._rows = rows

    def rows(self, table: TableSchema, limit: int | None = None) -> list[dict[str, Any]]:
        return self._rows.get(table.name, [])[:limit]

    def count(self, table: TableSchema) -> int:
        return len(self._rows.get(table.name, []))

    def close(self) -> None:
        pass


def test_unreachable_sink_fails_the_audit_and_segments_are_read_once(workload: Path) -> None:
    config_path = _config(workload, "unreachable.yaml", "down", "postgresql://x@127.0.0.1:1/x", "d", masking=True)
    config = load_config(config_path)
    changes: list[RowChange] = changes_in([workload / "cdc_raw"], demo_schema())
    run = run_audit(config, changes=changes)
    assert run.unreachable and "down" in run.unreachable and not run.ok and run.exit_code == 1
    # A sink whose rows hold a raw e-mail is a leak; the reader seam needs no server.
    email = next(str(c.value) for ch in changes if ch.table == "users" for c in ch.cells if c.column == "email")
    leaky = _Reader("down", {"users": [{"email": email}, {"email": "***@example.com"}]})
    run = run_audit(config, changes=changes, readers={"down": leaky})
    assert run.exit_code == 1
    (leak,) = run.report.leaks
    assert (leak.table, leak.column, leak.rows, leak.first_row) == ("demo.users", "email", 1, 0)
    with pytest.raises(PipelineSetupError, match="no such sink"):
        run_audit(config, changes=changes, sinks=["other"])


def test_source_segments_reads_cdc_raw_and_the_archive_once_each(workload: Path, tmp_path: Path) -> None:
    (tmp_path / "cdc_raw").mkdir()
    (tmp_path / "archive" / "n1").mkdir(parents=True)
    segments = sorted((workload / "cdc_raw").glob("CommitLog-*.log"))
    assert len(segments) >= 3
    # The oldest segment archived, the next in both places (retention moving it), the rest live.
    shutil.copy(segments[0], tmp_path / "archive" / "n1")
    shutil.copy(segments[1], tmp_path / "archive" / "n1")
    for segment in segments[1:]:
        shutil.copy(segment, tmp_path / "cdc_raw")
    (tmp_path / "schema.cql").write_text(DEMO_CQL)
    (tmp_path / "p.yaml").write_text(
        "sources: {n1: {cdc_raw: cdc_raw}}\nschema: {cql: schema.cql}\n"
        "sinks: {s: {type: postgres, dsn: 'postgresql://x@127.0.0.1:1/x'}}\n"
        "retention: {mode: archive, archive_dir: archive}\n"
    )
    config = load_config(tmp_path / "p.yaml", environ={})
    found = source_segments(config, "n1")
    assert [p.name for p in found] == [p.name for p in segments]
    assert found[0].parent == tmp_path / "archive" / "n1" and found[-1].parent == tmp_path / "cdc_raw"
