"""Follow a node's cdc_raw directory: every CDC entry once, in order, only once it is durable.

How segments reach cdc_raw (CommitLogSegmentManagerCDC, CommitLogSegment, CommitLogReplayer):

* 3.8 - 3.11 ("legacy"): a segment that held CDC data is moved (renamed) into cdc_raw when it is
  discarded, i.e. after every memtable with data in it was flushed. A file in cdc_raw is complete;
  there is no index. Segments are discarded when their memtables allow it, so a lower id can
  arrive after a higher one.
* 4.0+ ("indexed"): every new segment is hard-linked into cdc_raw when created. The first sync
  after a CDC mutation was allocated in it writes ``<segment>_cdc.idx`` (see cdc_index.py) with
  the durable offset; the closing sync adds ``COMPLETED``. A segment that never held CDC data has
  no index, and its link is deleted when Cassandra discards the segment.

This follower reads segments in id order. For an indexed segment it reads only up to the index
offset (the bytes past it may be half-written), and to the end once COMPLETED. Legacy segments are
read whole. ``mode="auto"`` decides per segment from the version in its file name (6 = 3.x ->
legacy, 7+ -> indexed).

Ordering rules for indexed segments (from CommitLogSegment.sync and AbstractCommitLogSegmentManager.sync,
which sync segments in id order, and close a segment in the sync after the switch):

* an index on a higher segment means a lower segment without an index held no CDC data when the
  higher one synced: it is passed over (but watched: if it gets an index later, e.g. through a
  replay, it is read then, out of order rather than lost);
* a lower segment with an index that is not COMPLETED normally becomes COMPLETED within one sync
  period of the higher segment's first index. If its index does not change for
  ``stale_index_timeout`` seconds while a higher segment has an index, the segment was left by a
  stopped node run (a drained node does not replay, so nothing rewrites its index): it is read to
  its end, as Cassandra's replay would, and completed ("superseded").

Gaps (GapDetected):

* ``segment_removed_unread``: a segment holding CDC data (an index was seen, or legacy) disappeared
  before it was read to its end, e.g. Cassandra 4.1+ with cdc_block_writes: false deleting the
  oldest segments when cdc_total_space is exceeded (CASSANDRA-17001), or an operator. A segment
  that disappears without ever having had an index is a normal discard of a segment with no CDC
  data and is not reported.
* ``missing_segment_id``: segment ids are consecutive within a node run (CommitLogSegment.getNextId:
  a per-run base, max(current time in ms, highest id on disk + 1), plus a counter), but a gap is
  not necessarily data loss: segments that never held CDC data are unlinked from cdc_raw, and a
  segment created while cdc_raw was full (blocking mode) is never linked. What can be said is:
  an id this follower never saw in cdc_raw although it was created while the follower was
  watching (higher than every id of the first listing), between two indexed segments read one
  after the other, was removed so fast that it was never observed — suspicious, so it is
  reported (``missing_ids="watched"``, the default). ``"all"`` also reports ids missing before the
  follower started (after a restart of the follower these are usually segments with no CDC data);
  ``"never"`` disables the check. A jump of more than ``restart_id_jump`` ids is taken as a node
  restart (the new base is a timestamp) and never reported. 3.x segments without CDC data never
  reach cdc_raw, so missing ids are not reported for legacy segments.

Resume: ``resume_from`` is the position every consumer committed. Segments with lower ids are not
read, and in its segment, entries ending at or before the position are skipped.

Retention: ``release(position)`` says every consumer has committed ``position``; completed
segments that were read to their end and whose last item is at or below it are deleted (or moved
to ``archive_dir``) with their index. A segment read out of order (after items of a higher
segment) is released only by a position at or past the first item emitted after it, since
consumers commit in emission order. Segments below the resume point go once their index says
COMPLETED (or they are legacy). Nothing else is ever deleted: not a live segment, not one without
an index, not one this follower has not read to its end.

Limits: a segment is read whole into memory on each poll that has something new in it (32 MiB at
most); an index that stays malformed on a live segment (Cassandra rewrites it on every sync) is
waited on, not reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cassandra_cdc.commitlog.cdc_index import CdcIndex, IndexNotReady, read_cdc_index
from cassandra_cdc.commitlog.descriptor import VERSION_40, cdc_index_file_name, parse_segment_file_name
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.segment_retention import directory_usage_bytes, remove_segment_files

FollowMode = Literal["auto", "indexed", "legacy"]
MissingIdPolicy = Literal["watched", "all", "never"]
CompletionKind = Literal["index", "legacy", "superseded"]
GapKind = Literal["missing_segment_id", "segment_removed_unread"]

# Ids of a new node run start from a timestamp in ms: a larger jump is a restart, not a gap.
DEFAULT_RESTART_ID_JUMP = 1000


@dataclass(frozen=True, slots=True)
class SegmentCompleted:
    """A segment was read to its end (COMPLETED index, legacy segment, or superseded stale index).

    ``position`` is the last position read in it (commit it to release the segment); ``entries``
    counts the entries this follower emitted from it.
    """

    node_id: str
    segment_id: int
    path: Path
    position: CommitLogPosition
    how: CompletionKind
    entries: int


@dataclass(frozen=True, slots=True)
class GapDetected:
    """Changes may have been lost: see the module docstring for what each kind means."""

    node_id: str
    kind: GapKind
    segment_ids: tuple[int, ...]
    message: str
    position: CommitLogPosition


FollowedItem = RawEntry | EntryError | SegmentCompleted | GapDetected


def position_of(item: FollowedItem) -> CommitLogPosition:
    """The position to commit once ``item`` is handled (for an EntryError: where reading went on)."""
    if isinstance(item, EntryError):
        at = item.resumed_at if item.resumed_at is not None else item.offset
        return CommitLogPosition(item.segment_id, at)
    return item.position


@dataclass(slots=True)
class _Segment:
    """What the follower knows about one segment file in cdc_raw."""

    segment_id: int
    version: int
    log_path: Path
    index_path: Path
    legacy: bool
    read_to: int  # entries ending at or before this were emitted (or skipped by resume)
    bound_read: int = -1  # durable offset already read up to (-1: nothing yet)
    saw_index: bool = False
    opened: bool = False  # data read from it at least once
    finished: bool = False  # read to its end (or before the resume point)
    before_resume: bool = False
    release_at: CommitLogPosition | None = None
    late: bool = False
    entries: int = 0
    last_error_offset: int = -1
    index_seen: CdcIndex | IndexNotReady | None = None
    index_changed_at: float = 0.0
    errors_reported: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Listing:
    logs: dict[int, tuple[int, Path]]  # id -> (version, path)
    indexes: frozenset[int]


class CdcFollower:
    """Follows ``cdc_raw_dir`` of one node; see the module docstring.

    ``poll()`` returns what became readable since the last call; ``follow(stop_event)`` and
    ``follow_async(stop)`` loop on it. ``release(position)`` frees consumed segments; it may be
    called from another thread. ``max_batch`` bounds the items one poll returns (a backlog of
    completed segments is returned over several polls).
    """

    def __init__(
        self,
        cdc_raw_dir: Path | str,
        *,
        node_id: str,
        encryption: EncryptionConfig | None = None,
        resume_from: CommitLogPosition | None = None,
        poll_interval: float = 0.05,
        mode: FollowMode = "auto",
        archive_dir: Path | str | None = None,
        missing_ids: MissingIdPolicy = "watched",
        restart_id_jump: int = DEFAULT_RESTART_ID_JUMP,
        stale_index_timeout: float = 60.0,
        max_batch: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("auto", "indexed", "legacy"):
            raise ValueError(f"mode must be 'auto', 'indexed' or 'legacy', not {mode!r}")
        if missing_ids not in ("watched", "all", "never"):
            raise ValueError(f"missing_ids must be 'watched', 'all' or 'never', not {missing_ids!r}")
        if poll_interval <= 0 or max_batch <= 0:
            raise ValueError("poll_interval and max_batch must be positive")
        self.cdc_raw_dir = Path(cdc_raw_dir)
        self.node_id = node_id
        self.encryption = encryption
        self.resume_from = resume_from
        self.poll_interval = poll_interval
        self.mode: FollowMode = mode
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        self.missing_ids: MissingIdPolicy = missing_ids
        self.restart_id_jump = restart_id_jump
        self.stale_index_timeout = stale_index_timeout
        self.max_batch = max_batch
        self._clock = clock
        self._lock = threading.RLock()
        self._segments: dict[int, _Segment] = {}
        self._observed: set[int] = set()
        self._first_listing_max: int | None = None
        self._last_opened: int | None = resume_from.segment_id if resume_from is not None else None
        self._max_emitted_segment = -1
        self._late: list[_Segment] = []  # completed late, waiting for a later item to be emitted
        self._released: CommitLogPosition | None = None
        self.bytes_released = 0

    # -- public API ---------------------------------------------------------------------------

    def poll(self, max_items: int | None = None) -> list[FollowedItem]:
        """Whatever became durable since the last call, in order (at most ``max_items``)."""
        limit = max_items if max_items is not None else self.max_batch
        out: list[FollowedItem] = []
        with self._lock:
            listing = self._list()
            self._forget_vanished(listing, out)
            self._track_new(listing)
            self._advance(listing, out, limit)
        return out

    def follow(self, stop_event: threading.Event) -> Iterator[FollowedItem]:
        """Yield items as they become durable until ``stop_event`` is set (polls every ``poll_interval``)."""
        while not stop_event.is_set():
            batch = self.poll()
            yield from batch
            if len(batch) < self.max_batch:
                stop_event.wait(self.poll_interval)

    async def follow_async(self, stop: asyncio.Event) -> AsyncIterator[FollowedItem]:
        """``follow`` for asyncio: polls in a worker thread, sleeps without blocking the loop."""
        while not stop.is_set():
            batch = await asyncio.to_thread(self.poll)
            for item in batch:
                yield item
            if len(batch) < self.max_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

    def release(self, position: CommitLogPosition) -> int:
        """Every consumer has committed ``position``: delete (or archive) what it covers; return bytes freed.

        Only segments read to their end whose last item is at or below ``position`` go, and segments
        before the resume point whose index says COMPLETED (or legacy ones). A lower position than
        an earlier call is ignored.
        """
        with self._lock:
            if self._released is None or self._released < position:
                self._released = position
            released = self._released
            freed = 0
            for seg in sorted(self._segments.values(), key=lambda s: s.segment_id):
                if not self._may_remove(seg, released):
                    continue
                freed += remove_segment_files(seg.log_path, seg.index_path, self.archive_dir)
                del self._segments[seg.segment_id]
            self.bytes_released += freed
            return freed

    mark_consumed = release

    def releasable(self, position: CommitLogPosition) -> dict[int, tuple[Path, Path]]:
        """What ``release(position)`` would remove, without removing it: segment id -> (log, index).

        For a coordinator of several followers of one directory (one per consumer), which removes a
        segment only when every follower would; the follower forgets files removed by others.
        """
        with self._lock:
            return {
                seg.segment_id: (seg.log_path, seg.index_path)
                for seg in self._segments.values()
                if self._may_remove(seg, position)
            }

    def disk_usage_bytes(self) -> int:
        """Bytes held in cdc_raw (segments and indexes), for a metric."""
        return directory_usage_bytes(self.cdc_raw_dir)

    # -- listing ------------------------------------------------------------------------------

    def _list(self) -> _Listing:
        logs: dict[int, tuple[int, Path]] = {}
        indexes: set[int] = set()
        try:
            names = os.listdir(self.cdc_raw_dir)
        except FileNotFoundError:
            names = []
        for name in names:
            try:
                parsed = parse_segment_file_name(name)
            except ValueError:
                continue  # not Cassandra's (a consumer's temp file, say): ignore
            if parsed.is_cdc_index:
                indexes.add(parsed.segment_id)
            else:
                logs[parsed.segment_id] = (parsed.version, self.cdc_raw_dir / name)
        return _Listing(logs, frozenset(indexes))

    def _is_legacy(self, version: int) -> bool:
        if self.mode == "auto":
            return version < VERSION_40
        return self.mode == "legacy"

    def _track_new(self, listing: _Listing) -> None:
        if self._first_listing_max is None:
            self._first_listing_max = max(listing.logs, default=-1)
        resume = self.resume_from
        for segment_id, (version, path) in listing.logs.items():
            self._observed.add(segment_id)
            if segment_id in self._segments:
                continue
            seg = _Segment(
                segment_id=segment_id,
                version=version,
                log_path=path,
                index_path=self.cdc_raw_dir / cdc_index_file_name(version, segment_id),
                legacy=self._is_legacy(version),
                read_to=0,
            )
            if resume is not None and segment_id < resume.segment_id:
                seg.finished = seg.before_resume = True
            elif resume is not None and segment_id == resume.segment_id:
                seg.read_to = resume.position
            self._segments[segment_id] = seg

    def _forget_vanished(self, listing: _Listing, out: list[FollowedItem]) -> None:
        for segment_id in sorted(self._segments):
            if segment_id in listing.logs:
                continue
            seg = self._segments.pop(segment_id)
            if seg.finished or not (seg.saw_index or seg.legacy):
                continue  # read already, or a segment that never held CDC data: a normal discard
            self._emit(
                out,
                GapDetected(
                    self.node_id,
                    "segment_removed_unread",
                    (segment_id,),
                    f"node {self.node_id}: segment {seg.log_path.name} was removed from {self.cdc_raw_dir} "
                    f"before it was read to its end (read up to offset {seg.read_to}); its later "
                    "changes are lost (cdc_block_writes: false deleting over cdc_total_space, "
                    "or removed by hand?)",
                    CommitLogPosition(segment_id, seg.read_to),
                ),
            )

    # -- reading ------------------------------------------------------------------------------

    def _advance(self, listing: _Listing, out: list[FollowedItem], limit: int) -> None:
        pending = sorted(s for s, seg in self._segments.items() if not seg.finished)
        for segment_id in pending:
            if len(out) >= limit:
                return
            seg = self._segments[segment_id]
            if seg.legacy:
                if not self._read(seg, None, out, limit):
                    return
                self._complete(seg, "legacy", out)
                continue
            higher_index = any(i > segment_id for i in listing.indexes)
            index = read_cdc_index(seg.index_path)
            if index is None:
                if higher_index:
                    continue  # held no CDC data; re-checked on every poll in case an index appears
                return  # the live segment, no CDC data yet
            seg.saw_index = True
            now = self._clock()
            if index != seg.index_seen:
                seg.index_seen = index
                seg.index_changed_at = now
            if isinstance(index, CdcIndex) and index.completed:
                if not self._read(seg, None, out, limit):
                    return
                self._complete(seg, "index", out)
                continue
            # Never below what was read already: a cut-off rewrite ("12" of "1234") is no regression.
            durable = index.offset if isinstance(index, CdcIndex) else -1
            if durable > seg.bound_read and not self._read(seg, durable, out, limit):
                return
            stale = now - seg.index_changed_at >= self.stale_index_timeout
            if higher_index and stale:
                if not self._read(seg, None, out, limit):
                    return
                self._complete(seg, "superseded", out)
                continue
            return  # a live segment: later ones cannot hold anything durable before it completes

    def _read(self, seg: _Segment, end: int | None, out: list[FollowedItem], limit: int) -> bool:
        """Emit ``seg``'s entries from ``read_to`` up to ``end`` (None: its end); False if cut short."""
        if not seg.opened:
            seg.opened = True
            self._check_missing_ids(seg, out)
            self._forget_observed()
        try:
            # Read after the index: the bytes are at least as new as the offset it gave.
            data = seg.log_path.read_bytes()
        except FileNotFoundError:
            return False  # removed under us: reported by the next listing
        except OSError as exc:
            self._report_once(seg, out, f"cannot read segment: {exc}")
            return False
        items = read_segment(seg.log_path, encryption=self.encryption, start=seg.read_to, end=end, data=data)
        try:
            for item in items:
                if isinstance(item, RawEntry):
                    if item.end <= seg.read_to:
                        continue
                    seg.read_to = item.end
                    seg.entries += 1
                elif item.offset <= seg.last_error_offset:
                    continue  # reported by an earlier poll that read the same bytes
                else:
                    seg.last_error_offset = item.offset
                    if item.resumed_at is not None:
                        seg.read_to = max(seg.read_to, item.resumed_at)
                self._emit(out, item)
                if len(out) >= limit:
                    return False
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        seg.bound_read = end if end is not None else max(seg.bound_read, seg.read_to)
        return True

    def _report_once(self, seg: _Segment, out: list[FollowedItem], reason: str) -> None:
        if reason in seg.errors_reported:
            return
        seg.errors_reported.add(reason)
        self._emit(out, EntryError(seg.log_path, seg.segment_id, seg.read_to, reason))

    def _complete(self, seg: _Segment, how: CompletionKind, out: list[FollowedItem]) -> None:
        seg.finished = True
        position = CommitLogPosition(seg.segment_id, seg.read_to)
        # Emitted after items of a higher segment: consumers commit in emission order, so only
        # a commit past the next higher item proves they handled this one.
        seg.late = self._max_emitted_segment > seg.segment_id
        seg.release_at = None if seg.late else position
        if seg.late:
            self._late.append(seg)
        self._emit(out, SegmentCompleted(self.node_id, seg.segment_id, seg.log_path, position, how, seg.entries))

    def _check_missing_ids(self, seg: _Segment, out: list[FollowedItem]) -> None:
        previous = self._last_opened
        if previous is None or seg.segment_id <= previous:
            self._last_opened = seg.segment_id if previous is None else max(previous, seg.segment_id)
            return
        self._last_opened = seg.segment_id
        if seg.legacy or self.missing_ids == "never":
            return
        if seg.segment_id - previous > self.restart_id_jump:
            return  # a new node run: ids restart from a timestamp
        floor = previous
        if self.missing_ids == "watched" and self._first_listing_max is not None:
            floor = max(previous, self._first_listing_max)
        missing = tuple(i for i in range(floor + 1, seg.segment_id) if i not in self._observed)
        if not missing:
            return
        self._emit(
            out,
            GapDetected(
                self.node_id,
                "missing_segment_id",
                missing,
                f"node {self.node_id}: segment id(s) {_describe_ids(missing)} between {previous} and "
                f"{seg.segment_id} never appeared in {self.cdc_raw_dir}: either they held no CDC "
                "data (or were created while cdc_raw was full), or they were deleted unread",
                CommitLogPosition(seg.segment_id, 0),
            ),
        )

    def _forget_observed(self) -> None:
        """Drop observed ids at or below the last opened segment: the missing-id check only looks above it.

        Otherwise the set keeps one id per segment the node ever wrote.
        """
        last = self._last_opened
        if last is not None:
            self._observed = {i for i in self._observed if i > last}

    def _emit(self, out: list[FollowedItem], item: FollowedItem) -> None:
        position = position_of(item)
        if position.segment_id > self._max_emitted_segment:
            self._max_emitted_segment = position.segment_id
        if self._late:
            for seg in self._late:
                if position.segment_id > seg.segment_id:
                    seg.release_at = position
            self._late = [seg for seg in self._late if seg.release_at is None]
        out.append(item)

    # -- retention ----------------------------------------------------------------------------

    def _may_remove(self, seg: _Segment, released: CommitLogPosition) -> bool:
        if seg.before_resume:
            if not released.segment_id > seg.segment_id:
                return False
            if seg.legacy:
                return True
            index = read_cdc_index(seg.index_path)
            return isinstance(index, CdcIndex) and index.completed
        return seg.finished and seg.release_at is not None and seg.release_at <= released


def _describe_ids(ids: tuple[int, ...]) -> str:
    if len(ids) <= 5:
        return ", ".join(str(i) for i in ids)
    return f"{ids[0]}..{ids[-1]} ({len(ids)} ids)"
