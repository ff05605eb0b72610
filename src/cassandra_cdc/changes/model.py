"""A change to one row (or range, or partition) of one table, with typed values and Cassandra's metadata.

Every timestamp is Cassandra's write timestamp in microseconds; every local deletion or expiry time
is in seconds since the epoch, as Cassandra stores them. Cells keep their own timestamps and TTLs:
sinks merge cell by cell, so nothing here is collapsed into a row version.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any


class Op(enum.Enum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    RANGE_DELETE = "range_delete"
    PARTITION_DELETE = "partition_delete"


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where the change was read: a node's commit-log segment and the end offset of its entry."""

    node: str
    segment_id: int
    position: int

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.position}"


@dataclass(frozen=True, slots=True)
class Deletion:
    """A deletion at ``timestamp``: it shadows every cell written at or before that timestamp."""

    timestamp: int
    local_deletion_time: int


@dataclass(frozen=True, slots=True)
class Liveness:
    """The primary key's liveness that an INSERT writes (an UPDATE writes none)."""

    timestamp: int
    ttl: int = 0
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class CounterShard:
    """One shard of a counter context (db/context/CounterContext)."""

    counter_id: uuid.UUID
    clock: int
    count: int
    kind: str = "global"


@dataclass(frozen=True, slots=True)
class CellChange:
    """One cell: a simple column's value, or one element of a collection or non-frozen UDT (``path``).

    ``value`` is the typed Python value (None for a tombstone). ``path`` is the element's key:
    a list element's timeuuid, a set element, a map key, a UDT field name.
    ``local_deletion_time`` is a tombstone's local deletion time (seconds; None for a live cell, and
    for hand-made tombstones that lack it: see :meth:`deletion_time`).
    """

    column: str
    value: Any
    timestamp: int
    ttl: int = 0
    expires_at: int | None = None
    deleted: bool = False
    path: Any = None
    has_path: bool = False
    counter_shards: tuple[CounterShard, ...] | None = None
    # The cell's bytes as Cassandra stored them: needed for Cassandra's tie-break on equal timestamps.
    raw_value: bytes = b""
    local_deletion_time: int | None = None

    def deletion_time(self) -> int:
        """A tombstone's local deletion time in seconds (Cassandra's gc and 4.0+ tie-break use it).

        A change that lacks it (hand-made) falls back to the write timestamp in seconds, floored.
        """
        if self.local_deletion_time is not None:
            return self.local_deletion_time
        return self.timestamp // 1_000_000


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a range tombstone: a clustering prefix (by column name) and whether it is inclusive."""

    clustering: dict[str, Any]
    inclusive: bool


@dataclass(slots=True)
class RowChange:
    keyspace: str
    table: str
    table_id: uuid.UUID
    op: Op
    source: SourcePosition
    partition_key: dict[str, Any]
    clustering: dict[str, Any] = field(default_factory=dict)
    is_static: bool = False
    liveness: Liveness | None = None
    row_deletion: Deletion | None = None
    shadowable: bool = False
    cells: list[CellChange] = field(default_factory=list)
    collection_deletions: dict[str, Deletion] = field(default_factory=dict)
    range_start: Bound | None = None
    range_end: Bound | None = None
    range_deletion: Deletion | None = None
    partition_deletion: Deletion | None = None

    @property
    def key(self) -> dict[str, Any]:
        return {**self.partition_key, **self.clustering}
