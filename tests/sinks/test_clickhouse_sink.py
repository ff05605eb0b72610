"""The ClickHouse sink on the real engine (chdb behind its HTTP interface): final-state view
against the oracle, hand scenarios per merge rule, convergence and replay safety."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cassandra_cdc.changes.model import (
    Bound,
    CellChange,
    CounterShard,
    Deletion,
    Liveness,
    Op,
    RowChange,
    SourcePosition,
)
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.sinks.base import ChangeBatch, ConflictRules, SinkError, ValueOutOfRangeError
from cassandra_cdc.sinks.clickhouse.client import ClickHouseClient, HttpClient
from cassandra_cdc.sinks.clickhouse.ddl import RESOLVED_CELL
from cassandra_cdc.sinks.clickhouse.writer import ClickHouseSink
from tests.sinks.clickhouse_support import assert_same, engine_now, view_rows, workload_changes

_counter = itertools.count()

HAND_CQL = """
CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
CREATE TYPE ks.pt (x int, y text);
CREATE TABLE ks.t (
    k text, c1 int, c2 text, v int, b blob, s text static, l list<int>, st set<text>, m map<text, int>, u pt,
    PRIMARY KEY (k, c1, c2)
) WITH CLUSTERING ORDER BY (c1 DESC, c2 ASC) AND ID = 11111111-1111-1111-1111-111111111111;
CREATE TABLE ks.big (k int PRIMARY KEY, n varint, d date) WITH ID = 22222222-2222-2222-2222-222222222222;
CREATE TABLE ks.cnt (k int PRIMARY KEY, hits counter) WITH ID = 33333333-3333-3333-3333-333333333333;
"""


def _fresh(cql: str) -> Schema:
    """The schema under a keyspace name of its own, so tests share one engine without meeting."""
    ks = f"t{next(_counter)}_{uuid.uuid4().hex[:6]}"
    keyspace = "shop" if "CREATE KEYSPACE shop" in cql else "ks"
    schema, _ = parse_cql_schema(
        cql.replace(f"{keyspace}.", f"{ks}.").replace(f"KEYSPACE {keyspace} ", f"KEYSPACE {ks} ")
    )
    return schema


@pytest.fixture(scope="module")
def client(clickhouse_server: Any) -> Iterator[ClickHouseClient]:
    c = HttpClient(clickhouse_server.url)
    yield c
    c.close()


def _sink(client: ClickHouseClient, schema: Schema, rules: ConflictRules = ConflictRules.CASSANDRA_4) -> ClickHouseSink:
    sink = ClickHouseSink(client, name=f"sink{next(_counter)}", conflict_rules=rules)
    sink.start(list(schema.tables.values()))
    return sink


def _apply(sink: ClickHouseSink, changes: list[RowChange], batch: int = 10_000) -> None:
    for i in range(0, len(changes), batch):
        sink.write_batch(ChangeBatch(changes[i : i + batch]))
    sink.flush()


def _oracle(schema: Schema, changes: list[RowChange], rules: ConflictRules) -> Oracle:
    oracle = Oracle(schema, conflict_rules=rules.value)  # type: ignore[arg-type]
    oracle.apply_all(changes)
    return oracle


# --- the seeded workload against the oracle -------------------------------------------------------


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_4, ConflictRules.CASSANDRA_3])
def test_workload_matches_oracle(client: ClickHouseClient, rules: ConflictRules) -> None:
    schema = _fresh(BENCHMARK_CQL)
    changes = workload_changes(schema, 2500, seed=11, partitions_per_table=40, ttl_range=(60, 10**9))
    sink = _sink(client, schema, rules)
    _apply(sink, changes, batch=700)
    assert assert_same(client, _oracle(schema, changes, rules), schema.tables.values()) > 100


def test_three_replica_streams_with_replays_converge(client: ClickHouseClient) -> None:
    """Each change logged by 2-3 replicas, streams interleaved, batches replayed: same final state."""
    schema = _fresh(BENCHMARK_CQL)
    changes = workload_changes(schema, 2000, seed=5, partitions_per_table=30, ttl_range=(60, 10**9))
    rng = random.Random(9)
    streams: list[list[RowChange]] = [[], [], []]
    for change in changes:
        for replica in rng.sample(range(3), rng.choice((2, 3))):
            streams[replica].append(change)
    in_order = _sink(client, schema)
    _apply(in_order, changes)
    interleaved = _fresh(BENCHMARK_CQL)
    # The same changes re-targeted at a second keyspace, so both states can be compared.
    ks = next(iter(interleaved.tables.values())).keyspace
    sink = _sink(client, interleaved)
    cursors = [0, 0, 0]
    while any(c < len(s) for c, s in zip(cursors, streams, strict=True)):
        replica = rng.randrange(3)
        if cursors[replica] >= len(streams[replica]):
            continue
        size = rng.randint(1, 200)
        chunk = streams[replica][cursors[replica] : cursors[replica] + size]
        batch = [_retarget(c, ks) for c in chunk]
        sink.write_batch(ChangeBatch(batch, {f"n{replica}": SourcePosition(f"n{replica}", 1, cursors[replica])}))
        if rng.random() < 0.2:  # a replay of the same batch (crash before its position was stored)
            sink.write_batch(ChangeBatch(batch))
        cursors[replica] += size
    sink.flush()
    oracle = _oracle(schema, changes, ConflictRules.CASSANDRA_4)
    assert_same(client, oracle, schema.tables.values())
    for table in interleaved.tables.values():
        original = schema.by_name(next(iter(schema.tables.values())).keyspace, table.name)
        assert original is not None
        assert sorted(map(repr, view_rows(client, table))) == sorted(map(repr, view_rows(client, original)))


def _retarget(change: RowChange, keyspace: str) -> RowChange:
    copy = RowChange(**{f: getattr(change, f) for f in change.__dataclass_fields__})
    copy.keyspace = keyspace
    return copy


def test_crash_between_data_and_position_then_replay(client: ClickHouseClient) -> None:
    schema = _fresh(BENCHMARK_CQL)
    changes = workload_changes(schema, 800, seed=21, partitions_per_table=20, ttl_range=(60, 10**9))
    first, second = changes[:400], changes[400:]
    sink = _sink(client, schema)
    sink.write_batch(ChangeBatch(first, {"n1": SourcePosition("n1", 1, 400)}))
    sink.flush()

    def crash() -> None:
        raise RuntimeError("killed between the data and the position")

    sink.before_positions = crash
    with pytest.raises(SinkError):
        sink.write_batch(ChangeBatch(second, {"n1": SourcePosition("n1", 1, 800)}))
        sink.flush()
    # A new sink (after the restart) sees the old position and replays from there.
    restarted = ClickHouseSink(client, name=sink.name)
    restarted.start(list(schema.tables.values()))
    assert restarted.committed_positions() == {"n1": SourcePosition("n1", 1, 400)}
    restarted.write_batch(ChangeBatch(second, {"n1": SourcePosition("n1", 1, 800)}))
    restarted.flush()
    assert restarted.committed_positions() == {"n1": SourcePosition("n1", 1, 800)}
    assert_same(client, _oracle(schema, changes, ConflictRules.CASSANDRA_4), schema.tables.values())


# --- hand scenarios -----------------------------------------------------------------------------------


def _table(schema: Schema, name: str) -> TableSchema:
    table = next(t for t in schema.tables.values() if t.name == name)
    return table


def _row(table: TableSchema, key: dict[str, Any], ck: dict[str, Any] | None = None, **kw: Any) -> RowChange:
    return RowChange(table.keyspace, table.name, table.id, kw.pop("op", Op.UPDATE), SourcePosition("n1", 1, 1),
                     key, ck or {}, **kw)  # fmt: skip


def _rows(client: ClickHouseClient, table: TableSchema, where: str = "1") -> list[tuple[Any, ...]]:
    return client.query(f"SELECT * FROM `{table.keyspace}`.`{table.name}` WHERE {where}")


def test_spec_scenario_insert_update_delete_rapid(client: ClickHouseClient) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    changes: list[RowChange] = []
    ts = 1_000_000
    for i in range(1000):
        changes.append(_row(t, {"k": f"p{i % 50}"}, {"c1": i, "c2": "x"}, op=Op.INSERT, liveness=Liveness(ts + i),
                            cells=[CellChange("v", i, ts + i)]))  # fmt: skip
    for i in range(0, 1000, 2):
        changes.append(_row(t, {"k": f"p{i % 50}"}, {"c1": i, "c2": "x"}, cells=[CellChange("v", -i, ts + 5000 + i)]))
    for i in range(0, 1000, 5):
        changes.append(_row(t, {"k": f"p{i % 50}"}, {"c1": i, "c2": "x"}, op=Op.DELETE,
                            row_deletion=Deletion(ts + 9000 + i, 100)))  # fmt: skip
    for j in range(300):  # rapid changes to the same few rows
        i = 1 + 2 * (j % 7)
        changes.append(_row(t, {"k": f"p{i % 50}"}, {"c1": i, "c2": "x"}, cells=[CellChange("v", j, ts + 20000 + j)]))
    random.Random(1).shuffle(changes)
    sink = _sink(client, schema)
    _apply(sink, changes, batch=97)
    assert_same(client, _oracle(schema, changes, ConflictRules.CASSANDRA_4), [t])
    count = client.query(f"SELECT count() FROM `{t.keyspace}`.t")[0][0]
    # 1000 - 200 deleted, + row 5: deleted, then rapidly updated later (a newer live cell revives it).
    assert count == 801
    assert client.query(f"SELECT v FROM `{t.keyspace}`.t WHERE c1 = 13")[0][0] == 293  # last rapid write wins


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_4, ConflictRules.CASSANDRA_3])
def test_equal_timestamp_ties(client: ClickHouseClient, rules: ConflictRules) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    now = engine_now(client)
    ck = {"c1": 1, "c2": "a"}
    changes = [
        # Values 0x01 and 0x80: unsigned (4.0+) 0x80 wins, signed (3.x) 0x01 wins.
        _row(t, {"k": "a"}, ck, cells=[CellChange("b", b"\x01", 10)]),
        _row(t, {"k": "a"}, ck, cells=[CellChange("b", b"\x80", 10)]),
        # A tombstone at the same timestamp beats a value under both rule sets.
        _row(t, {"k": "a"}, ck, op=Op.INSERT, liveness=Liveness(10), cells=[CellChange("v", 5, 10)]),
        _row(t, {"k": "a"}, ck, cells=[CellChange("v", None, 10, deleted=True)]),
        # An expiring cell vs a plain one at the same timestamp: 4.0+ the expiring one wins (5 < 7 but
        # it is expiring); 3.x the greater value wins while both are live.
        _row(t, {"k": "b"}, ck, cells=[CellChange("v", 5, 20, ttl=1000, expires_at=now + 1000)]),
        _row(t, {"k": "b"}, ck, cells=[CellChange("v", 7, 20)]),
    ]
    sink = _sink(client, schema, rules)
    _apply(sink, changes[::-1])
    assert_same(client, _oracle(schema, changes, rules), [t])
    got = {r[0]: r for r in client.query(f"SELECT k, hex(b), v FROM `{t.keyspace}`.t")}
    assert got["a"][1] == ("80" if rules is ConflictRules.CASSANDRA_4 else "01")
    assert got["a"][2] is None
    assert got["b"][2] == (5 if rules is ConflictRules.CASSANDRA_4 else 7)


def test_deletions_ranges_desc_statics_collections_ttl(client: ClickHouseClient) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    now = engine_now(client)
    changes: list[RowChange] = []
    for c1 in range(6):
        for c2 in ("a", "b"):
            changes.append(_row(t, {"k": "r"}, {"c1": c1, "c2": c2}, op=Op.INSERT, liveness=Liveness(100),
                                cells=[CellChange("v", c1, 100)]))  # fmt: skip
    # c1 DESC: the range (c1 = 4 exclusive) .. (c1 = 2 inclusive) covers c1 3 and 2.
    changes.append(_row(t, {"k": "r"}, op=Op.RANGE_DELETE, range_start=Bound({"c1": 4}, False),
                        range_end=Bound({"c1": 2}, True), range_deletion=Deletion(150, 1)))  # fmt: skip
    # (c1 = 5, c2 > 'a'): covers (5, 'b') only.
    changes.append(_row(t, {"k": "r"}, op=Op.RANGE_DELETE, range_start=Bound({"c1": 5, "c2": "a"}, False),
                        range_end=Bound({"c1": 5}, True), range_deletion=Deletion(150, 1)))  # fmt: skip
    # A write newer than the range survives it.
    changes.append(_row(t, {"k": "r"}, {"c1": 3, "c2": "a"}, cells=[CellChange("v", 33, 200)]))
    # Partition deletion at 100 shadows everything written at or before 100 in partition "p".
    changes.append(_row(t, {"k": "p"}, {"c1": 1, "c2": "a"}, op=Op.INSERT, liveness=Liveness(90),
                        cells=[CellChange("v", 1, 90)]))  # fmt: skip
    changes.append(_row(t, {"k": "p"}, op=Op.PARTITION_DELETE, partition_deletion=Deletion(100, 1)))
    # Static-only partition: one row with null clustering columns.
    changes.append(_row(t, {"k": "s"}, is_static=True, cells=[CellChange("s", "static!", 50)]))
    # Collections element by element, then a collection deletion below newer elements.
    ck = {"c1": 9, "c2": "c"}
    tu = [uuid.uuid1() for _ in range(3)]
    changes += [
        _row(t, {"k": "c"}, ck, cells=[CellChange("l", 10 + i, 300, path=u, has_path=True) for i, u in enumerate(tu)]),
        _row(t, {"k": "c"}, ck, cells=[CellChange("l", None, 310, path=tu[1], has_path=True, deleted=True)]),
        _row(t, {"k": "c"}, ck, cells=[CellChange("st", None, 300, path=x, has_path=True) for x in ("z", "a")]),
        _row(t, {"k": "c"}, ck, cells=[CellChange("m", 1, 299, path="old", has_path=True)]),
        _row(
            t,
            {"k": "c"},
            ck,
            collection_deletions={"m": Deletion(299, 1)},
            cells=[CellChange("m", 2, 300, path="new", has_path=True)],
        ),
        _row(t, {"k": "c"}, ck, cells=[CellChange("u", 7, 300, path="x", has_path=True)]),
        # TTL by the engine's clock: expired a minute ago (row gone), expires in an hour (row shown).
        _row(
            t,
            {"k": "e"},
            ck,
            op=Op.INSERT,
            liveness=Liveness(5, 60, now - 60),
            cells=[CellChange("v", 1, 5, ttl=60, expires_at=now - 60)],
        ),
        _row(
            t,
            {"k": "f"},
            ck,
            op=Op.INSERT,
            liveness=Liveness(5, 3600, now + 3600),
            cells=[CellChange("v", 2, 5, ttl=3600, expires_at=now + 3600)],
        ),
    ]
    sink = _sink(client, schema)
    _apply(sink, changes[::-1])
    assert_same(client, _oracle(schema, changes, ConflictRules.CASSANDRA_4), [t])
    kept = client.query(f"SELECT c1, c2, v FROM `{t.keyspace}`.t WHERE k = 'r' ORDER BY c1, c2")
    assert kept == [(0, "a", 0), (0, "b", 1 - 1), (1, "a", 1), (1, "b", 1), (3, "a", 33), (4, "a", 4), (4, "b", 4),
                    (5, "a", 5)]  # fmt: skip
    assert _rows(client, t, "k = 'p'") == []
    assert client.query(f"SELECT c1, c2, s FROM `{t.keyspace}`.t WHERE k = 's'") == [(None, None, "static!")]
    got = client.query(f"SELECT l, st, m, u FROM `{t.keyspace}`.t WHERE k = 'c'")
    assert got == [([10, 12], ["a", "z"], {"new": 2}, {"x": 7, "y": None})]
    assert [r[0] for r in client.query(f"SELECT k FROM `{t.keyspace}`.t WHERE k IN ('e', 'f')")] == ["f"]


def test_counters(client: ClickHouseClient) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "cnt")
    a, b = uuid.uuid4(), uuid.uuid4()

    def hit(k: int, ts: int, *shards: CounterShard) -> RowChange:
        total = sum(s.count for s in shards)
        return _row(t, {"k": k}, cells=[CellChange("hits", total, ts, counter_shards=shards)])

    changes = [
        hit(1, 10, CounterShard(a, 1, 5)),
        hit(1, 11, CounterShard(a, 2, 7)),  # node a's shard moves on: 7, not 12
        hit(1, 12, CounterShard(b, 1, 3)),
        hit(2, 10, CounterShard(a, 1, 1)),
        _row(t, {"k": 2}, cells=[CellChange("hits", None, 11, deleted=True)]),
    ]
    sink = _sink(client, schema)
    _apply(sink, changes + changes[:2])
    assert_same(client, _oracle(schema, changes, ConflictRules.CASSANDRA_4), [t])
    assert client.query(f"SELECT k, hits FROM `{t.keyspace}`.cnt") == [(1, 10)]


def test_out_of_range_values_are_refused(client: ClickHouseClient) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "big")
    sink = _sink(client, schema)
    with pytest.raises(ValueOutOfRangeError, match="Int256"):
        sink.write_batch(ChangeBatch([_row(t, {"k": 1}, cells=[CellChange("n", 2**300, 1)])]))
    import datetime

    with pytest.raises(ValueOutOfRangeError, match="Date32"):
        sink.write_batch(ChangeBatch([_row(t, {"k": 1}, cells=[CellChange("d", datetime.date(2500, 1, 1), 1)])]))
    sink.write_batch(ChangeBatch([_row(t, {"k": 1}, cells=[CellChange("n", -(2**255), 1)])]))
    sink.flush()
    assert client.query(f"SELECT k, n FROM `{t.keyspace}`.big") == [(1, -(2**255))]


def test_purge_drops_old_tombstones_and_what_they_shadow(client: ClickHouseClient) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    t.gc_grace_seconds = 100
    ck = {"c1": 1, "c2": "a"}
    s0 = 1_000_000  # seconds; timestamps are microseconds
    changes = [
        _row(t, {"k": "a"}, ck, op=Op.INSERT, liveness=Liveness(s0 * 10**6), cells=[CellChange("v", 1, s0 * 10**6)]),
        _row(t, {"k": "a"}, ck, op=Op.DELETE, row_deletion=Deletion(s0 * 10**6 + 1, s0)),
        _row(t, {"k": "b"}, ck, op=Op.INSERT, liveness=Liveness(s0 * 10**6), cells=[CellChange("v", 2, s0 * 10**6)]),
        _row(t, {"k": "b"}, ck, cells=[CellChange("b", None, s0 * 10**6 + 5, deleted=True)]),
    ]
    sink = _sink(client, schema)
    _apply(sink, changes)
    before = view_rows(client, t)
    assert sink.purge(s0 + 50) == 0  # within the grace: nothing goes
    purged = sink.purge(s0 + 1000)
    assert purged == 4  # row a's deletion, liveness and cell; row b's cell tombstone
    assert view_rows(client, t) == before
    left = client.query(f"SELECT count() FROM `{t.keyspace}`.t__cells FINAL WHERE fact != 6")[0][0]
    assert left == 2  # row b's liveness and value


def _tomb(column: str, ts_seconds: int, ldt: int, **kw: Any) -> CellChange:
    return CellChange(column, None, ts_seconds * 10**6, deleted=True, local_deletion_time=ldt, **kw)


def _stored_cells(client: ClickHouseClient, t: TableSchema) -> list[tuple[Any, ...]]:
    """(partition key text, column, kind, exp) of each stored cell's winning version."""
    ident = "pk, rk, ck, fact, col, path"
    cells = f"`{t.keyspace}`.t__cells"
    rows = client.query(
        f"SELECT k.keys[1], f.col, f.c.3, f.c.6 FROM (SELECT {ident}, {RESOLVED_CELL} FROM {cells} "
        f"GROUP BY {ident}) AS f INNER JOIN (SELECT pk, any(keys) AS keys FROM {cells} WHERE fact = 6 GROUP BY pk) "
        "AS k ON f.pk = k.pk WHERE f.fact = 0"
    )
    return sorted(tuple(r) for r in rows)


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_4, ConflictRules.CASSANDRA_3])
def test_equal_timestamp_tombstones_keep_the_later_local_deletion_time(
    client: ClickHouseClient, rules: ConflictRules
) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    t.gc_grace_seconds = 100
    ck = {"c1": 1, "c2": "a"}
    early, late = _tomb("v", 1_000, 1_000), _tomb("v", 1_000, 9_990)
    el_early, el_late = (_tomb("st", 1_000, ldt, path="q", has_path=True) for ldt in (1_000, 9_990))
    expired = CellChange("v", 7, 1_000 * 10**6, ttl=10, expires_at=1_010)
    sink = _sink(client, schema, rules)
    keys = {"k": "a"}, {"k": "b"}, {"k": "c"}
    _apply(sink, [_row(t, keys[0], ck, cells=[early, el_early]), _row(t, keys[0], ck, cells=[late, el_late])])
    _apply(sink, [_row(t, keys[1], ck, cells=[late, el_late])])
    _apply(sink, [_row(t, keys[1], ck, cells=[early, el_early])])
    # An expired cell at the same timestamp: the tombstone wins and keeps its deletion time.
    _apply(sink, [_row(t, keys[2], ck, cells=[expired, late])])
    want = [(k, col, 2, 9_990) for k in ("a", "b") for col in ("st", "v")] + [("c", "v", 2, 9_990)]
    assert _stored_cells(client, t) == want
    # Past the grace of the earlier deletion time only: nothing goes.
    assert sink.purge(10_000) == 0
    assert _stored_cells(client, t) == want
    # Past the later one: all go.
    assert sink.purge(10_100) == 5
    assert _stored_cells(client, t) == []


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_4, ConflictRules.CASSANDRA_3])
def test_purge_goes_by_the_tombstones_local_deletion_time(client: ClickHouseClient, rules: ConflictRules) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    t.gc_grace_seconds = 100
    ck = {"c1": 1, "c2": "a"}
    live = CellChange("b", b"x", 10)
    element: dict[str, Any] = {"path": "q", "has_path": True}
    changes = [
        # a: written long ago (client timestamp) but deleted recently; b: the reverse.
        _row(t, {"k": "a"}, ck, cells=[live, _tomb("v", 1_000, 9_990), _tomb("st", 1_000, 9_990, **element)]),
        _row(t, {"k": "b"}, ck, cells=[live, _tomb("v", 9_990, 1_000), _tomb("st", 9_990, 1_000, **element)]),
        # Row deletions too: c deleted recently at an old timestamp, d the reverse.
        _row(t, {"k": "c"}, ck, op=Op.DELETE, row_deletion=Deletion(1_000 * 10**6, 9_990)),
        _row(t, {"k": "d"}, ck, op=Op.DELETE, row_deletion=Deletion(9_990 * 10**6, 1_000)),
    ]  # fmt: skip
    sink = _sink(client, schema, rules)
    _apply(sink, changes)
    assert sink.purge(10_000) == 3  # b's two tombstones, d's deletion
    assert [r[:2] for r in _stored_cells(client, t)] == [("a", "b"), ("a", "st"), ("a", "v"), ("b", "b")]
    row_deletions = client.query(
        f"SELECT count() FROM (SELECT DISTINCT pk FROM `{t.keyspace}`.t__cells WHERE fact = 2)"
    )
    assert row_deletions == [(1,)]  # c's
    # The kept tombstones still shadow late copies of older writes.
    zombies = [CellChange("v", 1, 500 * 10**6), CellChange("st", None, 500 * 10**6, path="q", has_path=True)]
    _apply(sink, [_row(t, {"k": "a"}, ck, cells=zombies), _row(t, {"k": "c"}, ck, cells=zombies)])
    got = {r["k"]: (r["v"], r["st"]) for r in view_rows(client, t)}
    assert got[b"a"] == (None, None) and b"c" not in got


