"""Freeing cdc_raw for several sinks: a segment goes only when every sink is past it.

Each sink lane follows every node with a follower of its own, and each follower knows which
segments it has read to their end (COMPLETED index, legacy 3.x segment, or a stale index left by a
stopped node run) and at which position they are consumed. A segment file is removed (deleted, or
moved to the archive directory) only when the follower of EVERY lane would release it at that lane's
committed position; a lane that is parked before it could open (no followers) holds everything. A
live segment is never removed: no follower has read it to its end. A lane the disk guard detached
(``ignore``) is left out; with every lane detached, COMPLETED segments go as they are closed.

It also measures each node's cdc_raw (bytes used), and each sink's backlog: durable bytes not yet
committed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.commitlog.cdc_index import CdcIndex, read_cdc_index
from cassandra_cdc.commitlog.descriptor import VERSION_40, cdc_index_file_name, parse_segment_file_name
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.segment_retention import RetentionError, directory_usage_bytes, remove_segment_files
from cassandra_cdc.pipeline.lane import SinkLane, SourceNode

log = logging.getLogger(__name__)

RetentionMode = Literal["delete", "archive", "keep"]


@dataclass(slots=True)
class RetentionReport:
    """One pass: segments removed and bytes freed per node, and cdc_raw usage after it."""

    removed: dict[str, list[int]] = field(default_factory=dict)
    freed_bytes: dict[str, int] = field(default_factory=dict)
    usage_bytes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class RetentionCoordinator:
    """Removes the segments every lane has consumed; see the module docstring.

    ``mode="keep"`` never removes anything (another consumer owns cdc_raw) but still measures.
    ``archive_dir`` gets one subdirectory per node (segment names repeat across nodes).
    """

    def __init__(
        self,
        nodes: Sequence[SourceNode],
        lanes: Sequence[SinkLane],
        *,
        mode: RetentionMode = "delete",
        archive_dir: Path | None = None,
    ) -> None:
        if mode == "archive" and archive_dir is None:
            raise ValueError("retention mode 'archive' needs an archive directory")
        self.nodes = list(nodes)
        self.lanes = list(lanes)
        self.mode = mode
        self.archive_dir = archive_dir
        self.removed_total = 0
        self.freed_total = 0
        self.ignored: set[str] = set()

    def ignore(self, lane_name: str) -> None:
        """Stop waiting for lane ``lane_name`` (detached: it needs a re-sync anyway)."""
        self.ignored.add(lane_name)

    def removable(self, node_id: str) -> dict[int, tuple[Path, Path]]:
        """Segments of ``node_id`` that every lane (but the ignored ones) has consumed."""
        lanes = [lane for lane in self.lanes if lane.name not in self.ignored]
        if not lanes:
            return _completed_segments(self._node(node_id).cdc_raw) if self.lanes else {}
        common: dict[int, tuple[Path, Path]] | None = None
        for lane in lanes:
            follower = lane.followers.get(node_id)
            committed = lane.committed_positions().get(node_id)
            if follower is None or committed is None:
                return {}
            mine = follower.releasable(CommitLogPosition(committed.segment_id, committed.position))
            common = mine if common is None else {k: v for k, v in common.items() if k in mine}
            if not common:
                return {}
        return common or {}

    def run_once(self) -> RetentionReport:
        report = RetentionReport()
        for node in self.nodes:
            removed: list[int] = []
            freed = 0
            if self.mode != "keep":
                target = self.archive_dir / node.node_id if self.archive_dir is not None else None
                for segment_id, (log_path, index_path) in sorted(self.removable(node.node_id).items()):
                    if not _safe_to_remove(log_path, index_path):
                        continue
                    try:
                        freed += remove_segment_files(log_path, index_path, target)
                    except RetentionError as exc:
                        report.errors.append(str(exc))
                        log.error("node %s: %s", node.node_id, exc)
                        break
                    removed.append(segment_id)
            if removed:
                log.info(
                    "node %s: %s %d segment(s), %d bytes",
                    node.node_id,
                    "archived" if self.mode == "archive" else "deleted",
                    len(removed),
                    freed,
                )
            self.removed_total += len(removed)
            self.freed_total += freed
            report.removed[node.node_id] = removed
            report.freed_bytes[node.node_id] = freed
            report.usage_bytes[node.node_id] = directory_usage_bytes(node.cdc_raw)
        return report

    def _node(self, node_id: str) -> SourceNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def disk_usage(self) -> dict[str, int]:
        """Bytes in each node's cdc_raw."""
        return {node.node_id: directory_usage_bytes(node.cdc_raw) for node in self.nodes}


