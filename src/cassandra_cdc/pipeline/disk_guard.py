"""Keeping cdc_raw from filling up: usage against cdc_total_space, and sinks that need a re-sync.

Cassandra stops accepting writes to CDC tables once cdc_raw holds ``cdc_total_space`` bytes
(``cdc_block_writes: true``, the default), or, on 4.1+ with ``cdc_block_writes: false``, deletes
the oldest segments, read or not. The retention coordinator frees a segment only once every sink
committed past it, so one sink that stays down would eventually block Cassandra. The guard:

* measures each node's cdc_raw against its capacity (configured, or Cassandra's default: the
  smaller of 4096 MiB and 1/8 of the volume) and warns once per crossing of ``warn_fraction``;
* detaches a sink parked longer than ``max_parked_seconds``, or more than ``max_sink_lag_bytes``
  behind on a node: the sink stops, a marker says it needs a re-sync, and retention stops waiting
  for it, so the other sinks and Cassandra go on;
* marks a sink as needing a re-sync (without detaching it: it keeps replicating what is left) when
  its follower reports that a segment was removed before it was read (``segment_removed_unread``:
  changes lost to that sink).

A marker is a JSON file ``<state_dir>/<sink>.needs-resync.json``; it survives restarts (a detached
sink stays detached) until an operator re-syncs the sink and removes it (docs/resilience.md).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cassandra_cdc.commitlog.follower import GapDetected

log = logging.getLogger(__name__)

MIB = 1024 * 1024
CASSANDRA_DEFAULT_CDC_TOTAL_SPACE = 4096 * MIB
MARKER_SUFFIX = ".needs-resync.json"

ResyncKind = Literal["gap", "lag", "parked"]


def default_cdc_total_space(cdc_raw: Path) -> int:
    """Cassandra's default cdc_total_space for ``cdc_raw``'s volume: min(4096 MiB, 1/8 of it), in bytes.

    Follows DatabaseDescriptor.calculateDefaultSpaceInMiB (whole MiB); a directory that does not
    exist yet is measured at its nearest existing parent.
    """
    path = cdc_raw
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        total = shutil.disk_usage(path).total
    except OSError:
        return CASSANDRA_DEFAULT_CDC_TOTAL_SPACE
    eighth_mib = (total // MIB) // 8
    return min(CASSANDRA_DEFAULT_CDC_TOTAL_SPACE, eighth_mib * MIB)


@dataclass(frozen=True, slots=True)
class ResyncMarker:
    """Why a sink needs a re-sync. ``detached``: it was stopped and retention no longer waits for it."""

    sink: str
    kind: ResyncKind
    reason: str
    detached: bool
    at: float
    nodes: dict[str, list[int]] = field(default_factory=dict)  # node -> segment ids lost (gaps)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str, path: Path) -> ResyncMarker:
        try:
            data: dict[str, Any] = json.loads(text)
            return cls(
                sink=str(data["sink"]),
                kind=data["kind"],
                reason=str(data["reason"]),
                detached=bool(data["detached"]),
                at=float(data["at"]),
                nodes={str(k): [int(i) for i in v] for k, v in dict(data.get("nodes", {})).items()},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a re-sync marker: {exc}") from exc


class ResyncMarkers:
    """The markers in ``state_dir`` (None: kept in memory only, lost on restart)."""

    def __init__(self, state_dir: Path | None) -> None:
        self.state_dir = state_dir
        self._memory: dict[str, ResyncMarker] = {}

    def path(self, sink: str) -> Path | None:
        return self.state_dir / f"{sink}{MARKER_SUFFIX}" if self.state_dir is not None else None

    def load(self) -> dict[str, ResyncMarker]:
        out = dict(self._memory)
        if self.state_dir is None or not self.state_dir.is_dir():
            return out
        for path in sorted(self.state_dir.glob(f"*{MARKER_SUFFIX}")):
            try:
                marker = ResyncMarker.from_json(path.read_text(encoding="utf-8"), path)
            except (OSError, ValueError) as exc:
                # Unreadable: still a marker (the sink needs attention), with what can be said.
                sink = path.name.removesuffix(MARKER_SUFFIX)
                marker = ResyncMarker(sink, "lag", f"unreadable marker {path}: {exc}", True, path.stat().st_mtime)
            out[marker.sink] = marker
        return out

    def write(self, marker: ResyncMarker) -> None:
        self._memory[marker.sink] = marker
        path = self.path(marker.sink)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(marker.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, path)  # atomic: a crash leaves the old marker or the new one

    def clear(self, sink: str) -> bool:
        """Forget ``sink``'s marker (after a re-sync); True when there was one."""
        had = self._memory.pop(sink, None) is not None
        path = self.path(sink)
        if path is not None and path.exists():
            path.unlink()
            had = True
        return had


@dataclass(frozen=True, slots=True)
class NodeUsage:
    node: str
    used: int
    capacity: int

    @property
    def fraction(self) -> float:
        return self.used / self.capacity if self.capacity > 0 else 0.0