def test_grace_seconds_shorter_than_gc_grace_purges_earlier(client: ClickHouseClient) -> None:
    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    t.gc_grace_seconds = 864_000
    ck = {"c1": 1, "c2": "a"}
    changes = [_row(t, {"k": "a"}, ck, cells=[CellChange("b", b"x", 10), _tomb("v", 9_000, 9_000)])]
    default = _sink(client, schema)
    _apply(default, changes)
    assert default.purge(10_000) == 0  # within the table's gc_grace
    short = ClickHouseSink(client, name=f"sink{next(_counter)}", grace_seconds=100)
    short.start(list(schema.tables.values()))
    assert short.purge(10_000) == 1
    assert [r[:2] for r in _stored_cells(client, t)] == [("a", "b")]


def test_runner_passes_tombstone_grace_to_the_clickhouse_sink(clickhouse_server: Any, client: ClickHouseClient) -> None:
    from cassandra_cdc.config.model import ClickHouseSinkSettings
    from cassandra_cdc.pipeline.runner import build_sink

    schema = _fresh(HAND_CQL)
    t = _table(schema, "t")
    ck = {"c1": 1, "c2": "a"}
    settings = ClickHouseSinkSettings.model_validate(
        {"type": "clickhouse", "url": clickhouse_server.url, "tombstone_grace": 100}
    )
    sink = build_sink(f"sink{next(_counter)}", settings)
    assert isinstance(sink, ClickHouseSink) and sink.grace_seconds == 100
    try:
        sink.start(list(schema.tables.values()))
        sink.write_batch(
            ChangeBatch([_row(t, {"k": "a"}, ck, cells=[CellChange("b", b"x", 10), _tomb("v", 9_000, 9_000)])])
        )
        sink.flush()
        assert sink.purge(10_000) == 1  # the table's gc_grace (864000) would keep it
    finally:
        sink.close()


