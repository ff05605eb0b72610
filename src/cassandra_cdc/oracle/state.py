"""The oracle: the state Cassandra holds after a set of changes, as CQL ``SELECT *`` would show it.

The oracle keeps every distinct fact it is given (cell versions, liveness, deletions) in sets and
resolves them only when asked for rows, with one ``now``. Applying a change is therefore idempotent and
commutative by construction, and the read-time resolution is a pure function of the set of facts.
It follows the way a read merges all versions of a row at once (db/rows/Row.Merger): the partition
deletion and covering range tombstones form the active deletion, the row deletion joins it unless a
newer primary-key liveness shadows it (shadowable deletions), a collection deletion joins it for its
column, and each cell keeps the winner of its surviving versions (oracle/conflicts.py).

Representation of rows (``Oracle.rows``): one dict per live row, every column of the table by name,
None for null; scalar values as schema/types.py deserialises them; non-frozen collections and UDTs
exactly as their frozen form deserialises (list: list in list order; set: list in Cassandra's element
order; map: dict in key order, or a list of (key, value) pairs when keys are unhashable; UDT: dict of
every field, None for unset fields); an empty collection or UDT is None, as in CQL. A partition with
live static cells and no live rows shows as one row with null clustering and regular columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cassandra_cdc.changes.model import Bound, CellChange, Deletion, Liveness, RowChange
from cassandra_cdc.oracle.conflicts import (
    CONFLICT_RULES,
    CellVersion,
    ConflictRules,
    RowDeletion,
    deletes,
    liveness_is_live,
    max_deletion,
    max_liveness,
    max_row_deletion,
    reconcile,
)
from cassandra_cdc.oracle.counters import merge_counter
from cassandra_cdc.oracle.ordering import clustering_comparator, comparator, compare_timeuuid, sort_key
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnKind, ColumnSchema, Schema, TableSchema

WRITETIME = "__writetime"
TTL = "__ttl"
EXPIRES_AT = "__expires_at"


class OracleError(ValueError):
    """A change the oracle cannot place: unknown table or column, missing key column, bad value."""


# --- facts ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _CellFacts:
    path: Any  # the typed element key (None for a simple column)
    versions: set[CellVersion] = field(default_factory=set)


@dataclass(slots=True)
class _RowFacts:
    clustering: tuple[Any, ...]  # typed clustering values, in clustering order
    liveness: set[Liveness] = field(default_factory=set)
    deletions: set[RowDeletion] = field(default_factory=set)
    # column name -> element key bytes (None for a simple column) -> versions
    cells: dict[str, dict[bytes | None, _CellFacts]] = field(default_factory=dict)
    collection_deletions: dict[str, set[Deletion]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _RangeTombstone:
    start_key: tuple[bytes, ...]
    start_inclusive: bool
    end_key: tuple[bytes, ...]
    end_inclusive: bool
    deletion: Deletion
    start: tuple[Any, ...] = field(compare=False, hash=False)
    end: tuple[Any, ...] = field(compare=False, hash=False)


@dataclass(slots=True)
class _PartitionFacts:
    key: tuple[Any, ...]  # typed partition key values, in partition key order
    deletions: set[Deletion] = field(default_factory=set)
    static: _RowFacts = field(default_factory=lambda: _RowFacts(()))
    rows: dict[tuple[bytes, ...], _RowFacts] = field(default_factory=dict)
    ranges: set[_RangeTombstone] = field(default_factory=set)


@dataclass(slots=True)
class _TableFacts:
    schema: TableSchema
    partitions: dict[tuple[bytes, ...], _PartitionFacts] = field(default_factory=dict)


def _serialize(table: TableSchema, type_: T.CqlType, value: Any, what: str) -> bytes:
    if value is None:
        return b""
    try:
        return type_.serialize(value)
    except (TypeError, ValueError) as exc:
        raise OracleError(f"{table.qualified_name}: {what}: {exc}") from exc


# --- the oracle ----------------------------------------------------------------------------------


class Oracle:
    """Reference model of Cassandra's merge semantics.

    ``tables``: a Schema, a mapping of table id to TableSchema, or an iterable of TableSchema.
    ``conflict_rules``: "3.x" (Conflicts.resolveRegular of 3.0/3.11) or "4.0+" (CASSANDRA-14592) for
    cells written at the same timestamp.
    """

    def __init__(
        self,
        tables: Schema | Mapping[uuid.UUID, TableSchema] | Iterable[TableSchema],
        *,
        conflict_rules: ConflictRules = "4.0+",
    ) -> None:
        if conflict_rules not in CONFLICT_RULES:
            raise ValueError(f"conflict_rules must be one of {CONFLICT_RULES}, not {conflict_rules!r}")
        self.conflict_rules: ConflictRules = conflict_rules
        if isinstance(tables, Schema):
            schemas: Iterable[TableSchema] = tables.tables.values()
        elif isinstance(tables, Mapping):
            schemas = tables.values()
        else:
            schemas = tables
        self._tables: dict[uuid.UUID, _TableFacts] = {t.id: _TableFacts(t) for t in schemas}
        self._by_name = {(t.schema.keyspace, t.schema.name): t for t in self._tables.values()}

    # --- applying changes ---

    def apply_all(self, changes: Iterable[RowChange]) -> None:
        for change in changes:
            self.apply(change)

    def apply(self, change: RowChange) -> None:
        """Record every fact ``change`` carries. Idempotent and commutative: facts go into sets."""
        facts = self._tables.get(change.table_id) or self._by_name.get((change.keyspace, change.table))
        if facts is None:
            raise OracleError(f"change for unknown table {change.keyspace}.{change.table} (id {change.table_id})")
        table = facts.schema
        pk_bytes, pk_values = self._key(table, table.partition_key, change.partition_key, "partition key", full=True)
        partition = facts.partitions.get(pk_bytes)
        if partition is None:
            partition = facts.partitions[pk_bytes] = _PartitionFacts(pk_values)
        if change.partition_deletion is not None:
            partition.deletions.add(change.partition_deletion)
        if change.range_deletion is not None:
            partition.ranges.add(self._range(table, change))
        has_row_content = (
            change.liveness is not None
            or change.row_deletion is not None
            or change.cells
            or change.collection_deletions
        )
        if not has_row_content:
            return
        if change.is_static:
            row = partition.static
        else:
            ck_bytes, ck_values = self._key(table, table.clustering, change.clustering, "clustering", full=True)
            found = partition.rows.get(ck_bytes)
            if found is None:
                found = partition.rows[ck_bytes] = _RowFacts(ck_values)
            row = found
        if change.liveness is not None:
            row.liveness.add(change.liveness)
        if change.row_deletion is not None:
            row.deletions.add(RowDeletion(change.row_deletion, change.shadowable))
        for name, deletion in change.collection_deletions.items():
            self._column_type(table, name, static=change.is_static)
            row.collection_deletions.setdefault(name, set()).add(deletion)
        for cell in change.cells:
            path_key, path, version = self._cell_version(table, cell, static=change.is_static)
            column = row.cells.setdefault(cell.column, {})
            cell_facts = column.get(path_key)
            if cell_facts is None:
                cell_facts = column[path_key] = _CellFacts(path)
            cell_facts.versions.add(version)

    def _key(
        self, table: TableSchema, columns: list[ColumnSchema], values: Mapping[str, Any], what: str, *, full: bool
    ) -> tuple[tuple[bytes, ...], tuple[Any, ...]]:
        """The identity (serialised values) and typed values of a key or key prefix."""
        raw: list[bytes] = []
        typed: list[Any] = []
        unknown = set(values) - {c.name for c in columns}
        if unknown:
            raise OracleError(f"{table.qualified_name}: {what} names non-key column(s) {sorted(unknown)}")
        for col in columns:
            if col.name not in values:
                if full:
                    raise OracleError(f"{table.qualified_name}: {what} lacks column {col.name!r}")
                break
            value = values[col.name]
            raw.append(_serialize(table, col.type, value, f"{what} column {col.name}"))
            typed.append(value)
        if not full and len(typed) != len(values):
            raise OracleError(f"{table.qualified_name}: {what} {sorted(values)} is not a clustering prefix")
        return tuple(raw), tuple(typed)

    def _range(self, table: TableSchema, change: RowChange) -> _RangeTombstone:
        assert change.range_deletion is not None
        start = change.range_start or Bound({}, True)
        end = change.range_end or Bound({}, True)
        start_key, start_values = self._key(table, table.clustering, start.clustering, "range start", full=False)
        end_key, end_values = self._key(table, table.clustering, end.clustering, "range end", full=False)
        return _RangeTombstone(
            start_key, start.inclusive, end_key, end.inclusive, change.range_deletion, start_values, end_values
        )

    def _column_type(self, table: TableSchema, name: str, *, static: bool) -> T.CqlType:
        """The column's type; a cell must sit in the row of its kind (static or regular)."""
        col = table.column(name)
        found = col if col is not None else table.dropped_columns.get(name)
        if found is None:
            raise OracleError(f"{table.qualified_name}: change names unknown column {name!r}")
        if found.kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING):
            raise OracleError(f"{table.qualified_name}: change has a cell for key column {name!r}")
        if (found.kind is ColumnKind.STATIC) != static:
            where = "the static row" if static else "a clustering row"
            raise OracleError(f"{table.qualified_name}: {found.kind.value} column {name!r} in {where}")
        return found.type

    def _cell_version(
        self, table: TableSchema, cell: CellChange, *, static: bool
    ) -> tuple[bytes | None, Any, CellVersion]:
        col_type = self._column_type(table, cell.column, static=static)
        where = f"column {cell.column}"
        path_key: bytes | None = None
        value_type = col_type
        if cell.has_path:
            if not col_type.is_multi_cell:
                raise OracleError(f"{table.qualified_name}: element cell for non-collection {where}")
            if isinstance(col_type, T.UserType):
                if cell.path not in col_type.field_names:
                    raise OracleError(f"{table.qualified_name}: {where} has no field {cell.path!r}")
                index = col_type.field_names.index(cell.path)
                path_key = T.SMALLINT.serialize(index)
                value_type = col_type.field_types[index]
            else:
                path_key = _serialize(table, col_type.cell_path_type(), cell.path, f"element key of {where}")
                value_type = col_type.cell_value_type(path_key)
        elif col_type.is_multi_cell:
            raise OracleError(f"{table.qualified_name}: cell without element key for collection {where}")
        raw = cell.raw_value
        if not raw and not cell.deleted and cell.value is not None and not col_type.is_counter:
            # Hand-made changes may omit the bytes: they are the value's serialisation.
            raw = _serialize(table, value_type, cell.value, where)
        version = CellVersion(
            timestamp=cell.timestamp,
            deleted=cell.deleted,
            ttl=cell.ttl,
            expires_at=cell.expires_at,
            raw=raw,
            counter_shards=cell.counter_shards,
            tombstone_ldt=cell.deletion_time() if cell.deleted else None,
            value=None if cell.deleted else cell.value,
        )
        return path_key, cell.path, version

    # --- reading the state ---

    def table(self, keyspace: str, table: str) -> TableSchema:
        facts = self._by_name.get((keyspace, table))
        if facts is None:
            raise OracleError(f"unknown table {keyspace}.{table}")
        return facts.schema

    def rows(self, keyspace: str, table: str, *, now: int, with_metadata: bool = False) -> list[dict[str, Any]]:
        """Every live row at ``now`` (seconds since the epoch), sorted by partition key then clustering.

        Partitions sort by their key values in Cassandra's type order (not by token), rows by the
        table's clustering order. With ``with_metadata`` each row also has ``__writetime``, ``__ttl``
        and ``__expires_at``: dicts by column name for non-key columns with a value (a list, one entry
        per element in value order, for non-frozen collections and UDTs).
        """
        facts = self._by_name.get((keyspace, table))
        if facts is None:
            raise OracleError(f"unknown table {keyspace}.{table}")
        schema = facts.schema
        pk_cmp = clustering_comparator(schema.partition_key)
        out: list[dict[str, Any]] = []
        for partition in sorted(facts.partitions.values(), key=lambda p: sort_key(pk_cmp)(p.key)):
            out.extend(_Reader(schema, self.conflict_rules, now, with_metadata).partition_rows(partition))
        return out

    def row(
        self, keyspace: str, table: str, key: Mapping[str, Any], *, now: int, with_metadata: bool = False
    ) -> dict[str, Any] | None:
        """The live row with primary key ``key`` at ``now``, or None. For a static-only partition, pass
        the partition key alone (or with None clustering values)."""
        schema, partition = self._partition_at(keyspace, table, key)
        if partition is None:
            return None
        wanted = tuple(key.get(c.name) for c in schema.clustering)
        for row in _Reader(schema, self.conflict_rules, now, with_metadata).partition_rows(partition):
            got = tuple(row[c.name] for c in schema.clustering)
            if all(w is None for w in wanted) and all(g is None for g in got):
                return row
            if got == wanted:
                return row
        return None

    def _partition_at(
        self, keyspace: str, table: str, key: Mapping[str, Any]
    ) -> tuple[TableSchema, _PartitionFacts | None]:
        """The table's schema and the facts of the partition ``key`` names (None when it has none)."""
        facts = self._by_name.get((keyspace, table))
        if facts is None:
            raise OracleError(f"unknown table {keyspace}.{table}")
        schema = facts.schema
        pk = {c.name: key.get(c.name) for c in schema.partition_key}
        pk_bytes, _ = self._key(schema, schema.partition_key, pk, "partition key", full=True)
        return schema, facts.partitions.get(pk_bytes)

    def cell_version(
        self, keyspace: str, table: str, key: Mapping[str, Any], column: str, *, now: int
    ) -> CellVersion | None:
        """The winning version of a simple column's cell in the row (or static row) at ``key``, among
        every version written to it, tombstones included and deletions not applied: what a sink keeps
        for the cell and what its purge looks at (a tombstone's local deletion time)."""
        schema, partition = self._partition_at(keyspace, table, key)
        if partition is None:
            return None
        col = schema.column(column)
        if col is not None and col.kind is ColumnKind.STATIC:
            row: _RowFacts | None = partition.static
        else:
            ck = {c.name: key.get(c.name) for c in schema.clustering}
            ck_bytes, _ = self._key(schema, schema.clustering, ck, "clustering", full=True)
            row = partition.rows.get(ck_bytes)
        cell = row.cells.get(column, {}).get(None) if row is not None else None
        return None if cell is None else reconcile(cell.versions, self.conflict_rules, now)


