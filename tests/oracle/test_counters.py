"""Counter context merging (CounterContext.merge/compare) and counter tombstones."""

from __future__ import annotations

import uuid

from cassandra_cdc.changes.model import CounterShard
from cassandra_cdc.oracle.conflicts import CellVersion
from cassandra_cdc.oracle.counters import counter_total, merge_counter, merge_shards

A = uuid.UUID(int=1)
B = uuid.UUID(int=2)


def version(ts: int, *shards: CounterShard, deleted: bool = False) -> CellVersion:
    return CellVersion(ts, deleted, 0, None, b"", None if deleted else shards)


def test_global_shards_keep_highest_clock_per_id_and_sum_ids() -> None:
    merged = merge_shards(
        [CounterShard(A, 1, 5), CounterShard(A, 3, 7), CounterShard(A, 2, 100), CounterShard(B, 1, 2)]
    )
    assert merged[A] == CounterShard(A, 3, 7)
    assert counter_total(merged.values()) == 9


def test_equal_global_clocks_pick_the_higher_count() -> None:
    assert merge_shards([CounterShard(A, 3, 4), CounterShard(A, 3, 9)])[A].count == 9


def test_global_beats_local_beats_remote() -> None:
    merged = merge_shards([CounterShard(A, 9, 1, "remote"), CounterShard(A, 1, 2, "local"), CounterShard(A, 1, 3)])
    assert merged[A] == CounterShard(A, 1, 3, "global")
    merged = merge_shards([CounterShard(A, 9, 1, "remote"), CounterShard(A, 1, 2, "local")])
    assert merged[A] == CounterShard(A, 1, 2, "local")


def test_local_shards_sum() -> None:
    merged = merge_shards([CounterShard(A, 1, 2, "local"), CounterShard(A, 2, 5, "local")])
    assert merged[A] == CounterShard(A, 3, 7, "local")


def test_remote_negative_clock_wins() -> None:
    merged = merge_shards([CounterShard(A, 10, 1, "remote"), CounterShard(A, -3, 0, "remote")])
    assert merged[A].clock == -3


def test_total_wraps_to_a_java_long() -> None:
    assert counter_total([CounterShard(A, 1, 2**63 - 1), CounterShard(B, 1, 1)]) == -(2**63)


def test_counter_value_and_timestamp() -> None:
    got = merge_counter([version(5, CounterShard(A, 1, 1)), version(9, CounterShard(A, 2, 3), CounterShard(B, 1, 4))])
    assert got == (7, 9)


def test_counter_tombstone_wins_regardless_of_timestamp() -> None:
    assert merge_counter([version(100, CounterShard(A, 5, 5)), version(1, deleted=True)]) is None
    assert merge_counter([]) is None
