"""Cassandra's own tables, recognised by id: schema-change and TRUNCATE signals in the commit log.

Cassandra does not store random ids for the tables of its system keyspaces: it derives each id from
the keyspace and table names (3.x ``CFMetaData.generateLegacyCfId``, 4.0+ ``TableId.forSystemTable``,
both ``UUID.nameUUIDFromBytes(keyspace bytes + table bytes)``, a version-3 MD5 name UUID without a
namespace). So a mutation's table id alone tells whether it touches ``system_schema.*`` (a schema
change) or ``system.local`` (whose ``truncated_at`` map records TRUNCATE), whatever the version.

Table lists follow each branch's keyspace definitions (db/SystemKeyspace.tables(),
schema/SchemaKeyspace(Tables), auth/AuthKeyspace, tracing/TraceKeyspace,
repair|schema/SystemDistributedKeyspace) in 3.0, 3.11, 4.0, 4.1 and 5.0.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

SYSTEM = "system"
SYSTEM_SCHEMA = "system_schema"
SYSTEM_AUTH = "system_auth"
SYSTEM_DISTRIBUTED = "system_distributed"
SYSTEM_TRACES = "system_traces"
SYSTEM_VIEWS = "system_views"
SYSTEM_VIRTUAL_SCHEMA = "system_virtual_schema"

# Keyspaces whose tables get name-derived ids and live in the commit log.
SYSTEM_KEYSPACES: frozenset[str] = frozenset({SYSTEM, SYSTEM_SCHEMA, SYSTEM_AUTH, SYSTEM_DISTRIBUTED, SYSTEM_TRACES})
# Virtual keyspaces (4.0+): their tables are computed on read and never written to the commit log.
VIRTUAL_KEYSPACES: frozenset[str] = frozenset({SYSTEM_VIEWS, SYSTEM_VIRTUAL_SCHEMA})

VERSIONS: tuple[str, ...] = ("3.0", "3.11", "4.0", "4.1", "5.0")

# The system.local column whose map (table id -> truncation record) is updated on TRUNCATE
# (SystemKeyspace.saveTruncationRecord); the value is a serialized CommitLogPosition then the
# truncation time in milliseconds.
TRUNCATED_AT_COLUMN = "truncated_at"

_ALL = frozenset(VERSIONS)


def _since(first: str, until: str | None = None) -> frozenset[str]:
    """Versions from ``first`` up to and including ``until`` (or the newest)."""
    start = VERSIONS.index(first)
    end = VERSIONS.index(until) + 1 if until is not None else len(VERSIONS)
    return frozenset(VERSIONS[start:end])


# (keyspace, table) -> versions that define it.
_TABLE_VERSIONS: dict[tuple[str, str], frozenset[str]] = {
    # system
    (SYSTEM, "IndexInfo"): _ALL,
    (SYSTEM, "batches"): _ALL,
    (SYSTEM, "paxos"): _ALL,
    (SYSTEM, "local"): _ALL,
    (SYSTEM, "peers"): _ALL,
    (SYSTEM, "peer_events"): _ALL,
    (SYSTEM, "compaction_history"): _ALL,
    (SYSTEM, "sstable_activity"): _ALL,
    (SYSTEM, "size_estimates"): _ALL,
    (SYSTEM, "available_ranges"): _ALL,
    (SYSTEM, "built_views"): _ALL,
    (SYSTEM, "range_xfers"): _since("3.0", "3.11"),
    (SYSTEM, "views_builds_in_progress"): _since("3.0", "3.11"),
    (SYSTEM, "hints"): _since("3.0", "3.11"),
    (SYSTEM, "batchlog"): _since("3.0", "3.11"),
    (SYSTEM, "schema_keyspaces"): _since("3.0", "3.11"),
    (SYSTEM, "schema_columnfamilies"): _since("3.0", "3.11"),
    (SYSTEM, "schema_columns"): _since("3.0", "3.11"),
    (SYSTEM, "schema_triggers"): _since("3.0", "3.11"),
    (SYSTEM, "schema_usertypes"): _since("3.0", "3.11"),
    (SYSTEM, "schema_functions"): _since("3.0", "3.11"),
    (SYSTEM, "schema_aggregates"): _since("3.0", "3.11"),
    (SYSTEM, "transferred_ranges"): _since("3.11"),
    (SYSTEM, "prepared_statements"): _since("3.11"),
    (SYSTEM, "peers_v2"): _since("4.0"),
    (SYSTEM, "peer_events_v2"): _since("4.0"),
    (SYSTEM, "table_estimates"): _since("4.0"),
    (SYSTEM, "available_ranges_v2"): _since("4.0"),
    (SYSTEM, "transferred_ranges_v2"): _since("4.0"),
    (SYSTEM, "view_builds_in_progress"): _since("4.0"),
    (SYSTEM, "repairs"): _since("4.0"),
    (SYSTEM, "paxos_repair_history"): _since("4.1"),
    (SYSTEM, "sstable_activity_v2"): _since("4.1"),
    (SYSTEM, "top_partitions"): _since("4.1"),
    # system_schema
    (SYSTEM_SCHEMA, "keyspaces"): _ALL,
    (SYSTEM_SCHEMA, "tables"): _ALL,
    (SYSTEM_SCHEMA, "columns"): _ALL,
    (SYSTEM_SCHEMA, "dropped_columns"): _ALL,
    (SYSTEM_SCHEMA, "triggers"): _ALL,
    (SYSTEM_SCHEMA, "views"): _ALL,
    (SYSTEM_SCHEMA, "types"): _ALL,
    (SYSTEM_SCHEMA, "functions"): _ALL,
    (SYSTEM_SCHEMA, "aggregates"): _ALL,
    (SYSTEM_SCHEMA, "indexes"): _ALL,
    (SYSTEM_SCHEMA, "column_masks"): _since("5.0"),
    # system_auth
    (SYSTEM_AUTH, "roles"): _ALL,
    (SYSTEM_AUTH, "role_members"): _ALL,
    (SYSTEM_AUTH, "role_permissions"): _ALL,
    (SYSTEM_AUTH, "resource_role_permissons_index"): _ALL,  # sic: Cassandra's spelling
    (SYSTEM_AUTH, "network_permissions"): _since("4.0"),
    (SYSTEM_AUTH, "cidr_permissions"): _since("5.0"),
    (SYSTEM_AUTH, "cidr_groups"): _since("5.0"),
    (SYSTEM_AUTH, "identity_to_role"): _since("5.0"),
    # system_distributed
    (SYSTEM_DISTRIBUTED, "repair_history"): _ALL,
    (SYSTEM_DISTRIBUTED, "parent_repair_history"): _ALL,
    (SYSTEM_DISTRIBUTED, "view_build_status"): _since("3.11"),
    (SYSTEM_DISTRIBUTED, "partition_denylist"): _since("4.1"),
    # system_traces
    (SYSTEM_TRACES, "sessions"): _ALL,
    (SYSTEM_TRACES, "events"): _ALL,
}


def system_table_id(keyspace: str, table: str) -> uuid.UUID:
    """The id Cassandra derives for a system table.

    Follows TableId.unsafeDeterministic / CFMetaData.generateLegacyCfId: Java's
    ``UUID.nameUUIDFromBytes`` over the UTF-8 keyspace name followed by the table name, i.e. the MD5
    digest with the version nibble set to 3 and the IETF variant bits.
    """
    digest = hashlib.md5((keyspace + table).encode("utf-8"), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest, version=3)


def is_system_keyspace(keyspace: str) -> bool:
    """True for Cassandra's own keyspaces, virtual ones included (names are case-insensitive here)."""
    lowered = keyspace.lower()
    return lowered in SYSTEM_KEYSPACES or lowered in VIRTUAL_KEYSPACES


