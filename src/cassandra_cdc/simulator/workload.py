"""A seeded, realistic write workload over any tables, as the Mutations Cassandra would log.

Operations mimic what CQL statements make Cassandra write: INSERT (primary-key liveness plus
cells), UPDATE of a few columns, INSERT ... USING TTL, DELETE of a row, of a column, of a clustering
range and of a whole partition, collection element additions and removals, collection
overwrites (a collection deletion just below the new elements' timestamp) and static updates.
"""

from __future__ import annotations

import random
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cassandra_cdc.commitlog.model import (
    Cell,
    ClusteringKind,
    DeletionTime,
    LivenessInfo,
    Mutation,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
)
from cassandra_cdc.commitlog.serialization_header import column_sort_key
from cassandra_cdc.schema.model import ColumnSchema, TableSchema
from cassandra_cdc.schema.types import CqlType, ListType, MapType, SetType, UserType, join_composite_key
from cassandra_cdc.simulator.values import random_value, timeuuid

# Makes one plausible value of a column from the generator's random source and the write
# timestamp (microseconds): e.g. an e-mail address for a text column named ``email``.
ValueFactory = Callable[[random.Random, int], Any]


@dataclass(frozen=True, slots=True)
class OperationMix:
    """Relative weights of each operation."""

    insert: float = 0.40
    update: float = 0.25
    insert_ttl: float = 0.08
    delete_row: float = 0.06
    delete_cell: float = 0.05
    collection_change: float = 0.08
    collection_overwrite: float = 0.03
    static_update: float = 0.02
    range_delete: float = 0.02
    partition_delete: float = 0.01

    def choices(self) -> tuple[list[str], list[float]]:
        names = [f for f in self.__dataclass_fields__]
        return names, [getattr(self, n) for n in names]


# Distinct INSERT (and UPDATE) statements per table.
STATEMENTS_PER_TABLE = 6


def _in_cassandra_order(columns: list[ColumnSchema]) -> list[ColumnSchema]:
    """Columns in the order a row serialises them (so decoded rows equal generated ones)."""
    return sorted(columns, key=lambda c: column_sort_key(c.name, c.type.is_multi_cell))