class _Reader:
    """Resolves one table's facts into rows at one ``now``."""

    def __init__(self, table: TableSchema, rules: ConflictRules, now: int, with_metadata: bool) -> None:
        self.table = table
        self.rules = rules
        self.now = now
        self.with_metadata = with_metadata
        self.clustering_cmp = clustering_comparator(table.clustering)

    def partition_rows(self, partition: _PartitionFacts) -> list[dict[str, Any]]:
        table = self.table
        key = {c.name: v for c, v in zip(table.partition_key, partition.key, strict=True)}
        partition_deletion = max_deletion(partition.deletions)
        static_values, static_meta, static_live = self._row(partition.static, partition_deletion, table.static)
        out = []
        ordered = sorted(partition.rows.values(), key=lambda r: sort_key(self.clustering_cmp)(r.clustering))
        for row in ordered:
            covering = [r.deletion for r in partition.ranges if self._covers(r, row.clustering)]
            active = max_deletion([partition_deletion, *covering])
            values, meta, live = self._row(row, active, table.regular)
            if live:
                clustering = {c.name: v for c, v in zip(table.clustering, row.clustering, strict=True)}
                out.append(self._assemble(key, clustering, static_values, values, static_meta, meta))
        if not out and static_live:
            # SELECT shows a partition with only static content as one row, clustering columns null.
            clustering = {c.name: None for c in table.clustering}
            out.append(self._assemble(key, clustering, static_values, {}, static_meta, {}))
        return out

    def _assemble(
        self,
        key: dict[str, Any],
        clustering: dict[str, Any],
        static_values: dict[str, Any],
        values: dict[str, Any],
        static_meta: dict[str, dict[str, Any]],
        meta: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        row: dict[str, Any] = {**key, **clustering}
        for col in self.table.columns:
            if not col.is_primary_key:
                row[col.name] = static_values.get(col.name, values.get(col.name))
        if self.with_metadata:
            for name in (WRITETIME, TTL, EXPIRES_AT):
                row[name] = {**static_meta.get(name, {}), **meta.get(name, {})}
        return row

    def _covers(self, rt: _RangeTombstone, clustering: tuple[Any, ...]) -> bool:
        """Whether a row lies between the tombstone's bounds (ClusteringComparator with bound kinds:
        an inclusive start sorts before the rows it prefixes, an exclusive start after them, an
        inclusive end after them, an exclusive end before them; an empty prefix is unbounded)."""
        if rt.start:
            c = self.clustering_cmp(rt.start, clustering[: len(rt.start)])
            if c > 0 or (c == 0 and not rt.start_inclusive):
                return False
        if rt.end:
            c = self.clustering_cmp(clustering[: len(rt.end)], rt.end)
            if c > 0 or (c == 0 and not rt.end_inclusive):
                return False
        return True

    def _row(
        self, row: _RowFacts, active: Deletion | None, columns: list[ColumnSchema]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], bool]:
        """Values, metadata and liveness of one row under the active (partition/range) deletion."""
        info = max_liveness(row.liveness)
        row_deletion = max_row_deletion(row.deletions)
        if row_deletion is not None and not row_deletion.is_shadowed_by(info):
            active = max_deletion([active, row_deletion.deletion])
        if info is not None and deletes(active, info.timestamp):
            info = None
        live = liveness_is_live(info, self.now)
        values: dict[str, Any] = {}
        meta: dict[str, dict[str, Any]] = {WRITETIME: {}, TTL: {}, EXPIRES_AT: {}}
        for col in columns:
            cells = row.cells.get(col.name)
            if not cells:
                continue
            if col.type.is_multi_cell:
                column_deletion = max_deletion([active, *row.collection_deletions.get(col.name, ())])
                value, winners = self._complex(col, cells, column_deletion)
                if value is not None:
                    values[col.name] = value
                    meta[WRITETIME][col.name] = [w.timestamp for w in winners]
                    meta[TTL][col.name] = [w.ttl for w in winners]
                    meta[EXPIRES_AT][col.name] = [w.expires_at for w in winners]
            elif col.type.is_counter:
                merged = merge_counter(self._surviving(col, cells[None].versions, active))
                if merged is not None:
                    values[col.name] = merged[0]
                    meta[WRITETIME][col.name] = merged[1]
                    meta[TTL][col.name] = 0
                    meta[EXPIRES_AT][col.name] = None
            else:
                winner = reconcile(self._surviving(col, cells[None].versions, active), self.rules, self.now)
                if winner is not None and winner.is_live(self.now):
                    values[col.name] = winner.value
                    meta[WRITETIME][col.name] = winner.timestamp
                    meta[TTL][col.name] = winner.ttl
                    meta[EXPIRES_AT][col.name] = winner.expires_at
        # A live cell keeps the row alive even when its value is null (an empty value).
        live = live or bool(meta[WRITETIME])
        return values, meta, live

    def _surviving(
        self, col: ColumnSchema, versions: Iterable[CellVersion], deletion: Deletion | None
    ) -> list[CellVersion]:
        """Versions no deletion shadows, nor the column's drop (cells written before a DROP are gone)."""
        dropped = self.table.dropped_columns.get(col.name)
        dropped_time = dropped.dropped_time if dropped is not None else None
        return [
            v
            for v in versions
            if not deletes(deletion, v.timestamp) and (dropped_time is None or v.timestamp > dropped_time)
        ]

    def _complex(
        self, col: ColumnSchema, cells: dict[bytes | None, _CellFacts], deletion: Deletion | None
    ) -> tuple[Any, list[CellVersion]]:
        """The value of a non-frozen collection or UDT: each element resolved on its own."""
        elements: list[tuple[Any, CellVersion]] = []
        for facts in cells.values():
            winner = reconcile(self._surviving(col, facts.versions, deletion), self.rules, self.now)
            if winner is not None and winner.is_live(self.now):
                elements.append((facts.path, winner))
        if not elements:
            return None, []
        t = col.type
        if isinstance(t, T.UserType):
            order = {name: i for i, name in enumerate(t.field_names)}
            elements.sort(key=lambda e: order[e[0]])
            udt: dict[str, Any] = dict.fromkeys(t.field_names)
            for name, version in elements:
                udt[name] = version.value
            return udt, [v for _, v in elements]
        if isinstance(t, T.ListType):
            elements.sort(key=lambda e: sort_key(compare_timeuuid)(e[0]))
            return [v.value for _, v in elements], [v for _, v in elements]
        if isinstance(t, T.SetType):
            elements.sort(key=lambda e: sort_key(comparator(t.element))(e[0]))
            return [p for p, _ in elements], [v for _, v in elements]
        if isinstance(t, T.MapType):
            elements.sort(key=lambda e: sort_key(comparator(t.key))(e[0]))
            pairs = [(p, v.value) for p, v in elements]
            if t.key.hashable_values:
                as_dict = dict(pairs)
                if len(as_dict) == len(pairs):
                    return as_dict, [v for _, v in elements]
            return pairs, [v for _, v in elements]
        raise OracleError(f"{self.table.qualified_name}: column {col.name} of unsupported multi-cell type {t.cql()}")
