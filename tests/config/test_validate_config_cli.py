"""`cassandra-cdc validate-config FILE`: exit 0 when valid, 2 with every error on stderr."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cassandra_cdc.cli import app
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL


def _setup(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "raw").mkdir(exist_ok=True)
    (tmp_path / "schema.cql").write_text(BENCHMARK_CQL)
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "sources: {n1: {cdc_raw: raw}}\nschema: {cql: schema.cql}\n"
        "sinks:\n  warehouse: {type: postgres, dsn: 'postgresql://x/y'}\n" + extra
    )
    return path


def test_valid_configuration_exits_zero_with_a_summary(tmp_path: Path) -> None:
    path = _setup(tmp_path)
    result = CliRunner().invoke(app, ["validate-config", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: valid: 1 node(s), 3 table(s) selected, sinks: warehouse (postgres)" in result.stdout


def test_invalid_configuration_exits_two_with_errors_on_stderr(tmp_path: Path) -> None:
    path = _setup(tmp_path, "batching: {batch_size: 0}\n")
    result = CliRunner().invoke(app, ["validate-config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"error: {path}:5: batching.batch_size: must be > 0 (got 0)" in result.stderr


def test_checks_against_the_schema(tmp_path: Path) -> None:
    path = _setup(
        tmp_path,
        "tables: {include: [shop.users, shop.nothing]}\nmasking: {tables: {shop.users: {no_such_column: redact}}}\n",
    )
    text = path.read_text().replace(
        "dsn: 'postgresql://x/y'}", "dsn: 'postgresql://x/y', type_overrides: {shop.users: {nope: text}, a.b: {}}}"
    )
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate-config", str(path)])
    assert result.exit_code == 2
    errors = result.stderr
    assert f"error: {path}: tables.include: 'shop.nothing' matches no table of the schema" in errors
    assert f"error: {path}: sinks.warehouse.type_overrides.shop.users.nope: no such column" in errors
    assert f"error: {path}: sinks.warehouse.type_overrides.a.b: no such table in the schema" in errors
    assert "masking" in errors and "no_such_column" in errors
    # Without the schema check the file itself is valid.
    result = CliRunner().invoke(app, ["validate-config", "--no-schema", str(path)])
    assert result.exit_code == 0, result.output