class WorkloadGenerator:
    """Generates mutations for ``tables``; deterministic for a given seed.

    ``now`` (seconds) is the node's clock for local deletion and expiry times; write timestamps
    start at ``now`` in microseconds and advance with every mutation.

    ``values`` maps ``keyspace.table.column`` (``keyspace.table.column.field`` for a field of a
    non-frozen UDT) to a :data:`ValueFactory` used instead of a random value of the column's type:
    a collection column's factory returns the whole collection (a list for sets, a dict for maps).
    """

    def __init__(
        self,
        tables: list[TableSchema],
        *,
        seed: int = 0,
        now: int = 1_700_000_000,
        partitions_per_table: int = 500,
        rows_per_partition: int = 8,
        ttl_range: tuple[int, int] = (60, 86_400),
        mix: OperationMix | None = None,
        values: Mapping[str, ValueFactory] | None = None,
    ) -> None:
        if not tables:
            raise ValueError("a workload needs at least one table")
        self.tables = tables
        self.rng = random.Random(seed)
        self.now = now
        self.timestamp = now * 1_000_000
        self.partitions = partitions_per_table
        self.rows = rows_per_partition
        self.ttl_range = ttl_range
        self._ops, self._weights = (mix or OperationMix()).choices()
        self.values = dict(values or {})
        self._keys: dict[tuple[uuid.UUID, int], bytes] = {}
        self._shapes: dict[tuple[uuid.UUID, str], list[list[ColumnSchema]]] = {}
        self._clusterings: dict[tuple[uuid.UUID, int], tuple[bytes | None, ...]] = {}

    # -- keys ---------------------------------------------------------------------------------
    def _partition_key(self, table: TableSchema, index: int) -> bytes:
        cached = self._keys.get((table.id, index))
        if cached is None:
            rng = random.Random(f"{table.id}:pk:{index}")
            parts = [col.type.serialize(self._value(table, col.name, col.type, rng)) for col in table.partition_key]
            cached = parts[0] if len(parts) == 1 else join_composite_key(parts)
            self._keys[(table.id, index)] = cached
        return cached

    def _clustering(self, table: TableSchema, index: int) -> tuple[bytes | None, ...]:
        cached = self._clusterings.get((table.id, index))
        if cached is None:
            rng = random.Random(f"{table.id}:ck:{index}")
            cached = tuple(col.type.serialize(self._value(table, col.name, col.type, rng)) for col in table.clustering)
            self._clusterings[(table.id, index)] = cached
        return cached

    def _statement_columns(self, table: TableSchema, kind: str, size: tuple[int, int]) -> list[ColumnSchema]:
        """The columns one statement writes. Applications run a handful of prepared statements per
        table, so writes come in a few fixed column sets (which is also what Cassandra's headers see)."""
        shapes = self._shapes.get((table.id, kind))
        if shapes is None:
            rng = random.Random(f"{table.id}:{kind}")
            regular = table.regular
            shapes = [
                _in_cassandra_order(rng.sample(regular, k=min(len(regular), rng.randint(*size))))
                for _ in range(STATEMENTS_PER_TABLE)
            ]
            self._shapes[(table.id, kind)] = shapes
        return self.rng.choice(shapes)

    def _value(
        self, table: TableSchema | None, name: str, type_: CqlType, rng: random.Random, micros: int | None = None
    ) -> Any:
        """A value for column (or UDT field) ``name``: from its factory if one is given, else random."""
        factory = self.values.get(f"{table.qualified_name}.{name}") if table is not None else None
        if factory is not None:
            return factory(rng, self.timestamp if micros is None else micros)
        if micros is None:
            return random_value(type_, rng)
        return random_value(type_, rng, micros=micros)

    # -- cells --------------------------------------------------------------------------------
    def _cells(self, col: ColumnSchema, ts: int, ttl: int = 0, table: TableSchema | None = None) -> list[Cell]:
        ldt = self.now + ttl if ttl else 2**31 - 1
        type_ = col.type
        if not type_.is_multi_cell:
            value = type_.serialize(self._value(table, col.name, type_, self.rng, ts))
            return [Cell(col.name, ts, value, ttl, ldt)]
        cells: list[Cell] = []
        if isinstance(type_, ListType):
            for i, element in enumerate(self._value(table, col.name, type_, self.rng, ts)):
                path = timeuuid(self.rng, ts + i).bytes
                cells.append(Cell(col.name, ts, type_.element.serialize(element), ttl, ldt, path))
        elif isinstance(type_, SetType):
            paths = {type_.element.serialize(e) for e in self._value(table, col.name, type_, self.rng, ts)}
            cells = [Cell(col.name, ts, b"", ttl, ldt, p) for p in sorted(paths)]
        elif isinstance(type_, MapType):
            generated = self._value(table, col.name, type_, self.rng)
            pairs = {type_.key.serialize(k): type_.value.serialize(v) for k, v in generated.items()}
            cells = [Cell(col.name, ts, pairs[p], ttl, ldt, p) for p in sorted(pairs)]
        elif isinstance(type_, UserType):
            for index, field_type in enumerate(type_.field_types):
                if self.rng.random() < 0.7:
                    field_name = f"{col.name}.{type_.field_names[index]}"
                    value = field_type.serialize(self._value(table, field_name, field_type, self.rng, ts))
                    cells.append(Cell(col.name, ts, value, ttl, ldt, struct.pack(">h", index)))
        return cells

    def _tombstone(self, col: ColumnSchema, ts: int) -> list[Cell]:
        if col.type.is_multi_cell:
            return []
        return [Cell(col.name, ts, b"", 0, self.now)]

    # -- operations ---------------------------------------------------------------------------
    def _next_ts(self) -> int:
        self.timestamp += self.rng.randint(1, 50)
        return self.timestamp

    def next_mutation(self) -> Mutation:
        table = self.rng.choice(self.tables)
        op = self.rng.choices(self._ops, self._weights)[0]
        if op == "static_update" and not table.static:
            op = "update"
        if op in ("collection_change", "collection_overwrite") and not any(c.type.is_multi_cell for c in table.regular):
            op = "update"
        if op == "range_delete" and not table.clustering:
            op = "delete_row"
        ts = self._next_ts()
        pk = self._partition_key(table, self.rng.randrange(self.partitions))
        update = PartitionUpdate(table.id, pk)
        clustering = self._clustering(table, self.rng.randrange(self.rows)) if table.clustering else ()
        regular = table.regular
        if op in ("insert", "insert_ttl"):
            ttl = self.rng.randint(*self.ttl_range) if op == "insert_ttl" else 0
            ldt = self.now + ttl if ttl else 2**31 - 1
            chosen = self._statement_columns(table, "insert", (5, 9))
            cells = [cell for col in chosen for cell in self._cells(col, ts, ttl, table)]
            update.unfiltereds.append(Row(clustering, LivenessInfo(ts, ttl, ldt), cells=cells))
        elif op == "update":
            chosen = self._statement_columns(table, "update", (2, 5))
            update.unfiltereds.append(
                Row(clustering, cells=[c for col in chosen for c in self._cells(col, ts, table=table)])
            )
        elif op == "delete_row":
            update.unfiltereds.append(Row(clustering, deletion=DeletionTime(ts, self.now)))
        elif op == "delete_cell":
            simple = [c for c in regular if not c.type.is_multi_cell] or regular
            col = self.rng.choice(simple)
            cells = self._tombstone(col, ts)
            deletions = {} if cells else {col.name: DeletionTime(ts, self.now)}
            update.unfiltereds.append(Row(clustering, cells=cells, complex_deletions=deletions))
        elif op in ("collection_change", "collection_overwrite"):
            col = self.rng.choice([c for c in regular if c.type.is_multi_cell])
            deletions = {col.name: DeletionTime(ts - 1, self.now)} if op == "collection_overwrite" else {}
            update.unfiltereds.append(
                Row(clustering, cells=self._cells(col, ts, table=table), complex_deletions=deletions)
            )
        elif op == "static_update":
            col = self.rng.choice(table.static)
            update.static_row = Row((), cells=self._cells(col, ts, table=table), is_static=True)
        elif op == "range_delete":
            prefix = clustering[:1]
            deletion = DeletionTime(ts, self.now)
            update.unfiltereds.append(RangeTombstoneMarker(ClusteringKind.INCL_START_BOUND, prefix, deletion))
            update.unfiltereds.append(RangeTombstoneMarker(ClusteringKind.INCL_END_BOUND, prefix, deletion))
        else:
            update.partition_deletion = DeletionTime(ts, self.now)
        return Mutation([update])

    def mutations(self, count: int) -> list[Mutation]:
        return [self.next_mutation() for _ in range(count)]
