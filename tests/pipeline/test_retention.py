"""Retention across sinks: a segment goes only when every lane is past it and it is COMPLETED; never a live one."""

from __future__ import annotations

from pathlib import Path

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.pipeline.lane import CommittedBatch, SinkLane, SourceNode
from cassandra_cdc.pipeline.retention import RetentionCoordinator, backlog_bytes, durable_segments
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.base import ChangeBatch
from tests.pipeline.test_lane import RecordingSink


def _live_node(cdc_raw: Path, mutations: int) -> SimulatedNode:
    """A node that wrote several segments and still has a live (not COMPLETED) one."""
    schema = benchmark_schema()
    node = SimulatedNode(cdc_raw, segment_size=64 * 1024)
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=3)
    for _ in range(mutations // 50):
        node.sync([encoder.encode(m, 12) for m in generator.mutations(50)])
    return node


def _segments(cdc_raw: Path) -> list[str]:
    return sorted(p.name for p in cdc_raw.glob("CommitLog-*.log"))


def _lane(name: str, cdc_raw: Path, batch_size: int = 100_000) -> SinkLane:
    sink = RecordingSink()
    sink.name = name  # type: ignore[misc]
    return SinkLane(sink, [SourceNode("n1", cdc_raw)], benchmark_schema(), batch_size=batch_size, flush_interval=0.01)


def _drain(lane: SinkLane) -> None:
    while lane.step():
        pass


def test_segments_go_only_when_every_sink_is_past_them(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    node = _live_node(cdc_raw, 1500)
    live = node.segment_id
    before = _segments(cdc_raw)
    assert len(before) >= 4 and live is not None
    fast, slow = _lane("fast", cdc_raw), _lane("slow", cdc_raw, batch_size=200)
    fast.open()
    slow.open()
    coordinator = RetentionCoordinator([SourceNode("n1", cdc_raw)], [fast, slow])

    _drain(fast)
    assert coordinator.run_once().removed == {"n1": []}  # slow has committed nothing
    assert _segments(cdc_raw) == before

    slow.step()  # one batch of 200 changes: still inside the first segment(s)
    committed = slow.committed_positions()["n1"]
    report = coordinator.run_once()
    assert all(segment_id < committed.segment_id for segment_id in report.removed["n1"])
    remaining = _segments(cdc_raw)
    assert all(int(name.split("-")[2].split(".")[0]) >= committed.segment_id for name in remaining)

    _drain(slow)
    report = coordinator.run_once()
    # Everything but the live segment is gone, with its index; the live one stays whatever was read.
    assert _segments(cdc_raw) == [n for n in before if str(live) in n]
    assert sorted(p.name for p in cdc_raw.iterdir()) == [f"CommitLog-7-{live}.log", f"CommitLog-7-{live}_cdc.idx"]
    assert report.usage_bytes["n1"] == sum(p.stat().st_size for p in cdc_raw.iterdir())

    # Once the node closes the segment (COMPLETED) and both sinks read that, it goes too.
    node.close()
    _drain(fast)
    assert coordinator.run_once().removed["n1"] == []
    _drain(slow)
    assert coordinator.run_once().removed["n1"] == [live]
    assert list(cdc_raw.iterdir()) == []


def test_archive_mode_and_a_lane_without_cursors_holds_everything(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    node = _live_node(cdc_raw, 800)
    node.close()
    names = sorted(p.name for p in cdc_raw.iterdir())
    one, parked = _lane("one", cdc_raw), _lane("parked", cdc_raw)
    one.open()
    _drain(one)
    archive = tmp_path / "archive"
    coordinator = RetentionCoordinator([SourceNode("n1", cdc_raw)], [one, parked], mode="archive", archive_dir=archive)
    assert coordinator.run_once().removed["n1"] == []  # "parked" never opened: no cursor, nothing goes
    parked.open()
    _drain(parked)
    report = coordinator.run_once()
    assert len(report.removed["n1"]) == len([n for n in names if n.endswith(".log")])
    assert sorted(p.name for p in (archive / "n1").iterdir()) == names
    assert list(cdc_raw.iterdir()) == []
    keep = RetentionCoordinator([SourceNode("n1", cdc_raw)], [one], mode="keep")
    assert keep.run_once().removed == {"n1": []}


def test_backlog_is_durable_bytes_past_the_committed_position(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    node = _live_node(cdc_raw, 600)
    durable = durable_segments(cdc_raw)
    ids = sorted(durable)
    live = node.segment_id
    assert live == ids[-1]
    # Completed segments count whole; the live one up to its index offset.
    for segment_id in ids[:-1]:
        assert durable[segment_id] == (cdc_raw / f"CommitLog-7-{segment_id}.log").stat().st_size
    index = (cdc_raw / f"CommitLog-7-{live}_cdc.idx").read_text()
    assert durable[live] == int(index)
    total = sum(durable.values())
    assert backlog_bytes(durable, None) == total
    assert backlog_bytes(durable, SourcePosition("n1", ids[0], 100)) == total - 100
    assert backlog_bytes(durable, SourcePosition("n1", live, durable[live])) == 0


class _BufferingSink(RecordingSink):
    """Accepts batches into a buffer and writes them only when flushed (as the ClickHouse sink does)."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer: list[ChangeBatch] = []
        self.flush_when_due = False

    def write_batch(self, batch: ChangeBatch) -> None:
        self.buffer.append(batch)

    def durable_positions(self) -> dict[str, SourcePosition]:
        return dict(self.positions)

    def flush_if_due(self) -> None:
        if self.flush_when_due:
            self.flush()

    def flush(self) -> None:
        for batch in self.buffer:
            super().write_batch(batch)
        self.buffer.clear()


def test_a_buffering_sink_holds_segments_until_its_buffer_is_written(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    node = _live_node(cdc_raw, 1500)
    node.close()  # every segment COMPLETED: only the sink's position keeps them
    before = _segments(cdc_raw)
    sink = _BufferingSink()
    sink.name = "buffered"  # type: ignore[misc]
    committed: list[CommittedBatch] = []

    class Observer:
        def on_batch_committed(self, sink: str, batch: CommittedBatch) -> None:
            committed.append(batch)

    lane = SinkLane(
        sink,
        [SourceNode("n1", cdc_raw)],
        benchmark_schema(),
        batch_size=100_000,
        flush_interval=0.01,
        observer=Observer(),
    )
    lane.open()
    coordinator = RetentionCoordinator([SourceNode("n1", cdc_raw)], [lane])
    accepted = lane.step()
    assert accepted > 0  # everything read and accepted into the buffer...
    assert sink.buffer and lane.committed_positions() == {}  # ...but not committed
    assert committed == []  # nor reported (metrics count what is in the destination)
    assert coordinator.run_once().removed == {"n1": []}
    assert _segments(cdc_raw) == before
    assert lane.step() == 0  # idle, the buffer not yet due
    assert lane.committed_positions() == {}
    sink.flush_when_due = True
    assert lane.step() == 0  # idle: the lane asks the sink to write what is due
    last = node.positions[-1]
    assert lane.committed_positions() == {"n1": SourcePosition("n1", last.segment_id, last.position)}
    assert [b.changes for b in committed] == [accepted]
    assert committed[0].positions == {"n1": SourcePosition("n1", last.segment_id, last.position)}
    assert set(coordinator.run_once().removed["n1"]) == {int(n.split("-")[2].split(".")[0]) for n in before}


def test_a_stopping_lane_writes_a_buffering_sinks_buffer(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    node = _live_node(cdc_raw, 500)
    sink = _BufferingSink()
    lane = SinkLane(sink, [SourceNode("n1", cdc_raw)], benchmark_schema(), batch_size=100_000, flush_interval=0.01)
    lane.open()
    lane.step(final=True)
    assert not sink.buffer and sink.changes
    last = node.positions[-1]
    assert lane.committed_positions() == {"n1": SourcePosition("n1", last.segment_id, last.position)}
