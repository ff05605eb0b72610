"""What the segment reader hands to the mutation decoder: one framed entry, or why one could not be read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cassandra_cdc.commitlog.model import CommitLogPosition


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One commit-log (or hint) entry whose length and CRCs checked out.

    ``start`` is the offset of the entry's length field and ``end`` the offset just past its
    trailing CRC, both in the segment's uncompressed space; ``end`` is the position Cassandra
    reports for the mutation. ``data`` is the serialised Mutation.
    """

    path: Path
    segment_id: int
    commitlog_version: int
    messaging_version: int
    start: int
    end: int
    data: bytes

    @property
    def position(self) -> CommitLogPosition:
        return CommitLogPosition(self.segment_id, self.end)


@dataclass(frozen=True, slots=True)
class EntryError:
    """Bytes that could not be read as an entry: the reader reports them and goes on where it can.

    ``offset`` is in the segment's uncompressed space (for a damaged compressed or encrypted
    section, the section's start). ``raw`` keeps whatever bytes were recovered, for the
    dead-letter queue; ``resumed_at`` is where reading went on (None if the segment ended there).
    """

    path: Path
    segment_id: int
    offset: int
    reason: str
    raw: bytes = b""
    resumed_at: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: offset {self.offset}: {self.reason}"
