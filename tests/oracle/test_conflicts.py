"""Cell reconciliation and liveness/deletion merging, rule by rule, against the Java code's cases."""

from __future__ import annotations

import pytest

from cassandra_cdc.changes.model import Deletion, Liveness
from cassandra_cdc.oracle.conflicts import (
    EXPIRED_LIVENESS_TTL,
    CellVersion,
    RowDeletion,
    liveness_is_live,
    max_deletion,
    max_liveness,
    max_row_deletion,
    reconcile,
    reconcile_3x,
    reconcile_4x,
)


def plain(ts: int, raw: bytes) -> CellVersion:
    return CellVersion(ts, False, 0, None, raw)


def expiring(ts: int, raw: bytes, expires: int, ttl: int = 10) -> CellVersion:
    return CellVersion(ts, False, ttl, expires, raw)


def tombstone(ts: int, ldt: int | None = None) -> CellVersion:
    return CellVersion(ts, True, 0, None, b"", tombstone_ldt=ldt)


def both_ways_3x(a: CellVersion, b: CellVersion, now: int) -> CellVersion:
    first, second = reconcile_3x(a, b, now), reconcile_3x(b, a, now)
    assert first == second
    return first


def both_ways_4x(a: CellVersion, b: CellVersion) -> CellVersion:
    first, second = reconcile_4x(a, b), reconcile_4x(b, a)
    assert first == second
    return first


@pytest.mark.parametrize("rules", ["3.x", "4.0+"])
def test_higher_timestamp_wins_whatever_else(rules: str) -> None:
    older_tomb, newer_value = tombstone(10), plain(11, b"\x00")
    assert reconcile([older_tomb, newer_value], rules, now=0) == newer_value  # type: ignore[arg-type]
    older_value, newer_tomb = plain(10, b"\xff"), tombstone(11)
    assert reconcile([older_value, newer_tomb], rules, now=0) == newer_tomb  # type: ignore[arg-type]


def test_3x_tombstone_beats_value_at_same_timestamp() -> None:
    assert both_ways_3x(plain(5, b"z"), tombstone(5), now=0) == tombstone(5)


def test_3x_values_compare_as_signed_bytes() -> None:
    # ByteBuffer.compareTo uses Byte.compare: 0x80 is -128, below 0x7f (127). Unsigned would say the opposite.
    assert both_ways_3x(plain(5, b"\x80"), plain(5, b"\x7f"), now=0) == plain(5, b"\x7f")
    assert both_ways_3x(plain(5, b"\x01\xff"), plain(5, b"\x01\x00"), now=0) == plain(5, b"\x01\x00")
    # A prefix sorts first (remaining() difference): the longer value wins.
    assert both_ways_3x(plain(5, b"ab"), plain(5, b"abc"), now=0) == plain(5, b"abc")


def test_3x_expiring_cell_is_a_value_until_it_expires() -> None:
    exp = expiring(5, b"a", expires=100)
    other = plain(5, b"b")
    # Live at now=50: both live, greater value "b" wins.
    assert both_ways_3x(exp, other, now=50) == other
    # Expired at now=100 (expiry at now is dead): non-live wins the tie.
    assert both_ways_3x(exp, other, now=100) == exp


def test_3x_equal_values_prefer_later_local_deletion_time() -> None:
    a, b = expiring(5, b"v", expires=100), expiring(5, b"v", expires=200)
    assert both_ways_3x(a, b, now=0) == b
    # A plain cell's local deletion time is NO_DELETION_TIME (Integer.MAX_VALUE): it beats an expiring one.
    assert both_ways_3x(a, plain(5, b"v"), now=0) == plain(5, b"v")


def test_4x_tombstone_beats_expiring_beats_plain() -> None:
    t, e, p = tombstone(5), expiring(5, b"\x00", expires=100), plain(5, b"\xff")
    assert both_ways_4x(t, e) == t
    assert both_ways_4x(e, p) == e
    assert both_ways_4x(t, p) == t


def test_4x_expiring_cells_compare_expiry_before_value() -> None:
    a, b = expiring(5, b"\xff", expires=100), expiring(5, b"\x00", expires=101)
    assert both_ways_4x(a, b) == b


