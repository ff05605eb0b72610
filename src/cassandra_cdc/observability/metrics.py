"""The pipeline's Prometheus metrics, kept in a registry the caller owns (never the global default).

Definitions (docs/observability.md explains them at length):

- ``cdc_backlog_depth{destination}``: commit-log bytes durable in the sources' cdc_raw directories
  (as far as each segment's ``_cdc.idx`` offset, or its size once complete) that the destination
  has not yet committed, summed over nodes. Bytes, not entries: counting entries would mean decoding
  them, and bytes are what fills cdc_raw. :func:`backlog_bytes` computes it from positions.
- ``cdc_replication_lag_seconds{destination}``: 0 while the backlog is 0; otherwise ``now`` minus
  the wall-clock time the oldest durable entry the destination has not committed became visible in
  cdc_raw. Evaluated at scrape time, so it keeps growing while a sink is stalled. When the runner
  does not report that time, it is estimated (see :meth:`PipelineMetrics.backlog`).
- ``cdc_end_to_end_latency_seconds{destination}``: per change, commit time in the sink minus the
  change's write timestamp (Cassandra's writetime, set by the coordinator or the client).
- ``cdc_pipeline_latency_seconds{destination}``: per change, commit time in the sink minus the time
  its entry became visible in cdc_raw: what this pipeline adds.
- ``cdc_events_per_second{destination}``: changes committed over the last ``rate_window`` seconds,
  divided by that window.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# 1 ms to 60 s, roughly 1-2.5-5 per decade: enough resolution for p50/p95/p99 with histogram_quantile.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    15.0,
    30.0,
    60.0,
)

# The error kinds the runner reports; their series exist at zero from a destination's registration.
ERROR_TYPES: tuple[str, ...] = ("decode", "gap", "mask", "sink_retryable", "sink_fatal")

END_TO_END = "cdc_end_to_end_latency_seconds"
PIPELINE = "cdc_pipeline_latency_seconds"


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50/p95/p99 (seconds, nearest rank) of the recent samples; None when there are none."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    samples: int = 0


@dataclass(frozen=True, slots=True)
class CommittedPosition:
    segment_id: int
    position: int


@dataclass(frozen=True, slots=True)
class DestinationSnapshot:
    """What the status page shows for one destination (a sink)."""

    destination: str
    lag_seconds: float | None  # None until the runner has reported a backlog
    events_per_second: float
    events_total: int
    batches_total: int
    errors_total: int
    errors_by_type: dict[str, int]
    backlog_depth: int | None  # bytes; None until reported
    last_commit_at: float | None  # wall clock (time.time())
    newest_committed_writetime: float | None  # seconds since the epoch
    end_to_end: Percentiles
    pipeline: Percentiles
    committed_positions: dict[str, CommittedPosition]


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """One source node: how far its cdc_raw goes and how full it is."""

    node: str
    segment_id: int | None
    position: int | None
    cdc_raw_bytes: int | None
    cdc_raw_capacity_bytes: int | None


@dataclass(frozen=True, slots=True)
class PipelineSnapshot:
    taken_at: float
    destinations: tuple[DestinationSnapshot, ...]
    nodes: tuple[NodeSnapshot, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain dicts and lists (what /api/status serves)."""
        return asdict(self)


