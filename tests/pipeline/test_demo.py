"""`cassandra-cdc demo` in a short mode: real servers, the real pipeline, masking, the oracle, the audit."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.cli import app
from cassandra_cdc.pipeline import demo
from cassandra_cdc.pipeline.demo import DemoOptions, DemoReport, run_demo
from cassandra_cdc.servers.ports import ServerError

# The columns the demo's masking classifies (keys included), whose raw values must never show.
CLASSIFIED = {
    "users": {"user_id", "email", "name", "phone", "home"},
    "patients": {"patient_id", "ssn", "name", "date_of_birth", "diagnosis", "notes", "allergies"},
}


def _raw_texts(changes: list[RowChange]) -> set[str]:
    """Every raw classified value (as text, 6+ characters so that e.g. a country code is not counted)."""
    out: set[str] = set()
    for change in changes:
        columns = CLASSIFIED.get(change.table, set())
        for name, value in change.partition_key.items():
            if name in columns:
                out.add(str(value))
        for cell in change.cells:
            if cell.column in columns and not cell.column.startswith("home"):
                for part in (cell.value, cell.path if cell.column == "allergies" else None):
                    if part is not None and len(str(part)) >= 6:
                        out.add(str(part))
            if cell.column == "home" and cell.path in ("street", "zip") and cell.value is not None:
                out.add(str(cell.value))
    # A raw value equal to its own redacted form is no leak (the audit counts these as fixed points).
    return out - {"1970-01-01", "REDACTED"}


def _require_servers(skipped: dict[str, str]) -> None:
    """Like the server fixtures: a server that cannot start skips locally and fails under CI."""
    if skipped:
        message = f"demo servers unavailable: {skipped} (run scripts/install-servers)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status), bytes(response.read())


@pytest.mark.timeout(150)
def test_demo_end_to_end_short(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def on_running(report: DemoReport) -> None:
        assert report.status_url is not None
        seen["status"] = _get(report.status_url)
        base = report.status_url.removesuffix("/status")
        seen["api"] = json.loads(_get(f"{base}/api/status")[1])
        seen["config"] = report.config_path.read_text()

    console = Console(file=(tmp_path / "out.txt").open("w"), width=200)
    report = run_demo(
        DemoOptions(mutations=400, duration=2.0, seed=7, workdir=tmp_path / "work"),
        console=console,
        on_running=on_running,
    )
    output = (tmp_path / "out.txt").read_text()

    # Nothing skipped on a machine set up by scripts/install-servers; every sink caught up.
    _require_servers(report.skipped)
    assert sorted(report.sinks) == ["clickhouse", "postgres", "timescaledb"]
    assert report.written == 400 and len(report.raw_changes) >= 400
    assert all(s.caught_up and s.state == "running" for s in report.sinks.values()), report.sinks
    # Rows per table: every sink equals the oracle fed the masked changes.
    assert set(report.oracle_counts) == {"demo.users", "demo.patients", "demo.orders", "demo.sensor_readings"}
    assert all(n > 0 for n in report.oracle_counts.values())
    for sink in report.sinks.values():
        assert sink.counts == report.oracle_counts, sink.name
    assert report.equal and report.ok
    assert "EQUAL" in output and "MASKED" in output

    # The status page answered while the pipeline ran, listing every sink.
    assert report.status_answered == 200 and seen["status"][0] == 200
    assert b"<html" in seen["status"][1].lower()
    assert {d["destination"] for d in seen["api"]["destinations"]} == set(report.sinks)
    assert "masking:" in seen["config"] and "${env:DEMO_MASKING_PEPPER}" in seen["config"]

    # Lag percentiles from the metrics.
    for end_to_end, pipeline in report.lag.values():
        assert end_to_end.samples > 0 and end_to_end.p50 is not None and pipeline.p99 is not None

    # Masked samples: shaped by their rules, and no raw value anywhere in them.
    users, patients = report.samples["demo.users"], report.samples["demo.patients"]
    assert users and patients
    raw = _raw_texts(report.raw_changes)
    assert len(raw) > 100
    shown = json.dumps([users, patients], default=str)
    assert not [value for value in raw if value in shown]
    for row in users:
        assert row["email"] is None or re.fullmatch(r"\*\*\*@[a-z.]+", row["email"])
        assert row["phone"] is None or re.fullmatch(r"\*\*\*\d{4}", row["phone"])
        assert row["name"] is None or row["name"].startswith("tok_v1_")
    for row in patients:
        assert row["ssn"] is None or row["ssn"].startswith("hash_")
        assert row["notes"] in (None, "REDACTED")

    # The audit read every sink back: every classified table checked, no leak.
    assert report.audit is not None and report.audit.ok
    assert {t.sink for t in report.audit.tables} == set(report.sinks)
    assert all(t.rows > 0 and t.raw_values > 0 for t in report.audit.tables)
    assert "audit (cassandra-cdc audit): passed" in output
    for name in report.sinks:
        assert name in output
    assert "psql 'postgresql://" in output and "curl 'http://127.0.0.1:" in output


def test_demo_command_skips_a_sink_that_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    real = demo._make_server

    def make(kind: str) -> Any:
        if kind == "timescaledb":
            raise ServerError("node (Node.js >= 18) not found on PATH; run scripts/install-servers\nmore detail")
        return real(kind)

    monkeypatch.setattr(demo, "_make_server", make)
    result = CliRunner().invoke(
        app,
        ["demo", "--mutations", "200", "--duration", "1", "--sink", "postgres", "--sink", "timescaledb"],
        catch_exceptions=False,
    )
    if "skipped postgres" in result.output:
        _require_servers({"postgres": result.output})
    assert result.exit_code == 0, result.output
    assert "skipped timescaledb: ServerError: node (Node.js >= 18) not found on PATH" in result.output
    assert "more detail" not in result.output
    assert "EQUAL" in result.output and "passed" in result.output


def test_demo_command_rejects_an_unknown_sink() -> None:
    result = CliRunner().invoke(app, ["demo", "--sink", "mysql"])
    assert result.exit_code == 2
    assert "unknown mysql" in result.output


def test_demo_workdir_must_be_empty_or_a_previous_demos(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty and not a previous demo's directory" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"
    # A previous demo's directory: its segments and archive go (the new run's segment ids start over).
    previous = tmp_path / "previous"
    (previous / "cdc_raw").mkdir(parents=True)
    (previous / "cdc_raw" / "CommitLog-7-1.log").write_bytes(b"old")
    (previous / "archive" / "node1").mkdir(parents=True)
    (previous / "pipeline.yaml").write_text(demo.PIPELINE_YAML.format(path="p", node="n", sinks="", http_port=0))
    demo.prepare_workdir(previous)
    assert sorted(p.name for p in previous.iterdir()) == ["pipeline.yaml"]
