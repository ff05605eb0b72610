"""Recording dead letters: masked renderings only, raw bytes sealed or by verified segment reference."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.deadletter import (
    DeadLetterRecorder,
    EncryptedBlob,
    JsonlStore,
    Keyring,
    RawEntryError,
    SegmentReference,
    SegmentRetainer,
)
from cassandra_cdc.deadletter.raw import read_reference, sha256_hex
from cassandra_cdc.deadletter.replay import ReplayError, raw_bytes
from cassandra_cdc.pipeline.lane import Problem
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.sinks.base import ValueOutOfRangeError

from .support import (
    KEY_HEX,
    NODE,
    SECRET_EMAIL,
    directory_locator_for,
    entry_changes,
    make_schema,
    masker_for,
    mutation,
    write_segment,
)


def _store_text(directory: Path) -> str:
    return "".join(p.read_text() for p in sorted(directory.glob("*.jsonl")))


def test_rendering_never_holds_a_raw_classified_value(tmp_path: Path) -> None:
    schema, table = make_schema("dlr")
    masker = masker_for(schema, "dlr")
    cdc_raw = tmp_path / "cdc_raw"
    _, entries = write_segment(cdc_raw, schema, [mutation(table, 7, 1, SECRET_EMAIL, "Bob", 10)])
    (change,) = entry_changes(schema, entries[0])
    masked = masker(change)
    store = JsonlStore(tmp_path / "dlq")
    recorder = DeadLetterRecorder(
        store, schema=schema, masker=masker, keyring=Keyring.from_config({"k1": KEY_HEX}),
        locator=directory_locator_for(cdc_raw),
    )  # fmt: skip
    # The sink saw the masked change; the error quotes a value of the unclassified column.
    error = ValueOutOfRangeError("dlr.people", "name", repr("Bob"), "is too long")
    letter = recorder.record_change(masked, error, destination="pg")
    assert letter.rendering is not None
    cells = {c["column"]: c["value"] for c in letter.rendering["cells"]}
    assert cells["name"] == "Bob" and cells["email"] != SECRET_EMAIL and "alice" not in cells["email"]
    assert "'Bob'" in letter.error  # unclassified: kept for the operator
    assert letter.change_index == 0 and isinstance(letter.raw, EncryptedBlob)
    assert letter.raw_sha256 == sha256_hex(entries[0].data)
    text = _store_text(tmp_path / "dlq")
    assert SECRET_EMAIL not in text and "alice" not in text
    # Without a masker: no values at all, and values quoted by errors are withheld.
    bare = DeadLetterRecorder(JsonlStore(tmp_path / "bare"), schema=schema)
    error = ValueOutOfRangeError("dlr.people", "email", repr(SECRET_EMAIL)[:80], "is too long")
    plain = bare.record_change(change, error, destination="pg")
    assert plain.rendering is not None and plain.rendering["partition_key"] == ["pk"]
    assert "<withheld>" in plain.error and plain.raw is None
    text = _store_text(tmp_path / "bare")
    assert SECRET_EMAIL not in text and "Bob" not in text and "alice" not in text


def test_segment_reference_is_read_back_and_a_tampered_segment_refused(tmp_path: Path) -> None:
    full, table = make_schema("dls")
    cdc_raw = tmp_path / "cdc_raw"
    mutations = [mutation(table, i, 1, f"u{i}@x.org", "n", 10 + i) for i in range(3)]
    path, entries = write_segment(cdc_raw, full, mutations)
    store = JsonlStore(tmp_path / "dlq")
    retainer = SegmentRetainer(tmp_path / "dlq" / "segments")
    recorder = DeadLetterRecorder(
        store, schema=Schema(), retainer=retainer, locator=directory_locator_for(cdc_raw)
    )  # an empty schema: the table id is unknown
    reason = "mutation offset 1: no schema knows this table id; the rest of the mutation cannot be walked"
    problem = Problem("pg", NODE, CommitLogPosition(entries[1].segment_id, entries[1].end), reason, entries[1].data)
    letter = recorder.record_problem(problem)
    assert letter is not None and recorder.record_problem(problem) is None  # other lanes' copies: kept once
    assert letter.kind == "unknown_table" and letter.destination is None
    assert letter.entry_start == entries[1].start and letter.messaging_version == 12
    ref = letter.raw
    assert isinstance(ref, SegmentReference) and Path(ref.path).parent == tmp_path / "dlq" / "segments" / NODE
    path.unlink()  # retention removed it from cdc_raw: the retained copy remains
    assert raw_bytes(letter).data == entries[1].data
    got = read_reference(ref, letter.raw_sha256)
    assert (got.data, got.start, got.messaging_version) == (entries[1].data, entries[1].start, 12)
    # Alter one byte inside the entry's mutation bytes.
    retained = Path(ref.path)
    data = bytearray(retained.read_bytes())
    data[entries[1].start + 8 + 20] ^= 0x01
    retained.write_bytes(bytes(data))
    with pytest.raises(RawEntryError, match="refused"):
        read_reference(ref, letter.raw_sha256)
    with pytest.raises(ReplayError, match="refused"):
        raw_bytes(letter)
    # Once no open letter refers to it, the retained segment can go.
    assert retainer.release_unreferenced(store.list()) == []
    store.mark(letter.id, "replayed")
    assert retainer.release_unreferenced(store.list()) == [retained]


def test_sealed_raw_needs_the_right_key_to_replay(tmp_path: Path) -> None:
    schema, table = make_schema("dlk")
    _, entries = write_segment(tmp_path / "raw", schema, [mutation(table, 1, 1, "a@b.c", "n", 10)])
    recorder = DeadLetterRecorder(
        JsonlStore(tmp_path / "dlq"), schema=schema, keyring=Keyring.from_config({"k1": KEY_HEX})
    )
    letter = recorder.record_entry(NODE, entries[0], kind="undecodable_entry", error="bad")
    assert letter is not None and isinstance(letter.raw, EncryptedBlob)
    assert raw_bytes(letter, keyring=Keyring.from_config({"k1": KEY_HEX})).data == entries[0].data
    with pytest.raises(ReplayError, match="does not open"):
        raw_bytes(letter, keyring=Keyring.from_config({"k1": "33" * 32}))
    with pytest.raises(ReplayError, match="no keys given"):
        raw_bytes(letter)
    assert json.dumps(letter.to_dict()).count(entries[0].data.hex()) == 0
    assert uuid.UUID(letter.id)


def test_the_duplicate_check_remembers_only_the_newest_problems(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "dlq")
    recorder = DeadLetterRecorder(store, schema=Schema(), seen_limit=3)
    reason = "mutation offset 1: no schema knows this table id; the rest of the mutation cannot be walked"
    problems = [Problem("pg", NODE, CommitLogPosition(7, 100 + i), reason, b"\x00" * 8) for i in range(5)]
    assert all(recorder.record_problem(p) is not None for p in problems)
    assert len(recorder._seen) == 3  # a long run does not grow it without bound
    assert recorder.record_problem(problems[-1]) is None  # the newest are still recognised
    assert recorder.record_problem(problems[0]) is not None  # the oldest was forgotten
