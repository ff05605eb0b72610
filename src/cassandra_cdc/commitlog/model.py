"""What a commit-log entry holds, as Cassandra structures it: plain data, no behaviour beyond accessors.

Values stay as the raw bytes Cassandra serialised (typed decoding is the schema's job), so that an
entry decoded and re-encoded gives back the same bytes.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

# Java sentinels (LivenessInfo.NO_TIMESTAMP, Cell.NO_TTL, Cell.NO_DELETION_TIME, DeletionTime.LIVE).
NO_TIMESTAMP = -(2**63)
NO_TTL = 0
NO_DELETION_TIME = 2**31 - 1
# A local deletion time Cassandra 5.0 stores unsigned (CASSANDRA-14227): MAX_DELETION_TIME = 2^32 - 2.
# From messaging version 13 on, local deletion times are unsigned 32-bit values; the wire's
# 2^32 - 1 is "none" and decodes to NO_DELETION_TIME (so a real 5.0 deletion time of exactly
# 2^31 - 1 seconds cannot be told apart from "none": Cassandra 4.x could not store it either).
NO_DELETION_TIME_UNSIGNED = 2**32 - 1


@dataclass(frozen=True, slots=True)
class CommitLogPosition:
    """A point in a node's commit log: segment id and offset in the segment's uncompressed space.

    Positions order first by segment id, then by offset, as Cassandra's CommitLogPosition does.
    The position of an entry is where it ends (what Cassandra reports after reading it).
    """

    segment_id: int
    position: int

    def __lt__(self, other: CommitLogPosition) -> bool:
        return (self.segment_id, self.position) < (other.segment_id, other.position)

    def __le__(self, other: CommitLogPosition) -> bool:
        return (self.segment_id, self.position) <= (other.segment_id, other.position)

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.position}"

    @classmethod
    def parse(cls, text: str) -> CommitLogPosition:
        """Parse ``SEGMENT_ID:POSITION``."""
        segment, sep, pos = text.partition(":")
        if not sep or not segment.strip().isdigit() or not pos.strip().isdigit():
            raise ValueError(f"position {text!r} is not SEGMENT_ID:POSITION")
        return cls(int(segment), int(pos))


@dataclass(frozen=True, slots=True)
class DeletionTime:
    """db/DeletionTime: deleted at ``marked_for_delete_at`` (microseconds), locally at a time in seconds."""

    marked_for_delete_at: int
    local_deletion_time: int

    def is_live(self) -> bool:
        return self.marked_for_delete_at == NO_TIMESTAMP


LIVE = DeletionTime(NO_TIMESTAMP, NO_DELETION_TIME)


# Not frozen (a frozen dataclass costs three times as much to build, and the decoder builds one per
# row); treat instances as immutable: EMPTY_LIVENESS is shared. unsafe_hash keeps them hashable.
@dataclass(slots=True, unsafe_hash=True)
class LivenessInfo:
    """db/LivenessInfo of a row's primary key: the INSERT's timestamp, and its TTL if any.

    ``local_expiration_time`` is the time in seconds when an expiring row's liveness ends
    (NO_DELETION_TIME when it does not expire).
    """

    timestamp: int
    ttl: int = NO_TTL
    local_expiration_time: int = NO_DELETION_TIME

    def is_empty(self) -> bool:
        return self.timestamp == NO_TIMESTAMP

    def is_expiring(self) -> bool:
        return self.ttl != NO_TTL


EMPTY_LIVENESS = LivenessInfo(NO_TIMESTAMP)


@dataclass(slots=True)
class Cell:
    """db/rows/Cell of one column (and, for a multi-cell collection or UDT, one element: ``path``).

    ``local_deletion_time`` is the tombstone's local deletion time, or an expiring cell's expiry
    time in seconds; NO_DELETION_TIME for a plain live cell.
    """

    column: str
    timestamp: int
    value: bytes
    ttl: int = NO_TTL
    local_deletion_time: int = NO_DELETION_TIME
    path: bytes | None = None

    def is_tombstone(self) -> bool:
        return self.ttl == NO_TTL and self.local_deletion_time != NO_DELETION_TIME

    def is_expiring(self) -> bool:
        return self.ttl != NO_TTL


class ClusteringKind(enum.IntEnum):
    """db/ClusteringPrefix.Kind; the ordinal is what the serialisation writes."""

    EXCL_END_BOUND = 0
    INCL_START_BOUND = 1
    EXCL_END_INCL_START_BOUNDARY = 2
    STATIC_CLUSTERING = 3
    CLUSTERING = 4
    INCL_END_EXCL_START_BOUNDARY = 5
    INCL_END_BOUND = 6
    EXCL_START_BOUND = 7

    def is_boundary(self) -> bool:
        return self in (ClusteringKind.EXCL_END_INCL_START_BOUNDARY, ClusteringKind.INCL_END_EXCL_START_BOUNDARY)

    def is_start(self) -> bool:
        return self in (ClusteringKind.INCL_START_BOUND, ClusteringKind.EXCL_START_BOUND)

    def is_end(self) -> bool:
        return self in (ClusteringKind.INCL_END_BOUND, ClusteringKind.EXCL_END_BOUND)


# A clustering is one raw value per clustering column; None is a null (unset) component,
# which Cassandra allows in range tombstone bounds' prefixes and in compact tables.
Clustering = tuple[bytes | None, ...]


@dataclass(slots=True)
class Row:
    """db/rows/BTreeRow as UnfilteredSerializer writes it.

    ``deletion`` is the row deletion; ``shadowable`` marks it as a shadowable deletion
    (materialized views). ``complex_deletions`` maps a multi-cell column to its collection-wide
    deletion (``UPDATE ... SET list = [...]`` writes one just below the new cells' timestamp).
    """

    clustering: Clustering
    liveness: LivenessInfo = EMPTY_LIVENESS
    deletion: DeletionTime = LIVE
    shadowable: bool = False
    cells: list[Cell] = field(default_factory=list)
    complex_deletions: dict[str, DeletionTime] = field(default_factory=dict)
    is_static: bool = False


@dataclass(slots=True)
class RangeTombstoneMarker:
    """db/rows/RangeTombstoneBoundMarker or RangeTombstoneBoundaryMarker.

    A bound carries one deletion (``deletion``). A boundary closes one range and opens the next:
    ``end_deletion`` for the range it closes and ``deletion`` for the one it opens.
    """

    kind: ClusteringKind
    clustering: Clustering
    deletion: DeletionTime
    end_deletion: DeletionTime | None = None


Unfiltered = Row | RangeTombstoneMarker


# Not frozen, for decoding speed (one per update); treat as immutable.
@dataclass(slots=True, unsafe_hash=True)
class EncodingStats:
    """db/rows/EncodingStats: the minima the row data is delta-encoded against (Java values).

    ``min_local_deletion_time`` and ``min_ttl`` are Java ints (signed 32-bit) as Cassandra holds them.
    """

    min_timestamp: int
    min_local_deletion_time: int
    min_ttl: int


@dataclass(slots=True)
class PartitionEncoding:
    """What the wire said about an update that its content does not determine.

    A decoded update keeps it so that re-encoding reproduces Cassandra's bytes exactly: the
    SerializationHeader's column lists (a statement's update names every column it touched, even
    one no row ends up holding), its EncodingStats, the row estimate and the reversed flag.
    ``static_columns`` is empty when the update has no static row (the header then omits them).
    An update built by hand leaves ``PartitionUpdate.encoding`` as None and the encoder derives
    all of it the way Cassandra's PartitionUpdate would.
    """

    stats: EncodingStats
    static_columns: tuple[str, ...]
    regular_columns: tuple[str, ...]
    row_estimate: int | None
    reversed: bool = False


@dataclass(slots=True)
class PartitionUpdate:
    """db/partitions/PartitionUpdate: every change one mutation makes to one partition of one table."""

    table_id: uuid.UUID
    partition_key: bytes
    partition_deletion: DeletionTime = LIVE
    static_row: Row | None = None
    unfiltereds: list[Unfiltered] = field(default_factory=list)
    encoding: PartitionEncoding | None = None

    @property
    def rows(self) -> list[Row]:
        return [u for u in self.unfiltereds if isinstance(u, Row)]

    @property
    def range_tombstones(self) -> list[RangeTombstoneMarker]:
        return [u for u in self.unfiltereds if isinstance(u, RangeTombstoneMarker)]

    def without_encoding(self) -> PartitionUpdate:
        """The same update without its wire details (for comparing content)."""
        return PartitionUpdate(
            self.table_id, self.partition_key, self.partition_deletion, self.static_row, self.unfiltereds, None
        )


@dataclass(slots=True)
class Mutation:
    """db/Mutation: the updates one write makes to one partition key, across tables of a keyspace."""

    updates: list[PartitionUpdate]
