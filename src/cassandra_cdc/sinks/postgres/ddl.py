"""The PostgreSQL objects of one Cassandra table: internal state tables, merge statements and views.

Per table ``ks.t`` (schema ``ks``):

- ``t__state``: one row per clustering row, keyed by Cassandra's key bytes (``_pk``, ``_ck``), with the
  typed key columns, the winning primary-key liveness (``_lv_*``), row deletion (``_rd_*``), the
  greatest covering range deletion (``_range_del_ts``) and per simple column ``c`` its winning
  cell: ``c`` (value), ``c__rank`` (bytes whose order is the conflict rules' order), ``c__ts``,
  ``c__ttl``, ``c__exp`` (Cassandra's local deletion time, seconds: an expiring cell's expiry or a
  tombstone's deletion time), ``c__del`` (tombstone); per non-frozen collection or
  UDT its collection deletion (``c__cdel_*``). Counter columns keep only their tombstones here.
- ``t__static``: the same for the static row, keyed by ``_pk``.
- ``t__elements``: collection elements and UDT fields, one winning cell each.
- ``t__counters``: counter shards, the highest clock per counter id.
- ``t__partition_deletions`` and ``t__ranges``: partition and range deletions, merged by maximum.
- Views ``t__rows`` / ``t__statics`` resolve deletions, shadowing and expiry (with the database's
  clock); ``t`` is the final state users query; ``t__writetimes`` exposes writetimes and TTLs.

Every merge statement is an upsert whose new values win only when Cassandra's rules say so, so
applying the same staged rows twice, or batches in any order, gives the same state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnSchema, TableSchema
from cassandra_cdc.sinks.base import SinkError
from cassandra_cdc.sinks.postgres.pgtypes import PgType, override_type, pg_type

MIN_BIGINT = "(-9223372036854775808)::bigint"
# LivenessInfo.EXPIRED_LIVENESS_TTL: a liveness that is dead whatever the clock.
EXPIRED_LIVENESS_TTL = 2**31 - 1
NOW_SECONDS = "floor(extract(epoch FROM now()))::bigint"
_PG_IDENTIFIER_MAX = 63

Col = tuple[str, str]  # a column's name and its SQL type


def q(name: str) -> str:
    """A quoted PostgreSQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A quoted PostgreSQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """A partition key or clustering column: its typed column and, when PostgreSQL's order on the
    type is not Cassandra's, the name of its order-key (bytea) column."""

    column: ColumnSchema
    pgtype: PgType
    order_column: str | None

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def order_expr_name(self) -> str:
        return self.order_column or self.column.name