# --- buffering and the background insert -----------------------------------------------------------------


class _FailingInserts:
    """The real client, whose next ``failures`` inserts fail (a ClickHouse that refuses for a while)."""

    def __init__(self, inner: ClickHouseClient, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.inserts = 0

    def command(self, sql: str) -> None:
        self.inner.command(sql)

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]:
        return self.inner.query(sql, binary=binary)

    def insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        self.inserts += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("connection reset by peer")
        self.inner.insert(table, columns, rows)

    def close(self) -> None:
        pass


def test_a_failed_background_insert_is_reported_retried_and_loses_nothing(client: ClickHouseClient) -> None:
    schema = _fresh(BENCHMARK_CQL)
    changes = workload_changes(schema, 900, seed=23, partitions_per_table=30, ttl_range=(60, 10**9))
    flaky = _FailingInserts(client, failures=2)
    # Every batch starts an insert: the first fails on the insert thread, after write_batch returned.
    sink = ClickHouseSink(flaky, name=f"sink{next(_counter)}", flush_changes=1, flush_interval=0)
    sink.start(list(schema.tables.values()))
    batches = [ChangeBatch(changes[i : i + 300], {"n1": SourcePosition("n1", 1, i + 300)}) for i in (0, 300, 600)]
    sink.write_batch(batches[0])
    # The next call retries it at once; that fails too, so the error surfaces before the batch is taken
    # (the lane retries the call with backoff).
    sink._inserts.join(timeout=30)
    with pytest.raises(SinkError) as failed:
        sink.write_batch(batches[1])
    assert failed.value.retryable and "connection reset" in str(failed.value)
    assert sink.durable_positions() == {} and flaky.inserts == 2  # nothing landed yet
    sink.write_batch(batches[1])  # the lane's retry: the failed insert goes first, then this batch
    sink.write_batch(batches[2])
    sink.flush()
    assert sink.durable_positions() == {"n1": SourcePosition("n1", 1, 900)}
    assert sink.committed_positions() == {"n1": SourcePosition("n1", 1, 900)}
    assert_same(client, _oracle(schema, changes, ConflictRules.CASSANDRA_4), schema.tables.values())


