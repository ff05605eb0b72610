"""The oracle's final state, scenario by scenario (one rule each)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.oracle import EXPIRES_AT, TTL, WRITETIME, Oracle, OracleError
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import DroppedColumn

from .helpers import (
    KS,
    cell,
    counter,
    delete_partition,
    delete_range,
    delete_row,
    elem,
    insert,
    make_table,
    tomb,
    upsert,
)

PLAIN = make_table("plain", [("id", T.INT)], [("c", T.INT, False)], [("v", T.TEXT), ("w", T.INT), ("b", T.BLOB)])
STATIC = make_table("stat", [("id", T.INT)], [("c", T.INT, False)], [("v", T.TEXT)], static=[("s", T.TEXT)])
DESC = make_table("desc", [("id", T.INT)], [("a", T.INT, False), ("b", T.INT, True)], [("v", T.INT)])
UDT = T.UserType(KS, "pt", ["x", "y"], [T.INT, T.TEXT])
COLL = make_table(
    "coll",
    [("id", T.INT)],
    regular=[
        ("l", T.ListType(T.TEXT)),
        ("s", T.SetType(T.INT)),
        ("m", T.MapType(T.TEXT, T.INT)),
        ("u", UDT),
        ("fl", T.SetType(T.ListType(T.INT))),
    ],
)
COUNT = make_table("count", [("id", T.INT)], regular=[("n", T.COUNTER)])
TABLES = [PLAIN, STATIC, DESC, COLL, COUNT]
P = {"id": 1}
NOW = 1_000


def state(
    *changes: RowChange, rules: str = "4.0+", now: int = NOW, table: str = "plain", meta: bool = False
) -> list[dict[str, Any]]:
    """Rows after applying ``changes``, checked to be the same for every order of application."""
    results = []
    for order in itertools.islice(itertools.permutations(changes), 24):
        oracle = Oracle(TABLES, conflict_rules=rules)  # type: ignore[arg-type]
        oracle.apply_all(order)
        results.append(oracle.rows(KS, table, now=now, with_metadata=meta))
    assert all(r == results[0] for r in results)
    return results[0]


def values(rows: list[dict[str, Any]], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in rows]


# --- last write wins ---


def test_last_write_wins_by_timestamp_not_arrival() -> None:
    rows = state(upsert(PLAIN, P, {"c": 1}, cell("v", "new", 20)), upsert(PLAIN, P, {"c": 1}, cell("v", "old", 10)))
    assert rows == [{"id": 1, "c": 1, "v": "new", "w": None, "b": None}]


def test_cells_merge_independently() -> None:
    rows = state(
        upsert(PLAIN, P, {"c": 1}, cell("v", "a", 10), cell("w", 1, 30)),
        upsert(PLAIN, P, {"c": 1}, cell("v", "b", 20), cell("w", 2, 5)),
    )
    assert values(rows, "v", "w") == [("b", 1)]


def test_newer_cell_tombstone_nulls_the_column_older_does_not() -> None:
    write = upsert(PLAIN, P, {"c": 1}, cell("v", "a", 10), cell("w", 1, 10))
    assert values(state(write, upsert(PLAIN, P, {"c": 1}, tomb("v", 11))), "v", "w") == [(None, 1)]
    assert values(state(write, upsert(PLAIN, P, {"c": 1}, tomb("v", 9))), "v", "w") == [("a", 1)]


def test_row_without_live_cells_or_liveness_is_gone() -> None:
    assert state(upsert(PLAIN, P, {"c": 1}, cell("v", "a", 10)), upsert(PLAIN, P, {"c": 1}, tomb("v", 11))) == []


def test_insert_liveness_keeps_a_row_with_null_columns() -> None:
    rows = state(insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10)), upsert(PLAIN, P, {"c": 1}, tomb("v", 11)))
    assert rows == [{"id": 1, "c": 1, "v": None, "w": None, "b": None}]


# --- ties ---


@pytest.mark.parametrize("rules", ["3.x", "4.0+"])
def test_tie_tombstone_beats_value(rules: str) -> None:
    rows = state(
        insert(PLAIN, P, {"c": 1}, 5, cell("v", "zzz", 10)), upsert(PLAIN, P, {"c": 1}, tomb("v", 10)), rules=rules
    )
    assert values(rows, "v") == [(None,)]


@pytest.mark.parametrize("rules", ["3.x", "4.0+"])
def test_tie_between_tombstones_keeps_the_later_local_deletion_time(rules: str) -> None:
    early = upsert(PLAIN, P, {"c": 1}, tomb("v", 10, ldt=1_000))
    late = upsert(PLAIN, P, {"c": 1}, tomb("v", 10, ldt=2_000))
    live = insert(PLAIN, P, {"c": 1}, 5, cell("v", "a", 5))
    for order in itertools.permutations([early, late, live]):
        oracle = Oracle([PLAIN], conflict_rules=rules)  # type: ignore[arg-type]
        oracle.apply_all(order)
        winner = oracle.cell_version(KS, PLAIN.name, {"id": 1, "c": 1}, "v", now=0)
        assert winner is not None and winner.deleted and winner.local_deletion_time == 2_000
        assert values(oracle.rows(KS, PLAIN.name, now=0), "v") == [(None,)]


def test_tie_value_bytes_signed_in_3x_unsigned_in_4x() -> None:
    a = upsert(PLAIN, P, {"c": 1}, cell("b", b"\x80", 10))
    b = upsert(PLAIN, P, {"c": 1}, cell("b", b"\x7f", 10))
    assert values(state(a, b, rules="3.x"), "b") == [(b"\x7f",)]
    assert values(state(a, b, rules="4.0+"), "b") == [(b"\x80",)]


def test_tie_expiring_vs_plain() -> None:
    exp = upsert(PLAIN, P, {"c": 1}, cell("v", "a", 10, ttl=100, expires=500))
    plain = upsert(PLAIN, P, {"c": 1}, cell("v", "b", 10))
    # 4.0+: the expiring cell wins at any time; once it expires the column is null (row gone).
    assert values(state(exp, plain, now=400), "v") == [("a",)]
    assert state(exp, plain, now=500) == []
    # 3.x: while live, the greater value wins; once expired, the non-live cell wins.
    assert values(state(exp, plain, rules="3.x", now=400), "v") == [("b",)]
    assert state(exp, plain, rules="3.x", now=500) == []


def test_tie_raw_value_comes_from_the_event_when_given() -> None:
    # raw_value is what Cassandra compared; the typed value is only what is shown.
    a = upsert(PLAIN, P, {"c": 1}, cell("v", "a", 10, raw=b"\x01"))
    b = upsert(PLAIN, P, {"c": 1}, cell("v", "b", 10, raw=b"\x00"))
    assert values(state(a, b), "v") == [("a",)]


# --- row and partition deletions ---


def test_row_deletion_shadows_older_cells_and_liveness_not_newer() -> None:
    rows = state(
        insert(PLAIN, P, {"c": 1}, 10, cell("v", "old", 10)),
        upsert(PLAIN, P, {"c": 1}, cell("w", 7, 30)),
        delete_row(PLAIN, P, {"c": 1}, 20),
    )
    assert rows == [{"id": 1, "c": 1, "v": None, "w": 7, "b": None}]


def test_deletion_at_equal_timestamp_shadows() -> None:
    assert state(insert(PLAIN, P, {"c": 1}, 20, cell("v", "a", 20)), delete_row(PLAIN, P, {"c": 1}, 20)) == []


def test_insert_after_delete_resurrects_and_late_older_insert_stays_dead() -> None:
    delete = delete_row(PLAIN, P, {"c": 1}, 20)
    newer = insert(PLAIN, P, {"c": 1}, 21, cell("v", "back", 21))
    older = insert(PLAIN, P, {"c": 1}, 15, cell("v", "late", 15), cell("w", 3, 15))
    assert values(state(delete, newer, older), "v", "w") == [("back", None)]


def test_partition_deletion_shadows_rows_and_statics() -> None:
    rows = state(
        insert(STATIC, P, {"c": 1}, 10, cell("v", "a", 10)),
        insert(STATIC, P, {"c": 2}, 30, cell("v", "b", 30)),
        upsert(STATIC, P, None, cell("s", "old", 10), static=True),
        delete_partition(STATIC, P, 20),
        table="stat",
    )
    assert rows == [{"id": 1, "c": 2, "s": None, "v": "b"}]


def test_partition_deletion_leaves_other_partitions() -> None:
    rows = state(
        insert(PLAIN, {"id": 1}, {"c": 1}, 10), insert(PLAIN, {"id": 2}, {"c": 1}, 10), delete_partition(PLAIN, P, 20)
    )
    assert values(rows, "id") == [(2,)]


# --- range deletions ---


def _desc_rows() -> list[RowChange]:
    return [insert(DESC, P, {"a": a, "b": b}, 10, cell("v", 10 * a + b, 10)) for a in (1, 2, 3) for b in (1, 2, 3)]


def test_range_deletion_bounds_inclusive_exclusive_and_desc() -> None:
    # a = 2 and b in [3, 2) in clustering order: b is DESC so the order is 3, 2, 1; [3, 2) holds 3 only.
    rng = delete_range(DESC, P, {"a": 2, "b": 3}, True, {"a": 2, "b": 2}, False, 20)
    rows = state(*_desc_rows(), rng, table="desc")
    assert (2, 3) not in values(rows, "a", "b")
    assert len(rows) == 8
    # Rows are listed in clustering order: b descending within a.
    assert values(rows, "a", "b")[:3] == [(1, 3), (1, 2), (1, 1)]


def test_range_deletion_prefix_bounds() -> None:
    # DELETE ... WHERE a > 1 AND a <= 3 -> start (a=1) exclusive, end (a=3) inclusive: all of a=2 and a=3.
    rng = delete_range(DESC, P, {"a": 1}, False, {"a": 3}, True, 20)
    assert values(state(*_desc_rows(), rng, table="desc"), "a") == [(1,)] * 3
    # a >= 2 AND a < 3 -> a=2 only.
    rng = delete_range(DESC, P, {"a": 2}, True, {"a": 3}, False, 20)
    assert sorted(set(values(state(*_desc_rows(), rng, table="desc"), "a"))) == [(1,), (3,)]


def test_range_deletion_unbounded_ends() -> None:
    # a = 2 AND b > 2: on a DESC column, b > 2 runs from the partition prefix start to (2, 2) exclusive.
    rng = delete_range(DESC, P, {"a": 2}, True, {"a": 2, "b": 2}, False, 20)
    assert [k for k in values(state(*_desc_rows(), rng, table="desc"), "a", "b") if k[0] == 2] == [(2, 2), (2, 1)]
    everything = delete_range(DESC, P, {}, True, {}, True, 20)
    assert state(*_desc_rows(), everything, table="desc") == []


def test_range_deletion_only_shadows_older_writes() -> None:
    rng = delete_range(DESC, P, {"a": 1}, True, {"a": 1}, True, 20)
    newer = insert(DESC, P, {"a": 1, "b": 2}, 25, cell("v", 99, 25))
    rows = state(*_desc_rows(), rng, newer, table="desc")
    assert values(rows, "a", "b", "v")[0] == (1, 2, 99)
    assert len(rows) == 7


# --- statics ---


def test_static_only_partition_shows_as_one_row() -> None:
    rows = state(upsert(STATIC, P, None, cell("s", "st", 10), static=True), table="stat")
    assert rows == [{"id": 1, "c": None, "s": "st", "v": None}]


def test_static_values_appear_on_every_row_and_no_extra_row() -> None:
    rows = state(
        upsert(STATIC, P, None, cell("s", "st", 10), static=True),
        insert(STATIC, P, {"c": 1}, 10, cell("v", "a", 10)),
        insert(STATIC, P, {"c": 2}, 10),
        table="stat",
    )
    assert values(rows, "c", "s", "v") == [(1, "st", "a"), (2, "st", None)]


def test_static_partition_row_disappears_when_static_deleted() -> None:
    rows = state(
        upsert(STATIC, P, None, cell("s", "st", 10), static=True),
        upsert(STATIC, P, None, tomb("s", 11), static=True),
        table="stat",
    )
    assert rows == []


# --- TTL ---


def test_expiring_cells_and_liveness_with_now() -> None:
    write = insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10, ttl=60, expires=1060), ttl=60, expires=1060)
    assert values(state(write, now=1059), "v") == [("a",)]
    assert state(write, now=1060) == []


def test_row_survives_ttl_through_a_later_plain_cell() -> None:
    rows = state(
        insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10, ttl=60, expires=1060), ttl=60, expires=1060),
        upsert(PLAIN, P, {"c": 1}, cell("w", 5, 20)),
        now=2000,
    )
    assert values(rows, "v", "w") == [(None, 5)]


# --- collections and UDTs ---

T1, T2, T3 = (uuid.UUID(int=(t << 80) | (1 << 76) | (0x8 << 60)) for t in (3, 1, 2))


def test_timeuuid_helpers_are_version_1() -> None:
    assert T1.version == 1


def test_list_ordered_by_timeuuid_time_and_element_removal() -> None:
    rows = state(
        upsert(COLL, P, None, elem("l", T1, "third", 10)),
        upsert(COLL, P, None, elem("l", T2, "first", 10)),
        upsert(COLL, P, None, elem("l", T3, "second", 10)),
        upsert(COLL, P, None, elem("l", T3, None, 11, deleted=True)),
        table="coll",
    )
    assert values(rows, "l") == [(["first", "third"],)]


def test_set_and_map_elements() -> None:
    rows = state(
        upsert(COLL, P, None, elem("s", 3, None, 10), elem("s", -1, None, 10), elem("s", 2, None, 10)),
        upsert(COLL, P, None, elem("s", 2, None, 12, deleted=True)),
        upsert(COLL, P, None, elem("m", "b", 1, 10), elem("m", "a", 2, 10)),
        upsert(COLL, P, None, elem("m", "b", 5, 11)),
        table="coll",
    )
    assert values(rows, "s", "m") == [([-1, 3], {"a": 2, "b": 5})]
    assert list(rows[0]["m"]) == ["a", "b"]


def test_collection_overwrite_deletes_older_elements_only() -> None:
    # SET m = {'x': 1} at ts 20: a complex deletion at 19 plus the new element.
    from cassandra_cdc.changes.model import Deletion

    overwrite = upsert(COLL, P, None, elem("m", "x", 1, 20), collection_deletions={"m": Deletion(19, 1000)})
    rows = state(
        upsert(COLL, P, None, elem("m", "a", 1, 10), elem("m", "b", 2, 19)),
        overwrite,
        upsert(COLL, P, None, elem("m", "late", 3, 25)),
        table="coll",
    )
    assert values(rows, "m") == [({"late": 3, "x": 1},)]


def test_empty_collection_is_null_and_row_gone() -> None:
    from cassandra_cdc.changes.model import Deletion

    rows = state(
        upsert(COLL, P, None, elem("s", 1, None, 10)),
        upsert(COLL, P, None, collection_deletions={"s": Deletion(10, 1000)}),
        table="coll",
    )
    assert rows == []


def test_set_of_frozen_lists_orders_elements() -> None:
    rows = state(upsert(COLL, P, None, elem("fl", [2], None, 10), elem("fl", [1, 5], None, 10)), table="coll")
    assert values(rows, "fl") == [([[1, 5], [2]],)]


def test_udt_fields_update_independently() -> None:
    rows = state(
        upsert(COLL, P, None, elem("u", "x", 1, 10), elem("u", "y", "a", 10)),
        upsert(COLL, P, None, elem("u", "y", "b", 20)),
        upsert(COLL, P, None, elem("u", "x", None, 15, deleted=True)),
        table="coll",
    )
    assert values(rows, "u") == [({"x": None, "y": "b"},)]


def test_row_deletion_shadows_collection_elements() -> None:
    rows = state(
        upsert(COLL, P, None, elem("s", 1, None, 10), elem("s", 2, None, 30)),
        delete_row(COLL, P, None, 20),
        table="coll",
    )
    assert values(rows, "s") == [([2],)]


# --- counters ---

N1, N2 = uuid.UUID(int=1), uuid.UUID(int=2)


def test_counter_shards_merge_and_sum() -> None:
    rows = state(
        upsert(COUNT, P, None, counter("n", 10, (N1, 1, 1, "global"))),
        upsert(COUNT, P, None, counter("n", 11, (N1, 2, 3, "global"))),
        upsert(COUNT, P, None, counter("n", 12, (N2, 1, 10, "global"))),
        table="count",
        meta=True,
    )
    assert values(rows, "n") == [(13,)]
    assert rows[0][WRITETIME] == {"n": 12}


def test_counter_tombstone_wins() -> None:
    rows = state(
        upsert(COUNT, P, None, counter("n", 50, (N1, 5, 5, "global"))),
        upsert(COUNT, P, None, tomb("n", 10)),
        table="count",
    )
    assert rows == []


def test_counter_row_deletion_shadows_older_updates() -> None:
    rows = state(
        upsert(COUNT, P, None, counter("n", 10, (N1, 1, 1, "global"))),
        delete_row(COUNT, P, None, 15),
        upsert(COUNT, P, None, counter("n", 20, (N2, 1, 4, "global"))),
        table="count",
    )
    assert values(rows, "n") == [(4,)]


# --- shadowable deletions (materialized views) ---


def test_shadowable_deletion_is_undone_by_newer_liveness() -> None:
    rows = state(
        insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10)),
        delete_row(PLAIN, P, {"c": 1}, 20, shadowable=True),
        insert(PLAIN, P, {"c": 1}, 30),
    )
    # Shadowed by the liveness at 30, the deletion deletes nothing: the cell at 10 is back.
    assert values(rows, "v") == [("a",)]


def test_shadowable_deletion_holds_without_newer_liveness() -> None:
    rows = state(
        insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10)),
        delete_row(PLAIN, P, {"c": 1}, 20, shadowable=True),
        upsert(PLAIN, P, {"c": 1}, cell("w", 1, 30)),
    )
    assert values(rows, "v", "w") == [(None, 1)]


def test_regular_deletion_is_not_shadowable() -> None:
    rows = state(
        insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10)),
        delete_row(PLAIN, P, {"c": 1}, 20),
        insert(PLAIN, P, {"c": 1}, 30),
    )
    assert values(rows, "v") == [(None,)]


# --- metadata, lookups, errors ---


def test_metadata() -> None:
    rows = state(
        insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10, ttl=60, expires=1060), cell("w", 1, 12)),
        now=1000,
        meta=True,
    )
    assert rows[0][WRITETIME] == {"v": 10, "w": 12}
    assert rows[0][TTL] == {"v": 60, "w": 0}
    assert rows[0][EXPIRES_AT] == {"v": 1060, "w": None}


def test_row_lookup() -> None:
    oracle = Oracle(TABLES)
    oracle.apply(insert(PLAIN, P, {"c": 1}, 10, cell("v", "a", 10)))
    oracle.apply(upsert(STATIC, P, None, cell("s", "x", 10), static=True))
    assert oracle.row(KS, "plain", {"id": 1, "c": 1}, now=NOW) == {"id": 1, "c": 1, "v": "a", "w": None, "b": None}
    assert oracle.row(KS, "plain", {"id": 1, "c": 2}, now=NOW) is None
    assert oracle.row(KS, "plain", {"id": 2, "c": 1}, now=NOW) is None
    assert oracle.row(KS, "stat", {"id": 1}, now=NOW) == {"id": 1, "c": None, "s": "x", "v": None}


def test_dropped_column_hides_cells_written_before_the_drop() -> None:
    table = make_table(
        "dropped",
        [("id", T.INT)],
        regular=[("v", T.INT)],
        dropped={"v": DroppedColumn("v", T.INT, 15), "gone": DroppedColumn("gone", T.TEXT, 15)},
    )
    oracle = Oracle([table])
    oracle.apply(upsert(table, P, None, cell("v", 1, 10), cell("gone", "x", 10)))
    assert oracle.rows(KS, "dropped", now=NOW) == []
    oracle.apply(upsert(table, P, None, cell("v", 2, 20)))
    assert oracle.rows(KS, "dropped", now=NOW) == [{"id": 1, "v": 2}]


def test_errors_name_the_table_and_column() -> None:
    oracle = Oracle(TABLES)
    with pytest.raises(OracleError, match="unknown table"):
        oracle.rows(KS, "nope", now=0)
    with pytest.raises(OracleError, match=r"ks.plain: clustering lacks column 'c'"):
        oracle.apply(upsert(PLAIN, P, None, cell("v", "a", 1)))
    with pytest.raises(OracleError, match="unknown column 'zz'"):
        oracle.apply(upsert(PLAIN, P, {"c": 1}, cell("zz", "a", 1)))
    with pytest.raises(OracleError, match="static column 's' in a clustering row"):
        oracle.apply(upsert(STATIC, P, {"c": 1}, cell("s", "a", 1)))
    with pytest.raises(OracleError, match="regular column 'v' in the static row"):
        oracle.apply(upsert(STATIC, P, None, cell("v", "a", 1), static=True))
    with pytest.raises(OracleError, match="cannot serialise"):
        oracle.apply(upsert(PLAIN, P, {"c": 1}, cell("w", "not an int", 1)))
    with pytest.raises(ValueError, match="conflict_rules"):
        Oracle(TABLES, conflict_rules="2.1")  # type: ignore[arg-type]
