"""Properties: the oracle converges whatever the order and number of deliveries, and with distinct
timestamps it agrees with a naive model that replays the writes in timestamp order."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassandra_cdc.changes.model import Deletion, RowChange
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.schema import types as T

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

TABLE = make_table(
    "prop",
    [("id", T.INT)],
    [("a", T.INT, False), ("b", T.TEXT, True)],
    [("v", T.INT), ("w", T.BLOB), ("s", T.SetType(T.INT)), ("m", T.MapType(T.INT, T.TEXT))],
    static=[("st", T.INT)],
)
COUNTERS = make_table("cnt", [("id", T.INT)], regular=[("n", T.COUNTER)])
TABLES = [TABLE, COUNTERS]

pks: st.SearchStrategy[dict[str, int]] = st.fixed_dictionaries({"id": st.integers(0, 1)})
cks = st.fixed_dictionaries({"a": st.integers(0, 2), "b": st.sampled_from(["x", "y", "\xe9"])})
timestamps = st.integers(1, 6)  # few values: plenty of ties
expiry = st.one_of(st.none(), st.integers(3, 8))


@st.composite
def simple_cells(draw: st.DrawFn, ts: int) -> list[Any]:
    out = []
    for column, values in (("v", st.integers(-2, 2)), ("w", st.binary(max_size=2))):
        kind = draw(st.sampled_from(["absent", "value", "tombstone"]))
        if kind == "tombstone":
            # Tombstones of one timestamp deleted at different times: ties broken by deletion time.
            out.append(tomb(column, ts, draw(st.sampled_from([None, 3, 4]))))
        elif kind == "value":
            expires = draw(expiry)
            out.append(cell(column, draw(values), ts, ttl=0 if expires is None else 5, expires=expires))
    for _ in range(draw(st.integers(0, 2))):
        out.append(elem("s", draw(st.integers(0, 3)), None, ts, deleted=draw(st.booleans())))
    for _ in range(draw(st.integers(0, 2))):
        out.append(
            elem("m", draw(st.integers(0, 3)), draw(st.sampled_from(["p", "q"])), ts, deleted=draw(st.booleans()))
        )
    return out


@st.composite
def changes(draw: st.DrawFn) -> RowChange:
    ts = draw(timestamps)
    pk = draw(pks)
    kind = draw(st.sampled_from(["update", "insert", "delete", "partition", "range", "static", "collection"]))
    if kind == "update":
        return upsert(TABLE, pk, draw(cks), *draw(simple_cells(ts)))
    if kind == "insert":
        expires = draw(expiry)
        return insert(
            TABLE, pk, draw(cks), ts, *draw(simple_cells(ts)), ttl=0 if expires is None else 5, expires=expires
        )
    if kind == "delete":
        return delete_row(TABLE, pk, draw(cks), ts, shadowable=draw(st.booleans()))
    if kind == "partition":
        return delete_partition(TABLE, pk, ts, draw(st.integers(0, 2)))
    if kind == "static":
        return upsert(TABLE, pk, None, cell("st", draw(st.integers(0, 2)), ts), static=True)
    if kind == "collection":
        return upsert(TABLE, pk, draw(cks), collection_deletions={draw(st.sampled_from(["s", "m"])): Deletion(ts, 1)})
    start, end = draw(cks), draw(cks)
    start_len, end_len = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    return delete_range(
        TABLE,
        pk,
        {name: start[name] for name in ("a", "b")[:start_len]},
        draw(st.booleans()),
        {name: end[name] for name in ("a", "b")[:end_len]},
        draw(st.booleans()),
        ts,
    )


@st.composite
def counter_changes(draw: st.DrawFn) -> RowChange:
    ts = draw(timestamps)
    pk = draw(pks)
    if draw(st.integers(0, 5)) == 0:
        return upsert(COUNTERS, pk, None, tomb("n", ts))
    if draw(st.integers(0, 5)) == 0:
        return delete_row(COUNTERS, pk, None, ts)
    node = uuid.UUID(int=draw(st.integers(1, 3)))
    clock = draw(st.integers(1, 4))
    return upsert(COUNTERS, pk, None, counter("n", ts, (node, clock, clock * 10 + draw(st.integers(0, 1)), "global")))


def final_state(events: list[RowChange], rules: str, now: int, table: str) -> list[dict[str, Any]]:
    oracle = Oracle(TABLES, conflict_rules=rules)  # type: ignore[arg-type]
    oracle.apply_all(events)
    return oracle.rows(KS, table, now=now, with_metadata=True)


def _redelivered(data: st.DataObject, events: list[RowChange]) -> list[RowChange]:
    duplicated = events + data.draw(st.lists(st.sampled_from(events), max_size=5)) if events else []
    return data.draw(st.permutations(duplicated))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(changes(), max_size=14), st.data(), st.sampled_from(["3.x", "4.0+"]), st.integers(0, 9))
def test_any_order_and_duplicates_converge(events: list[RowChange], data: st.DataObject, rules: str, now: int) -> None:
    expected = final_state(events, rules, now, "prop")
    assert final_state(_redelivered(data, events), rules, now, "prop") == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(counter_changes(), max_size=10), st.data())
def test_counters_converge(events: list[RowChange], data: st.DataObject) -> None:
    expected = final_state(events, "4.0+", 0, "cnt")
    assert final_state(_redelivered(data, events), "4.0+", 0, "cnt") == expected


# --- an independent model: replay in timestamp order ---------------------------------------------

PLAIN = make_table("replay", [("id", T.INT)], [("a", T.INT, True)], [("v", T.INT), ("w", T.INT)])


@st.composite
def replay_events(draw: st.DrawFn) -> list[tuple[str, int, int, Any]]:
    """(kind, partition, clustering, payload) without timestamps; the list order is the time order."""
    n = draw(st.integers(0, 12))
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(["insert", "update", "tomb", "delete", "partition", "range"]))
        payload: Any = None
        if kind in ("insert", "update"):
            payload = draw(st.dictionaries(st.sampled_from(["v", "w"]), st.integers(0, 9)))
        elif kind == "tomb":
            payload = draw(st.sampled_from(["v", "w"]))
        elif kind == "range":
            lo, hi = sorted(draw(st.lists(st.integers(0, 3), min_size=2, max_size=2)))
            payload = (lo, draw(st.booleans()), hi, draw(st.booleans()))
        out.append((kind, draw(st.integers(0, 1)), draw(st.integers(0, 3)), payload))
    return out


def _replay(events: list[tuple[str, int, int, Any]]) -> list[dict[str, Any]]:
    """Naive sequential model: each write overwrites, each deletion clears, in timestamp order."""
    rows: dict[tuple[int, int], tuple[bool, dict[str, int]]] = {}
    for kind, pk, ck, payload in events:
        live, cells = rows.get((pk, ck), (False, {}))
        if kind == "insert":
            rows[(pk, ck)] = (True, {**cells, **payload})
        elif kind == "update":
            rows[(pk, ck)] = (live, {**cells, **payload})
        elif kind == "tomb":
            rows[(pk, ck)] = (live, {k: v for k, v in cells.items() if k != payload})
        elif kind == "delete":
            rows.pop((pk, ck), None)
        elif kind == "partition":
            rows = {k: v for k, v in rows.items() if k[0] != pk}
        else:
            # DESC clustering: the range runs from hi down to lo in clustering order.
            lo, lo_incl, hi, hi_incl = payload
            rows = {
                k: v
                for k, v in rows.items()
                if not (
                    k[0] == pk and (lo < k[1] or (lo_incl and lo == k[1])) and (k[1] < hi or (hi_incl and k[1] == hi))
                )
            }
    out = []
    for (pk, ck), (live, cells) in sorted(rows.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        if live or cells:
            out.append({"id": pk, "a": ck, "v": cells.get("v"), "w": cells.get("w")})
    return out


def _as_changes(events: list[tuple[str, int, int, Any]]) -> list[RowChange]:
    out = []
    for ts, (kind, pk, ck, payload) in enumerate(events, start=1):
        key, clustering = {"id": pk}, {"a": ck}
        if kind == "insert":
            out.append(insert(PLAIN, key, clustering, ts, *(cell(c, v, ts) for c, v in payload.items())))
        elif kind == "update":
            out.append(upsert(PLAIN, key, clustering, *(cell(c, v, ts) for c, v in payload.items())))
        elif kind == "tomb":
            out.append(upsert(PLAIN, key, clustering, tomb(payload, ts)))
        elif kind == "delete":
            out.append(delete_row(PLAIN, key, clustering, ts))
        elif kind == "partition":
            out.append(delete_partition(PLAIN, key, ts))
        else:
            lo, lo_incl, hi, hi_incl = payload
            # In DESC order the range starts at hi and ends at lo.
            out.append(delete_range(PLAIN, key, {"a": hi}, hi_incl, {"a": lo}, lo_incl, ts))
    return out


@settings(max_examples=200, deadline=None)
@given(replay_events(), st.data())
def test_agrees_with_timestamp_order_replay(events: list[tuple[str, int, int, Any]], data: st.DataObject) -> None:
    oracle = Oracle([PLAIN])
    oracle.apply_all(data.draw(st.permutations(_as_changes(events))))
    assert oracle.rows(KS, "replay", now=0) == _replay(events)
