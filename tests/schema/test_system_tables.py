"""System table ids: Java's UUID.nameUUIDFromBytes(keyspace + table), checked by hand and by known values."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from cassandra_cdc.schema.system_tables import (
    SYSTEM_TABLES,
    VERSIONS,
    classify_table_id,
    is_system_keyspace,
    system_table_id,
    system_tables_for_version,
)


def java_name_uuid_from_bytes(name: bytes) -> uuid.UUID:
    """java.util.UUID.nameUUIDFromBytes, spelled out: MD5, version nibble 3, IETF variant 10xx."""
    digest = bytearray(hashlib.md5(name).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(digest))


def test_derivation_matches_java_algorithm_for_every_listed_table() -> None:
    for table in SYSTEM_TABLES:
        expected = java_name_uuid_from_bytes((table.keyspace + table.name).encode())
        assert table.id == expected == system_table_id(table.keyspace, table.name)
        assert table.id.version == 3


@pytest.mark.parametrize(
    ("keyspace", "table", "known"),
    [
        # Data directory names in every Cassandra install: system/local-7ad54392bcdd35a684174e047860b377
        ("system", "local", "7ad54392-bcdd-35a6-8417-4e047860b377"),
        ("system", "peers", "37f71aca-7dc2-383b-a706-72528af04d4f"),
        ("system_auth", "roles", "5bc52802-de25-35ed-aeab-188eecebb090"),
    ],
)
def test_well_known_ids(keyspace: str, table: str, known: str) -> None:
    assert system_table_id(keyspace, table) == uuid.UUID(known)


def test_classify_schema_tables() -> None:
    tables = classify_table_id(system_table_id("system_schema", "tables"))
    assert tables is not None
    assert tables.qualified_name == "system_schema.tables"
    assert tables.is_schema_table
    assert not tables.is_truncation_record
    dropped = classify_table_id(system_table_id("system_schema", "dropped_columns"))
    assert dropped is not None and dropped.is_schema_table
    legacy = classify_table_id(system_table_id("system", "schema_columnfamilies"))
    assert legacy is not None and legacy.is_schema_table
    assert legacy.versions == frozenset({"3.0", "3.11"})


def test_classify_truncation_record() -> None:
    local = classify_table_id(uuid.UUID("7ad54392-bcdd-35a6-8417-4e047860b377"))
    assert local is not None
    assert (local.keyspace, local.name) == ("system", "local")
    assert local.is_truncation_record
    assert not local.is_schema_table
    peers = classify_table_id(system_table_id("system", "peers"))
    assert peers is not None and not peers.is_truncation_record and not peers.is_schema_table


def test_user_table_is_not_classified() -> None:
    # Fixture table Keyspace1.Standard1 of the 4.0.11 commit-log segments (time-based id).
    assert classify_table_id(uuid.UUID("657e5210-7cbb-11ee-9858-c9aa1eb53e69")) is None
    assert classify_table_id(system_table_id("ks", "t")) is None


def test_versions() -> None:
    v30 = {t.qualified_name for t in system_tables_for_version("3.0")}
    v50 = {t.qualified_name for t in system_tables_for_version("5.0")}
    assert "system.views_builds_in_progress" in v30 and "system.view_builds_in_progress" not in v30
    assert "system.view_builds_in_progress" in v50 and "system.schema_keyspaces" not in v50
    assert "system_schema.column_masks" in v50 and "system_schema.column_masks" not in v30
    for version in VERSIONS:
        names = {t.qualified_name for t in system_tables_for_version(version)}
        assert {"system.local", "system_schema.tables", "system_schema.columns"} <= names
    with pytest.raises(ValueError, match="unknown Cassandra version"):
        system_tables_for_version("2.2")


def test_ids_are_unique() -> None:
    assert len({t.id for t in SYSTEM_TABLES}) == len(SYSTEM_TABLES)


def test_is_system_keyspace() -> None:
    for name in (
        "system",
        "system_schema",
        "system_auth",
        "system_distributed",
        "system_traces",
        "system_views",
    ):
        assert is_system_keyspace(name)
    assert is_system_keyspace("system_virtual_schema")
    assert not is_system_keyspace("shop")
    assert not is_system_keyspace("systemx")