class DiskGuard:
    """The policies of the module docstring; thread-safe (gaps arrive from lane threads).

    ``on_marker(marker)`` is called for every new or changed marker (the runner turns it into a
    metric and, for a detached sink, stops the lane).
    """

    def __init__(
        self,
        capacities: Mapping[str, int],
        markers: ResyncMarkers,
        *,
        warn_fraction: float = 0.8,
        max_sink_lag_bytes: int | None = None,
        max_parked_seconds: float | None = None,
        on_marker: Callable[[ResyncMarker], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.capacities = dict(capacities)
        self.markers = markers
        self.warn_fraction = warn_fraction
        self.max_sink_lag_bytes = max_sink_lag_bytes
        self.max_parked_seconds = max_parked_seconds
        self.on_marker = on_marker
        self.clock = clock
        self._lock = threading.Lock()
        self._current = markers.load()
        self._warned: set[str] = set()

    # -- reading ------------------------------------------------------------------------------
    def marker(self, sink: str) -> ResyncMarker | None:
        with self._lock:
            return self._current.get(sink)

    def needs_resync(self, sink: str) -> bool:
        return self.marker(sink) is not None

    def detached(self, sink: str) -> bool:
        marker = self.marker(sink)
        return marker is not None and marker.detached

    # -- cdc_raw usage ------------------------------------------------------------------------
    def check_usage(self, usage: Mapping[str, int]) -> list[NodeUsage]:
        """Usage per node against its capacity; logs a warning when a node crosses ``warn_fraction``."""
        out = []
        for node, used in usage.items():
            capacity = self.capacities.get(node)
            if capacity is None:
                continue
            item = NodeUsage(node, used, capacity)
            out.append(item)
            if item.fraction >= self.warn_fraction:
                if node not in self._warned:
                    self._warned.add(node)
                    log.warning(
                        "node %s: cdc_raw holds %d of %d bytes (%.0f%% of cdc_total_space, warning at %.0f%%); "
                        "at 100%% Cassandra refuses writes to CDC tables (or, with cdc_block_writes: false, "
                        "deletes unread segments): catch the lagging sinks up or detach them",
                        node,
                        used,
                        capacity,
                        100 * item.fraction,
                        100 * self.warn_fraction,
                    )
            elif node in self._warned and item.fraction < self.warn_fraction * 0.95:
                self._warned.discard(node)  # re-armed with a little hysteresis
                log.info("node %s: cdc_raw back to %.0f%% of cdc_total_space", node, 100 * item.fraction)
        return out

    # -- the policies -------------------------------------------------------------------------
    def evaluate(self, sink: str, parked_for: float | None, backlog: Mapping[str, int]) -> ResyncMarker | None:
        """Detach ``sink`` if it broke a limit (parked too long, too far behind); returns the new marker."""
        if self.detached(sink):
            return None
        reason: str | None = None
        kind: ResyncKind = "lag"
        if self.max_parked_seconds is not None and parked_for is not None and parked_for >= self.max_parked_seconds:
            kind = "parked"
            reason = f"parked for {parked_for:.0f}s (limit max_parked_seconds={self.max_parked_seconds:.0f})"
        elif self.max_sink_lag_bytes is not None:
            over = {node: b for node, b in backlog.items() if b > self.max_sink_lag_bytes}
            if over:
                node, lag = max(over.items(), key=lambda kv: kv[1])
                reason = f"{lag} bytes behind on node {node} (limit max_sink_lag_bytes={self.max_sink_lag_bytes})"
        if reason is None:
            return None
        previous = self.marker(sink)
        marker = ResyncMarker(
            sink,
            kind,
            reason if previous is None else f"{reason}; earlier: {previous.reason}",
            True,
            self.clock(),
            previous.nodes if previous is not None else {},
        )
        log.error(
            "sink %s detached: %s. It is stopped and no longer holds segments in cdc_raw; it needs a "
            "re-sync (docs/resilience.md), then remove %s",
            sink,
            reason,
            self.markers.path(sink) or "its marker (kept in memory only: no disk_guard.state_dir)",
        )
        self._store(marker)
        return marker

    def gap(self, sink: str, gap: GapDetected) -> ResyncMarker | None:
        """A segment was removed before ``sink`` read it: changes are lost to it (other gap kinds: None)."""
        if gap.kind != "segment_removed_unread":
            return None
        previous = self.marker(sink)
        nodes = {k: list(v) for k, v in (previous.nodes if previous is not None else {}).items()}
        lost = nodes.setdefault(gap.node_id, [])
        lost.extend(i for i in gap.segment_ids if i not in lost)
        marker = ResyncMarker(
            sink,
            previous.kind if previous is not None else "gap",
            previous.reason if previous is not None else f"changes lost: {gap.message}",
            previous.detached if previous is not None else False,
            self.clock(),
            nodes,
        )
        log.error("sink %s needs a re-sync: %s", sink, gap.message)
        self._store(marker)
        return marker

    def _store(self, marker: ResyncMarker) -> None:
        with self._lock:
            self._current[marker.sink] = marker
        try:
            self.markers.write(marker)
        except OSError as exc:
            log.error("sink %s: cannot persist the re-sync marker: %s", marker.sink, exc)
        if self.on_marker is not None:
            self.on_marker(marker)