def _safe_to_remove(log_path: Path, index_path: Path) -> bool:
    """A last check on the files themselves: a 4.0+ segment's index must say COMPLETED.

    (The followers also release legacy segments and stale indexes of a stopped node run; a 4.0+
    segment whose index is missing or not COMPLETED is left alone unless the follower judged it
    superseded, which only happens when a higher segment exists.)
    """
    try:
        parsed = parse_segment_file_name(log_path.name)
    except ValueError:
        return False
    if parsed.version < VERSION_40:
        return True
    index = read_cdc_index(index_path)
    if isinstance(index, CdcIndex) and index.completed:
        return True
    # Superseded (stale, not COMPLETED): only with a higher segment present in the directory.
    try:
        names = os.listdir(log_path.parent)
    except FileNotFoundError:
        return False
    for name in names:
        try:
            other = parse_segment_file_name(name)
        except ValueError:
            continue
        if not other.is_cdc_index and other.segment_id > parsed.segment_id:
            return True
    return False


def _completed_segments(cdc_raw: Path) -> dict[int, tuple[Path, Path]]:
    """Segments of ``cdc_raw`` that are closed (4.0+ index COMPLETED, or legacy): nobody waits for them."""
    out: dict[int, tuple[Path, Path]] = {}
    try:
        names = os.listdir(cdc_raw)
    except FileNotFoundError:
        return out
    for name in names:
        try:
            parsed = parse_segment_file_name(name)
        except ValueError:
            continue
        if parsed.is_cdc_index:
            continue
        index_path = cdc_raw / cdc_index_file_name(parsed.version, parsed.segment_id)
        if parsed.version >= VERSION_40:
            index = read_cdc_index(index_path)
            if not (isinstance(index, CdcIndex) and index.completed):
                continue
        out[parsed.segment_id] = (cdc_raw / name, index_path)
    return out


# --- measuring -------------------------------------------------------------------------------------


def durable_segments(cdc_raw: Path) -> dict[int, int]:
    """Segment id -> durable bytes for the segments in ``cdc_raw``.

    The index offset for a 4.0+ segment that is not COMPLETED (0 with no index yet), the file size
    otherwise (COMPLETED or legacy).
    """
    out: dict[int, int] = {}
    try:
        entries = list(os.scandir(cdc_raw))
    except FileNotFoundError:
        return out
    for entry in entries:
        try:
            parsed = parse_segment_file_name(entry.name)
        except ValueError:
            continue
        if parsed.is_cdc_index:
            continue
        try:
            size = entry.stat().st_size
        except FileNotFoundError:
            continue
        if parsed.version < VERSION_40:
            out[parsed.segment_id] = size
            continue
        index = read_cdc_index(cdc_raw / cdc_index_file_name(parsed.version, parsed.segment_id))
        if isinstance(index, CdcIndex):
            out[parsed.segment_id] = size if index.completed else min(index.offset, size)
        else:
            out[parsed.segment_id] = 0
    return out


def backlog_bytes(durable: Mapping[int, int], committed: SourcePosition | None) -> int:
    """Durable bytes of one node past ``committed`` (everything when nothing is committed)."""
    total = 0
    for segment_id, offset in durable.items():
        if committed is None or segment_id > committed.segment_id:
            total += offset
        elif segment_id == committed.segment_id:
            total += max(0, offset - committed.position)
    return total
