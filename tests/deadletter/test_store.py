"""Dead-letter stores: round trips, filters, marks folded on read, rotation, torn writes, PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from cassandra_cdc.deadletter import (
    DeadLetter,
    DeadLetterNotFoundError,
    EncryptedBlob,
    JsonlStore,
    LetterFilter,
    SegmentReference,
)
from cassandra_cdc.deadletter.model import DeadLetterFormatError


def letter(n: int, **kw: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "kind": "value_rejected",
        "error": f"ks.t.v: value {n} too big",
        "source_node": "n1",
        "segment_id": 7,
        "position": 100 + n,
        "raw_sha256": f"{n:064x}",
        "destination": "pg",
        "time": 1000.0 + n,
        "table": "ks.t",
        "rendering": {"keyspace": "ks", "table": "t", "partition_key": {"pk": "<pii>"}},
    }
    fields.update(kw)
    return DeadLetter(**fields)


def test_letter_dict_round_trip_keeps_every_field() -> None:
    original = letter(
        1,
        stack_trace="Traceback...",
        retry_count=3,
        entry_start=40,
        change_index=2,
        raw=EncryptedBlob("k1", b"\x00" * 12, b"\x01\x02" * 20),
        messaging_version=12,
        commitlog_version=7,
    )
    assert DeadLetter.from_dict(json.loads(json.dumps(original.to_dict()))) == original
    ref = letter(2, raw=SegmentReference("/x/CommitLog-7-7.log", "n1", 7, 102, None, True))
    assert DeadLetter.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


def test_letter_from_bad_record_names_the_field() -> None:
    data = letter(1).to_dict()
    del data["segment_id"]
    with pytest.raises(DeadLetterFormatError, match="segment_id"):
        DeadLetter.from_dict(data)
    with pytest.raises(DeadLetterFormatError, match="status"):
        DeadLetter.from_dict({**letter(1).to_dict(), "status": "lost"})


def test_jsonl_put_get_list_filter_and_mark_survive_reopening(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path)
    a, b, c = letter(1), letter(2, destination=None, kind="undecodable_entry"), letter(3, destination="ch")
    for item in (c, a, b):
        store.put(item)
    assert [x.id for x in store.list()] == [a.id, b.id, c.id]  # oldest first
    assert store.get(b.id) == b
    assert [x.id for x in store.list(LetterFilter(destination="pg"))] == [a.id]
    assert [x.id for x in store.list(LetterFilter(kind="undecodable_entry"))] == [b.id]
    marked = store.mark(a.id, "failed", replay_attempts=1, last_replay_error="still too big", last_replay_time=5.0)
    assert (marked.status, marked.replay_attempts, marked.last_replay_error) == ("failed", 1, "still too big")
    store.mark(a.id, "replayed", replay_attempts=2, last_replay_time=6.0)
    reopened = JsonlStore(tmp_path)
    got = reopened.get(a.id)
    assert (got.status, got.replay_attempts, got.last_replay_error, got.last_replay_time) == ("replayed", 2, None, 6.0)
    assert got.error == a.error and got.rendering == a.rendering  # the record of the failure is untouched
    assert [x.id for x in reopened.list(LetterFilter(status="pending"))] == [b.id, c.id]
    with pytest.raises(DeadLetterNotFoundError, match="no dead letter"):
        reopened.get(str(uuid.uuid4()))
    with pytest.raises(DeadLetterNotFoundError):
        reopened.mark("nope", "replayed")
    # Appended records only: the put line is still there, marks follow it.
    lines = [json.loads(x) for f in reopened.files() for x in f.read_text().splitlines()]
    assert [r["op"] for r in lines] == ["put", "put", "put", "mark", "mark"]


def test_torn_last_line_is_skipped_and_the_next_append_still_parses(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path)
    a = letter(1)
    store.put(a)
    (current,) = store.files()
    with current.open("ab") as fh:  # a crash in the middle of writing the next record
        fh.write(b'{"op": "put", "letter": {"id": "half')
    assert [x.id for x in store.list()] == [a.id]
    assert store.damaged_lines == 1
    b = letter(2)
    store.put(b)
    store.mark(a.id, "replayed", replay_attempts=1)
    assert [(x.id, x.status) for x in JsonlStore(tmp_path).list()] == [(a.id, "replayed"), (b.id, "pending")]


def test_rotation_keeps_open_letters_and_drops_old_replayed_ones(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path, max_bytes=2000, max_files=2)
    letters = [letter(i) for i in range(30)]
    for item in letters:
        store.put(item)
        if item.position % 3 == 0:
            store.mark(item.id, "replayed", replay_attempts=1)
    assert len(store.files()) <= 2
    kept = {x.id: x for x in store.list()}
    for item in letters:
        if item.position % 3 != 0:
            assert kept[item.id].status == "pending"  # open letters are never lost
            assert kept[item.id].error == item.error
    assert len(kept) < len(letters)  # some replayed letters aged out
    assert all(x.status == "pending" or x.id in {le.id for le in letters} for x in kept.values())


@pytest.mark.parametrize("bad", [{"max_bytes": 0}, {"max_files": 0}])
def test_jsonl_rejects_bad_limits(tmp_path: Path, bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="max_"):
        JsonlStore(tmp_path, **bad)


def test_postgres_store_round_trip(postgres_server: Any) -> None:
    from cassandra_cdc.deadletter.postgres_store import PostgresStore

    table = f"dl_{uuid.uuid4().hex[:8]}"
    store = PostgresStore(postgres_server.dsn, table, schema="dlq")
    try:
        a = letter(1, raw=EncryptedBlob("k1", b"\x00" * 12, b"\xff" * 30))
        b = letter(2, destination=None, kind="unknown_table")
        store.put(b)
        store.put(a)
        assert store.get(a.id) == a
        assert [x.id for x in store.list()] == [a.id, b.id]
        assert [x.id for x in store.list(LetterFilter(destination="pg", status="pending"))] == [a.id]
        marked = store.mark(a.id, "failed", replay_attempts=1, last_replay_error="nope", last_replay_time=3.0)
        assert (marked.status, marked.replay_attempts, marked.last_replay_error) == ("failed", 1, "nope")
        assert store.get(a.id).raw == a.raw
        assert [x.id for x in store.list(LetterFilter(status="failed"))] == [a.id]
        with pytest.raises(DeadLetterNotFoundError):
            store.mark("missing", "replayed")
    finally:
        store.close()
    again = PostgresStore(postgres_server.dsn, table, schema="dlq")  # table exists: reused
    try:
        assert {x.id for x in again.list()} == {a.id, b.id}
    finally:
        again.close()