def test_durable_positions_lag_the_buffer_until_it_is_inserted(client: ClickHouseClient) -> None:
    schema = _fresh(BENCHMARK_CQL)
    changes = workload_changes(schema, 200, seed=24, partitions_per_table=10)
    now = [100.0]
    sink = ClickHouseSink(client, name=f"sink{next(_counter)}", flush_changes=10_000, flush_interval=5,
                          clock=lambda: now[0])  # fmt: skip
    sink.start(list(schema.tables.values()))
    sink.write_batch(ChangeBatch(changes[:100], {"n1": SourcePosition("n1", 1, 100)}))
    assert sink.durable_positions() == {} and sink.committed_positions() == {}
    sink.flush_if_due()  # not yet due
    assert sink.durable_positions() == {}
    now[0] += 5
    sink.flush_if_due()  # due: the buffer goes to ClickHouse (on the insert thread)
    sink.write_batch(ChangeBatch(changes[100:], {"n1": SourcePosition("n1", 1, 200)}))
    assert not sink._inserts.idle
    sink._inserts.join(timeout=30)
    assert sink.durable_positions() == {"n1": SourcePosition("n1", 1, 100)}
    sink.close()
    assert ClickHouseSink(client, name=sink.name).committed_positions() == {"n1": SourcePosition("n1", 1, 200)}
    assert_same(client, _oracle(schema, changes, ConflictRules.CASSANDRA_4), schema.tables.values())


def test_tables_of_an_earlier_storage_layout_are_refused_by_name(client: ClickHouseClient) -> None:
    schema = _fresh(BENCHMARK_CQL)
    table = sorted(schema.tables.values(), key=lambda t: t.name)[0]
    client.command(f"CREATE DATABASE IF NOT EXISTS `{table.keyspace}`")
    client.command(
        f"CREATE TABLE `{table.keyspace}`.`{table.name}__cells` (pk String, "
        "cell AggregateFunction(argMax, Tuple(String, String), Tuple(Int64, UInt8))) ENGINE = AggregatingMergeTree "
        "ORDER BY pk"
    )
    sink = ClickHouseSink(client, name=f"sink{next(_counter)}")
    with pytest.raises(SinkError) as refused:
        sink.start([table])
    assert not refused.value.retryable
    assert f"`{table.keyspace}`.`{table.name}__cells` holds an earlier storage layout" in str(refused.value)
