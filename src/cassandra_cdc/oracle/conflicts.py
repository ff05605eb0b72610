"""Which of two versions of the same cell wins, and how deletions and row liveness merge.

Follows db/Conflicts.resolveRegular and db/rows/Cells.reconcile (3.0/3.11), db/rows/Cells.resolveRegular
(4.0+, after CASSANDRA-14592), db/LivenessInfo.supersedes, db/DeletionTime.supersedes and
db/rows/Row.Deletion.isShadowedBy. Every function here is pure; the oracle applies them to the whole
set of versions it has seen, at read time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from cassandra_cdc.changes.model import CounterShard, Deletion, Liveness

ConflictRules = Literal["3.x", "4.0+"]
CONFLICT_RULES: tuple[ConflictRules, ...] = ("3.x", "4.0+")

# Cell.NO_DELETION_TIME / LivenessInfo.NO_EXPIRATION_TIME: Integer.MAX_VALUE.
NO_DELETION_TIME = 2**31 - 1
# LivenessInfo.EXPIRED_LIVENESS_TTL: a liveness that is already dead (materialized views).
EXPIRED_LIVENESS_TTL = 2**31 - 1


@dataclass(frozen=True, slots=True)
class CellVersion:
    """One written version of one cell. Equal versions (same bytes and metadata) are one fact."""

    timestamp: int
    deleted: bool
    ttl: int
    expires_at: int | None
    raw: bytes
    counter_shards: tuple[CounterShard, ...] | None = None
    # A tombstone's local deletion time (seconds); None for other cells. Part of identity: two
    # tombstones of one timestamp deleted at different times are different facts.
    tombstone_ldt: int | None = None
    # The typed value is derived from ``raw``: it takes no part in identity.
    value: Any = field(default=None, compare=False, hash=False)

    @property
    def is_expiring(self) -> bool:
        return not self.deleted and (self.ttl > 0 or self.expires_at is not None)

    @property
    def local_deletion_time(self) -> int:
        """Cell.localDeletionTime: a tombstone's deletion time, the expiry time of an expiring cell,
        NO_DELETION_TIME for a plain one. A tombstone without one (hand-made changes) uses its write
        time in seconds, as the sinks do."""
        if self.deleted:
            return self.tombstone_ldt if self.tombstone_ldt is not None else self.timestamp // 1_000_000
        if self.expires_at is not None:
            return self.expires_at
        return NO_DELETION_TIME

    def is_live(self, now: int) -> bool:
        """Cell.isLive: not a tombstone, and not expired at ``now`` (expiry at ``now`` is dead)."""
        if self.deleted:
            return False
        return self.expires_at is None or now < self.expires_at

    def canonical(self) -> tuple[Any, ...]:
        """A total order on versions, only to make folds deterministic."""
        return (
            self.timestamp,
            self.deleted,
            self.ttl,
            -1 if self.expires_at is None else self.expires_at,
            -1 if self.tombstone_ldt is None else self.tombstone_ldt,
            self.raw,
            ()
            if self.counter_shards is None
            else tuple((s.counter_id.bytes, s.clock, s.count, s.kind) for s in self.counter_shards),
        )


def _java_bytebuffer_compare(a: bytes, b: bytes) -> int:
    """java.nio.ByteBuffer.compareTo (Java 8, which 3.x runs on): bytes compared as SIGNED (Byte.compare),
    then the shorter buffer first."""
    for x, y in zip(a, b, strict=False):
        sx = x - 256 if x >= 128 else x
        sy = y - 256 if y >= 128 else y
        if sx != sy:
            return -1 if sx < sy else 1
    return (len(a) > len(b)) - (len(a) < len(b))


def _unsigned_compare(a: bytes, b: bytes) -> int:
    """ByteBufferUtil.compareUnsigned: Python's own bytes order."""
    return (a > b) - (a < b)


def reconcile_3x(left: CellVersion, right: CellVersion, now: int) -> CellVersion:
    """Conflicts.resolveRegular (3.0/3.11): higher timestamp; on a tie a non-live cell (tombstone, or
    expiring cell already expired at ``now``) wins; then the greater value, compared as signed bytes
    (ByteBuffer.compareTo); then the later local deletion time; a full tie keeps ``left``."""
    if left.timestamp != right.timestamp:
        return right if left.timestamp < right.timestamp else left
    left_live, right_live = left.is_live(now), right.is_live(now)
    if left_live != right_live:
        return right if left_live else left
    c = _java_bytebuffer_compare(left.raw, right.raw)
    if c:
        return right if c < 0 else left
    return right if left.local_deletion_time < right.local_deletion_time else left


