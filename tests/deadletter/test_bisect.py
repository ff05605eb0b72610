"""Bisecting a refused batch: only the poison changes are dead-lettered, positions committed last."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from cassandra_cdc.changes.model import Op, RowChange, SourcePosition
from cassandra_cdc.deadletter import (
    DeadLetterRecorder,
    JsonlStore,
    Keyring,
    TooManyPoisonedError,
    write_with_bisect,
)
from cassandra_cdc.sinks.base import ChangeBatch, SinkError, ValueOutOfRangeError
from cassandra_cdc.sinks.postgres import PostgresSink

from .support import (
    KEY_HEX,
    NODE,
    SECRET_EMAIL,
    directory_locator_for,
    entry_changes,
    make_schema,
    mutation,
    people_rows,
    write_segment,
)


def fake_change(n: int) -> RowChange:
    return RowChange("ks", "t", uuid.UUID(int=1), Op.UPDATE, SourcePosition("n1", 1, n), {"pk": n})


class FakeSink:
    """Refuses any batch holding a change whose pk is in ``poison``; records what it accepted."""

    def __init__(self, poison: set[int], retryable_once: bool = False) -> None:
        self.poison = poison
        self.batches: list[ChangeBatch] = []
        self.landed: list[int] = []
        self.retryable_once = retryable_once

    def write(self, batch: ChangeBatch) -> None:
        if self.retryable_once and len(batch.changes) < 50:
            self.retryable_once = False
            raise SinkError("connection reset", retryable=True)
        bad = [c for c in batch.changes if c.partition_key["pk"] in self.poison]
        if bad:
            raise ValueOutOfRangeError("ks.t", "v", "x", "is too big")
        self.batches.append(batch)
        self.landed.extend(c.partition_key["pk"] for c in batch.changes)


def test_one_poison_among_100_is_isolated_and_positions_come_last() -> None:
    sink = FakeSink({37})
    changes = [fake_change(i) for i in range(100)]
    positions = {"n1": SourcePosition("n1", 1, 99)}
    poisoned: list[tuple[RowChange, Exception]] = []
    result = write_with_bisect(sink.write, ChangeBatch(changes, positions), lambda c, e: poisoned.append((c, e)))
    assert [c.partition_key["pk"] for c, _ in poisoned] == [37]
    assert isinstance(poisoned[0][1], ValueOutOfRangeError)
    assert sorted(sink.landed) == [i for i in range(100) if i != 37]
    assert result.written == 99 and len(result.poisoned) == 1
    assert result.writes <= 2 * 7 + 2  # log2(100) levels, two writes each, plus first and positions
    # Every data write went without positions; the positions rode alone on the last write.
    assert all(b.positions == {} for b in sink.batches[:-1])
    assert sink.batches[-1].changes == [] and sink.batches[-1].positions == positions


def test_several_poisons_reported_in_batch_order_and_a_clean_batch_written_once() -> None:
    sink = FakeSink({3, 4, 90})
    poisoned: list[int] = []
    write_with_bisect(
        sink.write,
        ChangeBatch([fake_change(i) for i in range(100)], {}),
        lambda c, e: poisoned.append(c.partition_key["pk"]),
    )
    assert poisoned == [3, 4, 90]
    clean = FakeSink(set())
    batch = ChangeBatch([fake_change(1)], {"n1": SourcePosition("n1", 1, 1)})
    result = write_with_bisect(clean.write, batch, lambda c, e: pytest.fail("no poison here"))
    assert result.writes == 1 and len(clean.batches) == 1 and clean.batches[0].positions


def test_retryable_errors_propagate_and_too_many_poisons_abort_without_positions() -> None:
    flaky = FakeSink({5}, retryable_once=True)
    with pytest.raises(SinkError, match="connection reset"):
        write_with_bisect(flaky.write, ChangeBatch([fake_change(i) for i in range(100)], {}), lambda c, e: None)
    broken = FakeSink(set(range(100)))
    called: list[Any] = []
    positions = {"n1": SourcePosition("n1", 1, 99)}
    with pytest.raises(TooManyPoisonedError, match="100 of 100 changes refused"):
        write_with_bisect(
            broken.write, ChangeBatch([fake_change(i) for i in range(100)], positions), lambda c, e: called.append(c),
            max_poison=10,
        )  # fmt: skip
    assert called == [] and broken.batches == []  # nothing dead-lettered, positions not committed


def test_bisect_on_real_postgres_sink_dead_letters_exactly_the_poison(postgres_server: Any, tmp_path: Path) -> None:
    ks = f"dlb_{uuid.uuid4().hex[:8]}"
    schema, table = make_schema(ks)
    mutations = [mutation(table, i, 0, f"user{i}@example.org", f"name {i}", 1000 + i) for i in range(100)]
    mutations[42] = mutation(table, 42, 0, SECRET_EMAIL, "bad\x00name", 1042)  # text with NUL: out of range
    cdc_raw = tmp_path / "cdc_raw"
    _, entries = write_segment(cdc_raw, schema, mutations)
    changes = [c for e in entries for c in entry_changes(schema, e)]
    store = JsonlStore(tmp_path / "dlq")
    recorder = DeadLetterRecorder(
        store, schema=schema, keyring=Keyring.from_config({"k1": KEY_HEX}), locator=directory_locator_for(cdc_raw)
    )
    sink = PostgresSink(postgres_server.dsn, name=ks)
    sink.start([table])
    try:
        last = changes[-1].source
        batch = ChangeBatch(changes, {NODE: last})
        result = write_with_bisect(sink.write_batch, batch, recorder.poison_handler(ks, retry_count=3))
        assert result.written == 99
        assert sink.committed_positions() == {NODE: last}
    finally:
        sink.close()
    (letter,) = store.list()
    assert letter.kind == "value_rejected" and letter.destination == ks and letter.retry_count == 3
    assert (letter.source_node, letter.segment_id, letter.position) == (NODE, entries[42].segment_id, entries[42].end)
    assert letter.entry_start == entries[42].start and letter.change_index == 0
    assert letter.table == f"{ks}.people" and letter.messaging_version == 12 and letter.commitlog_version == 7
    assert "NUL" in letter.error and "ValueOutOfRangeError" in (letter.stack_trace or "")
    rows = people_rows(postgres_server.dsn, ks)
    assert [r[0] for r in rows] == [i for i in range(100) if i != 42]
