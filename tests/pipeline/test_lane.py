"""A sink lane end to end on real segment files: follow, decode, batch, commit positions, resume."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.pipeline.lane import SinkLane, SourceNode
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.base import ChangeBatch, SinkError
from tests.pipeline.support import changes_in


class RecordingSink:
    """Keeps every batch it is given, and its positions, in memory (stands in for a destination)."""

    name = "recording"

    def __init__(self, fail_first: int = 0) -> None:
        self.changes: list[RowChange] = []
        self.positions: dict[str, SourcePosition] = {}
        self.batches = 0
        self.fail_first = fail_first
        self.tables: list[TableSchema] = []
        self.lock = threading.Lock()

    def start(self, tables: list[TableSchema]) -> None:
        self.tables = tables

    def committed_positions(self) -> dict[str, SourcePosition]:
        return dict(self.positions)

    def write_batch(self, batch: ChangeBatch) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise SinkError("destination unavailable", retryable=True)
        with self.lock:
            self.changes.extend(batch.changes)
            self.positions.update(batch.positions)
            self.batches += 1

    def purge(self, now: int) -> int:
        return 0

    def close(self) -> None:
        pass


def _write_workload(cdc_raw: Path, count: int, seed: int = 5) -> int:
    schema = benchmark_schema()
    node = SimulatedNode(cdc_raw, segment_size=256 * 1024)
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=seed)
    for _ in range(count // 50):
        node.sync([encoder.encode(m, 12) for m in generator.mutations(50)])
    node.close()
    return count


def _expected_changes(cdc_raw: Path) -> int:
    return len(changes_in([cdc_raw], benchmark_schema()))


def test_lane_delivers_every_change_once_and_resumes(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    _write_workload(cdc_raw, 2000)
    expected = _expected_changes(cdc_raw)
    sink = RecordingSink()
    lane = SinkLane(sink, [SourceNode("n1", cdc_raw)], benchmark_schema(), batch_size=300, flush_interval=0.05)
    lane.open()
    while lane.step():
        pass
    assert len(sink.changes) == expected
    keys = [(c.source.segment_id, c.source.position) for c in sink.changes]
    assert keys == sorted(keys)
    assert sink.batches >= expected // 300
    last = sink.changes[-1].source
    assert sink.positions["n1"] == SourcePosition("n1", last.segment_id, last.position)

    # A new lane (a restarted process) resumes from the sink's committed position: nothing again.
    again = SinkLane(sink, [SourceNode("n1", cdc_raw)], benchmark_schema(), batch_size=300, flush_interval=0.05)
    again.open()
    assert again.step() == 0
    assert len(sink.changes) == expected


def test_lane_retries_a_retryable_failure_and_follows_live_writes(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    cdc_raw.mkdir()
    sink = RecordingSink(fail_first=2)
    lane = SinkLane(
        sink, [SourceNode("n1", cdc_raw)], benchmark_schema(), batch_size=200, flush_interval=0.05, retry_delay=0.01
    )
    lane.start()
    try:
        _write_workload(cdc_raw, 500)
        expected = _expected_changes(cdc_raw)
        deadline = time.monotonic() + 20
        while len(sink.changes) < expected and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        lane.stop(timeout=5)
    assert not lane.alive and lane.error is None
    assert len(sink.changes) == expected
    assert lane.stats.retries == 2


def test_updates_of_tables_outside_the_capture_or_schema_are_skipped_and_counted(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    _write_workload(cdc_raw, 500)
    full = benchmark_schema()
    by_name = {t.name: t for t in full.tables.values()}
    per_table = Counter(
        full.by_id(u.table_id).name  # type: ignore[union-attr]
        for path in sorted(cdc_raw.glob("*.log"))
        for e in read_segment(path)
        if isinstance(e, RawEntry)
        for u in MutationDecoder(full).decode(e.data, e.messaging_version).updates
    )
    partial = Schema()  # `readings` is in another keyspace as far as this pipeline knows
    partial.add(by_name["users"])
    partial.add(by_name["orders"])
    sink = RecordingSink()
    lane = SinkLane(sink, [SourceNode("n1", cdc_raw)], partial, capture=lambda t: t.name != "orders")
    lane.open()
    while lane.step():
        pass
    assert lane.stats.problems == 0
    assert lane.stats.skipped_tables == {
        by_name["readings"].id: per_table["readings"],
        by_name["orders"].id: per_table["orders"],
    }
    assert {c.table for c in sink.changes} == {"users"}