def reconcile_4x(left: CellVersion, right: CellVersion) -> CellVersion:
    """Cells.resolveRegular (4.0+, CASSANDRA-14592), independent of the clock: higher timestamp; on a tie
    a tombstone or expiring cell beats a plain cell, a tombstone beats an expiring cell, the later local
    deletion time wins; then the greater value as unsigned bytes; a full tie keeps ``left``."""
    if left.timestamp != right.timestamp:
        return left if left.timestamp > right.timestamp else right
    left_ldt, right_ldt = left.local_deletion_time, right.local_deletion_time
    left_dying = left.deleted or left.is_expiring
    right_dying = right.deleted or right.is_expiring
    if left_dying or right_dying:
        if left_dying != right_dying:
            return left if left_dying else right
        if left.deleted != right.deleted:
            return left if left.deleted else right
        if left_ldt != right_ldt:
            return left if left_ldt > right_ldt else right
    return left if _unsigned_compare(left.raw, right.raw) >= 0 else right


def reconcile(versions: Iterable[CellVersion], rules: ConflictRules, now: int) -> CellVersion | None:
    """The winning version among ``versions`` (None if empty).

    Both rules are total preorders on versions, so folding in any order gives an equivalent winner;
    the canonical order makes the winner itself deterministic.
    """
    winner: CellVersion | None = None
    for version in sorted(versions, key=CellVersion.canonical):
        if winner is None:
            winner = version
        elif rules == "3.x":
            winner = reconcile_3x(winner, version, now)
        else:
            winner = reconcile_4x(winner, version)
    return winner


# --- deletions and liveness ----------------------------------------------------------------------


def deletion_key(deletion: Deletion) -> tuple[int, int]:
    """DeletionTime.supersedes: higher markedForDeleteAt, then higher local deletion time."""
    return (deletion.timestamp, deletion.local_deletion_time)


def max_deletion(deletions: Iterable[Deletion | None]) -> Deletion | None:
    best: Deletion | None = None
    for d in deletions:
        if d is not None and (best is None or deletion_key(d) > deletion_key(best)):
            best = d
    return best


def deletes(deletion: Deletion | None, timestamp: int) -> bool:
    """DeletionTime.deletes: a deletion at D shadows everything written at or before D."""
    return deletion is not None and timestamp <= deletion.timestamp


@dataclass(frozen=True, slots=True)
class RowDeletion:
    """Row.Deletion: a deletion time and whether it is shadowable (materialized views)."""

    deletion: Deletion
    shadowable: bool

    def key(self) -> tuple[int, int, bool]:
        # Equal deletion times: Cassandra keeps whichever it met first; the oracle prefers the
        # regular (non-shadowable) one so that the result does not depend on order.
        return (*deletion_key(self.deletion), not self.shadowable)

    def is_shadowed_by(self, liveness: Liveness | None) -> bool:
        """Row.Deletion.isShadowedBy: a shadowable deletion loses to a newer primary-key liveness."""
        return self.shadowable and liveness is not None and liveness.timestamp > self.deletion.timestamp


def max_row_deletion(deletions: Iterable[RowDeletion]) -> RowDeletion | None:
    best: RowDeletion | None = None
    for d in deletions:
        if best is None or d.key() > best.key():
            best = d
    return best


def _liveness_is_expired(info: Liveness) -> bool:
    return info.ttl == EXPIRED_LIVENESS_TTL


def _liveness_is_expiring(info: Liveness) -> bool:
    return info.ttl > 0 or info.expires_at is not None


def _local_expiration_time(info: Liveness) -> int:
    if info.expires_at is not None:
        return info.expires_at
    return NO_DELETION_TIME


def liveness_key(info: Liveness) -> tuple[int, bool, bool, int]:
    """LivenessInfo.supersedes as a sort key: higher timestamp; on a tie an expired (view) liveness
    wins, then an expiring one over a plain one, then the later expiration time."""
    return (info.timestamp, _liveness_is_expired(info), _liveness_is_expiring(info), _local_expiration_time(info))


def max_liveness(infos: Iterable[Liveness]) -> Liveness | None:
    best: Liveness | None = None
    for info in infos:
        if best is None or liveness_key(info) > liveness_key(best):
            best = info
    return best


def liveness_is_live(info: Liveness | None, now: int) -> bool:
    """LivenessInfo.isLive: present, not an expired (view) liveness, and not expired at ``now``."""
    if info is None or _liveness_is_expired(info):
        return False
    return info.expires_at is None or now < info.expires_at
