"""Dropping what no longer matters: shadowed data at once, tombstones and expired cells after the grace.

Order matters: data a deletion shadows goes first (while the deletion still stands), then the
deletions whose local deletion time is older than the cutoff, then rows left empty. A tombstone
cell's local deletion time is kept where an expiring cell keeps its expiry (``__exp``: both are
Cassandra's Cell.localDeletionTime); tombstones stored before it was kept there (null) fall back to
their write timestamp.
"""

from __future__ import annotations

from cassandra_cdc.schema.model import ColumnSchema
from cassandra_cdc.sinks.postgres.ddl import MIN_BIGINT, TableLayout, lit, q
from cassandra_cdc.sinks.postgres.merge import STATIC_CK


def _effective(layout: TableLayout, alias: str, *, is_static: bool) -> str:
    row_del = f"CASE WHEN {alias}._rd_shadowable AND {alias}._lv_ts > {alias}._rd_ts THEN NULL ELSE {alias}._rd_ts END"
    pdel = f"(SELECT p.del_ts FROM {layout.partition_deletions} p WHERE p._pk = {alias}._pk)"
    parts = [pdel, row_del] + ([] if is_static else [f"{alias}._range_del_ts"])
    return f"GREATEST({', '.join(parts)}, {MIN_BIGINT})"


def _cell_statements(
    layout: TableLayout, rel: str, columns: list[ColumnSchema], cutoff: int, *, is_static: bool, with_value: bool
) -> list[str]:
    eff = _effective(layout, "s", is_static=is_static)
    out = []
    for col in columns:
        n = col.name
        ts, dead, exp = q(n + "__ts"), q(n + "__del"), q(n + "__exp")
        fields = ([n] if with_value else []) + [n + s for s in ("__rank", "__ts", "__ttl", "__exp", "__del")]
        sets = ", ".join(f"{q(f)} = NULL" for f in fields)
        out.append(
            f"UPDATE {rel} s SET {sets} WHERE {ts} IS NOT NULL AND ({ts} <= {eff} "
            f"OR ({dead} AND {exp} IS NULL AND {ts} < {cutoff * 1_000_000}) OR {exp} < {cutoff})"
        )
    return out


def _row_statements(layout: TableLayout, rel: str, cutoff: int, *, is_static: bool) -> tuple[list[str], list[str]]:
    """Liveness that is shadowed or expired past the cutoff; row deletions past the cutoff."""
    eff = _effective(layout, "s", is_static=is_static)
    lv = ", ".join(f"{c} = NULL" for c in ("_lv_rank", "_lv_ts", "_lv_ttl", "_lv_exp"))
    rd = ", ".join(f"{c} = NULL" for c in ("_rd_rank", "_rd_ts", "_rd_ldt", "_rd_shadowable"))
    liveness = (
        f"UPDATE {rel} s SET {lv} WHERE _lv_ts IS NOT NULL "
        f"AND (_lv_ts <= {eff} OR (_lv_exp IS NOT NULL AND _lv_exp < {cutoff}))"
    )
    return [liveness], [f"UPDATE {rel} SET {rd} WHERE _rd_ldt < {cutoff}"]


def _element_statements(layout: TableLayout, cutoff: int) -> list[str]:
    out = [
        f"DELETE FROM {layout.elements} e WHERE (e.del AND e.exp IS NULL AND e.ts < {cutoff * 1_000_000}) "
        f"OR e.exp < {cutoff}"
    ]
    for rel, columns, is_static in (
        (layout.state, layout.complex, False),
        (layout.static, layout.static_complex, True),
    ):
        if not columns:
            continue
        cdel = (
            "CASE e.col " + " ".join(f"WHEN {lit(c.name)} THEN s.{q(c.name + '__cdel_ts')}" for c in columns) + " END"
        )
        ck = "e._ck = '\\xffffffff'::bytea" if is_static else "e._ck = s._ck"
        out.append(
            f"DELETE FROM {layout.elements} e USING {rel} s WHERE e._pk = s._pk AND {ck} "
            f"AND e.ts <= GREATEST({_effective(layout, 's', is_static=is_static)}, {cdel})"
        )
    return out


def purge_statements(layout: TableLayout, cutoff: int) -> list[str]:
    """Statements purging ``layout``'s tables of state that cannot matter after ``cutoff`` (seconds)."""
    assert STATIC_CK == b"\xff\xff\xff\xff"
    out: list[str] = []
    out += _cell_statements(layout, layout.state, layout.simple, cutoff, is_static=False, with_value=True)
    out += _cell_statements(layout, layout.state, layout.counters, cutoff, is_static=False, with_value=False)
    lv, rd = _row_statements(layout, layout.state, cutoff, is_static=False)
    out += lv
    static_rd: list[str] = []
    if layout.has_static:
        out += _cell_statements(layout, layout.static, layout.static_simple, cutoff, is_static=True, with_value=True)
        slv, static_rd = _row_statements(layout, layout.static, cutoff, is_static=True)
        out += slv
    if layout.complex or layout.static_complex:
        out += _element_statements(layout, cutoff)
    if layout.counters:
        out.append(
            f"DELETE FROM {layout.shards} c USING {layout.state} s WHERE c._pk = s._pk AND c._ck = s._ck "
            f"AND c.ts <= {_effective(layout, 's', is_static=False)}"
        )
    # Deletions past the grace, now that what they shadowed is gone.
    out += rd + static_rd
    for rel, columns in ((layout.state, layout.complex), (layout.static, layout.static_complex)):
        for col in columns:
            fields = ", ".join(f"{q(col.name + s)} = NULL" for s in ("__cdel_rank", "__cdel_ts", "__cdel_ldt"))
            out.append(f"UPDATE {rel} SET {fields} WHERE {q(col.name + '__cdel_ldt')} < {cutoff}")
    out.append(f"DELETE FROM {layout.partition_deletions} WHERE ldt < {cutoff}")
    if layout.clustering:
        out.append(
            f"UPDATE {layout.state} AS s SET _range_del_ts = (SELECT max(r.del_ts) FROM {layout.ranges} r "
            f"WHERE r._pk = s._pk AND r.ldt >= {cutoff} AND {layout.covers_sql()}) "
            f"WHERE s._pk IN (SELECT _pk FROM {layout.ranges} WHERE ldt < {cutoff})"
        )
        out.append(f"DELETE FROM {layout.ranges} WHERE ldt < {cutoff}")
    out += _empty_rows(layout)
    return out


def _empty_rows(layout: TableLayout) -> list[str]:
    def empty(
        rel: str, simple: list[ColumnSchema], counters: list[ColumnSchema], complex_: list[ColumnSchema], ck: str
    ) -> str:
        conds = ["s._lv_rank IS NULL", "s._rd_rank IS NULL"]
        conds += [f"s.{q(c.name + '__rank')} IS NULL" for c in (*simple, *counters)]
        conds += [f"s.{q(c.name + '__cdel_rank')} IS NULL" for c in complex_]
        if complex_:
            conds.append(f"NOT EXISTS (SELECT 1 FROM {layout.elements} e WHERE e._pk = s._pk AND e._ck = {ck})")
        if counters:
            conds.append(f"NOT EXISTS (SELECT 1 FROM {layout.shards} c WHERE c._pk = s._pk AND c._ck = {ck})")
        return f"DELETE FROM {rel} s WHERE {' AND '.join(conds)}"

    out = [empty(layout.state, layout.simple, layout.counters, layout.complex, "s._ck")]
    if layout.has_static:
        out.append(empty(layout.static, layout.static_simple, [], layout.static_complex, "'\\xffffffff'::bytea"))
    return out
