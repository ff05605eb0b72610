"""A simulated Cassandra node's CDC output: segments and their _cdc.idx, as 4.0+ writes them.

Each ``sync`` appends one sync section to the live segment and rewrites its index with the new
durable offset; a full segment is closed, its index marked COMPLETED, and the next segment opened
with the next id (CommitLogSegmentManagerCDC behaviour).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from cassandra_cdc.commitlog.cdc_index import write_cdc_index
from cassandra_cdc.commitlog.descriptor import cdc_index_file_name
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.segment_writer import SYNC_MARKER_SIZE, SegmentFullError, SegmentWriter, encode_entry

# Commit-log version 7 (Cassandra 4.0/4.1/5.0 default) and Cassandra's default segment size.
DEFAULT_VERSION = 7
DEFAULT_SEGMENT_SIZE = 32 * 1024 * 1024


class SimulatedNode:
    """Writes serialised mutations into ``cdc_raw`` the way a Cassandra 4.0+ node with CDC does.

    ``positions`` lists every entry's position (``keep_positions="all"``, what tests read) or only the
    last one (``"last"``: a long run, e.g. the soak benchmark, must not grow with every entry).
    """

    def __init__(
        self,
        cdc_raw: Path,
        *,
        first_segment_id: int = 1_700_000_000_000,
        version: int = DEFAULT_VERSION,
        compression: str | None = None,
        encryption: EncryptionConfig | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        write_index: bool = True,
        keep_positions: Literal["all", "last"] = "all",
    ) -> None:
        if keep_positions not in ("all", "last"):
            raise ValueError(f"keep_positions must be 'all' or 'last', not {keep_positions!r}")
        self.cdc_raw = cdc_raw
        self.cdc_raw.mkdir(parents=True, exist_ok=True)
        self.version = version
        self.compression = compression
        self.encryption = encryption
        self.segment_size = segment_size
        self.write_index = write_index
        self.keep_positions = keep_positions
        self._next_id = first_segment_id
        self._writer: SegmentWriter | None = None
        self.positions: list[CommitLogPosition] = []

    @property
    def last_position(self) -> CommitLogPosition | None:
        """The position of the last entry written (None before the first)."""
        return self.positions[-1] if self.positions else None

    @property
    def segment_id(self) -> int | None:
        return self._writer.segment_id if self._writer is not None else None

    def _open(self) -> SegmentWriter:
        writer = SegmentWriter.create(
            self.cdc_raw,
            self._next_id,
            version=self.version,
            compression=self.compression,
            encryption=self.encryption,
            segment_size=self.segment_size,
        )
        self._next_id += 1
        if self.write_index:
            write_cdc_index(self._index_path(writer), writer.position)
        return writer

    def _index_path(self, writer: SegmentWriter) -> Path:
        return self.cdc_raw / cdc_index_file_name(self.version, writer.segment_id)

    def sync(self, entries: Sequence[bytes]) -> list[CommitLogPosition]:
        """Make ``entries`` durable; returns each entry's position.

        One sync section per segment touched: what does not fit in the live segment goes to the next
        one, as Cassandra allocates a mutation that does not fit in a new segment.
        """
        written: list[CommitLogPosition] = []
        pending = list(entries)
        while pending:
            writer = self._writer or self._open()
            self._writer = writer
            fitting = self._fitting(writer, pending)
            if not fitting:
                if writer.entry_positions:
                    self.roll()
                    continue
                raise SegmentFullError(f"an entry of {len(pending[0])} bytes does not fit an empty segment")
            before = len(writer.entry_positions)
            end = writer.append_section(pending[:fitting])
            if self.write_index:
                write_cdc_index(self._index_path(writer), end)
            written.extend(CommitLogPosition(writer.segment_id, p) for p in writer.entry_positions[before:])
            pending = pending[fitting:]
            if pending:
                self.roll()
        if self.keep_positions == "all":
            self.positions.extend(written)
        elif written:
            self.positions[:] = written[-1:]
        return written

    def _fitting(self, writer: SegmentWriter, entries: Sequence[bytes]) -> int:
        """How many of ``entries`` (from the first) one section of the live segment can take."""
        # A section ends strictly before the segment's end, leaving room for the next marker.
        room = self.segment_size - writer.position - 2 * SYNC_MARKER_SIZE
        taken = 0
        for entry in entries:
            room -= len(encode_entry(entry))
            if room < 0:
                break
            taken += 1
        return taken

    def roll(self) -> None:
        """Close the live segment (a full segment, or a drain): its index says COMPLETED."""
        writer = self._writer
        if writer is None:
            return
        writer.close()
        if self.write_index:
            write_cdc_index(self._index_path(writer), writer.position, completed=True)
        self._writer = None

    def close(self) -> None:
        self.roll()
