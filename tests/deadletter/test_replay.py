"""Replaying dead letters through the real PostgreSQL sink: idempotent, positions untouched, marked."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.deadletter import DeadLetterRecorder, JsonlStore, Keyring, LetterFilter, replay, write_with_bisect
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.sinks.base import ChangeBatch
from cassandra_cdc.sinks.postgres import PostgresSink

from .support import (
    KEY_HEX,
    NODE,
    SECRET_EMAIL,
    directory_locator_for,
    dump_schema,
    entry_changes,
    make_schema,
    masker_for,
    mutation,
    people_rows,
    write_segment,
)


def test_unknown_table_letter_replays_once_the_schema_knows_it_and_twice_changes_nothing(
    postgres_server: Any, tmp_path: Path
) -> None:
    ks = f"dlu_{uuid.uuid4().hex[:8]}"
    schema, table = make_schema(ks)
    _, entries = write_segment(tmp_path / "raw", schema, [mutation(table, 5, 1, "e@x.org", "Eve", 77)])
    store = JsonlStore(tmp_path / "dlq")
    keyring = Keyring.from_config({"k1": KEY_HEX})
    # The live schema did not know the table yet.
    recorder = DeadLetterRecorder(store, schema=Schema(), keyring=keyring)
    letter = recorder.record_entry(NODE, entries[0], kind="unknown_table", error="no schema knows this table id")
    assert letter is not None
    sink = PostgresSink(postgres_server.dsn, name=ks)
    sink.start([table])
    try:
        sink.write_batch(ChangeBatch([], {NODE: _pos(9)}))
        before = sink.committed_positions()
        # Still the old schema: fails, marked failed.
        (out,) = replay(store, [letter.id], schema=Schema(), sinks={ks: sink}, keyring=keyring)
        assert out.status == "failed" and "no schema knows this table id" in (out.error or "")
        assert store.get(letter.id).status == "failed" and store.get(letter.id).replay_attempts == 1
        (out,) = replay(store, None, schema=schema, sinks={ks: sink}, keyring=keyring)
        assert (out.status, out.changes, out.sinks) == ("replayed", 1, (ks,))
        state = dump_schema(postgres_server.dsn, ks)
        assert people_rows(postgres_server.dsn, ks) == [(5, 1, "e@x.org", "Eve")]
        # A second replay (by id) writes again through the same idempotent path: nothing changes.
        (again,) = replay(store, [letter.id], schema=schema, sinks={ks: sink}, keyring=keyring)
        assert again.status == "replayed"
        assert dump_schema(postgres_server.dsn, ks) == state
        assert sink.committed_positions() == before  # replays never move positions
        # Without ids, replayed letters are left alone.
        assert replay(store, LetterFilter(status="replayed"), schema=schema, sinks={ks: sink}, keyring=keyring) == []
    finally:
        sink.close()
    final = store.get(letter.id)
    assert (final.status, final.replay_attempts, final.last_replay_error) == ("replayed", 3, None)


def _pos(n: int) -> Any:
    from cassandra_cdc.changes.model import SourcePosition

    return SourcePosition(NODE, 1, n)


def test_refused_change_replays_through_the_masking_transform(postgres_server: Any, tmp_path: Path) -> None:
    ks = f"dlv_{uuid.uuid4().hex[:8]}"
    schema, table = make_schema(ks)
    masker = masker_for(schema, ks)
    cdc_raw = tmp_path / "cdc_raw"
    mutations = [
        mutation(table, 1, 1, "ok@x.org", "fine", 10),
        mutation(table, 2, 1, SECRET_EMAIL, "nul\x00here", 11),
    ]
    _, entries = write_segment(cdc_raw, schema, mutations)
    store = JsonlStore(tmp_path / "dlq")
    keyring = Keyring.from_config({"k1": KEY_HEX})
    recorder = DeadLetterRecorder(
        store, schema=schema, masker=masker, keyring=keyring, locator=directory_locator_for(cdc_raw)
    )
    sink = PostgresSink(postgres_server.dsn, name=ks)
    sink.start([table])
    try:
        changes = [masker(c) for e in entries for c in entry_changes(schema, e)]
        write_with_bisect(
            sink.write_batch, ChangeBatch(changes, {NODE: changes[-1].source}), recorder.poison_handler(ks)
        )
        (letter,) = store.list()
        assert letter.change_index == 0 and letter.rendering is not None
        # The cause is not fixed: the replay fails again, and says why.
        (out,) = replay(store, None, schema=schema, sinks={ks: sink}, keyring=keyring, masker=masker)
        assert out.status == "failed" and "NUL" in (out.error or "")

        def fixed(change: RowChange) -> RowChange | None:  # e.g. a new masking rule for the column
            masked = masker(change)
            cells = [dataclasses.replace(c, value=c.value.replace("\x00", " ")) if c.column == "name" else c
                     for c in masked.cells]  # fmt: skip
            return dataclasses.replace(masked, cells=cells)

        (out,) = replay(store, LetterFilter(status="failed"), schema=schema, sinks={ks: sink}, keyring=keyring,
                        masker=fixed)  # fmt: skip
        assert out.status == "replayed"
        rows = people_rows(postgres_server.dsn, ks)
        assert [(r[0], r[3]) for r in rows] == [(1, "fine"), (2, "nul here")]
        assert SECRET_EMAIL not in repr(rows)  # replayed through the same masking
        assert rows[1][2] == masker(entry_changes(schema, entries[1])[0]).cells[0].value
        assert store.get(letter.id).replay_attempts == 2
    finally:
        sink.close()
