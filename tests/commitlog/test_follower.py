"""CdcFollower on real files: a SegmentWriter and write_cdc_index stand in for Cassandra."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from cassandra_cdc.commitlog.cdc_index import write_cdc_index
from cassandra_cdc.commitlog.descriptor import cdc_index_file_name, segment_file_name
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.follower import (
    CdcFollower,
    FollowedItem,
    GapDetected,
    SegmentCompleted,
    position_of,
)
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.segment_writer import SegmentWriter

SEGMENT_SIZE = 64 * 1024
BASE = 1_700_000_000_000  # segment ids are a per-run timestamp base plus a counter


def mutation(n: int) -> bytes:
    # Opaque bytes: the follower does not decode mutations (entries must be >= 10 bytes).
    return f"mutation-{n:06d}".encode()


def new_segment(cdc: Path, segment_id: int, *, version: int = 7, **kwargs: object) -> SegmentWriter:
    return SegmentWriter.create(cdc, segment_id, version=version, segment_size=SEGMENT_SIZE, **kwargs)


def index(cdc: Path, segment_id: int, offset: int, completed: bool = False, version: int = 7) -> None:
    write_cdc_index(cdc / cdc_index_file_name(version, segment_id), offset, completed)


def datas(items: Sequence[FollowedItem]) -> list[bytes]:
    return [i.data for i in items if isinstance(i, RawEntry)]


def of_type(items: Sequence[FollowedItem], kind: type) -> list[FollowedItem]:
    return [i for i in items if isinstance(i, kind)]


def finish(cdc: Path, writer: SegmentWriter) -> None:
    """Cassandra's closing sync: the last marker, then the index with COMPLETED."""
    writer.close()
    index(cdc, writer.segment_id, writer.position, completed=True, version=writer.version)


@pytest.fixture
def cdc(tmp_path: Path) -> Path:
    path = tmp_path / "cdc_raw"
    path.mkdir()
    return path


# -- durability -------------------------------------------------------------------------------


