"""What every sink offers the pipeline.

A sink applies batches of row changes and stores, atomically with them, how far it has got in
each source node's commit log. Its merge is per cell, as Cassandra's is (last write wins by
timestamp, Cassandra's tie-breaks, deletions shadowing older cells, counters by shard), so
applying a change twice, or changes in any order, gives the same state: replays after a crash and
the copies every replica logs change nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.schema.model import TableSchema

# Cassandra's "no local deletion time" (a live, non-expiring cell): Cell.NO_DELETION_TIME.
NO_DELETION_TIME = 2**31 - 1


class ConflictRules(enum.Enum):
    """Which of Cassandra's tie-breaks at equal timestamps the source cluster uses."""

    CASSANDRA_3 = "3.x"  # a non-live cell wins, then the greater value (signed bytes), then the later ldt
    CASSANDRA_4 = "4.0+"  # tombstone > expiring > plain, then the later ldt, then the greater value (unsigned)


@dataclass(slots=True)
class ChangeBatch:
    """Changes to apply together, and each source node's position once they are applied."""

    changes: list[RowChange]
    positions: dict[str, SourcePosition] = field(default_factory=dict)


class SinkError(Exception):
    """A batch the sink could not apply; ``retryable`` says whether trying again may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ValueOutOfRangeError(SinkError):
    """A value the destination type cannot hold (e.g. a varint beyond numeric's range).

    Never silently altered: by default the change goes to the dead-letter queue.
    """

    def __init__(self, table: str, column: str, value_repr: str, reason: str) -> None:
        super().__init__(f"{table}.{column}: value {value_repr} {reason}", retryable=False)
        self.table = table
        self.column = column


class Sink(Protocol):
    name: str

    def start(self, tables: list[TableSchema]) -> None:
        """Connect and create (or check) the destination tables of ``tables``."""

    def committed_positions(self) -> dict[str, SourcePosition]:
        """Each source node's position as committed with the data (empty before any batch)."""

    def write_batch(self, batch: ChangeBatch) -> None:
        """Apply ``batch`` and record its positions atomically (or with a replay-safe scheme)."""

    def purge(self, now: int) -> int:
        """Drop tombstones and shadowed state older than each table's grace; returns rows purged."""

    def close(self) -> None: ...


@runtime_checkable
class BufferingSink(Protocol):
    """A sink whose ``write_batch`` may return before the batch is in the destination (ClickHouse
    buffers into large blocks). The lane then counts as committed only :meth:`durable_positions`,
    which is what retention and the disk guard trust."""

    def durable_positions(self) -> dict[str, SourcePosition]:
        """Each node's position up to which every change is in the destination."""

    def flush_if_due(self) -> None:
        """Start writing what is buffered if it has waited long enough (the stream may be idle)."""

    def flush(self) -> None:
        """Write everything buffered; returns when it is in the destination."""
