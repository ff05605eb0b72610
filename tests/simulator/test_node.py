"""The simulated node's cdc_raw output: segments, sync sections and _cdc.idx as Cassandra 4.0+ writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from cassandra_cdc.commitlog.cdc_index import CdcIndex, read_cdc_index
from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.segment_writer import SegmentFullError
from cassandra_cdc.simulator.node import SimulatedNode


@pytest.mark.parametrize("compression", [None, "LZ4Compressor"])
def test_a_sync_larger_than_a_segment_spills_into_the_next(tmp_path: Path, compression: str | None) -> None:
    node = SimulatedNode(tmp_path, segment_size=64 * 1024, compression=compression)
    entries = [bytes([i % 251]) * 1000 for i in range(200)]  # ~200 KB: four segments' worth
    positions = node.sync(entries)
    node.close()
    assert len(positions) == len(entries)
    segments = sorted(tmp_path.glob("CommitLog-*.log"))
    assert len(segments) >= 4
    read = [e for path in segments for e in read_segment(path)]
    assert all(isinstance(e, RawEntry) for e in read)
    assert [e.data for e in read if isinstance(e, RawEntry)] == entries
    assert [(e.segment_id, e.end) for e in read if isinstance(e, RawEntry)] == [
        (p.segment_id, p.position) for p in positions
    ]
    for path in segments:
        index = read_cdc_index(path.with_name(path.name.replace(".log", "_cdc.idx")))
        assert isinstance(index, CdcIndex) and index.completed


def test_an_entry_bigger_than_a_segment_is_refused(tmp_path: Path) -> None:
    node = SimulatedNode(tmp_path, segment_size=16 * 1024)
    with pytest.raises(SegmentFullError):
        node.sync([b"x" * 20_000])


def test_keep_positions_last_holds_only_the_newest_position(tmp_path: Path) -> None:
    everything = SimulatedNode(tmp_path / "all", segment_size=16 * 1024)
    last_only = SimulatedNode(tmp_path / "last", segment_size=16 * 1024, keep_positions="last")
    assert last_only.last_position is None
    for i in range(50):
        written = everything.sync([bytes([i]) * 500] * 3)
        assert last_only.sync([bytes([i]) * 500] * 3) == written
    assert len(everything.positions) == 150
    # A long run (the soak benchmark) must not keep a position per entry.
    assert last_only.positions == [everything.positions[-1]]
    assert last_only.last_position == everything.last_position == everything.positions[-1]
    last_only.sync([])
    assert last_only.positions == [everything.positions[-1]]