def test_entries_appear_only_after_the_index_advances(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    w = new_segment(cdc, BASE + 1)
    assert follower.poll() == []  # hard link exists, no index: no CDC data yet

    end1 = w.append_section([mutation(1), mutation(2)])
    assert follower.poll() == []  # bytes are there, but not declared durable
    index(cdc, BASE + 1, end1)
    items = follower.poll()
    assert datas(items) == [mutation(1), mutation(2)]
    assert [position_of(i) for i in items] == [CommitLogPosition(BASE + 1, p) for p in w.entry_positions]
    assert follower.poll() == []  # nothing new

    end2 = w.append_section([mutation(3)])
    assert follower.poll() == []
    index(cdc, BASE + 1, end2)
    assert datas(follower.poll()) == [mutation(3)]


def test_never_reads_past_the_index_offset(cdc: Path) -> None:
    w = new_segment(cdc, BASE + 1)
    end1 = w.append_section([mutation(1)])
    w.append_section([mutation(2)])
    index(cdc, BASE + 1, end1)
    assert datas(CdcFollower(cdc, node_id="n1").poll()) == [mutation(1)]


def test_compressed_segment_read_up_to_its_durable_offset(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    w = new_segment(cdc, BASE + 1, compression="LZ4Compressor")
    end1 = w.append_section([mutation(1), mutation(2)])
    w.append_section([mutation(3)])
    index(cdc, BASE + 1, end1)  # uncompressed offset of the first section's end
    assert datas(follower.poll()) == [mutation(1), mutation(2)]
    finish(cdc, w)
    items = follower.poll()
    assert datas(items) == [mutation(3)]
    assert isinstance(items[-1], SegmentCompleted)


def test_empty_and_partial_index_are_retried_never_a_regression(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    idx = cdc / cdc_index_file_name(7, BASE + 1)
    w = new_segment(cdc, BASE + 1)
    end1 = w.append_section([mutation(1), mutation(2)])
    index(cdc, BASE + 1, end1)
    assert datas(follower.poll()) == [mutation(1), mutation(2)]

    end2 = w.append_section([mutation(3)])
    idx.write_bytes(b"")  # FileWriter has truncated the file, not yet written
    assert follower.poll() == []
    idx.write_bytes(str(end2).encode()[:2])  # a cut-off number: smaller than what was read
    assert follower.poll() == []
    idx.write_bytes(f"{end2}\nCOMP".encode())  # cut inside COMPLETED
    assert follower.poll() == []
    index(cdc, BASE + 1, end2)
    assert datas(follower.poll()) == [mutation(3)]  # nothing re-emitted
    w.close()
    index(cdc, BASE + 1, w.position, completed=True)
    items = follower.poll()
    assert [type(i) for i in items] == [SegmentCompleted]


# -- completion, ordering, resume -----------------------------------------------------------------


def test_completed_segments_in_id_order(cdc: Path) -> None:
    # Created in another order than their ids.
    for sid, n in ((BASE + 3, 30), (BASE + 1, 10), (BASE + 2, 20)):
        w = new_segment(cdc, sid)
        w.append_section([mutation(n), mutation(n + 1)])
        finish(cdc, w)
    items = CdcFollower(cdc, node_id="n1").poll()
    assert datas(items) == [mutation(m) for m in (10, 11, 20, 21, 30, 31)]
    done = of_type(items, SegmentCompleted)
    assert [(d.segment_id, d.how, d.entries) for d in done] == [  # type: ignore[union-attr]
        (BASE + 1, "index", 2),
        (BASE + 2, "index", 2),
        (BASE + 3, "index", 2),
    ]
    positions = [position_of(i) for i in items]
    assert positions == sorted(positions)


def test_completed_reads_to_the_end_whatever_the_offset(cdc: Path) -> None:
    """CommitLogReplayer.handleCDCReplayCompletion writes the file length, not a data offset."""
    w = new_segment(cdc, BASE + 1)
    w.append_section([mutation(1)])
    w.append_section([mutation(2)])
    w.close()
    index(cdc, BASE + 1, SEGMENT_SIZE, completed=True)
    items = CdcFollower(cdc, node_id="n1").poll()
    assert datas(items) == [mutation(1), mutation(2)]
    assert isinstance(items[-1], SegmentCompleted)
    assert items[-1].position == CommitLogPosition(BASE + 1, w.entry_positions[-1])


def test_live_segment_blocks_later_ones_until_completed(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    w1 = new_segment(cdc, BASE + 1)
    index(cdc, BASE + 1, w1.append_section([mutation(1)]))
    assert datas(follower.poll()) == [mutation(1)]
    w2 = new_segment(cdc, BASE + 2)  # created ahead by the segment manager
    assert follower.poll() == []
    w1.append_section([mutation(2)])
    finish(cdc, w1)  # the switch: the old segment's closing sync comes first
    index(cdc, BASE + 2, w2.append_section([mutation(3)]))
    items = follower.poll()
    assert datas(items) == [mutation(2), mutation(3)]
    assert isinstance(items[1], SegmentCompleted)


def _three_entry_segments(cdc: Path) -> list[SegmentWriter]:
    writers = []
    for k, sid in enumerate((BASE + 1, BASE + 2)):
        w = new_segment(cdc, sid)
        w.append_section([mutation(10 * k + 1), mutation(10 * k + 2)])
        w.append_section([mutation(10 * k + 3)])
        finish(cdc, w)
        writers.append(w)
    return writers


def test_resume_mid_segment(cdc: Path) -> None:
    w1, _ = _three_entry_segments(cdc)
    follower = CdcFollower(cdc, node_id="n1", resume_from=CommitLogPosition(BASE + 1, w1.entry_positions[0]))
    assert datas(follower.poll()) == [mutation(2), mutation(3), mutation(11), mutation(12), mutation(13)]


def test_resume_at_a_section_boundary(cdc: Path) -> None:
    w1, _ = _three_entry_segments(cdc)
    follower = CdcFollower(cdc, node_id="n1", resume_from=CommitLogPosition(BASE + 1, w1.entry_positions[1]))
    assert datas(follower.poll()) == [mutation(3), mutation(11), mutation(12), mutation(13)]


def test_resume_at_segment_end_and_next_segment(cdc: Path) -> None:
    w1, _ = _three_entry_segments(cdc)
    follower = CdcFollower(cdc, node_id="n1", resume_from=CommitLogPosition(BASE + 1, w1.entry_positions[-1]))
    items = follower.poll()
    assert isinstance(items[0], SegmentCompleted) and items[0].entries == 0
    assert datas(items) == [mutation(11), mutation(12), mutation(13)]
    # Resuming from the next segment's start skips the lower segment entirely.
    follower = CdcFollower(cdc, node_id="n1", resume_from=CommitLogPosition(BASE + 2, 0))
    items = follower.poll()
    assert datas(items) == [mutation(11), mutation(12), mutation(13)]
    assert {position_of(i).segment_id for i in items} == {BASE + 2}


def test_batches_do_not_duplicate(cdc: Path) -> None:
    _three_entry_segments(cdc)
    follower = CdcFollower(cdc, node_id="n1")
    seen: list[FollowedItem] = []
    for _ in range(20):
        batch = follower.poll(max_items=2)
        assert len(batch) <= 2
        seen.extend(batch)
    assert datas(seen) == [mutation(m) for m in (1, 2, 3, 11, 12, 13)]
    assert len(of_type(seen, SegmentCompleted)) == 2


# -- indexes left behind, segments without CDC data ---------------------------------------------


def test_segment_without_index_is_passed_over_when_a_later_one_has_data(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    new_segment(cdc, BASE + 1)  # never held CDC data: no index
    w2 = new_segment(cdc, BASE + 2)
    index(cdc, BASE + 2, w2.append_section([mutation(1)]))
    items = follower.poll()
    assert datas(items) == [mutation(1)]
    assert of_type(items, GapDetected) == []
    (cdc / segment_file_name(7, BASE + 1)).unlink()  # Cassandra discards it: not a gap
    assert follower.poll() == []


def test_stale_index_of_a_stopped_run_is_superseded(cdc: Path) -> None:
    now = [0.0]
    follower = CdcFollower(cdc, node_id="n1", stale_index_timeout=30.0, clock=lambda: now[0])
    w1 = new_segment(cdc, BASE + 1)
    index(cdc, BASE + 1, w1.append_section([mutation(1)]))
    w1.append_section([mutation(2)])  # written but never declared durable (node stopped)
    w1.close(finish=False)
    assert datas(follower.poll()) == [mutation(1)]
    w2 = new_segment(cdc, BASE + 5000)  # next run
    index(cdc, BASE + 5000, w2.append_section([mutation(3)]))
    now[0] = 10.0
    assert follower.poll() == []  # maybe the closing sync is just late: wait
    now[0] = 31.0
    items = follower.poll()
    assert datas(items) == [mutation(2), mutation(3)]  # read to the end, as replay would
    done = of_type(items, SegmentCompleted)
    assert [d.how for d in done] == ["superseded"]  # type: ignore[union-attr]
    assert of_type(items, GapDetected) == []  # an id jump of a restart is no gap


# -- legacy (3.8 - 3.11) -----------------------------------------------------------------------


def test_legacy_segments_are_read_whole(cdc: Path) -> None:
    for sid in (BASE + 2, BASE + 1):
        w = new_segment(cdc, sid, version=6)
        w.append_section([mutation(sid - BASE)])
        w.append_section([mutation(sid - BASE + 10)])
        w.close()
    items = CdcFollower(cdc, node_id="n1").poll()  # auto: version 6 is legacy
    assert datas(items) == [mutation(1), mutation(11), mutation(2), mutation(12)]
    assert [d.how for d in of_type(items, SegmentCompleted)] == ["legacy", "legacy"]  # type: ignore[union-attr]
    items = CdcFollower(cdc, node_id="n1", mode="legacy").poll()
    assert len(datas(items)) == 4


def test_legacy_late_segment_is_read_and_released_only_after_later_items(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1", mode="legacy")
    w2 = new_segment(cdc, BASE + 2, version=6)
    w2.append_section([mutation(2)])
    w2.close()
    assert datas(follower.poll()) == [mutation(2)]
    w1 = new_segment(cdc, BASE + 1, version=6)  # discarded later (a table flushed late)
    w1.append_section([mutation(1)])
    w1.close()
    items = follower.poll()
    assert datas(items) == [mutation(1)]
    late_end = CommitLogPosition(BASE + 1, w1.entry_positions[-1])
    follower.release(late_end)
    assert (cdc / segment_file_name(6, BASE + 1)).exists()  # not proven consumed yet
    w3 = new_segment(cdc, BASE + 3, version=6)
    w3.append_section([mutation(3), mutation(4)])
    w3.close()
    items = follower.poll()
    follower.release(position_of(items[0]))  # past the late segment's items, not past segment 3
    assert not (cdc / segment_file_name(6, BASE + 1)).exists()
    assert not (cdc / segment_file_name(6, BASE + 2)).exists()
    assert (cdc / segment_file_name(6, BASE + 3)).exists()


def test_legacy_real_segment(commitlog_fixtures: Path, cdc: Path) -> None:
    source = next((commitlog_fixtures / "3.0.29-encrypted").glob("CommitLog-*.log"))
    shutil.copy(source, cdc / source.name)  # a tmp copy only, never into the project
    expected = [e for e in read_segment(source) if isinstance(e, RawEntry)]
    items = CdcFollower(cdc, node_id="n1").poll(max_items=100_000)
    assert expected
    assert [e.data for e in expected] == datas(items)
    assert isinstance(items[-1], SegmentCompleted) and items[-1].how == "legacy"


# -- gaps ------------------------------------------------------------------------------------


def test_missing_segment_id_while_watching(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    w1 = new_segment(cdc, BASE + 1)
    w1.append_section([mutation(1)])
    finish(cdc, w1)
    assert datas(follower.poll()) == [mutation(1)]
    w2 = new_segment(cdc, BASE + 2)  # observed: no gap for it even once discarded
    assert follower.poll() == []
    w2.close(finish=False)
    (cdc / segment_file_name(7, BASE + 2)).unlink()
    w4 = new_segment(cdc, BASE + 4)  # BASE + 3 was never seen
    index(cdc, BASE + 4, w4.append_section([mutation(4)]))
    items = follower.poll()
    gaps = of_type(items, GapDetected)
    assert len(gaps) == 1
    gap = gaps[0]
    assert isinstance(gap, GapDetected)
    assert (gap.kind, gap.segment_ids, gap.node_id) == ("missing_segment_id", (BASE + 3,), "n1")
    assert str(BASE + 3) in gap.message
    assert items.index(gap) < items.index(next(i for i in items if isinstance(i, RawEntry)))


def test_missing_ids_before_start_reported_only_with_all(cdc: Path) -> None:
    for sid in (BASE + 1, BASE + 4):
        w = new_segment(cdc, sid)
        w.append_section([mutation(sid - BASE)])
        finish(cdc, w)
    assert of_type(CdcFollower(cdc, node_id="n1").poll(), GapDetected) == []
    gaps = of_type(CdcFollower(cdc, node_id="n1", missing_ids="all").poll(), GapDetected)
    assert [g.segment_ids for g in gaps] == [(BASE + 2, BASE + 3)]  # type: ignore[union-attr]
    assert of_type(CdcFollower(cdc, node_id="n1", missing_ids="never").poll(), GapDetected) == []


def test_segment_removed_before_read_to_its_end(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    w1 = new_segment(cdc, BASE + 1)
    index(cdc, BASE + 1, w1.append_section([mutation(1)]))
    assert datas(follower.poll()) == [mutation(1)]
    w1.append_section([mutation(2)])
    w1.close()
    # cdc_block_writes: false (4.1+) deletes the oldest segment and its index over the space limit.
    (cdc / segment_file_name(7, BASE + 1)).unlink()
    (cdc / cdc_index_file_name(7, BASE + 1)).unlink()
    w2 = new_segment(cdc, BASE + 2)
    index(cdc, BASE + 2, w2.append_section([mutation(3)]))
    items = follower.poll()
    gap = items[0]
    assert isinstance(gap, GapDetected)
    assert gap.kind == "segment_removed_unread" and gap.segment_ids == (BASE + 1,)
    assert gap.position == CommitLogPosition(BASE + 1, w1.entry_positions[0])
    assert datas(items) == [mutation(3)]


def test_observed_ids_do_not_pile_up_over_many_segments(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    for n in range(1, 60):
        w = new_segment(cdc, BASE + n)
        w.append_section([mutation(n)])
        finish(cdc, w)
        items = follower.poll()
        assert datas(items) == [mutation(n)] and of_type(items, GapDetected) == []
        follower.release(position_of(items[-1]))  # retention deletes each segment once consumed
    # The missing-id check looks only above the last opened segment: older ids are not kept.
    assert len(follower._observed) <= 2
    assert len(follower._segments) <= 1
    w = new_segment(cdc, BASE + 61)  # BASE + 60 never appeared: still reported
    index(cdc, BASE + 61, w.append_section([mutation(61)]))
    gaps = of_type(follower.poll(), GapDetected)
    assert [g.segment_ids for g in gaps] == [(BASE + 60,)]  # type: ignore[union-attr]


# -- corruption ------------------------------------------------------------------------------


def test_corrupt_entry_passes_through_and_following_continues(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    w = new_segment(cdc, BASE + 1)
    end1 = w.append_section([mutation(1), mutation(2), mutation(3)])
    # Flip a byte inside the second entry's data: its data CRC no longer matches.
    bad_start = w.entry_positions[0]
    path = cdc / segment_file_name(7, BASE + 1)
    with open(path, "r+b") as fh:
        fh.seek(bad_start + 8 + 3)
        byte = fh.read(1)
        fh.seek(bad_start + 8 + 3)
        fh.write(bytes([byte[0] ^ 0xFF]))
    index(cdc, BASE + 1, end1)
    items = follower.poll()
    assert datas(items) == [mutation(1), mutation(3)]
    errors = of_type(items, EntryError)
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, EntryError)
    assert error.offset == bad_start and "CRC" in error.reason
    assert position_of(error) == CommitLogPosition(BASE + 1, w.entry_positions[1])
    index(cdc, BASE + 1, w.append_section([mutation(4)]))
    items = follower.poll()
    assert datas(items) == [mutation(4)]
    assert of_type(items, EntryError) == []  # not reported twice


# -- retention -------------------------------------------------------------------------------


def test_release_deletes_only_completed_and_passed_segments(cdc: Path) -> None:
    follower = CdcFollower(cdc, node_id="n1")
    w1 = new_segment(cdc, BASE + 1)
    w1.append_section([mutation(1), mutation(2)])
    finish(cdc, w1)
    w2 = new_segment(cdc, BASE + 2)
    index(cdc, BASE + 2, w2.append_section([mutation(3)]))
    items = follower.poll()
    seg1 = cdc / segment_file_name(7, BASE + 1)
    idx1 = cdc / cdc_index_file_name(7, BASE + 1)
    usage = follower.disk_usage_bytes()
    assert usage == sum(p.stat().st_size for p in cdc.iterdir())

    assert follower.release(CommitLogPosition(BASE + 1, w1.entry_positions[0])) == 0  # not past its end
    assert seg1.exists() and idx1.exists()
    freed = follower.release(position_of(items[1]))  # every consumer passed the last entry
    assert not seg1.exists() and not idx1.exists()
    assert freed == SEGMENT_SIZE + len(f"{w1.position}\nCOMPLETED")
    assert follower.disk_usage_bytes() == usage - freed
    # The live segment stays whatever the position.
    follower.release(CommitLogPosition(BASE + 99, 0))
    assert (cdc / segment_file_name(7, BASE + 2)).exists()
    assert datas(follower.poll()) == []  # and the follower does not miss its deletion of seg1


def test_release_archives_when_configured(cdc: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    follower = CdcFollower(cdc, node_id="n1", archive_dir=archive, mode="indexed")
    w1 = new_segment(cdc, BASE + 1)
    w1.append_section([mutation(1)])
    finish(cdc, w1)
    items = follower.poll()
    done = items[-1]
    assert isinstance(done, SegmentCompleted)
    follower.mark_consumed(done.position)
    assert sorted(p.name for p in archive.iterdir()) == [
        segment_file_name(7, BASE + 1),
        cdc_index_file_name(7, BASE + 1),
    ]
    assert list(cdc.iterdir()) == []


def test_release_segments_before_the_resume_point(cdc: Path) -> None:
    _three_entry_segments(cdc)
    live = new_segment(cdc, BASE + 3)
    index(cdc, BASE + 3, live.append_section([mutation(1)]))
    follower = CdcFollower(cdc, node_id="n1", resume_from=CommitLogPosition(BASE + 2, 0))
    follower.poll()
    follower.release(CommitLogPosition(BASE + 2, 0))
    assert not (cdc / segment_file_name(7, BASE + 1)).exists()  # COMPLETED and passed
    assert (cdc / segment_file_name(7, BASE + 2)).exists()
    assert (cdc / segment_file_name(7, BASE + 3)).exists()


# -- live following --------------------------------------------------------------------------


def test_follow_live_appends_latency(cdc: Path) -> None:
    """Entries are emitted soon after the index advance that makes them durable."""
    follower = CdcFollower(cdc, node_id="n1", poll_interval=0.02)
    stop = threading.Event()
    advanced_at: dict[bytes, float] = {}
    seen_at: dict[bytes, float] = {}
    received: list[FollowedItem] = []

    def consume() -> None:
        for item in follower.follow(stop):
            received.append(item)
            if isinstance(item, RawEntry):
                seen_at[item.data] = time.monotonic()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        n = 0
        for sid in (BASE + 1, BASE + 2):
            w = new_segment(cdc, sid)
            for _ in range(8):
                batch = [mutation(n), mutation(n + 1)]
                n += 2
                end = w.append_section(batch)
                time.sleep(0.01)  # bytes visible before the index: must not be emitted yet
                assert all(b not in seen_at for b in batch)
                stamp = time.monotonic()
                index(cdc, sid, end)
                for b in batch:
                    advanced_at[b] = stamp
                time.sleep(0.02)
            finish(cdc, w)
        deadline = time.monotonic() + 5
        while len(seen_at) < n and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert datas(received) == [mutation(i) for i in range(n)]
    latencies = [seen_at[b] - advanced_at[b] for b in advanced_at]
    print(f"index advance -> emission latency: max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1.0


def test_release_from_another_thread_while_following(cdc: Path) -> None:
    """A consumer thread commits while the follower thread polls: completed segments go, none early."""
    follower = CdcFollower(cdc, node_id="n1", poll_interval=0.01)
    stop = threading.Event()
    received: list[FollowedItem] = []

    def consume() -> None:
        for item in follower.follow(stop):
            received.append(item)
            follower.release(position_of(item))

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        for sid in range(BASE + 1, BASE + 6):
            w = new_segment(cdc, sid)
            index(cdc, sid, w.append_section([mutation(sid - BASE)]))
            time.sleep(0.01)
            finish(cdc, w)
        live = new_segment(cdc, BASE + 6)
        index(cdc, BASE + 6, live.append_section([mutation(6)]))
        deadline = time.monotonic() + 5
        while len(datas(received)) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert datas(received) == [mutation(i) for i in range(1, 7)]
    assert sorted(p.name for p in cdc.iterdir()) == [
        segment_file_name(7, BASE + 6),
        cdc_index_file_name(7, BASE + 6),
    ]


def test_follow_async(cdc: Path) -> None:
    w = new_segment(cdc, BASE + 1)
    w.append_section([mutation(1)])
    finish(cdc, w)
    follower = CdcFollower(cdc, node_id="n1")

    async def run() -> list[FollowedItem]:
        stop = asyncio.Event()
        got: list[FollowedItem] = []
        async for item in follower.follow_async(stop):
            got.append(item)
            if isinstance(item, SegmentCompleted):
                stop.set()
        return got

    items = asyncio.run(asyncio.wait_for(run(), timeout=5))
    assert datas(items) == [mutation(1)]


def test_rejects_bad_options(cdc: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        CdcFollower(cdc, node_id="n1", mode="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing_ids"):
        CdcFollower(cdc, node_id="n1", missing_ids="some")  # type: ignore[arg-type]
