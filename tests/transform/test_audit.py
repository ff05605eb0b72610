"""The audit: raw classified values found in a sink's rows are reported; masked rows pass."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.segment_writer import SegmentWriter
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.transform import Masker, masker_from_config
from cassandra_cdc.transform.audit import audit, read_raw_changes, sink_atoms
from tests.transform.helpers import masking_section, workload_changes
from tests.transform.test_masker import cell, change, schema

NOW = 1_700_000_000


def oracle_source(schema: Schema, changes: Iterable[RowChange]) -> Callable[[TableSchema], list[dict[str, Any]]]:
    """An in-memory sink: the oracle's final-state rows of the given changes."""
    oracle = Oracle(schema)
    oracle.apply_all(changes)
    return lambda table: oracle.rows(table.keyspace, table.name, now=NOW)


@pytest.fixture(scope="module")
def setup() -> tuple[Schema, Masker, list[RowChange]]:
    schema = benchmark_schema()
    return schema, masker_from_config(masking_section(), schema), workload_changes(schema, 300)


def test_masked_sink_passes(setup: tuple[Schema, Masker, list[RowChange]]) -> None:
    schema, masker, changes = setup
    report = audit(schema, masker, {"memory": oracle_source(schema, [masker(c) for c in changes])}, changes=changes)
    assert report.ok, report.render()
    assert report.changes_read == len(changes)
    users = next(t for t in report.tables if t.table == "shop.users")
    assert users.rows > 0 and users.values_checked > 0 and users.raw_values > 0
    readings = next(t for t in report.tables if t.table == "shop.readings")
    assert readings.unchecked == []  # firmware is passthrough but unclassified
    assert "audit passed" in report.render()


def test_unmasked_sink_is_reported_without_quoting_values(setup: tuple[Schema, Masker, list[RowChange]]) -> None:
    schema, masker, changes = setup
    report = audit(schema, masker, {"raw": oracle_source(schema, changes)}, changes=changes)
    assert not report.ok
    leaked = {(leak.table, leak.column) for leak in report.leaks}
    for expected in [
        ("shop.users", "user_id"),
        ("shop.users", "email"),
        ("shop.users", "name"),
        ("shop.users", "tags"),
        ("shop.users", "home"),
        ("shop.orders", "customer_id"),
        ("shop.orders", "items"),
        ("shop.orders", "shipping"),
        ("shop.readings", "sensor_id"),
        ("shop.readings", "location"),
    ]:
        assert expected in leaked
    # The unclassified home.country is not reported as a leak source: only its siblings are raw.
    text = report.render()
    assert "audit FAILED" in text
    raw_names = {c.cells[0].value for c in changes if c.table == "users" and c.cells and c.cells[0].column == "name"}
    for value in raw_names:
        if isinstance(value, str):
            assert value not in text


def test_one_leaked_value_in_one_row_is_found(setup: tuple[Schema, Masker, list[RowChange]]) -> None:
    schema, masker, changes = setup
    masked_rows = oracle_source(schema, [masker(c) for c in changes])
    raw_email = next(
        c.value
        for ch in changes
        if ch.table == "users"
        for c in ch.cells
        if c.column == "email" and isinstance(c.value, str)
    )

    def tampered(table: TableSchema) -> list[dict[str, Any]]:
        rows = masked_rows(table)
        if table.name == "users":
            rows[3] = {**rows[3], "email": raw_email}
            # A sink storing a UDT as JSON text, with a raw value inside it.
            rows[5] = {**rows[5], "home": json.dumps({"street": "x " + raw_email + " y"})}
        return rows

    report = audit(schema, masker, {"pg": tampered}, changes=changes)
    assert [(leak.column, leak.kind, leak.rows, leak.first_row) for leak in report.leaks] == [
        ("email", "equals", 1, 3),
        ("home", "contains", 1, 5),
    ]
    assert all(leak.sink == "pg" and leak.table == "shop.users" for leak in report.leaks)


def test_fixed_points_and_passthrough_are_not_leaks() -> None:
    s = schema()
    section = {
        "pepper": "p" * 16,
        "tables": {
            "t.p": {
                "n": {"classification": "phi", "rule": "redact"},
                "plain": {"classification": "pii", "rule": "passthrough"},
            }
        },
    }
    masker = masker_from_config(section, s)
    raw = [change([cell("n", 0), cell("plain", "already-encrypted")])]
    report = audit(s, masker, {"m": oracle_source(s, [masker(c) for c in raw])}, changes=raw)
    assert report.ok, report.render()
    (table,) = report.tables
    assert table.fixed_points == 1  # 0 redacted is 0
    assert table.unchecked == ["plain"]
    assert "passthrough (not checked): plain" in report.render()


def test_sink_atoms_normalise_representations() -> None:
    import datetime
    import uuid

    atoms = set(
        sink_atoms(
            {
                "k": [b"\x01\x02", uuid.UUID(int=1), datetime.datetime(1970, 1, 1, 0, 0, 1)],
                "j": '{"a": ["x", 5]}',
            }
        )
    )
    assert {"k", "j", "0102", str(uuid.UUID(int=1)), "1000", "x", "5"} <= atoms


def test_audit_reads_the_raw_values_from_segments(tmp_path: Path) -> None:
    schema = benchmark_schema()
    masker = masker_from_config(masking_section(), schema)
    tables = sorted(schema.tables.values(), key=lambda t: t.name)
    mutations = WorkloadGenerator(tables, seed=3, partitions_per_table=10, rows_per_partition=3).mutations(120)
    encoder = MutationEncoder(schema)
    with SegmentWriter.create(tmp_path, 1700000000001) as writer:
        for start in range(0, len(mutations), 20):
            writer.append_section([encoder.encode(m, 12) for m in mutations[start : start + 20]])
    errors: list[str] = []
    changes = list(read_raw_changes([tmp_path], schema, errors=errors))
    assert not errors and len(changes) >= 120
    good = audit(schema, masker, {"m": oracle_source(schema, [masker(c) for c in changes])}, segments=[tmp_path])
    assert good.ok and good.changes_read == len(changes), good.render()
    bad = audit(schema, masker, {"m": oracle_source(schema, changes)}, segments=[tmp_path])
    assert not bad.ok


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000))
def test_masking_keeps_every_row_and_leaks_nothing(seed: int) -> None:
    """One-to-one key rules: the masked stream converges to as many rows as the raw one."""
    schema = benchmark_schema()
    masker = masker_from_config(masking_section(), schema)
    changes = workload_changes(schema, 120, seed=seed)
    masked = [masker(c) for c in changes]
    raw_oracle, masked_oracle = Oracle(schema), Oracle(schema)
    raw_oracle.apply_all(changes)
    masked_oracle.apply_all(masked)
    for table in schema.tables.values():
        assert len(masked_oracle.rows("shop", table.name, now=NOW)) == len(raw_oracle.rows("shop", table.name, now=NOW))
    report = audit(schema, masker, {"m": lambda t: masked_oracle.rows(t.keyspace, t.name, now=NOW)}, changes=changes)
    assert report.ok, report.render()
