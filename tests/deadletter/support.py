"""Shared pieces of the dead-letter tests: a small table, real segments written with it, changes."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path
from typing import Any

import psycopg

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.model import Cell, LivenessInfo, Mutation, PartitionUpdate, Row
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.segment_writer import SegmentWriter
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.transform import Masker, masker_from_config

CQL = """
CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}};
CREATE TABLE {ks}.people (pk int, ck int, email text, name text, PRIMARY KEY (pk, ck))
    WITH ID = 0b000000-0000-0000-0000-000000000001;
"""
TABLE_ID = uuid.UUID("0b000000-0000-0000-0000-000000000001")
NODE = "n1"
SEGMENT_ID = 1_700_000_000_001
MESSAGING = 12  # commit-log version 7 (4.0)
SECRET_EMAIL = "alice.secret.person@example.org"
KEY_HEX = "11" * 32
KEY2_HEX = "22" * 32


def make_schema(ks: str) -> tuple[Schema, TableSchema]:
    schema, _ = parse_cql_schema(CQL.format(ks=ks), "test")
    table = schema.by_id(TABLE_ID)
    assert table is not None
    return schema, table


def masker_for(schema: Schema, ks: str) -> Masker:
    section: dict[str, Any] = {
        "pepper": "pepper-0123456789abcdef",
        "keys": {"v1": "token-key-v1-0123456789"},
        "active_key": "v1",
        "tables": {f"{ks}.people": {"email": {"classification": "pii", "rule": "hash"}}},
    }
    return masker_from_config(section, schema)


def mutation(table: TableSchema, pk: int, ck: int, email: str, name: str, ts: int) -> Mutation:
    update = PartitionUpdate(table.id, struct.pack(">i", pk))
    cells = [Cell("email", ts, email.encode()), Cell("name", ts, name.encode())]
    update.unfiltereds.append(Row((struct.pack(">i", ck),), LivenessInfo(ts), cells=cells))
    return Mutation([update])


def write_segment(
    directory: Path, schema: Schema, mutations: list[Mutation], segment_id: int = SEGMENT_ID
) -> tuple[Path, list[RawEntry]]:
    """A real segment (commit-log version 7) holding ``mutations``, one sync section; and its entries."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder = MutationEncoder(schema)
    writer = SegmentWriter.create(directory, segment_id)
    writer.append_section([encoder.encode(m, MESSAGING) for m in mutations])
    writer.close()
    assert writer.path is not None
    entries = [e for e in read_segment(writer.path) if isinstance(e, RawEntry)]
    assert len(entries) == len(mutations)
    return writer.path, entries


def entry_changes(schema: Schema, entry: RawEntry, node: str = NODE) -> list[RowChange]:
    result = MutationDecoder(schema).decode(entry.data, entry.messaging_version)
    assert result.error is None, result.error
    out: list[RowChange] = []
    for update in result.updates:
        table = schema.by_id(update.table_id)
        assert table is not None
        out.extend(update_changes(table, update, SourcePosition(node, entry.segment_id, entry.end)))
    return out


def people_rows(dsn: str, ks: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(f'SELECT pk, ck, email, name FROM "{ks}"."people" ORDER BY pk, ck').fetchall()


def dump_schema(dsn: str, ks: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the sink's schema for ``ks``, all rows sorted: the whole state, internals included."""
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (ks,),
        ).fetchall()
        for (name,) in tables:
            rows = conn.execute(f'SELECT * FROM "{ks}"."{name}"').fetchall()
            out[name] = sorted(rows, key=repr)
    return out


def directory_locator_for(cdc_raw: Path) -> Any:
    from cassandra_cdc.deadletter import directory_locator

    return directory_locator({NODE: [cdc_raw]})
