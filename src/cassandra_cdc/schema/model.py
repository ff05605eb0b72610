"""Table schemas as the decoder and the sinks need them: columns, kinds, types, ids, dropped columns."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

from cassandra_cdc.schema.types import CqlType


class ColumnKind(enum.Enum):
    """schema/ColumnMetadata.Kind, in Cassandra's order."""

    PARTITION_KEY = "partition_key"
    CLUSTERING = "clustering"
    REGULAR = "regular"
    STATIC = "static"


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    name: str
    type: CqlType
    kind: ColumnKind
    # Position within the partition key or clustering (0 for regular and static columns).
    position: int = 0
    # Clustering order: True for DESC (Cassandra's ReversedType); affects ordering, not bytes.
    reversed: bool = False

    @property
    def is_primary_key(self) -> bool:
        return self.kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING)


@dataclass(frozen=True, slots=True)
class DroppedColumn:
    """A column dropped at ``dropped_time`` (microseconds): cells written before then still decode."""

    name: str
    type: CqlType
    dropped_time: int
    kind: ColumnKind = ColumnKind.REGULAR


@dataclass(slots=True)
class TableSchema:
    keyspace: str
    name: str
    id: uuid.UUID
    columns: list[ColumnSchema]
    dropped_columns: dict[str, DroppedColumn] = field(default_factory=dict)
    cdc: bool = False
    gc_grace_seconds: int = 864000
    default_time_to_live: int = 0
    # True when the id came from the source (WITH ID / system_schema), False when it had to be derived.
    id_known: bool = True
    # A materialized view: its rows are derived from a base table's writes, under the view's own id.
    is_view: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{self.keyspace}.{self.name}"

    def column(self, name: str) -> ColumnSchema | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    @property
    def partition_key(self) -> list[ColumnSchema]:
        return sorted((c for c in self.columns if c.kind is ColumnKind.PARTITION_KEY), key=lambda c: c.position)

    @property
    def clustering(self) -> list[ColumnSchema]:
        return sorted((c for c in self.columns if c.kind is ColumnKind.CLUSTERING), key=lambda c: c.position)

    @property
    def regular(self) -> list[ColumnSchema]:
        return [c for c in self.columns if c.kind is ColumnKind.REGULAR]

    @property
    def static(self) -> list[ColumnSchema]:
        return [c for c in self.columns if c.kind is ColumnKind.STATIC]

    @property
    def is_counter(self) -> bool:
        return any(c.type.is_counter for c in self.columns if not c.is_primary_key)


@dataclass(slots=True)
class UserTypeDef:
    keyspace: str
    name: str
    field_names: list[str]
    field_types: list[CqlType]


@dataclass(slots=True)
class Schema:
    """Every known table, by id and by name."""

    tables: dict[uuid.UUID, TableSchema] = field(default_factory=dict)
    user_types: dict[tuple[str, str], UserTypeDef] = field(default_factory=dict)
    # Keyspaces the source named (CREATE KEYSPACE, system_schema.keyspaces), even those without tables.
    keyspaces: set[str] = field(default_factory=set)

    def add(self, table: TableSchema) -> None:
        self.tables[table.id] = table

    def by_id(self, table_id: uuid.UUID) -> TableSchema | None:
        return self.tables.get(table_id)

    def by_name(self, keyspace: str, name: str) -> TableSchema | None:
        for table in self.tables.values():
            if table.keyspace == keyspace and table.name == name:
                return table
        return None
