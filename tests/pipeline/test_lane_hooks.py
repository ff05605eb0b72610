"""Lane hooks: transform before batching, observer events, dead-lettering refused changes, bounded retries."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.deadletter.model import SegmentReference
from cassandra_cdc.deadletter.settings import DeadLetterQueueSettings, build_recorder
from cassandra_cdc.pipeline.lane import CommittedBatch, Problem, RetryPolicy, SinkLane, SourceNode
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.sinks.base import ChangeBatch, SinkError, ValueOutOfRangeError
from tests.pipeline.test_lane import RecordingSink, _expected_changes, _write_workload


class Events:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_batch_committed(self, sink: str, batch: CommittedBatch) -> None:
        self.calls.append(("batch", (sink, batch.changes, dict(batch.positions))))

    def on_retry(self, sink: str, error: BaseException, attempt: int, delay: float) -> None:
        self.calls.append(("retry", (attempt, round(delay, 3))))

    def on_problem(self, problem: Problem) -> None:
        raise RuntimeError("an observer bug must not stop the lane")


class RefusingSink(RecordingSink):
    """Refuses (out of range) every change of shop.readings, the way a sink refuses a value it cannot hold."""

    def write_batch(self, batch: ChangeBatch) -> None:
        for change in batch.changes:
            if change.table == "readings":
                raise ValueOutOfRangeError("shop.readings", "value", "1e400", "exceeds numeric")
        super().write_batch(batch)


def test_transform_and_observer(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    _write_workload(cdc_raw, 500)
    expected = _expected_changes(cdc_raw)

    def transform(change: RowChange) -> RowChange | None:
        if change.table == "orders":
            return None  # dropped
        return dataclasses.replace(change, partition_key={k: "masked" for k in change.partition_key})

    sink, events = RecordingSink(), Events()
    lane = SinkLane(
        sink, [SourceNode("n1", cdc_raw)], benchmark_schema(), batch_size=100, transform=transform, observer=events
    )
    lane.open()
    while lane.step():
        pass
    assert sink.changes and all(c.table != "orders" for c in sink.changes)
    assert all(set(c.partition_key.values()) == {"masked"} for c in sink.changes)
    assert len(sink.changes) + lane.stats.dropped_by_transform == expected
    batches = [args for kind, args in events.calls if kind == "batch"]
    assert sum(n for _, n, _ in batches) == len(sink.changes)
    assert batches[-1][2]["n1"] == sink.positions["n1"]


def test_refused_changes_go_to_the_dead_letter_queue_and_the_rest_is_written(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    _write_workload(cdc_raw, 300)
    expected = _expected_changes(cdc_raw)
    schema = benchmark_schema()
    recorder = build_recorder(
        DeadLetterQueueSettings(directory=tmp_path / "dlq"), schema=schema, segment_dirs={"n1": [cdc_raw]}
    )
    store = recorder.store
    sink = RefusingSink()
    lane = SinkLane(sink, [SourceNode("n1", cdc_raw)], schema, batch_size=64, on_problem=recorder, observer=Events())
    lane.open()
    while lane.step():
        pass
    letters = store.list()
    assert letters and all(letter.table == "shop.readings" for letter in letters)
    assert all("exceeds numeric" in letter.error and letter.destination == "recording" for letter in letters)
    # Raw entries hold unmasked values: without keys they are kept by reference to a retained segment.
    assert all(isinstance(letter.raw, SegmentReference) and letter.raw_sha256 for letter in letters)
    assert len(sink.changes) + len(letters) == expected == len(sink.changes) + lane.stats.dead_lettered
    assert all(c.table != "readings" for c in sink.changes)
    last = sink.changes[-1].source
    assert (sink.positions["n1"].segment_id, sink.positions["n1"].position) >= (last.segment_id, last.position)


def test_retries_are_bounded_and_backed_off() -> None:
    policy = RetryPolicy(attempts=3, base=0.01, cap=0.02, multiplier=2.0, jitter=0.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.01, 0.02, 0.02, 0.02]
    sink, events = RecordingSink(fail_first=10), Events()
    lane = SinkLane(sink, [], benchmark_schema(), retry=policy, observer=events)
    lane.open()
    try:
        lane._write_with_retries(ChangeBatch([], {}))
    except SinkError as exc:
        assert exc.retryable
    else:
        raise AssertionError("retries should have run out")
    assert [args for kind, args in events.calls if kind == "retry"] == [(1, 0.01), (2, 0.02)]
    assert sink.fail_first == 7
