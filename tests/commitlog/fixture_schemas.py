"""Schemas for the tables the real fixture segments write to: the CommitLogUpgradeTest table and
the system tables Cassandra 3.0/4.0 write during those runs (their definitions from SystemKeyspace
and SchemaKeyspace, 3.0 and 4.0 columns merged: a header only names the columns it uses).

System tables give the real data collections (non-frozen set/map), frozen collections, composite
partition keys and fixed-length types; IndexInfo (COMPACT STORAGE) is left out on purpose.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from cassandra_cdc.schema.model import ColumnKind, ColumnSchema, Schema, TableSchema
from cassandra_cdc.schema.system_tables import system_table_id
from cassandra_cdc.schema.types import parse_cql_type

PK, CK, REG = ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING, ColumnKind.REGULAR

# (keyspace, table): [(column, cql type, kind)], keys in order.
_SYSTEM: dict[tuple[str, str], list[tuple[str, str, ColumnKind]]] = {
    ("system", "local"): [
        ("key", "text", PK),
        *[
            (name, type_, REG)
            for name, type_ in [
                ("bootstrapped", "text"),
                ("broadcast_address", "inet"),
                ("broadcast_port", "int"),
                ("cluster_name", "text"),
                ("cql_version", "text"),
                ("data_center", "text"),
                ("gossip_generation", "int"),
                ("host_id", "uuid"),
                ("listen_address", "inet"),
                ("listen_port", "int"),
                ("native_protocol_version", "text"),
                ("partitioner", "text"),
                ("rack", "text"),
                ("release_version", "text"),
                ("rpc_address", "inet"),
                ("rpc_port", "int"),
                ("schema_version", "uuid"),
                ("thrift_version", "text"),
                ("tokens", "set<text>"),
                ("truncated_at", "map<uuid, blob>"),
            ]
        ],
    ],
    ("system", "compaction_history"): [
        ("id", "uuid", PK),
        ("bytes_in", "bigint", REG),
        ("bytes_out", "bigint", REG),
        ("columnfamily_name", "text", REG),
        ("compacted_at", "timestamp", REG),
        ("keyspace_name", "text", REG),
        ("rows_merged", "map<int, bigint>", REG),
        ("compaction_properties", "frozen<map<text, text>>", REG),
    ],
    ("system", "sstable_activity"): [
        ("keyspace_name", "text", PK),
        ("columnfamily_name", "text", PK),
        ("generation", "int", PK),
        ("rate_120m", "double", REG),
        ("rate_15m", "double", REG),
    ],
    ("system_schema", "keyspaces"): [
        ("keyspace_name", "text", PK),
        ("durable_writes", "boolean", REG),
        ("replication", "frozen<map<text, text>>", REG),
    ],
    ("system_schema", "tables"): [
        ("keyspace_name", "text", PK),
        ("table_name", "text", CK),
        *[
            (name, type_, REG)
            for name, type_ in [
                ("additional_write_policy", "text"),
                ("bloom_filter_fp_chance", "double"),
                ("caching", "frozen<map<text, text>>"),
                ("cdc", "boolean"),
                ("comment", "text"),
                ("compaction", "frozen<map<text, text>>"),
                ("compression", "frozen<map<text, text>>"),
                ("crc_check_chance", "double"),
                ("dclocal_read_repair_chance", "double"),
                ("default_time_to_live", "int"),
                ("extensions", "frozen<map<text, blob>>"),
                ("flags", "frozen<set<text>>"),
                ("gc_grace_seconds", "int"),
                ("id", "uuid"),
                ("max_index_interval", "int"),
                ("memtable_flush_period_in_ms", "int"),
                ("min_index_interval", "int"),
                ("read_repair", "text"),
                ("read_repair_chance", "double"),
                ("speculative_retry", "text"),
            ]
        ],
    ],
    ("system_schema", "columns"): [
        ("keyspace_name", "text", PK),
        ("table_name", "text", CK),
        ("column_name", "text", CK),
        ("clustering_order", "text", REG),
        ("column_name_bytes", "blob", REG),
        ("kind", "text", REG),
        ("position", "int", REG),
        ("type", "text", REG),
    ],
    ("system_schema", "dropped_columns"): [
        ("keyspace_name", "text", PK),
        ("table_name", "text", CK),
        ("column_name", "text", CK),
        ("dropped_time", "timestamp", REG),
        ("kind", "text", REG),
        ("type", "text", REG),
    ],
    ("system_schema", "triggers"): [
        ("keyspace_name", "text", PK),
        ("table_name", "text", CK),
        ("trigger_name", "text", CK),
        ("options", "frozen<map<text, text>>", REG),
    ],
    ("system_schema", "indexes"): [
        ("keyspace_name", "text", PK),
        ("table_name", "text", CK),
        ("index_name", "text", CK),
        ("kind", "text", REG),
        ("options", "frozen<map<text, text>>", REG),
    ],
    ("system_schema", "types"): [
        ("keyspace_name", "text", PK),
        ("type_name", "text", CK),
        ("field_names", "frozen<list<text>>", REG),
        ("field_types", "frozen<list<text>>", REG),
    ],
}


def _table(keyspace: str, name: str, table_id: uuid.UUID, columns: list[tuple[str, str, ColumnKind]]) -> TableSchema:
    positions = {PK: 0, CK: 0}
    built = []
    for col, type_, kind in columns:
        position = 0
        if kind in positions:
            position = positions[kind]
            positions[kind] += 1
        built.append(ColumnSchema(col, parse_cql_type(type_), kind, position))
    return TableSchema(keyspace, name, table_id, built)


def standard1(table_id: uuid.UUID) -> TableSchema:
    """Keyspace1.Standard1 of CommitLogUpgradeTest: key ascii, col ascii clustering, val/val0 blob."""
    return _table(
        "Keyspace1",
        "Standard1",
        table_id,
        [("key", "ascii", PK), ("col", "ascii", CK), ("val", "blob", REG), ("val0", "blob", REG)],
    )


def read_hash_file(directory: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in (directory / "hash.txt").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


def fixture_schema(table_id: uuid.UUID, *, with_system_tables: bool = True) -> Schema:
    schema = Schema()
    schema.add(standard1(table_id))
    if with_system_tables:
        for (keyspace, name), columns in _SYSTEM.items():
            schema.add(_table(keyspace, name, system_table_id(keyspace, name), columns))
    return schema


def upgrade_test_hash(hash_value: int, value: bytes) -> int:
    """CommitLogUpgradeTest.hash: h += b << shift, shift cycling 0, 8, 16, 24 per value; Java int."""
    shift = 0
    for b in value:
        hash_value += b << shift
        shift = (shift + 8) & 0x1F
    hash_value &= 0xFFFFFFFF
    return hash_value - (1 << 32) if hash_value >= 1 << 31 else hash_value