class _Histogram:
    """Cumulative bucket counts filled a batch at a time (prometheus_client's Histogram has no bulk observe)."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0
        self.count = 0

    def observe_many(self, ordered: Sequence[float]) -> None:
        """Adds ``ordered`` (sorted ascending): one bisection per bucket instead of one per value."""
        below = 0
        for i, bound in enumerate(LATENCY_BUCKETS):
            at_most = bisect.bisect_right(ordered, bound, lo=below)  # buckets are "less than or equal"
            self.counts[i] += at_most - below
            below = at_most
        self.counts[-1] += len(ordered) - below
        self.total += math.fsum(ordered)
        self.count += len(ordered)

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*LATENCY_BUCKETS, math.inf), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == math.inf else repr(bound), float(running)))
        return out


class _Recent:
    """The latency samples of the last batches, at most ``limit`` of them, for exact percentiles."""

    __slots__ = ("batches", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.batches: deque[tuple[float, list[float]]] = deque()
        self.limit = limit
        self.size = 0

    def add(self, at: float, values: Sequence[float]) -> None:
        """``values`` sorted ascending."""
        kept = list(values)
        if len(kept) > self.limit:  # one huge batch: keep an evenly spread subset of its (sorted) values
            kept = kept[:: math.ceil(len(kept) / self.limit)]
        self.batches.append((at, kept))
        self.size += len(kept)
        while self.size > self.limit and len(self.batches) > 1:
            self.size -= len(self.batches.popleft()[1])

    def since(self, horizon: float) -> list[float]:
        while self.batches and self.batches[0][0] < horizon:
            self.size -= len(self.batches.popleft()[1])
        return [v for _, values in self.batches for v in values]


@dataclass(slots=True)
class _Destination:
    registered_at: float
    events_total: int = 0
    batches_total: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    backlog: int | None = None
    # Estimated (or reported) wall-clock time the oldest uncommitted durable entry became visible.
    pending_since: float | None = None
    last_commit_at: float | None = None
    newest_writetime: float | None = None
    recent_events: deque[tuple[float, int]] = field(default_factory=deque)
    histograms: dict[str, _Histogram] = field(
        default_factory=lambda: {END_TO_END: _Histogram(), PIPELINE: _Histogram()}
    )
    recent_latency: dict[str, _Recent] = field(default_factory=dict)
    committed: dict[str, CommittedPosition] = field(default_factory=dict)


@dataclass(slots=True)
class _Node:
    segment_id: int | None = None
    position: int | None = None
    used: int | None = None
    capacity: int | None = None


class PipelineMetrics:
    """Every metric the pipeline exports, in ``self.registry``; thread-safe (lanes call it from their threads).

    ``clock`` is wall-clock seconds (``time.time``): latencies compare it with Cassandra write
    timestamps, which are wall-clock too.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rate_window: float = 60.0,
        quantile_window: float = 300.0,
        max_samples: int = 10_000,
        process_metrics: bool = True,
    ) -> None:
        if rate_window <= 0 or quantile_window <= 0 or max_samples <= 0:
            raise ValueError("rate_window, quantile_window and max_samples must be positive")
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock
        self.rate_window = rate_window
        self.quantile_window = quantile_window
        self.max_samples = max_samples
        self._lock = threading.Lock()
        self._destinations: dict[str, _Destination] = {}
        self._nodes: dict[str, _Node] = {}

        r = self.registry
        self._events = Counter(
            "cdc_events_processed",
            "Row changes committed in a destination.",
            ["destination", "table", "op"],
            registry=r,
        )
        self._batches = Counter(
            "cdc_batches_committed", "Batches committed in a destination.", ["destination"], registry=r
        )
        self._errors = Counter(
            "cdc_errors", "Errors, by destination and kind.", ["destination", "error_type"], registry=r
        )
        self._backlog = Gauge(
            "cdc_backlog_depth",
            "Durable commit-log bytes in cdc_raw not yet committed by the destination (summed over nodes).",
            ["destination"],
            registry=r,
        )
        self._last_commit = Gauge(
            "cdc_last_commit_timestamp_seconds",
            "Wall-clock time of the destination's last commit.",
            ["destination"],
            registry=r,
        )
        self._newest_writetime = Gauge(
            "cdc_newest_committed_writetime_seconds",
            "Newest Cassandra write timestamp committed in the destination (seconds since the epoch).",
            ["destination"],
            registry=r,
        )
        self._committed_segment = Gauge(
            "cdc_committed_segment_id",
            "Segment id of the destination's committed position.",
            ["destination", "node"],
            registry=r,
        )
        self._committed_position = Gauge(
            "cdc_committed_position",
            "Offset in that segment of the destination's committed position.",
            ["destination", "node"],
            registry=r,
        )
        self._source_segment = Gauge(
            "cdc_source_segment_id", "Newest segment id durable in the node's cdc_raw.", ["node"], registry=r
        )
        self._source_position = Gauge(
            "cdc_source_position", "Durable offset in that segment (from its _cdc.idx).", ["node"], registry=r
        )
        self._raw_bytes = Gauge("cdc_raw_bytes", "Bytes used by the node's cdc_raw directory.", ["node"], registry=r)
        self._raw_capacity = Gauge(
            "cdc_raw_capacity_bytes", "The node's cdc_total_space: cdc_raw's capacity.", ["node"], registry=r
        )
        r.register(_ComputedCollector(self))
        if process_metrics:
            from prometheus_client import PlatformCollector, ProcessCollector

            ProcessCollector(registry=r)
            PlatformCollector(registry=r)

    # -- what the runner calls ------------------------------------------------------------------
    def add_destination(self, destination: str) -> None:
        """Create the destination's series at zero, so rate() and increase() see it before its first batch."""
        with self._lock:
            self._destination(destination)

    def batch_committed(
        self,
        destination: str,
        counts_by_table_op: Mapping[tuple[str, str], int],
        writetimes_us: Sequence[int],
        visible_at: Sequence[float],
        committed_at: float | None = None,
        positions: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        """A batch is committed in ``destination``.

        ``counts_by_table_op``: changes per (``"keyspace.table"``, op) — op as ``Op.value``.
        ``writetimes_us``: each change's Cassandra write timestamp in microseconds (the newest
        timestamp it carries). ``visible_at``: for each change (or each entry), the wall-clock
        time its entry became visible in cdc_raw. ``positions``: node -> (segment_id, position)
        committed with the batch.
        """
        now = self.clock() if committed_at is None else committed_at
        events = sum(counts_by_table_op.values())
        e2e = _non_negative_sorted([now - w / 1_000_000 for w in writetimes_us])
        added = _non_negative_sorted([now - v for v in visible_at])
        with self._lock:
            dest = self._destination(destination)
            for (table, op), n in counts_by_table_op.items():
                if n:
                    self._events.labels(destination, table, op).inc(n)
            dest.events_total += events
            dest.batches_total += 1
            dest.last_commit_at = now
            dest.recent_events.append((now, events))
            # Pruned here as well as at scrape time: with nobody scraping (HTTP off) it would keep every batch.
            self._forget_events(dest, self.clock())
            self._batches.labels(destination).inc()
            self._last_commit.labels(destination).set(now)
            if writetimes_us:
                newest = max(writetimes_us) / 1_000_000
                if dest.newest_writetime is None or newest > dest.newest_writetime:
                    dest.newest_writetime = newest
                    self._newest_writetime.labels(destination).set(newest)
            for name, values in ((END_TO_END, e2e), (PIPELINE, added)):
                if values:
                    dest.histograms[name].observe_many(values)
                    dest.recent_latency.setdefault(name, _Recent(self.max_samples)).add(now, values)
            if visible_at and dest.pending_since is not None:
                # Entries become visible in order, so what is still pending became visible no earlier
                # than the newest entry just committed.
                dest.pending_since = max(dest.pending_since, max(visible_at))
            for node, (segment_id, position) in (positions or {}).items():
                self._set_committed(destination, dest, node, segment_id, position)

    def committed_position(self, destination: str, node: str, segment_id: int, position: int) -> None:
        with self._lock:
            self._set_committed(destination, self._destination(destination), node, segment_id, position)

    def error(self, destination: str, error_type: str, count: int = 1) -> None:
        """``error_type``: a short stable kind (e.g. ``decode``, ``sink_retryable``, ``sink_fatal``, ``gap``)."""
        with self._lock:
            dest = self._destination(destination)
            dest.errors[error_type] = dest.errors.get(error_type, 0) + count
            self._errors.labels(destination, error_type).inc(count)

    def backlog(self, destination: str, depth: int, oldest_visible_at: float | None = None) -> None:
        """The destination's backlog in bytes (see :func:`backlog_bytes`); call it at every poll.

        ``oldest_visible_at``: when the oldest uncommitted durable entry became visible in cdc_raw,
        if the runner knows it. Otherwise the lag is estimated from the later of: the time the
        backlog was last seen going from 0 to non-zero, and the visibility time of the newest
        entry committed since.
        """
        if depth < 0:
            raise ValueError(f"backlog depth of {destination} is negative: {depth}")
        with self._lock:
            dest = self._destination(destination)
            if depth == 0:
                dest.pending_since = None
            elif oldest_visible_at is not None:
                dest.pending_since = oldest_visible_at
            elif dest.pending_since is None or not dest.backlog:
                dest.pending_since = self.clock()
            dest.backlog = depth
            self._backlog.labels(destination).set(depth)

    def source_position(self, node: str, segment_id: int, position: int) -> None:
        """The newest durable position in the node's cdc_raw (its newest segment and _cdc.idx offset)."""
        with self._lock:
            n = self._nodes.setdefault(node, _Node())
            n.segment_id, n.position = segment_id, position
            self._source_segment.labels(node).set(segment_id)
            self._source_position.labels(node).set(position)

    def cdc_raw_usage(self, node: str, used: int, capacity: int | None) -> None:
        """Bytes in the node's cdc_raw and its capacity (cdc_total_space); None when unknown."""
        with self._lock:
            n = self._nodes.setdefault(node, _Node())
            n.used, n.capacity = used, capacity
            self._raw_bytes.labels(node).set(used)
            if capacity is not None:
                self._raw_capacity.labels(node).set(capacity)

    # -- reading back -----------------------------------------------------------------------------
    def snapshot(self) -> PipelineSnapshot:
        now = self.clock()
        with self._lock:
            dests = tuple(self._destination_snapshot(name, d, now) for name, d in sorted(self._destinations.items()))
            nodes = tuple(
                NodeSnapshot(name, n.segment_id, n.position, n.used, n.capacity)
                for name, n in sorted(self._nodes.items())
            )
        return PipelineSnapshot(now, dests, nodes)

    # -- internals (self._lock held) -----------------------------------------------------------------
    def _destination(self, name: str) -> _Destination:
        dest = self._destinations.get(name)
        if dest is None:
            dest = self._destinations[name] = _Destination(registered_at=self.clock())
            self._batches.labels(name)
            # Zero series for the usual kinds, so rate() sees an error's first increment.
            for kind in ERROR_TYPES:
                self._errors.labels(name, kind)
        return dest

    def _set_committed(self, destination: str, dest: _Destination, node: str, segment_id: int, position: int) -> None:
        dest.committed[node] = CommittedPosition(segment_id, position)
        self._committed_segment.labels(destination, node).set(segment_id)
        self._committed_position.labels(destination, node).set(position)

    def _lag(self, dest: _Destination, now: float) -> float | None:
        if dest.backlog is None:
            return None
        if dest.backlog == 0 or dest.pending_since is None:
            return 0.0
        return max(0.0, now - dest.pending_since)

    def _forget_events(self, dest: _Destination, now: float) -> None:
        """Drop the batches older than the rate window (the clock only moves on: they never count again)."""
        horizon = now - self.rate_window
        while dest.recent_events and dest.recent_events[0][0] < horizon:
            dest.recent_events.popleft()

    def _rate(self, dest: _Destination, now: float) -> float:
        self._forget_events(dest, now)
        events = sum(n for at, n in dest.recent_events if at <= now)
        # Until a whole window has passed since the destination appeared, divide by the time elapsed.
        window = min(self.rate_window, max(now - dest.registered_at, 1.0))
        return events / window

    def _percentiles(self, dest: _Destination, name: str, now: float) -> Percentiles:
        recent = dest.recent_latency.get(name)
        if recent is None:
            return Percentiles()
        values = sorted(recent.since(now - self.quantile_window))
        if not values:
            return Percentiles()
        return Percentiles(
            nearest_rank(values, 0.50), nearest_rank(values, 0.95), nearest_rank(values, 0.99), samples=len(values)
        )

    def _destination_snapshot(self, name: str, dest: _Destination, now: float) -> DestinationSnapshot:
        return DestinationSnapshot(
            destination=name,
            lag_seconds=self._lag(dest, now),
            events_per_second=self._rate(dest, now),
            events_total=dest.events_total,
            batches_total=dest.batches_total,
            errors_total=sum(dest.errors.values()),
            errors_by_type=dict(sorted(dest.errors.items())),
            backlog_depth=dest.backlog,
            last_commit_at=dest.last_commit_at,
            newest_committed_writetime=dest.newest_writetime,
            end_to_end=self._percentiles(dest, END_TO_END, now),
            pipeline=self._percentiles(dest, PIPELINE, now),
            committed_positions=dict(sorted(dest.committed.items())),
        )

    def _collect_computed(self) -> Iterator[Metric]:
        now = self.clock()
        lag = GaugeMetricFamily(
            "cdc_replication_lag_seconds",
            "0 when nothing durable is uncommitted, else seconds since the oldest uncommitted entry appeared.",
            labels=["destination"],
        )
        eps = GaugeMetricFamily(
            "cdc_events_per_second",
            f"Changes committed per second over the last {self.rate_window:g} s.",
            labels=["destination"],
        )
        hists = {
            END_TO_END: HistogramMetricFamily(
                END_TO_END,
                "Per change: commit in the destination minus the Cassandra writetime.",
                labels=["destination"],
            ),
            PIPELINE: HistogramMetricFamily(
                PIPELINE, "Per change: commit in the destination minus visibility in cdc_raw.", labels=["destination"]
            ),
        }
        with self._lock:
            for name, dest in sorted(self._destinations.items()):
                value = self._lag(dest, now)
                if value is not None:
                    lag.add_metric([name], value)
                eps.add_metric([name], self._rate(dest, now))
                for metric, family in hists.items():
                    hist = dest.histograms[metric]
                    family.add_metric([name], hist.cumulative(), hist.total)
        yield lag
        yield eps
        yield from hists.values()


class _ComputedCollector(Collector):
    """The metrics computed at scrape time (lag, rate) and the bulk-filled histograms."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics._collect_computed()

    def describe(self) -> Iterable[Metric]:
        # Names only, so registering does not run collect() before the metrics object is complete.
        return [
            GaugeMetricFamily("cdc_replication_lag_seconds", ""),
            GaugeMetricFamily("cdc_events_per_second", ""),
            HistogramMetricFamily(END_TO_END, ""),
            HistogramMetricFamily(PIPELINE, ""),
        ]


def _non_negative_sorted(values: list[float]) -> list[float]:
    """Sorted, with negative latencies (a writetime in the future: clock skew) counted as 0."""
    values.sort()
    if values and values[0] < 0:
        cut = bisect.bisect_left(values, 0.0)
        values[:cut] = [0.0] * cut
    return values


def nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile by the nearest-rank method: the smallest value with at least q of the samples at or below it."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def backlog_bytes(
    durable: Mapping[str, Mapping[int, int]],
    committed: Mapping[str, tuple[int, int] | None],
) -> int:
    """Commit-log bytes durable but not committed, summed over nodes.

    ``durable``: node -> {segment_id: durable offset} for the segments in its cdc_raw (the
    ``_cdc.idx`` offset, or the file size of a completed segment). ``committed``: node ->
    (segment_id, position) the destination has committed, or None / absent when it has none.
    """
    total = 0
    for node, segments in durable.items():
        mark = committed.get(node)
        for segment_id, offset in segments.items():
            if mark is None or segment_id > mark[0]:
                total += offset
            elif segment_id == mark[0]:
                total += max(0, offset - mark[1])
    return total


__all__ = [
    "END_TO_END",
    "ERROR_TYPES",
    "LATENCY_BUCKETS",
    "PIPELINE",
    "CommittedPosition",
    "DestinationSnapshot",
    "NodeSnapshot",
    "Percentiles",
    "PipelineMetrics",
    "PipelineSnapshot",
    "backlog_bytes",
    "nearest_rank",
]