def test_4x_values_compare_as_unsigned_bytes() -> None:
    assert both_ways_4x(plain(5, b"\x80"), plain(5, b"\x7f")) == plain(5, b"\x80")
    assert both_ways_4x(plain(5, b"ab"), plain(5, b"abc")) == plain(5, b"abc")


def test_4x_does_not_depend_on_now() -> None:
    exp, other = expiring(5, b"a", expires=100), plain(5, b"b")
    for now in (0, 99, 100, 10**9):
        assert reconcile([exp, other], "4.0+", now) == exp


def test_4x_equal_tombstones_prefer_later_local_deletion_time() -> None:
    # Cells.resolveRegular: both dying, both tombstones, so the later localDeletionTime wins.
    early, late = tombstone(5, ldt=100), tombstone(5, ldt=200)
    assert both_ways_4x(early, late) == late
    assert reconcile([late, early], "4.0+", 0) == late
    # A higher timestamp still wins over a later deletion time.
    assert both_ways_4x(tombstone(6, ldt=1), late) == tombstone(6, ldt=1)


def test_3x_equal_tombstones_prefer_later_local_deletion_time() -> None:
    # Conflicts.resolveRegular: both non-live, equal (empty) values, then the later local deletion time.
    early, late = tombstone(5, ldt=100), tombstone(5, ldt=200)
    assert both_ways_3x(early, late, now=0) == late
    assert reconcile([late, early], "3.x", 0) == late


def test_tombstone_without_local_deletion_time_uses_its_write_second() -> None:
    # Hand-made changes may lack it: the write timestamp (microseconds) in seconds stands in.
    assert tombstone(5_000_000_123).local_deletion_time == 5_000
    assert tombstone(-1).local_deletion_time == -1
    assert tombstone(5_000_000_123, ldt=7).local_deletion_time == 7
    assert both_ways_4x(tombstone(5_000_000_000), tombstone(5_000_000_000, ldt=4_999)) == tombstone(5_000_000_000)


def test_reconcile_of_nothing_is_none() -> None:
    assert reconcile([], "4.0+", 0) is None


def test_deletions_merge_by_timestamp_then_local_deletion_time() -> None:
    assert max_deletion([Deletion(5, 10), Deletion(7, 1), None]) == Deletion(7, 1)
    assert max_deletion([Deletion(7, 1), Deletion(7, 3)]) == Deletion(7, 3)
    assert max_deletion([None]) is None


def test_row_deletion_prefers_regular_on_equal_times_and_shadowing() -> None:
    regular, shadowable = RowDeletion(Deletion(7, 1), False), RowDeletion(Deletion(7, 1), True)
    assert max_row_deletion([shadowable, regular]) == regular
    assert max_row_deletion([regular, shadowable]) == regular
    # isShadowedBy: only a shadowable deletion, only by a strictly newer liveness.
    assert shadowable.is_shadowed_by(Liveness(8))
    assert not shadowable.is_shadowed_by(Liveness(7))
    assert not regular.is_shadowed_by(Liveness(8))
    assert not shadowable.is_shadowed_by(None)


def test_liveness_supersedes() -> None:
    assert max_liveness([Liveness(5), Liveness(6, 10, 100)]) == Liveness(6, 10, 100)
    # Same timestamp: an expiring liveness beats a plain one; between expiring, the later expiry.
    assert max_liveness([Liveness(5), Liveness(5, 10, 100)]) == Liveness(5, 10, 100)
    assert max_liveness([Liveness(5, 10, 200), Liveness(5, 10, 100)]) == Liveness(5, 10, 200)
    # An expired (view) liveness beats everything at its timestamp and is never live.
    dead = Liveness(5, EXPIRED_LIVENESS_TTL, 50)
    assert max_liveness([Liveness(5, 10, 100), dead]) == dead
    assert not liveness_is_live(dead, 0)


def test_liveness_expiry() -> None:
    info = Liveness(5, 10, 100)
    assert liveness_is_live(info, 99)
    assert not liveness_is_live(info, 100)
    assert liveness_is_live(Liveness(5), 10**10)
    assert not liveness_is_live(None, 0)