@dataclass(frozen=True, slots=True)
class SystemTable:
    keyspace: str
    name: str
    id: uuid.UUID
    # Versions (of VERSIONS) whose keyspace definitions contain this table.
    versions: frozenset[str]

    @property
    def qualified_name(self) -> str:
        return f"{self.keyspace}.{self.name}"

    @property
    def is_schema_table(self) -> bool:
        """A write here is a schema change: system_schema.* (3.0+) or the legacy system.schema_* tables."""
        return self.keyspace == SYSTEM_SCHEMA or (self.keyspace == SYSTEM and self.name.startswith("schema_"))

    @property
    def is_truncation_record(self) -> bool:
        """system.local: TRUNCATE adds an entry to its ``truncated_at`` map (table id -> record)."""
        return self.keyspace == SYSTEM and self.name == "local"


SYSTEM_TABLES: tuple[SystemTable, ...] = tuple(
    SystemTable(keyspace, name, system_table_id(keyspace, name), versions)
    for (keyspace, name), versions in _TABLE_VERSIONS.items()
)

_BY_ID: dict[uuid.UUID, SystemTable] = {table.id: table for table in SYSTEM_TABLES}


def classify_table_id(table_id: uuid.UUID) -> SystemTable | None:
    """The system table with this id, or None for a user table (or a system table we do not list)."""
    return _BY_ID.get(table_id)


def system_tables_for_version(version: str) -> list[SystemTable]:
    """The system tables one release line defines (``version`` is one of VERSIONS, e.g. "4.0")."""
    if version not in VERSIONS:
        raise ValueError(f"unknown Cassandra version {version!r}; expected one of {', '.join(VERSIONS)}")
    return [table for table in SYSTEM_TABLES if version in table.versions]
