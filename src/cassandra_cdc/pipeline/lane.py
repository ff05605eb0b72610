"""One sink's lane: its own cursor in every source node's cdc_raw, decoding, batching and writing.

Each sink reads at its own pace from its own committed positions, so a slow or stopped sink only
lags (and later catches up from the retained segments) while the others stay current; memory is
bounded by the batch size, whatever the source rate.

Hooks: ``transform`` sees every change before batching (masking plugs in there; returning None
drops the change); ``observer`` (a :class:`LaneObserver`, every method optional) hears about
committed batches, problems, retries, purges and state changes; ``on_problem`` receives what goes
to the dead-letter queue. A retryable SinkError is retried with exponential backoff and jitter
(:class:`RetryPolicy`); when the attempts run out, or on a non-retryable error, the lane stops with
``error`` set and the runner parks it. A ValueOutOfRangeError is narrowed down to the offending
change(s) by splitting the batch; those go to the dead-letter queue and the rest is written.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import tenacity

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.follower import CdcFollower, FollowedItem, FollowMode, GapDetected, position_of
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.to_changes import ChangeConversionError, update_changes
from cassandra_cdc.deadletter.bisect import write_with_bisect
from cassandra_cdc.observability.logging import bind_batch, bind_change
from cassandra_cdc.observability.tracing import DECODE, MASK, READ, WRITE, Tracer
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.sinks.base import BufferingSink, ChangeBatch, Sink, SinkError, ValueOutOfRangeError

log = logging.getLogger(__name__)

Transform = Callable[[RowChange], RowChange | None]


@dataclass(frozen=True, slots=True)
class SourceNode:
    """One Cassandra node's cdc_raw directory."""

    node_id: str
    cdc_raw: Path
    encryption: EncryptionConfig | None = None
    mode: FollowMode = "auto"
    stale_index_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the lane could not turn into changes, or a change the sink refused (dead-letter queue).

    ``change`` is set when a decoded change was refused (e.g. a value out of the destination's range).
    """

    sink: str
    node: str
    position: CommitLogPosition
    reason: str
    raw: bytes = b""
    change: RowChange | None = None


def _is_refused_value(exc: BaseException) -> bool:
    return isinstance(exc, ValueOutOfRangeError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff of retryable sink errors: min(cap, base * multiplier**(n-1)) + uniform(0, jitter).

    ``attempts`` bounds the tries of one batch (0: forever); then the error stops the lane.
    """

    attempts: int = 0
    base: float = 0.5
    cap: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.0

    def wait(self) -> tenacity.wait.wait_base:
        return tenacity.wait_exponential_jitter(
            multiplier=self.base, exp_base=self.multiplier, max=self.cap, jitter=self.jitter
        )

    def delay(self, attempt: int) -> float:
        """The wait after the ``attempt``-th failure (1-based)."""
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = max(1, attempt)
        return self.wait()(state)


def newest_timestamp(change: RowChange) -> int | None:
    """The newest write timestamp (microseconds) a change carries, or None."""
    stamps = [cell.timestamp for cell in change.cells]
    for deletion in (change.row_deletion, change.range_deletion, change.partition_deletion):
        if deletion is not None:
            stamps.append(deletion.timestamp)
    stamps.extend(d.timestamp for d in change.collection_deletions.values())
    if change.liveness is not None:
        stamps.append(change.liveness.timestamp)
    return max(stamps) if stamps else None


@dataclass(slots=True)
class CommittedBatch:
    """What observers learn of a batch once it is in the destination.

    Compact (counts and numbers, not the changes): a buffering sink's batches wait here until they
    are durable, and the changes themselves should not be kept alive that long.
    """

    counts: dict[tuple[str, str], int]  # ("keyspace.table", op) -> changes
    newest_timestamps: list[int]  # each change's newest write timestamp (µs), for those that have one
    read_at: list[float]  # each change's time.monotonic() when its entry was found durable in cdc_raw
    positions: dict[str, SourcePosition]

    @classmethod
    def of(
        cls, changes: Sequence[RowChange], read_at: list[float], positions: dict[str, SourcePosition]
    ) -> CommittedBatch:
        counts: dict[tuple[str, str], int] = {}
        stamps: list[int] = []
        for change in changes:
            key = (f"{change.keyspace}.{change.table}", change.op.value)
            counts[key] = counts.get(key, 0) + 1
            stamp = newest_timestamp(change)
            if stamp is not None:
                stamps.append(stamp)
        return cls(counts, stamps, read_at, positions)

    @property
    def changes(self) -> int:
        return sum(self.counts.values())

    def covered_by(self, committed: Mapping[str, SourcePosition]) -> bool:
        for node, position in self.positions.items():
            done = committed.get(node)
            if done is None or (done.segment_id, done.position) < (position.segment_id, position.position):
                return False
        return True


class LaneObserver(Protocol):
    """What a lane reports (observability implements it; each method is optional: missing ones are skipped).

    ``on_batch_committed`` comes when the batch is in the destination: for a buffering sink that is
    when the sink reports it durable, not when it accepted the batch.
    """

    def on_batch_committed(self, sink: str, batch: CommittedBatch) -> None: ...

    def on_problem(self, problem: Problem) -> None: ...

    def on_retry(self, sink: str, error: BaseException, attempt: int, delay: float) -> None: ...

    def on_backlog(self, sink: str, node: str, backlog_bytes: int) -> None: ...

    def on_state(self, sink: str, state: str, reason: str | None) -> None: ...

    def on_purge(self, sink: str, rows: int, seconds: float) -> None: ...

    def on_disk_usage(self, node: str, used_bytes: int) -> None: ...

    def on_gap(self, sink: str, node: str, gap: GapDetected) -> None: ...


class SafeObserver:
    """Calls the methods ``target`` has; an observer's failure is logged, never the lane's."""

    def __init__(self, target: object | None = None) -> None:
        self.target = target

    def emit(self, method: str, *args: Any) -> None:
        if self.target is None:
            return
        handler = getattr(self.target, method, None)
        if handler is None:
            return
        try:
            handler(*args)
        except Exception:
            log.exception("observer %s.%s failed", type(self.target).__name__, method)


@dataclass(slots=True)
class LaneStats:
    entries: int = 0
    changes_written: int = 0
    batches: int = 0
    problems: int = 0
    dead_lettered: int = 0
    dropped_by_transform: int = 0
    gaps: int = 0
    retries: int = 0
    purged: int = 0
    last_commit_monotonic: float = 0.0
    committed: dict[str, SourcePosition] = field(default_factory=dict)
    # Updates skipped by table id: tables outside the capture, and ids no schema knows (other keyspaces).
    skipped_tables: Counter[uuid.UUID] = field(default_factory=Counter)


class SinkLane:
    """Runs one sink: follow -> decode -> transform -> batch -> write_batch, committing positions with the data."""

    def __init__(
        self,
        sink: Sink,
        sources: list[SourceNode],
        schema: Schema,
        *,
        capture: Callable[[TableSchema], bool] | None = None,
        batch_size: int = 5000,
        flush_interval: float = 0.5,
        poll_interval: float = 0.02,
        retry_delay: float = 0.5,
        retry: RetryPolicy | None = None,
        on_problem: Callable[[Problem], None] | None = None,
        transform: Transform | None = None,
        observer: object | None = None,
        tracer: Tracer | None = None,
        purge_interval: float = 0.0,
        gate: threading.Semaphore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self.sources = sources
        self.schema = schema
        self.capture = capture or (lambda table: True)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.poll_interval = poll_interval
        # Without a policy: retry forever every retry_delay seconds (the original behaviour).
        self.retry = retry or RetryPolicy(attempts=0, base=retry_delay, cap=retry_delay, multiplier=1.0)
        self.on_problem = on_problem
        self.transform = transform
        self.observer = observer if isinstance(observer, SafeObserver) else SafeObserver(observer)
        # Spans read -> decode -> mask -> write per batch; a no-op unless an exporter is configured.
        self.tracer = tracer or Tracer()
        self.purge_interval = purge_interval
        self.gate = gate
        self.clock = clock
        self.stats = LaneStats()
        self._decoder = MutationDecoder(schema, capture=self.capture)
        self._followers: dict[str, CdcFollower] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._last_purge = time.monotonic()
        self.error: BaseException | None = None
        # Batches a buffering sink accepted, reported to observers once it says they are durable.
        self._awaiting: deque[CommittedBatch] = deque()

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        """Start the sink and place a cursor at its committed position in every node."""
        self.sink.start([t for t in self.schema.tables.values() if self.capture(t)])
        committed = self.sink.committed_positions()
        followers: dict[str, CdcFollower] = {}
        for node in self.sources:
            resume = committed.get(node.node_id)
            followers[node.node_id] = CdcFollower(
                node.cdc_raw,
                node_id=node.node_id,
                encryption=node.encryption,
                resume_from=CommitLogPosition(resume.segment_id, resume.position) if resume else None,
                poll_interval=self.poll_interval,
                mode=node.mode,
                stale_index_timeout=node.stale_index_timeout,
                missing_ids="never",
            )
        with self._lock:
            self.stats.committed = dict(committed)
            self._followers = followers  # replaced whole: the retention coordinator reads it

    def replace_sink(self, sink: Sink) -> None:
        """Use a new sink object (the runner's probe of a parked lane); call ``open`` next."""
        with self._lock:
            self.sink = sink
            self._followers = {}

    def start(self) -> None:
        if not self._followers:
            self.open()
        self.error = None
        self._stop.clear()
        self._abort.clear()
        self._thread = threading.Thread(target=self._run, name=f"lane-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the lane to commit what it holds and stop (does not wait)."""
        self._stop.set()

    def abort(self) -> None:
        """Give up retrying (the grace period is over); the batch in flight is replayed on the next start."""
        self._abort.set()
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the lane to commit what it holds and stop; waits up to ``timeout`` seconds."""
        self._stop.set()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def followers(self) -> dict[str, CdcFollower]:
        with self._lock:
            return dict(self._followers)

    def committed_positions(self) -> dict[str, SourcePosition]:
        """Positions the sink has committed (as far as this lane knows), per node."""
        with self._lock:
            return dict(self.stats.committed)

    # -- work ---------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()
                if self.gate is None:
                    self.step(final=stopping)
                else:
                    with self.gate:
                        self.step(final=stopping)
                if stopping:
                    break
                self._maybe_purge()
        except BaseException as exc:  # the supervisor reads it; the lane stops
            self.error = exc
            log.error("lane %s stopped: %s", self.name, exc, exc_info=not isinstance(exc, SinkError))

    def _maybe_purge(self) -> None:
        if self.purge_interval <= 0 or time.monotonic() - self._last_purge < self.purge_interval:
            return
        self._last_purge = time.monotonic()
        started = time.monotonic()
        try:
            rows = self.sink.purge(int(self.clock()))
        except SinkError as exc:
            log.warning("sink %s: purge failed: %s", self.name, exc)
            return
        self.stats.purged += rows
        self.observer.emit("on_purge", self.name, rows, time.monotonic() - started)

    def step(self, *, final: bool = False) -> int:
        """Read what is durable, write it in batches; returns the number of changes written."""
        with bind_batch(sink=self.name) as batch_id, self.tracer.span("batch", sink=self.name, batch_id=batch_id):
            pending, read_at, positions = self._read_and_decode(final)
            written = 0
            if positions:
                if self.transform is not None:
                    with self.tracer.span(MASK, sink=self.name, changes=len(pending)):
                        pending, read_at = self._masked(pending, read_at)
                with self.tracer.span(WRITE, sink=self.name, changes=len(pending)):
                    written = self._write(ChangeBatch(pending, positions), read_at)
            # A buffering sink writes what it holds when stopping, and what is due when the stream is idle.
            if isinstance(self.sink, BufferingSink) and (final or not positions):
                self._with_retries(self.sink.flush if final else self.sink.flush_if_due)
                self._record_committed({})
            return written

    def _read_and_decode(self, final: bool) -> tuple[list[RowChange], list[float], dict[str, SourcePosition]]:
        """Poll every node until a batch is full, the flush interval passes or nothing more is durable."""
        pending: list[RowChange] = []
        read_at: list[float] = []
        positions: dict[str, SourcePosition] = {}
        started = time.monotonic()
        while True:
            got = 0
            for node_id, follower in self.followers.items():
                room = self.batch_size - len(pending)
                if room <= 0:
                    break
                with self.tracer.span(READ, sink=self.name, node=node_id):
                    items = follower.poll(max_items=room)
                if not items:
                    continue
                polled = time.monotonic()
                with self.tracer.span(DECODE, sink=self.name, node=node_id, items=len(items)):
                    for item in items:
                        got += 1
                        self._take(node_id, item, pending)
                        read_at.extend([polled] * (len(pending) - len(read_at)))
                        position = position_of(item)
                        positions[node_id] = SourcePosition(node_id, position.segment_id, position.position)
            full = len(pending) >= self.batch_size
            timed_out = time.monotonic() - started >= self.flush_interval
            if full or timed_out or final or (got == 0 and pending):
                break
            if got == 0 and self._stop.wait(self.poll_interval):
                break
        return pending, read_at, positions

    def _masked(self, changes: list[RowChange], read_at: list[float]) -> tuple[list[RowChange], list[float]]:
        """The batch through the transform (masking); a change it cannot take goes to the dead-letter queue."""
        assert self.transform is not None
        out: list[RowChange] = []
        kept_at: list[float] = []
        for change, at in zip(changes, read_at, strict=True):
            try:
                masked = self.transform(change)
            except Exception as exc:
                # The untransformed change is not kept anywhere: it may hold what masking hides.
                source = change.source
                where = CommitLogPosition(source.segment_id, source.position)
                table = f"{change.keyspace}.{change.table}"
                self._problem(source.node, where, f"{table}: transform failed: {exc}", b"")
                continue
            if masked is None:
                self.stats.dropped_by_transform += 1
            else:
                out.append(masked)
                kept_at.append(at)
        return out, kept_at

    def _take(self, node_id: str, item: FollowedItem, pending: list[RowChange]) -> None:
        if isinstance(item, GapDetected):
            self.stats.gaps += 1
            log.warning("sink %s, node %s: %s", self.name, node_id, item.message)
            self.observer.emit("on_gap", self.name, node_id, item)
            return
        if isinstance(item, EntryError):
            self._problem(node_id, position_of(item), str(item), item.raw)
            return
        if not isinstance(item, RawEntry):
            return
        self.stats.entries += 1
        result = self._decoder.decode(item.data, item.messaging_version)
        source = SourcePosition(node_id, item.segment_id, item.end)
        error = result.error
        if error is not None and error.kind == "unknown_table" and not result.decoded and error.table_id is not None:
            # A mutation holds one keyspace: its first table unknown means a keyspace outside the schema.
            self._skipped(node_id, error.table_id, f"{item.path}: position {item.end}: not in the schema")
        elif error is not None:
            self._problem(node_id, item.position, f"{item.path}: position {item.end}: {error}", item.data)
        for table_id in result.skipped:
            self._skipped(node_id, table_id, "not captured")
        for update in result.updates:
            table = self.schema.by_id(update.table_id)
            if table is None:
                continue
            try:
                pending.extend(list(update_changes(table, update, source)))  # all of the update or none
            except ChangeConversionError as exc:
                self._problem(node_id, item.position, str(exc), item.data)

    def _skipped(self, node_id: str, table_id: uuid.UUID, why: str) -> None:
        """Count an update skipped by table id, naming the id the first time."""
        if not self.stats.skipped_tables[table_id]:
            table = self.schema.by_id(table_id)
            name = table.qualified_name if table is not None else f"table id {table_id}"
            log.info("sink %s, node %s: skipping updates of %s (%s)", self.name, node_id, name, why)
        self.stats.skipped_tables[table_id] += 1

    def _problem(
        self, node_id: str, position: CommitLogPosition, reason: str, raw: bytes, change: RowChange | None = None
    ) -> None:
        self.stats.problems += 1
        with bind_change(f"{node_id}:{position.segment_id}:{position.position}"):
            log.error("sink %s, node %s: %s", self.name, node_id, reason)
        problem = Problem(self.name, node_id, position, reason, raw, change)
        self.observer.emit("on_problem", problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    # -- writing ------------------------------------------------------------------------------
    def _write(self, batch: ChangeBatch, read_at: list[float]) -> int:
        # A refused value poisons only its own change: bisection isolates it for the dead-letter queue,
        # the rest lands, and the positions are written last.
        result = write_with_bisect(self._write_with_retries, batch, self._poisoned, is_poison=_is_refused_value)
        refused = {id(change) for change, _ in result.poisoned}
        kept = [i for i, change in enumerate(batch.changes) if id(change) not in refused]
        written = [batch.changes[i] for i in kept]
        self.stats.batches += 1
        self.stats.changes_written += len(written)
        committed = CommittedBatch.of(written, [read_at[i] for i in kept], dict(batch.positions))
        if isinstance(self.sink, BufferingSink):
            self._awaiting.append(committed)
        else:
            self.observer.emit("on_batch_committed", self.name, committed)
        self._record_committed(batch.positions)
        return len(written)

    def _poisoned(self, change: RowChange, exc: Exception) -> None:
        source = change.source
        self.stats.dead_lettered += 1
        self._problem(source.node, CommitLogPosition(source.segment_id, source.position), str(exc), b"", change)

    def _record_committed(self, written: dict[str, SourcePosition]) -> None:
        # A buffering sink's accepted batch may not be in the destination yet: only what it says is
        # durable counts, or retention could delete segments whose changes a crash would lose.
        durable = self.sink.durable_positions() if isinstance(self.sink, BufferingSink) else written
        with self._lock:
            before = dict(self.stats.committed)
            self.stats.committed.update(durable)
            committed = dict(self.stats.committed)
        if committed != before or (written and not isinstance(self.sink, BufferingSink)):
            self.stats.last_commit_monotonic = time.monotonic()
        while self._awaiting and self._awaiting[0].covered_by(committed):
            self.observer.emit("on_batch_committed", self.name, self._awaiting.popleft())

    def _write_with_retries(self, batch: ChangeBatch) -> None:
        self._with_retries(self.sink.write_batch, batch)

    def _with_retries(self, call: Callable[..., None], *args: object) -> None:
        policy = self.retry
        stop: tenacity.stop.stop_base = tenacity.stop_when_event_set(self._abort)
        if policy.attempts > 0:
            stop = stop | tenacity.stop_after_attempt(policy.attempts)

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, SinkError) and exc.retryable

        def before_sleep(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            delay = state.upcoming_sleep
            self.stats.retries += 1
            log.warning("sink %s: %s; retry %d in %.2fs", self.name, error, state.attempt_number, delay)
            self.observer.emit("on_retry", self.name, error, state.attempt_number, delay)

        retrying = tenacity.Retrying(
            stop=stop,
            wait=policy.wait(),
            retry=tenacity.retry_if_exception(retryable),
            before_sleep=before_sleep,
            sleep=self._sleep,  # an abort cuts the wait short
            reraise=True,
        )
        retrying(call, *args)

    def _sleep(self, seconds: float) -> None:
        self._abort.wait(seconds)
