"""`cassandra-cdc inspect` end to end: real Cassandra segments in, one JSON object per changed row out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cassandra_cdc.cli import app
from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.segment_reader import read_segment
from tests.commitlog.fixture_schemas import read_hash_file, upgrade_test_hash

pytestmark = pytest.mark.fixtures

SCHEMA_TEMPLATE = """
CREATE KEYSPACE "Keyspace1" WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': '1'}};
CREATE TABLE "Keyspace1"."Standard1" (
    key ascii,
    col ascii,
    val blob,
    val0 blob,
    PRIMARY KEY (key, col)
) WITH ID = {table_id} AND cdc = true;
"""

V6_V7_FIXTURES = ["3.0.13-encrypted", "3.0.29-encrypted", "4.0.11-encrypted", "3.4-encrypted"]


def _schema_file(tmp_path: Path, directory: Path) -> Path:
    path = tmp_path / "schema.cql"
    path.write_text(SCHEMA_TEMPLATE.format(table_id=read_hash_file(directory)["cfid"]))
    return path


def _run(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(app, ["inspect", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines, result.stderr


def _key_args(root: Path, fixture: str) -> list[str]:
    if fixture != "3.4-encrypted":
        return []
    keystore = str(root / "keys" / "cassandra.keystore")
    return ["--keystore", keystore, "--keystore-password", "cassandra", "--key-alias", "testing:1"]


def _upgrade_check(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """CommitLogUpgradeTest's check, over inspect's JSON: cells of rows whose clustering starts with "name"."""
    cells = 0
    hash_value = 0
    for row in rows:
        if row["table"] != "Standard1" or not row["key"]["col"].startswith("name"):
            continue
        for cell in row["cells"].values():
            cells += 1
            hash_value = upgrade_test_hash(hash_value, bytes.fromhex(cell["value"][2:]))
    return cells, hash_value


@pytest.mark.parametrize("fixture", V6_V7_FIXTURES)
def test_inspect_real_segments_match_cassandra_hash(commitlog_fixtures: Path, tmp_path: Path, fixture: str) -> None:
    directory = commitlog_fixtures / fixture
    code, rows, stderr = _run(
        str(directory), "--schema", str(_schema_file(tmp_path, directory)), *_key_args(commitlog_fixtures, fixture)
    )
    assert code == 0, stderr
    expected = read_hash_file(directory)
    assert _upgrade_check(rows) == (int(expected["cells"]), int(expected["hash"]))
    first = rows[0]
    assert set(first) >= {"segment", "position", "keyspace", "table", "op", "key", "cells"}
    assert first["keyspace"] == "Keyspace1" and first["op"] in ("insert", "update")
    cell = next(iter(first["cells"].values()))
    assert set(cell) == {"value", "writetime", "ttl", "expires_at", "deleted"}
    assert cell["value"].startswith("0x") and isinstance(cell["writetime"], int)
    positions = [(row["segment"], row["position"]) for row in rows]
    assert positions == sorted(positions)


@pytest.mark.parametrize("version", ["3.0.29", "4.1.3"])
def test_inspect_hint_files_match_cassandra_hash(commitlog_fixtures: Path, tmp_path: Path, version: str) -> None:
    directory = commitlog_fixtures / "hints" / version
    code, rows, stderr = _run(str(directory), "--schema", str(_schema_file(tmp_path, directory)))
    assert code == 0, stderr
    expected = read_hash_file(directory)
    # HintsUpgradeTest hashes every cell of the table, whatever its clustering.
    cells = 0
    hash_value = 0
    for row in rows:
        for cell in row["cells"].values():
            cells += 1
            hash_value = upgrade_test_hash(hash_value, bytes.fromhex(cell["value"][2:]))
    assert (cells, hash_value) == (int(expected["cells"]), int(expected["hash"]))


def test_resume_from_printed_position(commitlog_fixtures: Path, tmp_path: Path) -> None:
    directory = commitlog_fixtures / "4.0.11-encrypted"
    schema = str(_schema_file(tmp_path, directory))
    _, rows, _ = _run(str(directory), "--schema", schema)
    cut = rows[99]
    code, resumed, stderr = _run(str(directory), "--schema", schema, "--from", f"{cut['segment']}:{cut['position']}")
    assert code == 0, stderr
    assert resumed == rows[100:]


def test_corrupt_entry_is_one_error_line_and_everything_else_prints(commitlog_fixtures: Path, tmp_path: Path) -> None:
    directory = commitlog_fixtures / "4.0.11-encrypted"
    schema = str(_schema_file(tmp_path, directory))
    _, clean_rows, _ = _run(str(directory), "--schema", schema)
    segment = next(directory.glob("CommitLog-*.log"))
    damaged = tmp_path / segment.name
    shutil.copy(segment, damaged)
    entries = [e for e in read_segment(segment) if isinstance(e, RawEntry)]
    victim = entries[50]
    data = bytearray(damaged.read_bytes())
    data[victim.start + 20] ^= 0x40  # inside the mutation body: the entry's data CRC no longer matches
    damaged.write_bytes(bytes(data))

    code, rows, stderr = _run(str(damaged), "--schema", schema)

    assert code != 0
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert str(damaged) in errors[0] and f"offset {victim.start}" in errors[0]
    lost = [row for row in clean_rows if row["position"] == victim.end]
    assert rows == [row for row in clean_rows if row["position"] != victim.end]
    assert len(rows) == len(clean_rows) - len(lost)


def test_pre_3_0_segments_are_refused_clearly(commitlog_fixtures: Path, tmp_path: Path) -> None:
    directory = commitlog_fixtures / "2.2-lz4"
    code, rows, stderr = _run(str(directory), "--schema", str(_schema_file(tmp_path, directory)))
    assert code != 0
    assert rows == []
    assert "before 3.0" in stderr and "CommitLog-5-1438186885380.log" in stderr


def test_damaged_2_2_segments_report_file_and_offset(commitlog_fixtures: Path, tmp_path: Path) -> None:
    directory = commitlog_fixtures / "2.2-lz4-bitrot"
    code, _, stderr = _run(str(directory), "--schema", str(_schema_file(tmp_path, directory)))
    assert code != 0
    assert "offset 251295: entry data CRC mismatch" in stderr


def test_unknown_table_named_once_and_counted(commitlog_fixtures: Path, tmp_path: Path) -> None:
    directory = commitlog_fixtures / "4.0.11-encrypted"
    other = tmp_path / "other.cql"
    other.write_text(SCHEMA_TEMPLATE.format(table_id="00000000-0000-1000-8000-000000000001"))
    code, rows, stderr = _run(str(directory), "--schema", str(other))
    table_id = read_hash_file(directory)["cfid"]
    assert code == 0
    assert rows == []
    assert stderr.count(f"table id {table_id} is not in the schema") == 1
    assert f"skipped 355 mutations of unknown table id {table_id}" in stderr


def test_schema_without_ids_is_reported(commitlog_fixtures: Path, tmp_path: Path) -> None:
    directory = commitlog_fixtures / "4.0.11-encrypted"
    plain = tmp_path / "plain.cql"
    plain.write_text(SCHEMA_TEMPLATE.replace(" WITH ID = {table_id} AND", " WITH"))
    _, _, stderr = _run(str(directory), "--schema", str(plain))
    assert "WITH INTERNALS" in stderr


def test_bad_position_and_missing_keystore_options_fail_clearly(commitlog_fixtures: Path, tmp_path: Path) -> None:
    directory = commitlog_fixtures / "4.0.11-encrypted"
    schema = str(_schema_file(tmp_path, directory))
    result = CliRunner().invoke(app, ["inspect", str(directory), "--schema", schema, "--from", "12x"])
    assert result.exit_code == 2 and "SEGMENT_ID:POSITION" in result.stderr
    result = CliRunner().invoke(app, ["inspect", str(directory), "--schema", schema, "--keystore", "k.jks"])
    assert result.exit_code == 2 and "--keystore-password" in result.stderr
