"""Wiring the runner to cassandra_cdc.observability: lane events become metrics, lanes become readiness checks.

Observability does not know the pipeline: :class:`MetricsObserver` turns lane events (the
LaneObserver methods) into the plain values ``PipelineMetrics`` takes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cassandra_cdc.commitlog.follower import GapDetected
from cassandra_cdc.config.model import ObservabilitySettings
from cassandra_cdc.observability.logging import configure_logging as configure_structured_logging
from cassandra_cdc.pipeline.lane import CommittedBatch, Problem

if TYPE_CHECKING:
    from cassandra_cdc.observability.http import ObservabilityServer
    from cassandra_cdc.observability.metrics import PipelineMetrics
    from cassandra_cdc.pipeline.runner import Pipeline

log = logging.getLogger(__name__)


class MetricsObserver:
    """A LaneObserver feeding ``PipelineMetrics``."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        from prometheus_client import Counter, Gauge

        self.metrics = metrics
        self._backlog: dict[str, dict[str, int]] = {}
        self._capacity: dict[str, int] = {}
        self._lock = threading.Lock()
        # The disk guard's metrics (docs/resilience.md), in the same registry.
        registry = metrics.registry
        self.needs_resync = Gauge(
            "cdc_sink_needs_resync",
            "1 when the destination missed changes or was detached and needs a re-sync (docs/resilience.md).",
            ["destination", "kind"],
            registry=registry,
        )
        self.gaps = Counter(
            "cdc_source_gaps",
            "Segments removed from cdc_raw before the destination read them (changes lost to it).",
            ["destination", "node", "kind"],
            registry=registry,
        )

    def on_batch_committed(self, sink: str, batch: CommittedBatch) -> None:
        # Each change became visible when the poll that found its entry ran (monotonic -> wall clock).
        offset = time.time() - time.monotonic()
        self.metrics.batch_committed(
            sink,
            batch.counts,
            batch.newest_timestamps,
            [offset + t for t in batch.read_at],
            positions={node: (p.segment_id, p.position) for node, p in batch.positions.items()},
        )

    def on_problem(self, problem: Problem) -> None:
        self.metrics.error(problem.sink, "dead_letter" if problem.change is not None else "decode")

    def on_retry(self, sink: str, error: BaseException, attempt: int, delay: float) -> None:
        self.metrics.error(sink, "sink_retryable")

    def on_state(self, sink: str, state: str, reason: str | None) -> None:
        if state == "parked":
            self.metrics.error(sink, "sink_fatal")

    def on_backlog(self, sink: str, node: str, backlog_bytes: int) -> None:
        with self._lock:
            per_node = self._backlog.setdefault(sink, {})
            per_node[node] = backlog_bytes
            total = sum(per_node.values())
        self.metrics.backlog(sink, total)

    def on_disk_usage(self, node: str, used_bytes: int) -> None:
        with self._lock:
            capacity = self._capacity.get(node)
        self.metrics.cdc_raw_usage(node, used_bytes, capacity)

    def on_disk_capacity(self, node: str, capacity_bytes: int) -> None:
        with self._lock:
            self._capacity[node] = capacity_bytes  # exported with the next usage (the runner sends it first)

    def on_gap(self, sink: str, node: str, gap: GapDetected) -> None:
        self.gaps.labels(sink, node, gap.kind).inc(max(1, len(gap.segment_ids)))
        self.metrics.error(sink, "gap")

    def on_resync(self, sink: str, kind: str, reason: str) -> None:
        self.needs_resync.labels(sink, kind).set(1)


@dataclass(slots=True)
class Observability:
    metrics: PipelineMetrics
    observer: MetricsObserver
    server: ObservabilityServer | None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def configure_logging(settings: ObservabilitySettings) -> None:
    """Structured logs (JSON or console) as configured, with the stdlib's loggers routed through them."""
    configure_structured_logging(settings.log_level, settings.log_format)


def start_observability(settings: ObservabilitySettings) -> Observability:
    """Metrics, and the HTTP endpoint (metrics, probes, status page) when enabled."""
    from cassandra_cdc.observability.metrics import PipelineMetrics

    metrics = PipelineMetrics()
    server = None
    if settings.http.enabled:
        from cassandra_cdc.observability.http import ObservabilityServer

        server = ObservabilityServer(metrics, host=settings.http.host, port=settings.http.port).start()
    return Observability(metrics, MetricsObserver(metrics), server)


def register_pipeline(observability: Observability, pipeline: Pipeline) -> None:
    """Destinations at zero, and one readiness check per sink (ready unless parked)."""
    for name in pipeline.lanes:
        observability.metrics.add_destination(name)
    if observability.server is None:
        return
    from cassandra_cdc.observability.readiness import CheckResult

    def check_for(name: str) -> Any:
        def check() -> CheckResult:
            for status in pipeline.status():
                if status.sink == name:
                    return CheckResult(status.state not in ("parked", "detached"), status.reason or status.state)
            return CheckResult(False, "unknown sink")

        return check

    for name in pipeline.lanes:
        observability.server.add_check(f"sink:{name}", check_for(name))