@dataclass(slots=True)
class TableLayout:
    """Names and SQL of the PostgreSQL objects of one Cassandra table."""

    table: TableSchema
    schema_name: str
    pgtypes: dict[str, PgType]
    partition_key: list[KeyColumn]
    clustering: list[KeyColumn]
    simple: list[ColumnSchema]  # regular, non-counter, single-cell
    complex: list[ColumnSchema]  # regular multi-cell (collections, non-frozen UDTs)
    counters: list[ColumnSchema]
    static_simple: list[ColumnSchema]
    static_complex: list[ColumnSchema]
    # Extra primary-key columns of the state table (a hypertable's time column).
    state_key_extra: list[str] = field(default_factory=list)
    state_columns: list[str] = field(default_factory=list)
    static_columns: list[str] = field(default_factory=list)

    # --- names ---

    @property
    def name(self) -> str:
        return self.table.name

    def rel(self, suffix: str = "") -> str:
        return f"{q(self.schema_name)}.{q(self.table.name + suffix)}"

    @property
    def state(self) -> str:
        return self.rel("__state")

    @property
    def static(self) -> str:
        return self.rel("__static")

    @property
    def elements(self) -> str:
        return self.rel("__elements")

    @property
    def shards(self) -> str:
        return self.rel("__counters")

    @property
    def partition_deletions(self) -> str:
        return self.rel("__partition_deletions")

    @property
    def ranges(self) -> str:
        return self.rel("__ranges")

    @property
    def has_static(self) -> bool:
        return bool(self.static_simple or self.static_complex)

    def state_key(self) -> list[str]:
        return ["_pk", "_ck", *self.state_key_extra]

    # --- DDL ---

    def _key_column_defs(self, keys: Sequence[KeyColumn]) -> list[Col]:
        out = []
        for key in keys:
            out.append((key.name, key.pgtype.sql))
            if key.order_column:
                out.append((key.order_column, "bytea"))
        return out

    def _cell_defs(self, columns: Sequence[ColumnSchema], counters: Sequence[ColumnSchema]) -> list[Col]:
        out = []
        for col in columns:
            out.append((col.name, self.pgtypes[col.name].sql))
            out.extend(self._cell_meta_defs(col.name))
        for col in counters:
            out.extend(self._cell_meta_defs(col.name))
        return out

    @staticmethod
    def _cell_meta_defs(name: str) -> list[Col]:
        return [
            (name + "__rank", "bytea"),
            (name + "__ts", "bigint"),
            (name + "__ttl", "integer"),
            (name + "__exp", "bigint"),
            (name + "__del", "boolean"),
        ]

    @staticmethod
    def _cdel_defs(columns: Sequence[ColumnSchema]) -> list[Col]:
        out = []
        for col in columns:
            out += [(col.name + "__cdel_rank", "bytea"), (col.name + "__cdel_ts", "bigint")]
            out.append((col.name + "__cdel_ldt", "bigint"))
        return out

    _ROW_META: tuple[Col, ...] = (
        ("_lv_rank", "bytea"),
        ("_lv_ts", "bigint"),
        ("_lv_ttl", "integer"),
        ("_lv_exp", "bigint"),
        ("_rd_rank", "bytea"),
        ("_rd_ts", "bigint"),
        ("_rd_ldt", "bigint"),
        ("_rd_shadowable", "boolean"),
    )

    def state_defs(self) -> list[Col]:
        key_defs = [("_pk", "bytea NOT NULL"), ("_ck", "bytea NOT NULL")]
        key_defs += self._key_column_defs(self.partition_key) + self._key_column_defs(self.clustering)
        return [
            *key_defs,
            *self._ROW_META,
            ("_range_del_ts", "bigint"),
            *self._cell_defs(self.simple, self.counters),
            *self._cdel_defs(self.complex),
        ]

    def static_defs(self) -> list[Col]:
        key_defs = [("_pk", "bytea NOT NULL"), *self._key_column_defs(self.partition_key)]
        return [
            *key_defs,
            *self._ROW_META,
            *self._cell_defs(self.static_simple, []),
            *self._cdel_defs(self.static_complex),
        ]

    def ranges_defs(self) -> list[Col]:
        defs = [("_pk", "bytea NOT NULL"), ("_rkey", "bytea NOT NULL")]
        for i, key in enumerate(self.clustering):
            sql = "bytea" if key.order_column else key.pgtype.sql
            defs += [(f"s{i}", sql), (f"e{i}", sql)]
        defs += [("s_len", "integer NOT NULL"), ("s_incl", "boolean NOT NULL"), ("e_len", "integer NOT NULL")]
        defs += [("e_incl", "boolean NOT NULL"), ("rank", "bytea NOT NULL"), ("del_ts", "bigint NOT NULL")]
        defs.append(("ldt", "bigint NOT NULL"))
        return defs

    @staticmethod
    def partition_deletion_defs() -> list[Col]:
        return [
            ("_pk", "bytea NOT NULL"),
            ("rank", "bytea NOT NULL"),
            ("del_ts", "bigint NOT NULL"),
            ("ldt", "bigint NOT NULL"),
        ]

    ELEMENT_DEFS: tuple[Col, ...] = (
        ("_pk", "bytea NOT NULL"),
        ("_ck", "bytea NOT NULL"),
        ("col", 'text COLLATE "C" NOT NULL'),
        ("path", "bytea NOT NULL"),
        ("ord", "bytea NOT NULL"),
        ("key", "jsonb"),
        ("key_text", 'text COLLATE "C"'),
        ("value", "jsonb"),
        ("rank", "bytea NOT NULL"),
        ("ts", "bigint NOT NULL"),
        ("ttl", "integer NOT NULL"),
        ("exp", "bigint"),
        ("del", "boolean NOT NULL"),
    )
    SHARD_DEFS: tuple[Col, ...] = (
        ("_pk", "bytea NOT NULL"),
        ("_ck", "bytea NOT NULL"),
        ("col", 'text COLLATE "C" NOT NULL'),
        ("counter_id", "uuid NOT NULL"),
        ("clock", "bigint NOT NULL"),
        ("count", "bigint NOT NULL"),
        ("ts", "bigint NOT NULL"),
    )

    def create_statements(self) -> list[str]:
        """CREATE statements for the tables (idempotent). Views come from view_statements()."""
        sch = q(self.schema_name)
        out = [f"CREATE SCHEMA IF NOT EXISTS {sch}"]

        def table(rel: str, defs: Sequence[Col], key: list[str]) -> str:
            body = ",\n  ".join([*(f"{q(n)} {t}" for n, t in defs), f"PRIMARY KEY ({', '.join(key)})"])
            return f"CREATE TABLE IF NOT EXISTS {rel} (\n  {body}\n)"

        out.append(table(self.state, self.state_defs(), [q(k) for k in self.state_key()]))
        if self.has_static:
            out.append(table(self.static, self.static_defs(), ["_pk"]))
        if self.complex or self.static_complex:
            out.append(table(self.elements, self.ELEMENT_DEFS, ["_pk", "_ck", "col", "path"]))
        if self.counters:
            out.append(table(self.shards, self.SHARD_DEFS, ["_pk", "_ck", "col", "counter_id"]))
        out.append(table(self.partition_deletions, self.partition_deletion_defs(), ["_pk"]))
        if self.clustering:
            out.append(table(self.ranges, self.ranges_defs(), ["_pk", "_rkey"]))
        return out

    # --- merge statements ---

    @staticmethod
    def _wins(rank: str) -> str:
        return f"(excluded.{rank} > t.{rank} OR t.{rank} IS NULL)"

    def _pick(self, rank: str, columns: Sequence[str]) -> list[str]:
        wins = self._wins(q(rank))
        return [f"{q(c)} = CASE WHEN {wins} THEN excluded.{q(c)} ELSE t.{q(c)} END" for c in columns]

    def _cell_sets(self, name: str, *, with_value: bool, min_expiry: bool) -> list[str]:
        rank, ts, exp, dead = q(name + "__rank"), q(name + "__ts"), q(name + "__exp"), q(name + "__del")
        cols = ([name] if with_value else []) + [name + "__ts", name + "__ttl", name + "__del"]
        sets = self._pick(name + "__rank", cols)
        if min_expiry:
            # 3.x: at equal timestamps an expired cell beats a live one, so the cell dies at the
            # earliest expiry among the versions written at the winning timestamp. A tombstone wins
            # such ties and keeps its own local deletion time (held in the same column).
            sets.append(
                f"{exp} = CASE WHEN excluded.{ts} IS NULL THEN t.{exp} "
                f"WHEN t.{ts} IS NULL OR excluded.{ts} > t.{ts} THEN excluded.{exp} "
                f"WHEN excluded.{ts} = t.{ts} AND (t.{dead} OR excluded.{dead}) "
                f"THEN CASE WHEN {self._wins(rank)} THEN excluded.{exp} ELSE t.{exp} END "
                f"WHEN excluded.{ts} = t.{ts} THEN LEAST(t.{exp}, excluded.{exp}) ELSE t.{exp} END"
            )
        else:
            sets += self._pick(name + "__rank", [name + "__exp"])
        sets.append(f"{rank} = GREATEST(t.{rank}, excluded.{rank})")
        return sets

    def _row_sets(
        self,
        simple: Sequence[ColumnSchema],
        counters: Sequence[ColumnSchema],
        complex_: Sequence[ColumnSchema],
        *,
        min_expiry: bool,
    ) -> list[str]:
        sets = [
            *self._pick("_lv_rank", ["_lv_ts", "_lv_ttl", "_lv_exp"]),
            "_lv_rank = GREATEST(t._lv_rank, excluded._lv_rank)",
        ]
        sets += self._pick("_rd_rank", ["_rd_ts", "_rd_ldt", "_rd_shadowable"])
        sets.append("_rd_rank = GREATEST(t._rd_rank, excluded._rd_rank)")
        for col in simple:
            sets += self._cell_sets(col.name, with_value=True, min_expiry=min_expiry)
        for col in counters:
            sets += self._cell_sets(col.name, with_value=False, min_expiry=False)
        for col in complex_:
            rank = col.name + "__cdel_rank"
            sets += self._pick(rank, [col.name + "__cdel_ts", col.name + "__cdel_ldt"])
            sets.append(f"{q(rank)} = GREATEST(t.{q(rank)}, excluded.{q(rank)})")
        return sets

    def _upsert(self, target: str, staging: str, columns: list[str], key: list[str], sets: list[str]) -> str:
        cols = ", ".join(q(c) for c in columns)
        action = "DO UPDATE SET\n  " + ",\n  ".join(sets) if sets else "DO NOTHING"
        return (
            f"INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {staging}\n"
            f"ON CONFLICT ({', '.join(q(k) for k in key)}) {action}"
        )

    def merge_state_sql(self, staging: str, *, min_expiry: bool) -> str:
        sets = self._row_sets(self.simple, self.counters, self.complex, min_expiry=min_expiry)
        return self._upsert(self.state, staging, self.state_columns, self.state_key(), sets)

    def merge_static_sql(self, staging: str, *, min_expiry: bool) -> str:
        sets = self._row_sets(self.static_simple, [], self.static_complex, min_expiry=min_expiry)
        return self._upsert(self.static, staging, self.static_columns, ["_pk"], sets)

    def merge_elements_sql(self, staging: str, *, min_expiry: bool) -> str:
        columns = [n for n, _ in self.ELEMENT_DEFS]
        sets = self._pick("rank", ["key", "key_text", "value", "ts", "ttl", "del"])
        if min_expiry:
            sets.append(
                "exp = CASE WHEN excluded.ts > t.ts THEN excluded.exp "
                f"WHEN excluded.ts = t.ts AND (t.del OR excluded.del) THEN CASE WHEN {self._wins('rank')} "
                "THEN excluded.exp ELSE t.exp END "
                "WHEN excluded.ts = t.ts THEN LEAST(t.exp, excluded.exp) ELSE t.exp END"
            )
        else:
            sets += self._pick("rank", ["exp"])
        sets.append("rank = GREATEST(t.rank, excluded.rank)")
        return self._upsert(self.elements, staging, columns, ["_pk", "_ck", "col", "path"], sets)

    def merge_shards_sql(self, staging: str) -> str:
        columns = [n for n, _ in self.SHARD_DEFS]
        better = "((excluded.clock, excluded.count) > (t.clock, t.count))"
        sets = [
            f"clock = CASE WHEN {better} THEN excluded.clock ELSE t.clock END",
            f"count = CASE WHEN {better} THEN excluded.count ELSE t.count END",
            "ts = GREATEST(t.ts, excluded.ts)",
        ]
        return self._upsert(self.shards, staging, columns, ["_pk", "_ck", "col", "counter_id"], sets)

    def merge_partition_deletions_sql(self, staging: str) -> str:
        columns = [n for n, _ in self.partition_deletion_defs()]
        sets = [*self._pick("rank", ["del_ts", "ldt"]), "rank = GREATEST(t.rank, excluded.rank)"]
        return self._upsert(self.partition_deletions, staging, columns, ["_pk"], sets)

    def merge_ranges_sql(self, staging: str) -> str:
        columns = [n for n, _ in self.ranges_defs()]
        sets = [*self._pick("rank", ["del_ts", "ldt"]), "rank = GREATEST(t.rank, excluded.rank)"]
        return self._upsert(self.ranges, staging, columns, ["_pk", "_rkey"], sets)

    # --- range coverage ---

    def _prefix_compare(self, k: int, row: str, bound: str, *, after: bool) -> str:
        """SQL: the row's first k clustering values come strictly after (or before) the bound's."""
        terms = []
        for j in range(k):
            key = self.clustering[j]
            ascending = not key.column.reversed
            op = ">" if ascending == after else "<"
            eqs = [f"{row}.{q(self.clustering[i].order_expr_name)} = {bound}{i}" for i in range(j)]
            eqs.append(f"{row}.{q(key.order_expr_name)} {op} {bound}{j}")
            terms.append("(" + " AND ".join(eqs) + ")")
        return "(" + " OR ".join(terms) + ")"

    def _prefix_equal(self, k: int, row: str, bound: str) -> str:
        return "(" + " AND ".join(f"{row}.{q(self.clustering[i].order_expr_name)} = {bound}{i}" for i in range(k)) + ")"

    def covers_sql(self, row: str = "s", rng: str = "r") -> str:
        """SQL: range ``rng`` covers clustering row ``row`` (ClusteringComparator with bound kinds)."""
        starts = [f"{rng}.s_len = 0"]
        ends = [f"{rng}.e_len = 0"]
        for k in range(1, len(self.clustering) + 1):
            after = self._prefix_compare(k, row, f"{rng}.s", after=True)
            before = self._prefix_compare(k, row, f"{rng}.e", after=False)
            starts.append(
                f"({rng}.s_len = {k} AND ({after} OR ({self._prefix_equal(k, row, f'{rng}.s')} AND {rng}.s_incl)))"
            )
            ends.append(
                f"({rng}.e_len = {k} AND ({before} OR ({self._prefix_equal(k, row, f'{rng}.e')} AND {rng}.e_incl)))"
            )
        return f"({' OR '.join(starts)}) AND ({' OR '.join(ends)})"

    def _range_update(self, where: str, source: str = "") -> str:
        return (
            f"UPDATE {self.state} AS s SET _range_del_ts = (SELECT max(r.del_ts) FROM {self.ranges} r "
            f"WHERE r._pk = s._pk AND {self.covers_sql()}){source} WHERE {where}"
        )

    def refresh_ranges_for_partitions_sql(self, staged_ranges: str) -> str:
        """Recompute the covering range deletion of every row in the partitions of the staged ranges."""
        return self._range_update(f"s._pk IN (SELECT _pk FROM {staged_ranges})")

    def refresh_ranges_for_rows_sql(self, staged_rows: str) -> str:
        """Recompute it for the staged rows whose partition has range deletions."""
        return self._range_update(
            f"s._pk = g._pk AND s._ck = g._ck AND EXISTS (SELECT 1 FROM {self.ranges} r2 WHERE r2._pk = s._pk)",
            f" FROM {staged_rows} g",
        )

    # --- views ---

    @staticmethod
    def _cell_live(prefix: str, name: str, eff: str) -> str:
        ts, dead, exp = (f"{prefix}.{q(name + s)}" for s in ("__ts", "__del", "__exp"))
        return f"({ts} > {eff} AND NOT {dead} AND ({exp} IS NULL OR {exp} > {NOW_SECONDS}))"

    def _element_filter(self, row: str, col: ColumnSchema, eff: str, ck: str) -> str:
        column_del = f"GREATEST({eff}, {row}.{q(col.name + '__cdel_ts')})"
        return (
            f"e._pk = {row}._pk AND e._ck = {ck} AND e.col = {lit(col.name)} AND e.ts > {column_del} "
            f"AND NOT e.del AND (e.exp IS NULL OR e.exp > {NOW_SECONDS})"
        )

    def _collection_value(self, row: str, col: ColumnSchema, eff: str, ck: str) -> str:
        t = col.type
        where = self._element_filter(row, col, eff, ck)
        if isinstance(t, T.ListType):
            agg = "jsonb_agg(e.value ORDER BY e.ord)"
        elif isinstance(t, T.SetType):
            agg = "jsonb_agg(e.key ORDER BY e.ord)"
        elif isinstance(t, T.MapType):
            agg = "jsonb_object_agg(e.key_text, e.value ORDER BY e.ord)"
        elif isinstance(t, T.UserType):
            empty = json.dumps(dict.fromkeys(t.field_names))
            agg = f"{lit(empty)}::jsonb || jsonb_object_agg(e.key_text, e.value ORDER BY e.ord)"
        else:
            raise SinkError(
                f"{self.table.qualified_name}.{col.name}: unsupported multi-cell type {t.cql()}", retryable=False
            )
        return f"(SELECT {agg} FROM {self.elements} e WHERE {where})"

    def _counter_value(self, row: str, col: ColumnSchema, eff: str, ck: str) -> tuple[str, str]:
        tomb = f"{row}.{q(col.name + '__ts')}"
        shards = (
            f"FROM {self.shards} c WHERE c._pk = {row}._pk AND c._ck = {ck} AND c.col = {lit(col.name)} "
            f"AND c.ts > {eff}"
        )
        live = f"(({tomb} IS NULL OR {tomb} <= {eff}) AND EXISTS (SELECT 1 {shards}))"
        value = f"CASE WHEN {live} THEN (SELECT sum(c.count) {shards})::bigint END"
        return value, live

    def _resolved_view(
        self,
        rel: str,
        keys: Sequence[KeyColumn],
        simple: Sequence[ColumnSchema],
        complex_: Sequence[ColumnSchema],
        counters: Sequence[ColumnSchema],
        *,
        is_static: bool,
    ) -> str:
        eff = "x.eff"
        ck = "'\\xffffffff'::bytea" if is_static else "s._ck"
        outs = ["s._pk"] + ([] if is_static else ["s._ck"]) + [f"s.{q(k.name)}" for k in keys]
        live_terms = [
            f"(s._lv_ts > {eff} AND s._lv_ttl <> {EXPIRED_LIVENESS_TTL} "
            f"AND (s._lv_exp IS NULL OR s._lv_exp > {NOW_SECONDS}))"
        ]
        for col in simple:
            cond = self._cell_live("s", col.name, eff)
            live_terms.append(cond)
            outs.append(f"CASE WHEN {cond} THEN s.{q(col.name)} END AS {q(col.name)}")
            outs.append(f"CASE WHEN {cond} THEN s.{q(col.name + '__ts')} END AS {q(col.name + '__writetime')}")
            outs.append(f"CASE WHEN {cond} THEN s.{q(col.name + '__ttl')} END AS {q(col.name + '__ttl')}")
            outs.append(f"CASE WHEN {cond} THEN s.{q(col.name + '__exp')} END AS {q(col.name + '__expires_at')}")
        for col in complex_:
            outs.append(f"{self._collection_value('s', col, eff, ck)} AS {q(col.name)}")
            live_terms.append(
                f"EXISTS (SELECT 1 FROM {self.elements} e WHERE {self._element_filter('s', col, eff, ck)})"
            )
        for col in counters:
            value, live = self._counter_value("s", col, eff, ck)
            outs.append(f"{value} AS {q(col.name)}")
            live_terms.append(live)
        outs.append(f"({' OR '.join(live_terms)}) AS _live")
        row_del = "CASE WHEN s._rd_shadowable AND s._lv_ts > s._rd_ts THEN NULL ELSE s._rd_ts END"
        parts = ["p.del_ts", row_del] + ([] if is_static else ["s._range_del_ts"])
        return (
            f"CREATE OR REPLACE VIEW {rel} AS SELECT\n  " + ",\n  ".join(outs) + "\n"
            f"FROM {self.static if is_static else self.state} s\n"
            f"LEFT JOIN {self.partition_deletions} p ON p._pk = s._pk\n"
            f"CROSS JOIN LATERAL (SELECT GREATEST({', '.join(parts)}, {MIN_BIGINT}) AS eff) x"
        )

    def view_statements(self) -> list[str]:
        out = [
            self._resolved_view(
                self.rel("__rows"),
                [*self.partition_key, *self.clustering],
                self.simple,
                self.complex,
                self.counters,
                is_static=False,
            )
        ]
        if self.has_static:
            out.append(
                self._resolved_view(
                    self.rel("__statics"),
                    self.partition_key,
                    self.static_simple,
                    self.static_complex,
                    [],
                    is_static=True,
                )
            )
        static_names = {c.name for c in (*self.static_simple, *self.static_complex)}
        keys = [*self.partition_key, *self.clustering]
        data_cols = [c for c in self.table.columns if not c.is_primary_key and c.name in self.pgtypes]
        first = [f"r.{q(k.name)}" for k in keys]
        first += [f"{'st' if c.name in static_names else 'r'}.{q(c.name)}" for c in data_cols]
        sql = f"SELECT {', '.join(first)}\nFROM {self.rel('__rows')} r\n"
        if self.has_static:
            sql += f"LEFT JOIN {self.rel('__statics')} st ON st._pk = r._pk AND st._live\n"
        sql += "WHERE r._live"
        if self.has_static:
            second = [f"st.{q(k.name)}" for k in self.partition_key]
            second += [f"NULL::{k.pgtype.sql.split(' COLLATE')[0]}" for k in self.clustering]
            second += [
                f"st.{q(c.name)}"
                if c.name in static_names
                else f"NULL::{self.pgtypes[c.name].sql.split(' COLLATE')[0]}"
                for c in data_cols
            ]
            sql += (
                f"\nUNION ALL\nSELECT {', '.join(second)}\nFROM {self.rel('__statics')} st\n"
                f"WHERE st._live AND NOT EXISTS (SELECT 1 FROM {self.rel('__rows')} r WHERE r._pk = st._pk AND r._live)"
            )
        out.append(f"CREATE OR REPLACE VIEW {self.rel()} AS\n{sql}")
        meta = [f"r.{q(k.name)}" for k in keys]
        for col in self.simple:
            meta += [f"r.{q(col.name + s)}" for s in ("__writetime", "__ttl", "__expires_at")]
        out.append(
            f"CREATE OR REPLACE VIEW {self.rel('__writetimes')} AS SELECT {', '.join(meta)} "
            f"FROM {self.rel('__rows')} r WHERE r._live"
        )
        return out


