"""`cassandra-cdc dlq list | show | replay` through typer's CliRunner."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cassandra_cdc.deadletter import DeadLetterRecorder, JsonlStore, Keyring
from cassandra_cdc.pipeline.dlq_cli import KEYS_ENV, dlq_app
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.sinks.postgres import PostgresSink
from cassandra_cdc.transform import redacted_dict

from .support import (
    CQL,
    KEY_HEX,
    NODE,
    SECRET_EMAIL,
    entry_changes,
    make_schema,
    masker_for,
    mutation,
    people_rows,
    write_segment,
)

runner = CliRunner()


def _setup(tmp_path: Path, ks: str) -> tuple[Path, str, str]:
    """A store with one unknown-table letter (sealed raw) and one refused change (masked rendering)."""
    schema, table = make_schema(ks)
    _, entries = write_segment(tmp_path / "cdc_raw", schema, [mutation(table, 3, 1, SECRET_EMAIL, "Carol", 99)])
    store = JsonlStore(tmp_path / "dlq")
    keyring = Keyring.from_config({"k1": KEY_HEX})
    unknown = DeadLetterRecorder(store, schema=Schema(), keyring=keyring).record_entry(
        NODE, entries[0], kind="unknown_table", error="no schema knows this table id"
    )
    assert unknown is not None
    masker = masker_for(schema, ks)
    (change,) = entry_changes(schema, entries[0])
    refused = DeadLetterRecorder(store, schema=schema, masker=masker).record_change(
        masker(change), ValueError("refused"), destination="pg", kind="batch_rejected"
    )
    assert refused.rendering == redacted_dict(masker(change), masker)
    return tmp_path / "dlq", unknown.id, refused.id


def test_list_and_show_never_print_raw_values(tmp_path: Path) -> None:
    store, unknown_id, refused_id = _setup(tmp_path, "dlc")
    result = runner.invoke(dlq_app, ["list", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert unknown_id in result.stdout and refused_id in result.stdout and SECRET_EMAIL not in result.stdout
    result = runner.invoke(dlq_app, ["list", "--store", str(store), "--destination", "pg", "--json"])
    assert [json.loads(x)["id"] for x in result.stdout.splitlines()] == [refused_id]
    result = runner.invoke(dlq_app, ["list", "--store", str(store), "--status", "replayed"])
    assert result.exit_code == 0 and result.stdout == ""
    assert runner.invoke(dlq_app, ["list", "--store", str(store), "--status", "bogus"]).exit_code == 2
    result = runner.invoke(dlq_app, ["show", refused_id, "--store", str(store)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["rendering"]["cells"][1]["value"] == "Carol" and SECRET_EMAIL not in result.stdout
    result = runner.invoke(dlq_app, ["show", unknown_id, "--store", str(store)])
    shown = json.loads(result.stdout)
    assert shown["raw"] == {"type": "encrypted", "key_id": "k1", "bytes": shown["raw"]["bytes"]}
    assert "ciphertext" not in result.stdout
    result = runner.invoke(dlq_app, ["show", "nope", "--store", str(store)])
    assert result.exit_code == 2 and "no dead letter" in result.output


def test_replay_with_pipeline_config(postgres_server: Any, tmp_path: Path) -> None:
    ks = f"dlc_{uuid.uuid4().hex[:8]}"
    store, unknown_id, _ = _setup(tmp_path, ks)
    (tmp_path / "schema.cql").write_text(CQL.format(ks=ks))
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f"""sources:
  {NODE}:
    cdc_raw: cdc_raw
schema:
  cql: schema.cql
tables:
  include: ["{ks}.*"]
sinks:
  {ks}:
    type: postgres
    dsn: "{postgres_server.dsn}"
dead_letter:
  path: dlq
"""
    )
    result = runner.invoke(dlq_app, ["replay", unknown_id, "--config", str(config)])
    assert result.exit_code == 1 and "sealed with key 'k1'; no keys given" in result.output
    env = {KEYS_ENV: f"k1={KEY_HEX}"}
    result = runner.invoke(dlq_app, ["replay", unknown_id, "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    assert f"{unknown_id}  replayed  1 change(s) -> {ks}" in result.stdout
    assert people_rows(postgres_server.dsn, ks) == [(3, 1, SECRET_EMAIL, "Carol")]  # no masking configured
    letters = {le.id: le for le in JsonlStore(store).list()}
    assert (letters[unknown_id].status, letters[unknown_id].replay_attempts) == ("replayed", 2)
    result = runner.invoke(dlq_app, ["list", "--config", str(config), "--status", "replayed"])
    assert unknown_id in result.stdout
    # --all takes the open letters: the remaining one was refused by a sink this config lacks.
    result = runner.invoke(dlq_app, ["replay", "--all", "--config", str(config)], env=env)
    assert result.exit_code == 1 and "sink 'pg' is not configured" in result.stdout
    assert runner.invoke(dlq_app, ["replay", "--store", str(store)]).exit_code == 2  # needs --config
    sink = PostgresSink(postgres_server.dsn, name=ks)
    sink.start([])
    assert sink.committed_positions() == {}  # replays never wrote positions
    sink.close()
