"""The ClickHouse objects of one Cassandra table, and the final-state view's SQL.

For ``ks.t``, in database ``ks``:

- ``t__in`` (Null engine): what the sink inserts, one row per fact (cell version, liveness, row /
  collection / partition deletion, range tombstone, key texts, counter shard);
- ``t__cells`` (AggregatingMergeTree, fed by the materialized view ``t__cells_mv``): per fact
  identity ``(pk, rk, ck, fact, col, path)`` the winning version, ``argMax`` over a tuple that is
  Cassandra's reconcile order (see docs/sinks-clickhouse.md);
- ``t__counters`` (ReplacingMergeTree, fed by ``t__counters_mv``): counter shards per cell version;
- ``t`` (view): the final state, one row per live CQL row, typed columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnSchema, TableSchema
from cassandra_cdc.sinks.clickhouse.keys import path_encoder
from cassandra_cdc.sinks.clickhouse.types import Mapping_, mapping, override

# Fact kinds (the ``fact`` column).
CELL, LIVENESS, ROW_DELETION, COLLECTION_DELETION, PARTITION_DELETION, RANGE, KEYS, COUNTER, COUNTER_TOMBSTONE = range(
    9
)
# Row kinds (the ``rk`` column): partition-level facts, the static row, a clustering row.
RK_PARTITION, RK_STATIC, RK_ROW = 0, 1, 2
MIN_I64 = -(1 << 63)
_MIN = "toInt64(-9223372036854775808)"

INPUT_COLUMNS: list[tuple[str, str]] = [
    ("pk", "String"),
    ("rk", "UInt8"),
    ("ck", "String"),
    ("fact", "UInt8"),
    ("col", "String"),
    ("path", "String"),
    ("keys", "Array(String)"),
    ("value", "String"),
    ("key", "String"),
    ("kind", "UInt8"),
    ("ts", "Int64"),
    ("ttl", "Int64"),
    ("exp", "Int64"),
    ("o_rank", "UInt8"),
    ("o_ldt", "Int64"),
    ("o_raw", "String"),
    ("o_ldt2", "Int64"),
    ("counter_id", "String"),
    ("clock", "Int64"),
    ("count", "Int64"),
]
_PAYLOAD = "Tuple(String, String, UInt8, Int64, Int64, Int64)"  # value, key, kind, ts, ttl, exp
# A stored version: the order (ts, o_rank, o_ldt, o_raw, o_ldt2), then value, key, kind, ttl, exp.
_VERSION = "Tuple(Int64, UInt8, Int64, String, Int64, String, String, UInt8, Int64, Int64)"
# The winning version of each fact identity, as the payload the view reads (``c``), and the earliest
# expiry among the versions at the winning timestamp (``me``).
RESOLVED_CELL = (
    "CAST((" + ", ".join(f"tupleElement(max(cell), {i})" for i in (6, 7, 8, 1, 9, 10)) + f"), '{_PAYLOAD}') AS c"
)
RESOLVED_MINEXP = "-max(minexp).2 AS me"


def q(name: str) -> str:
    """A quoted ClickHouse identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def s(text: str) -> str:
    """A quoted ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(slots=True)
class TableLayout:
    """A table's destination names and per-column mappings."""

    table: TableSchema
    overrides: dict[str, str] = field(default_factory=dict)
    rules: str = "4.0+"
    mappings: dict[str, Mapping_] = field(init=False)

    def __post_init__(self) -> None:
        self.mappings = {}
        for col in self.table.columns:
            wanted = self.overrides.get(col.name)
            base = col.type
            if col.type.is_multi_cell:
                self.mappings[col.name] = mapping(col.type.freeze())
            elif wanted is not None:
                self.mappings[col.name] = override(base, wanted)
            else:
                self.mappings[col.name] = mapping(base)

    @property
    def db(self) -> str:
        return q(self.table.keyspace)

    def name(self, suffix: str = "") -> str:
        return f"{self.db}.{q(self.table.name + suffix)}"

    def ddl(self) -> list[str]:
        cols = ", ".join(f"{q(n)} {t}" for n, t in INPUT_COLUMNS)
        return [
            f"CREATE DATABASE IF NOT EXISTS {self.db}",
            f"CREATE TABLE IF NOT EXISTS {self.name('__in')} ({cols}) ENGINE = Null",
            f"""CREATE TABLE IF NOT EXISTS {self.name("__cells")} (
                pk String, rk UInt8, ck String, fact UInt8, col String, path String,
                keys SimpleAggregateFunction(any, Array(String)),
                cell SimpleAggregateFunction(max, {_VERSION}),
                minexp SimpleAggregateFunction(max, Tuple(Int64, Int64))
            ) ENGINE = AggregatingMergeTree ORDER BY (pk, rk, ck, fact, col, path)""",
            # A version is stored as a plain tuple, order first: max() over it is Cassandra's reconcile
            # (and, on a full tie, the same winner whatever the arrival order). Plain columns insert
            # about twice as fast as argMax states.
            f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {self.name("__cells_mv")} TO {self.name("__cells")} AS
                SELECT pk, rk, ck, fact, col, path, keys,
                  CAST((ts, o_rank, o_ldt, o_raw, o_ldt2, value, key, kind, ttl, exp), {s(_VERSION)}) AS cell,
                  (ts, -exp) AS minexp
                FROM {self.name("__in")} WHERE fact != {COUNTER}""",
            f"""CREATE TABLE IF NOT EXISTS {self.name("__counters")} (
                pk String, rk UInt8, ck String, col String, counter_id UUID, kind UInt8,
                ts Int64, clock Int64, count Int64
            ) ENGINE = ReplacingMergeTree ORDER BY (pk, rk, ck, col, counter_id, ts, kind, clock, count)""",
            f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {self.name("__counters_mv")} TO {self.name("__counters")} AS
                SELECT pk, rk, ck, col, toUUID(counter_id) AS counter_id, kind, ts, clock, count
                FROM {self.name("__in")} WHERE fact = {COUNTER}""",
            f"CREATE OR REPLACE VIEW {self.name()} AS {self.view_sql()}",
        ]

    def object_names(self) -> list[str]:
        return [self.name(suffix) for suffix in ("", "__cells_mv", "__counters_mv", "__in", "__cells", "__counters")]

    def drop(self) -> list[str]:
        return [
            f"DROP VIEW IF EXISTS {self.name()}",
            f"DROP VIEW IF EXISTS {self.name('__cells_mv')}",
            f"DROP VIEW IF EXISTS {self.name('__counters_mv')}",
            f"DROP TABLE IF EXISTS {self.name('__in')}",
            f"DROP TABLE IF EXISTS {self.name('__cells')}",
            f"DROP TABLE IF EXISTS {self.name('__counters')}",
        ]

    # --- the view ---

    def _current(self, columns: list[ColumnSchema]) -> str:
        """A cell filter: the cell belongs to a current column and was written after its last drop."""
        parts = []
        for c in columns:
            dropped = self.table.dropped_columns.get(c.name)
            cond = f"e.1 = {s(c.name)}"
            if dropped is not None:
                cond += f" AND e.6 > {dropped.dropped_time}"
            parts.append(f"({cond})")
        return " OR ".join(parts) if parts else "0"

    def _cell_live(self) -> str:
        # e = (col, path, value, key, kind, ts, ttl, exp, minexp)
        collection_deletion = f"arrayMax(arrayConcat([{_MIN}], arrayMap(x -> if(x.1 = e.1, x.2, {_MIN}), cdel)))"
        cond = f"e.6 > greatest(del, {collection_deletion}) AND bitAnd(e.5, 2) = 0 AND e.8 > _now"
        if self.rules == "3.x":
            # 3.x: an expired version at the winning timestamp wins the tie (a non-live cell).
            cond += " AND e.9 > _now"
        return cond

    def _value(self, col: ColumnSchema, source: str) -> str:
        m = self.mappings[col.name]
        name = s(col.name)
        t = col.type
        cells = f"arrayFilter(__e -> __e.1 = {name}, {source})"
        if t.is_counter:
            return self._counter_value(col, source)
        if not t.is_multi_cell:
            # A live cell with an empty value (kind bit 4) keeps its row alive but reads as null.
            exists = f"arrayExists(__e -> __e.1 = {name} AND bitAnd(__e.5, 4) = 0, {source})"
            expr = m.sql(f"arrayFirst(__e -> __e.1 = {name}, {source}).3")
            if m.nullable:
                return f"if({exists}, {expr}, NULL)"
            return f"if({exists}, {expr}, {m.sql(s(_default_literal(t)))})"
        ordered = f"arraySort(__e -> __e.2, {cells})"
        if isinstance(t, T.ListType):
            return f"arrayMap(__e -> {mapping(t.element).sql('__e.3')}, {ordered})"
        if isinstance(t, T.SetType):
            return f"arrayMap(__e -> {mapping(t.element).sql('__e.4')}, {ordered})"
        if isinstance(t, T.MapType):
            keys = f"arrayMap(__e -> {mapping(t.key).sql('__e.4')}, {ordered})"
            values = f"arrayMap(__e -> {mapping(t.value).sql('__e.3')}, {ordered})"
            return f"CAST(mapFromArrays({keys}, {values}), {s(m.ch_type)})"
        if isinstance(t, T.UserType):
            enc = path_encoder(t)
            fields = []
            for fname, ftype in zip(t.field_names, t.field_types, strict=True):
                fm = mapping(ftype)
                path = "unhex('" + enc(fname).hex() + "')"
                exists = f"arrayExists(__e -> __e.2 = {path}, {cells})"
                expr = fm.sql(f"arrayFirst(__e -> __e.2 = {path}, {cells}).3")
                default = "NULL" if fm.nullable else fm.sql(s(_default_literal(ftype)))
                fields.append(f"if({exists}, {expr}, {default})")
            exists_any = f"notEmpty({cells})"
            return f"if({exists_any}, CAST(tuple({', '.join(fields)}), {s(m.ch_type)}), NULL)"
        raise ValueError(f"unsupported multi-cell type {t.cql()}")

    def _counter_value(self, col: ColumnSchema, source: str) -> str:
        # shards: (col, counter_id, kind, ts, clock, count); kind 0 global, 1 local, 2 remote.
        name = s(col.name)
        mine = f"arrayFilter(__x -> __x.1 = {name}, {source}_shards)"
        tomb = f"arrayExists(__x -> __x.1 = {name}, {source}_ctomb)"
        per_id = (
            "arrayMap(__id -> "
            "if(arrayExists(__x -> __x.2 = __id AND __x.3 = 0, __m), "
            "arraySort(__x -> (__x.5, __x.6), arrayFilter(__x -> __x.2 = __id AND __x.3 = 0, __m))[-1].6, "
            "if(arrayExists(__x -> __x.2 = __id AND __x.3 = 1, __m), "
            "arraySum(arrayMap(__x -> __x.6, arrayFilter(__x -> __x.2 = __id AND __x.3 = 1, __m))), "
            "arraySort(__x -> (__x.5 < 0, abs(__x.5), __x.6), arrayFilter(__x -> __x.2 = __id, __m))[-1].6)), "
            "arrayDistinct(arrayMap(__x -> __x.2, __m)))"
        )
        total = f"arraySum(arrayMap(__m -> arraySum({per_id}), [{mine}]))"
        return f"if({tomb} OR empty({mine}), NULL, toInt64({total}))"

    def _covers(self) -> str:
        # r = (start, flags, end, ts); flags: 'i'/'e' for the start, then for the end.
        lo = "substring(ck, 1, length(r.1))"
        hi = "substring(ck, 1, length(r.3))"
        start = f"(length(r.1) = 0 OR if(substring(r.2, 1, 1) = 'i', {lo} >= r.1, {lo} > r.1))"
        end = f"(length(r.3) = 0 OR if(substring(r.2, 2, 1) = 'i', {hi} <= r.3, {hi} < r.3))"
        return f"{start} AND {end}"

    def view_sql(self) -> str:
        table = self.table
        regular, static = table.regular, table.static
        pk, ck = table.partition_key, table.clustering
        live = self._cell_live()
        facts = f"""SELECT pk, rk, ck, fact, col, path, any(keys) AS keys, {RESOLVED_CELL},
                {RESOLVED_MINEXP}
            FROM {self.name("__cells")} GROUP BY pk, rk, ck, fact, col, path"""
        shards = f"""SELECT pk, rk, ck, {COUNTER} AS fact, col, '' AS path, CAST([] AS Array(String)) AS keys,
                CAST((toString(counter_id), '', kind, ts, clock, count), {s(_PAYLOAD)}) AS c, toInt64(0) AS me
            FROM (SELECT DISTINCT * FROM {self.name("__counters")})"""
        rows = f"""SELECT pk, rk, ck,
                anyIf(keys, fact = {KEYS}) AS keys,
                countIf(fact = {LIVENESS}) > 0 AS has_lv, anyIf(c, fact = {LIVENESS}) AS lv,
                countIf(fact = {ROW_DELETION}) > 0 AS has_rd, anyIf(c, fact = {ROW_DELETION}) AS rd,
                max(if(fact = {PARTITION_DELETION}, c.4, {_MIN})) AS pdel,
                groupArrayIf((ck, col, path, c.4), fact = {RANGE}) AS ranges,
                groupArrayIf((col, c.4), fact = {COLLECTION_DELETION}) AS cdel,
                groupArrayIf((col, path, c.1, c.2, c.3, c.4, c.5, c.6, me), fact = {CELL}) AS cells,
                groupArrayIf((col, c.1, c.3, c.4, c.5, c.6), fact = {COUNTER}) AS shards,
                groupArrayIf((col, c.4), fact = {COUNTER_TOMBSTONE}) AS ctombs
            FROM ({facts} UNION ALL {shards}) GROUP BY pk, rk, ck"""
        windowed = f"""SELECT *, max(pdel) OVER (PARTITION BY pk) AS pdel_p,
                groupArrayArray(ranges) OVER (PARTITION BY pk) AS ranges_p
            FROM ({rows})"""
        covering = f"arrayMax(arrayConcat([{_MIN}], arrayMap(r -> if({self._covers()}, r.4, {_MIN}), ranges_p)))"
        deleted = f"""SELECT *, greatest(pdel_p,
                if(rk = {RK_ROW}, {covering}, {_MIN}),
                if(has_rd AND NOT (rd.3 = 1 AND has_lv AND lv.4 > rd.4), rd.4, {_MIN})) AS del
            FROM ({windowed}) WHERE rk != {RK_PARTITION}"""
        shard_deletion = f"arrayMax(arrayConcat([{_MIN}], arrayMap(y -> if(y.1 = x.1, y.2, {_MIN}), cdel)))"
        row_cols = self._current(regular)
        static_cols = self._current(static)
        resolved = f"""SELECT pk, rk, ck, keys,
                arrayFilter(e -> ({live}) AND if(rk = {RK_ROW}, {row_cols}, {static_cols}), cells) AS live,
                arrayFilter(x -> x.4 > greatest(del, {shard_deletion}), shards) AS live_shards,
                arrayFilter(x -> x.2 > del, ctombs) AS live_ctomb,
                has_lv AND lv.4 > del AND lv.3 = 0 AND lv.6 > _now AS lv_live
            FROM ({deleted})"""
        counter_live = (
            "arrayExists(x -> NOT arrayExists(y -> y.1 = x.1, live_ctomb), live_shards)" if table.is_counter else "0"
        )
        with_live = f"""SELECT *, (notEmpty(live) OR {counter_live} OR (rk = {RK_ROW} AND lv_live)) AS row_live
            FROM ({resolved})"""
        final = f"""SELECT *, max(rk = {RK_ROW} AND row_live) OVER (PARTITION BY pk) AS has_rows,
                anyIf(live, rk = {RK_STATIC}) OVER (PARTITION BY pk) AS st,
                anyIf(live_shards, rk = {RK_STATIC}) OVER (PARTITION BY pk) AS st_shards,
                anyIf(live_ctomb, rk = {RK_STATIC}) OVER (PARTITION BY pk) AS st_ctomb
            FROM ({with_live})"""
        final = f"""SELECT rk AS __rk, keys AS __keys, live AS __live, st AS __st, live_shards AS __live_shards,
                live_ctomb AS __live_ctomb, st_shards AS __st_shards, st_ctomb AS __st_ctomb,
                row_live AS __row_live, has_rows AS __has_rows
            FROM ({final})"""
        outputs = []
        for i, c in enumerate(pk):
            outputs.append(f"{self.mappings[c.name].sql(f'__keys[{i + 1}]')} AS {q(c.name)}")
        for j, c in enumerate(ck):
            m = self.mappings[c.name]
            expr = m.sql(f"__keys[{len(pk) + j + 1}]")
            outputs.append(f"if(__rk = {RK_ROW}, {expr}, NULL) AS {q(c.name)}")
        for c in table.columns:
            if c.is_primary_key:
                continue
            expr = self._value(c, "__st" if c in static else "__live")
            outputs.append(f"{expr} AS {q(c.name)}")
        names = [c.name for c in table.columns if not c.is_primary_key]
        wt = ", ".join(
            f"{s(n)}, arrayMax(arrayConcat([{_MIN}], arrayMap(__e -> __e.6, arrayFilter(__e -> __e.1 = {s(n)}, "
            f"{'__st' if table.column(n) in static else '__live'}))))"
            for n in names
        )
        outputs.append(f"mapFilter((__k, __v) -> __v != {_MIN}, map({wt})) AS `__writetime`" if names else "")
        select = ",\n  ".join(o for o in outputs if o)
        return f"""WITH toInt64(toUnixTimestamp(now())) AS _now
SELECT {select}
FROM ({final})
WHERE (__rk = {RK_ROW} AND __row_live) OR (__rk = {RK_STATIC} AND __row_live AND NOT __has_rows)"""


def _default_literal(t: T.CqlType) -> str:
    """The stored text of an empty value of a non-nullable destination type."""
    if isinstance(t, T.ListType | T.SetType | T.MapType | T.VectorType):
        return "[]"
    if isinstance(t, T.TupleType | T.UserType):
        types = t.field_types if isinstance(t, T.UserType) else t.elements
        return "(" + ",".join("NULL" if mapping(x).nullable else _default_literal(x) for x in types) + ")"
    return ""