def build_layout(
    table: TableSchema,
    *,
    schema_name: str | None = None,
    overrides: dict[str, str] | None = None,
    state_key_extra: Sequence[str] = (),
) -> TableLayout:
    """The layout of ``table``; ``overrides`` maps column names to PostgreSQL types."""
    overrides = overrides or {}
    pgtypes: dict[str, PgType] = {}
    for col in table.columns:
        if col.name in overrides:
            pgtypes[col.name] = override_type(col.type, overrides[col.name])
        else:
            pgtypes[col.name] = pg_type(col.type)

    def key_columns(columns: list[ColumnSchema]) -> list[KeyColumn]:
        out = []
        for col in columns:
            pgt = pgtypes[col.name]
            out.append(KeyColumn(col, pgt, None if pgt.native_order else col.name + "__ord"))
        return out

    regular, static = table.regular, table.static
    layout = TableLayout(
        table=table,
        schema_name=schema_name or table.keyspace,
        pgtypes=pgtypes,
        partition_key=key_columns(table.partition_key),
        clustering=key_columns(table.clustering),
        simple=[c for c in regular if not c.type.is_multi_cell and not c.type.is_counter],
        complex=[c for c in regular if c.type.is_multi_cell],
        counters=[c for c in regular if c.type.is_counter],
        static_simple=[c for c in static if not c.type.is_multi_cell],
        static_complex=[c for c in static if c.type.is_multi_cell],
        state_key_extra=list(state_key_extra),
    )
    layout.state_columns = [n for n, _ in layout.state_defs()]
    layout.static_columns = [n for n, _ in layout.static_defs()]
    _check_names(layout)
    return layout


def _check_names(layout: TableLayout) -> None:
    names = layout.state_columns + layout.static_columns
    for name in [*names, layout.name + "__partition_deletions"]:
        if len(name.encode()) > _PG_IDENTIFIER_MAX:
            raise SinkError(
                f"{layout.table.qualified_name}: PostgreSQL identifier {name!r} is longer than 63 bytes",
                retryable=False,
            )
    for group in (layout.state_columns, layout.static_columns):
        seen: set[str] = set()
        for name in group:
            if name in seen:
                raise SinkError(
                    f"{layout.table.qualified_name}: column name {name!r} collides with an internal column",
                    retryable=False,
                )
            seen.add(name)
