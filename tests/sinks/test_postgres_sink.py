"""The PostgreSQL sink on a real server: each merge rule by hand, positions, failures, types."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
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
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.schema.types import CqlTimestamp
from cassandra_cdc.sinks.base import ChangeBatch, ConflictRules, SinkError, ValueOutOfRangeError
from cassandra_cdc.sinks.postgres import PostgresSink
from cassandra_cdc.sinks.postgres.writer import CopyLoader

from .pg_helpers import assert_matches_oracle, db_now

CQL = """
CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}};
CREATE TYPE {ks}.addr (street text, zip int);
CREATE TABLE {ks}.t (pk int, ck int, v text, w int, b blob, s text static, l list<int>, st set<text>,
    m map<text, int>, a addr, PRIMARY KEY (pk, ck));
CREATE TABLE {ks}.d (pk int, a int, b text, v int, PRIMARY KEY (pk, a, b))
    WITH CLUSTERING ORDER BY (a DESC, b ASC);
CREATE TABLE {ks}.c (pk int PRIMARY KEY, n counter);
CREATE TABLE {ks}.x (pk int PRIMARY KEY, ts timestamp, tm time, u timeuuid);
"""
POS = SourcePosition("n1", 1, 1)


def make_tables(ks: str) -> dict[str, TableSchema]:
    schema, _ = parse_cql_schema(CQL.format(ks=ks))
    return {t.name: t for t in schema.tables.values()}


def row(table: TableSchema, pk: int, ck: dict[str, Any] | None = None, **kw: Any) -> RowChange:
    return RowChange(
        table.keyspace, table.name, table.id, kw.pop("op", Op.UPDATE), kw.pop("source", POS), {"pk": pk}, ck or {}, **kw
    )


def cell(column: str, value: Any, ts: int, **kw: Any) -> CellChange:
    return CellChange(column, value, ts, **kw)


class Env:
    def __init__(self, dsn: str, ks: str, rules: ConflictRules = ConflictRules.CASSANDRA_4) -> None:
        self.tables = make_tables(ks)
        self.ks = ks
        self.rules = rules
        self.sink = PostgresSink(dsn, name=f"sink_{ks}", conflict_rules=rules)
        self.sink.start(list(self.tables.values()))
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.changes: list[RowChange] = []

    def write(self, *changes: RowChange, positions: dict[str, SourcePosition] | None = None) -> None:
        self.sink.write_batch(ChangeBatch(list(changes), positions or {}))
        self.changes.extend(changes)

    def rows(self, table: str, where: str = "") -> list[tuple[Any, ...]]:
        return self.conn.execute(f'SELECT * FROM "{self.ks}"."{table}" {where} ORDER BY 1, 2').fetchall()

    def check(self, *names: str) -> None:
        tables = [self.tables[n] for n in names] if names else list(self.tables.values())
        assert_matches_oracle(
            self.conn, tables, self.changes, "3.x" if self.rules is ConflictRules.CASSANDRA_3 else "4.0+"
        )

    def close(self) -> None:
        self.sink.close()
        self.conn.close()


@pytest.fixture
def env(postgres_server: Any, request: pytest.FixtureRequest) -> Iterator[Env]:
    e = Env(postgres_server.dsn, "k_" + uuid.uuid4().hex[:10])
    yield e
    e.close()


def test_last_write_wins_in_any_order(env: Env) -> None:
    t = env.tables["t"]
    env.write(row(t, 1, {"ck": 1}, cells=[cell("v", "new", 20)]))
    env.write(row(t, 1, {"ck": 1}, cells=[cell("v", "old", 10), cell("w", 5, 10)]))
    assert env.conn.execute(f'SELECT v, w FROM "{env.ks}".t').fetchall() == [("new", 5)]
    env.check("t")


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_3, ConflictRules.CASSANDRA_4])
def test_equal_timestamp_ties(postgres_server: Any, rules: ConflictRules) -> None:
    e = Env(postgres_server.dsn, "k_" + uuid.uuid4().hex[:10], rules)
    try:
        t = e.tables["t"]
        # 'é' is 0xc3a9: greater unsigned (4.0+), smaller signed (3.x) than 'z' (0x7a).
        e.write(row(t, 1, {"ck": 1}, cells=[cell("v", "z", 10)]), row(t, 1, {"ck": 1}, cells=[cell("v", "é", 10)]))
        e.write(row(t, 2, {"ck": 1}, cells=[cell("v", "é", 10)]))
        e.write(row(t, 2, {"ck": 1}, cells=[cell("v", "z", 10)]))
        want = "é" if rules is ConflictRules.CASSANDRA_4 else "z"
        assert [r[0] for r in e.conn.execute(f'SELECT v FROM "{e.ks}".t ORDER BY pk').fetchall()] == [want, want]
        # A tombstone at the same timestamp wins under both rules.
        e.write(row(t, 3, {"ck": 1}, cells=[cell("v", "a", 10), cell("w", 1, 10)]))
        e.write(row(t, 3, {"ck": 1}, cells=[cell("v", None, 10, deleted=True)]))
        # An expiring cell (still live) at the same timestamp as a plain one: 4.0+ prefers it; 3.x the
        # greater value, until the expiring one expires (then the cell is gone).
        far = db_now(e.conn) + 3600
        e.write(row(t, 4, {"ck": 1}, cells=[cell("v", "z", 10), cell("w", 1, 10)]))
        e.write(row(t, 4, {"ck": 1}, cells=[cell("v", "a", 10, ttl=3600, expires_at=far)]))
        e.write(row(t, 5, {"ck": 1}, cells=[cell("v", "z", 10), cell("w", 1, 10)]))
        e.write(row(t, 5, {"ck": 1}, cells=[cell("v", "a", 10, ttl=60, expires_at=db_now(e.conn) - 10)]))
        got = dict(e.conn.execute(f'SELECT pk, v FROM "{e.ks}".t WHERE pk >= 3').fetchall())
        assert got[3] is None
        assert got[4] == ("a" if rules is ConflictRules.CASSANDRA_4 else "z")
        assert got[5] is None  # the expired cell wins the tie under both rules
        e.check("t")
    finally:
        e.close()


def test_row_partition_and_collection_deletions(env: Env) -> None:
    t = env.tables["t"]
    liveness = Liveness(10)
    env.write(
        row(t, 1, {"ck": 1}, liveness=liveness, cells=[cell("v", "a", 10)]),
        row(t, 1, {"ck": 2}, liveness=liveness, cells=[cell("v", "b", 10)]),
        row(t, 1, {"ck": 1}, op=Op.DELETE, row_deletion=Deletion(15, 1)),
    )
    env.write(row(t, 1, {"ck": 1}, cells=[cell("w", 7, 20)]))  # newer than the deletion: survives
    assert env.rows("t") and [(r[1], r[2], r[3]) for r in env.rows("t")] == [(1, None, 7), (2, "b", None)]
    env.write(RowChange(t.keyspace, "t", t.id, Op.PARTITION_DELETE, POS, {"pk": 1}, partition_deletion=Deletion(25, 1)))
    assert env.rows("t") == []
    env.write(row(t, 1, {"ck": 3}, cells=[cell("v", "c", 30)]))
    assert [(r[1], r[2]) for r in env.rows("t")] == [(3, "c")]
    # Collection overwrite: deletion just below the new elements.
    u1, u2, u3 = (uuid.UUID(f"0000000{i}-0000-1000-8000-000000000000") for i in (3, 1, 2))
    env.write(
        row(
            t,
            2,
            {"ck": 1},
            cells=[cell("l", 1, 40, path=u1, has_path=True), cell("st", None, 40, path="x", has_path=True)],
        )
    )
    env.write(
        row(
            t,
            2,
            {"ck": 1},
            collection_deletions={"l": Deletion(49, 1)},
            cells=[cell("l", 5, 50, path=u2, has_path=True), cell("l", 6, 50, path=u3, has_path=True)],
        )
    )
    env.write(
        row(
            t,
            2,
            {"ck": 1},
            cells=[
                cell("m", 2, 50, path="b", has_path=True),
                cell("m", 1, 50, path="a", has_path=True),
                cell("st", None, 51, path="x", has_path=True, deleted=True),
                cell("st", None, 51, path="y", has_path=True),
                cell("a", "Main", 50, path="street", has_path=True),
            ],
        )
    )
    got = env.conn.execute(f'SELECT l, st, m, a FROM "{env.ks}".t WHERE pk = 2').fetchall()
    assert got == [([5, 6], ["y"], {"a": 1, "b": 2}, {"street": "Main", "zip": None})]
    env.check("t")


def test_statics_and_static_only_partitions(env: Env) -> None:
    t = env.tables["t"]
    env.write(row(t, 1, is_static=True, cells=[cell("s", "S1", 10)]))
    assert [(r[0], r[1], r[5]) for r in env.rows("t")] == [(1, None, "S1")]
    env.write(row(t, 1, {"ck": 4}, cells=[cell("v", "r", 11)]))
    assert [(r[0], r[1], r[2], r[5]) for r in env.rows("t")] == [(1, 4, "r", "S1")]
    env.check("t")


def test_range_deletions_on_desc_clustering(env: Env) -> None:
    d = env.tables["d"]
    env.write(
        RowChange(
            d.keyspace,
            "d",
            d.id,
            Op.RANGE_DELETE,
            POS,
            {"pk": 1},
            range_start=Bound({"a": 3}, True),
            range_end=Bound({"a": 2, "b": "m"}, False),
            range_deletion=Deletion(50, 1),
        )
    )
    rows = [row(d, 1, {"a": a, "b": b}, cells=[cell("v", a * 10, 40)]) for a in (1, 2, 3, 4) for b in ("a", "m", "z")]
    env.write(*rows)
    env.write(
        RowChange(
            d.keyspace,
            "d",
            d.id,
            Op.RANGE_DELETE,
            POS,
            {"pk": 1},
            range_start=Bound({"a": 1, "b": "m"}, False),
            range_end=Bound({}, True),
            range_deletion=Deletion(45, 1),
        )
    )
    env.write(row(d, 1, {"a": 4, "b": "q"}, cells=[cell("v", 1, 60)]))
    got = {(r[1], r[2]) for r in env.rows("d")}
    # DESC on a (4, 3, 2, 1), b ASC: the first range covers a=3 and (2, 'a'); the second, which starts
    # after (1, 'm') and runs to the partition's end, covers (1, 'z').
    assert got == {(4, "a"), (4, "m"), (4, "z"), (4, "q"), (2, "m"), (2, "z"), (1, "a"), (1, "m")}
    env.check("d")


def test_ttl_expiry_uses_the_database_clock(env: Env) -> None:
    t = env.tables["t"]
    soon = db_now(env.conn) + 2
    env.write(row(t, 1, {"ck": 1}, liveness=Liveness(10, 2, soon), cells=[cell("v", "x", 10, ttl=2, expires_at=soon)]))
    env.write(row(t, 1, {"ck": 2}, liveness=Liveness(10), cells=[cell("v", "y", 10, ttl=2, expires_at=soon)]))
    assert len(env.rows("t")) == 2
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and len(env.rows("t")) == 2:
        time.sleep(0.3)
    assert [(r[1], r[2]) for r in env.rows("t")] == [(2, None)]  # the plain liveness keeps ck=2, not its value
    env.check("t")


def test_counters(env: Env) -> None:
    c = env.tables["c"]
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    first = row(c, 1, cells=[cell("n", 5, 10, counter_shards=(CounterShard(a, 1, 5),))])
    second = row(c, 1, cells=[cell("n", 7, 11, counter_shards=(CounterShard(a, 2, 7), CounterShard(b, 1, 3)))])
    env.write(second, first, second)  # replays change nothing
    assert env.rows("c") == [(1, 10)]
    env.write(row(c, 2, cells=[cell("n", 1, 10, counter_shards=(CounterShard(a, 1, 1),))]))
    env.write(row(c, 2, cells=[cell("n", None, 5, deleted=True)]))  # a counter tombstone wins
    assert env.rows("c") == [(1, 10)]
    env.check("c")


def test_many_rapid_changes_spec_scenario(env: Env) -> None:
    t = env.tables["t"]
    changes = [
        row(
            t,
            i % 50,
            {"ck": i},
            liveness=Liveness(1000 + i),
            cells=[cell("v", f"v{i}", 1000 + i), cell("w", i, 1000 + i)],
        )
        for i in range(1000)
    ]
    changes += [row(t, i % 50, {"ck": i}, cells=[cell("w", -i, 5000 + i)]) for i in range(0, 1000, 2)]
    changes += [row(t, i % 50, {"ck": i}, op=Op.DELETE, row_deletion=Deletion(9000 + i, 1)) for i in range(0, 1000, 5)]
    changes += [row(t, 7, {"ck": 7}, cells=[cell("v", f"r{j}", 10000 + j)]) for j in range(300)]
    for i in range(0, len(changes), 250):
        env.write(*changes[i : i + 250])
    assert len(env.rows("t")) == 800
    assert env.conn.execute(f'SELECT v FROM "{env.ks}".t WHERE pk = 7 AND ck = 7').fetchall() == [("r299",)]
    env.check("t")


def test_positions_commit_with_data_and_failed_batch_leaves_nothing(env: Env) -> None:
    t = env.tables["t"]
    assert env.sink.committed_positions() == {}
    env.write(
        row(t, 1, {"ck": 1}, cells=[cell("v", "a", 10)]),
        positions={"n1": SourcePosition("n1", 3, 100), "n2": SourcePosition("n2", 4, 7)},
    )
    assert env.sink.committed_positions() == {"n1": SourcePosition("n1", 3, 100), "n2": SourcePosition("n2", 4, 7)}

    class FailingLoader(CopyLoader):
        def load(self, cur: Any, table: str, columns: Any, rows: Any) -> None:
            super().load(cur, table, columns, rows)
            if "elements" in table:
                cur.execute("SELECT 1 / 0")  # a server-side failure after the state rows were merged

    env.sink.loader = FailingLoader()
    with pytest.raises(SinkError) as info:
        env.sink.write_batch(
            ChangeBatch(
                [row(t, 2, {"ck": 1}, cells=[cell("v", "b", 10), cell("st", None, 10, path="q", has_path=True)])],
                {"n1": SourcePosition("n1", 3, 200)},
            )
        )
    assert not info.value.retryable
    env.sink.loader = CopyLoader()
    assert [r[0] for r in env.rows("t")] == [1]
    assert env.sink.committed_positions()["n1"] == SourcePosition("n1", 3, 100)
    env.write(row(t, 3, {"ck": 1}, cells=[cell("v", "c", 10)]), positions={"n1": SourcePosition("n1", 3, 300)})
    assert [r[0] for r in env.rows("t")] == [1, 3]
    assert env.sink.committed_positions()["n1"] == SourcePosition("n1", 3, 300)


def test_values_out_of_range_are_refused_not_altered(env: Env) -> None:
    t, x = env.tables["t"], env.tables["x"]
    with pytest.raises(ValueOutOfRangeError) as info:
        env.write(row(t, 1, {"ck": 1}, cells=[cell("v", "a\x00b", 10)]))
    assert info.value.column == "v" and not info.value.retryable
    with pytest.raises(ValueOutOfRangeError):
        env.write(row(x, 1, cells=[cell("ts", CqlTimestamp(10**15), 10)]))
    assert env.rows("t") == [] and env.rows("x") == []
    # Empty text stays distinct from null; time keeps its nanoseconds.
    u = uuid.uuid1()
    env.write(
        row(t, 1, {"ck": 1}, cells=[cell("v", "", 10)]),
        row(
            x,
            1,
            cells=[
                cell("tm", 3_600_000_000_123, 10),
                cell("u", u, 10),
                cell("ts", datetime.datetime(2020, 1, 2, 3, 4, 5, 6000, tzinfo=datetime.UTC), 10),
            ],
        ),
    )
    assert env.conn.execute(f'SELECT v IS NULL, v FROM "{env.ks}".t').fetchall() == [(False, "")]
    assert env.rows("x")[0][1:] == (
        datetime.datetime(2020, 1, 2, 3, 4, 5, 6000, tzinfo=datetime.UTC),
        3_600_000_000_123,
        u,
    )
    env.check("t", "x")


def test_purge_keeps_the_final_state(env: Env) -> None:
    t, d = env.tables["t"], env.tables["d"]
    env.write(
        row(t, 1, {"ck": 1}, liveness=Liveness(10), cells=[cell("v", "a", 10)]),
        row(t, 1, {"ck": 2}, cells=[cell("v", "b", 10), cell("st", None, 10, path="q", has_path=True)]),
        row(t, 1, {"ck": 2}, op=Op.DELETE, row_deletion=Deletion(20, 100)),
        row(t, 1, {"ck": 3}, cells=[cell("v", "c", 30)]),
        row(t, 1, {"ck": 3}, cells=[cell("v", None, 40, deleted=True), cell("w", 1, 40)]),
        row(d, 1, {"a": 1, "b": "x"}, cells=[cell("v", 1, 10)]),
        RowChange(
            d.keyspace,
            "d",
            d.id,
            Op.RANGE_DELETE,
            POS,
            {"pk": 1},
            range_start=Bound({"a": 1}, True),
            range_end=Bound({"a": 1}, True),
            range_deletion=Deletion(20, 100),
        ),
    )
    before = env.rows("t"), env.rows("d")
    state_rows = env.conn.execute(f'SELECT count(*) FROM "{env.ks}".t__state').fetchone()
    env.sink.grace_seconds = 0
    purged = env.sink.purge(now=10_000)
    assert purged > 0
    assert (env.rows("t"), env.rows("d")) == before
    after = env.conn.execute(f'SELECT count(*) FROM "{env.ks}".t__state').fetchone()
    assert state_rows is not None and after is not None and after[0] < state_rows[0]
    assert env.conn.execute(f'SELECT count(*) FROM "{env.ks}".d__ranges').fetchone() == (0,)
    env.check("t", "d")


def _tomb(column: str, ts_seconds: int, ldt: int, **kw: Any) -> CellChange:
    return cell(column, None, ts_seconds * 1_000_000, deleted=True, local_deletion_time=ldt, **kw)


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_3, ConflictRules.CASSANDRA_4])
def test_equal_timestamp_tombstones_keep_the_later_local_deletion_time(
    postgres_server: Any, rules: ConflictRules
) -> None:
    e = Env(postgres_server.dsn, "k_" + uuid.uuid4().hex[:10], rules)
    try:
        t = e.tables["t"]
        early, late = _tomb("v", 1_000, 1_000), _tomb("v", 1_000, 9_990)
        e.write(row(t, 1, {"ck": 1}, cells=[early]), row(t, 1, {"ck": 1}, cells=[late]))  # folded in one batch
        e.write(row(t, 2, {"ck": 1}, cells=[late]))  # merged by the upsert, in both orders
        e.write(row(t, 2, {"ck": 1}, cells=[early]))
        e.write(row(t, 3, {"ck": 1}, cells=[early]))
        e.write(row(t, 3, {"ck": 1}, cells=[late]))
        # An expired cell at the same timestamp: the tombstone wins and keeps its own deletion time
        # (3.x keeps the earliest expiry only between non-tombstones).
        expired = cell("v", "x", 1_000 * 1_000_000, ttl=10, expires_at=1_010)
        e.write(row(t, 4, {"ck": 1}, cells=[expired, late]))
        e.write(row(t, 5, {"ck": 1}, cells=[late]))
        e.write(row(t, 5, {"ck": 1}, cells=[expired]))
        # Elements: the same for a set element's tombstones.
        e.write(row(t, 6, {"ck": 1}, cells=[_tomb("st", 1_000, 9_990, path="q", has_path=True)]))
        e.write(row(t, 6, {"ck": 1}, cells=[_tomb("st", 1_000, 1_000, path="q", has_path=True)]))
        state = f'SELECT pk, v__del, v__exp FROM "{e.ks}".t__state ORDER BY pk'
        assert e.conn.execute(state).fetchall() == [(pk, True, 9_990) for pk in (1, 2, 3, 4, 5)] + [(6, None, None)]
        assert e.conn.execute(f'SELECT del, exp FROM "{e.ks}".t__elements').fetchall() == [(True, 9_990)]
        e.check("t")
        # Past the grace of the earlier deletion time only: the tombstones stay, since they keep the later one.
        e.sink.grace_seconds = 100
        e.sink.purge(now=10_000)
        assert e.conn.execute(state).fetchall()[:5] == [(pk, True, 9_990) for pk in (1, 2, 3, 4, 5)]
        assert e.conn.execute(f'SELECT del, exp FROM "{e.ks}".t__elements').fetchall() == [(True, 9_990)]
    finally:
        e.close()


@pytest.mark.parametrize("rules", [ConflictRules.CASSANDRA_3, ConflictRules.CASSANDRA_4])
def test_purge_goes_by_the_tombstones_local_deletion_time(postgres_server: Any, rules: ConflictRules) -> None:
    e = Env(postgres_server.dsn, "k_" + uuid.uuid4().hex[:10], rules)
    try:
        t = e.tables["t"]
        live = [cell("w", 1, 10)]
        # pk 1: written long ago (client timestamp) but deleted recently; pk 2: the reverse.
        e.write(row(t, 1, {"ck": 1}, cells=[*live, _tomb("v", 1_000, 9_990)]))
        e.write(row(t, 2, {"ck": 1}, cells=[*live, _tomb("v", 9_990, 1_000)]))
        e.write(row(t, 3, {"ck": 1}, cells=[*live, _tomb("st", 1_000, 9_990, path="q", has_path=True)]))
        e.write(row(t, 4, {"ck": 1}, cells=[*live, _tomb("st", 9_990, 1_000, path="q", has_path=True)]))
        e.sink.grace_seconds = 100
        assert e.sink.purge(now=10_000) > 0
        state = f'SELECT pk, v__del FROM "{e.ks}".t__state ORDER BY pk'
        assert e.conn.execute(state).fetchall() == [(1, True), (2, None), (3, None), (4, None)]
        elements = f'SELECT _pk FROM "{e.ks}".t__elements'
        assert [bytes(r[0]) for r in e.conn.execute(elements).fetchall()] == [(3).to_bytes(4, "big")]
        # The kept tombstone still shadows a late copy of an older write.
        zombie = [cell("v", "zombie", 500 * 1_000_000), cell("st", None, 500 * 1_000_000, path="q", has_path=True)]
        e.write(row(t, 1, {"ck": 1}, cells=zombie[:1]), row(t, 3, {"ck": 1}, cells=zombie[1:]))
        got = e.conn.execute(f'SELECT pk, v, st FROM "{e.ks}".t ORDER BY pk').fetchall()
        assert got[0] == (1, None, None) and got[2] == (3, None, None)
    finally:
        e.close()
