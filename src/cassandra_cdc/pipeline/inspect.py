"""`cassandra-cdc inspect`: dump commit-log segments (and hint files) as one JSON object per changed row.

Reading never stops at damage: each corrupt or undecodable entry is reported on the error stream
as one line naming the file and offset, every valid entry before and after it is still printed,
and the run ends with a non-zero status.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.changes.render import change_to_json
from cassandra_cdc.commitlog.descriptor import parse_segment_file_name
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.hints import HintEntry, read_hints
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.to_changes import ChangeConversionError, update_changes
from cassandra_cdc.schema.model import Schema

# Commit-log version 6 is Cassandra 3.0; earlier versions hold pre-3.0 mutation bodies.
MIN_DECODABLE_COMMITLOG_VERSION = 6


@dataclass(slots=True)
class InspectStats:
    entries: int = 0
    changes: int = 0
    errors: int = 0
    skipped_tables: Counter[uuid.UUID] = field(default_factory=Counter)
    unknown_tables: Counter[uuid.UUID] = field(default_factory=Counter)
    signals: Counter[str] = field(default_factory=Counter)


def _segment_sort_key(path: Path) -> tuple[int, str]:
    try:
        return parse_segment_file_name(path.name).segment_id, path.name
    except ValueError:
        return 0, path.name


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories as their segments (by id) then their hint files."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.glob("CommitLog-*.log"), key=_segment_sort_key))
            found.extend(sorted(path.glob("*.hints")))
        else:
            found.append(path)
    return found


def _entries(
    path: Path, encryption: EncryptionConfig | None, start: CommitLogPosition | None
) -> Iterator[RawEntry | HintEntry | EntryError]:
    if path.suffix == ".hints":
        yield from read_hints(path)
        return
    offset = 0
    if start is not None:
        try:
            segment_id = parse_segment_file_name(path.name).segment_id
        except ValueError:
            segment_id = None
        if segment_id is not None:
            if segment_id < start.segment_id:
                return
            if segment_id == start.segment_id:
                offset = start.position
    yield from read_segment(path, encryption=encryption, start=offset)


def inspect_paths(
    paths: Iterable[Path],
    schema: Schema,
    out: TextIO,
    err: TextIO,
    *,
    encryption: EncryptionConfig | None = None,
    start: CommitLogPosition | None = None,
    node: str = "local",
) -> InspectStats:
    stats = InspectStats()
    decoder = MutationDecoder(schema)
    for path in expand_paths(paths):
        if not path.exists():
            stats.errors += 1
            err.write(f"error: {path}: no such file\n")
            continue
        legacy_entries = 0
        for entry in _entries(path, encryption, start):
            if isinstance(entry, EntryError):
                stats.errors += 1
                err.write(f"error: {entry.path}: offset {entry.offset}: {entry.reason}\n")
                continue
            stats.entries += 1
            if isinstance(entry, RawEntry) and entry.commitlog_version < MIN_DECODABLE_COMMITLOG_VERSION:
                legacy_entries += 1
                continue
            segment: int | str = entry.segment_id if isinstance(entry, RawEntry) else path.name
            result = decoder.decode(entry.data, entry.messaging_version)
            for table_id in result.skipped:
                stats.skipped_tables[table_id] += 1
            for signal in result.signals:
                stats.signals[signal.kind] += 1
            error = result.error
            if error is not None:
                if error.kind == "unknown_table" and not result.decoded and error.table_id is not None:
                    # A mutation belongs to one keyspace: its first table unknown means a keyspace
                    # outside the schema. Named once, counted, nothing lost from the capture.
                    if not stats.unknown_tables[error.table_id]:
                        err.write(
                            f"warning: {path}: position {entry.end}: table id {error.table_id} is not in the"
                            " schema; its mutations are skipped\n"
                        )
                    stats.unknown_tables[error.table_id] += 1
                else:
                    stats.errors += 1
                    err.write(f"error: {path}: entry at offset {entry.start} (position {entry.end}): {error}\n")
            source = SourcePosition(node, entry.segment_id, entry.end)
            for update in result.updates:
                table = schema.by_id(update.table_id)
                if table is None:
                    continue
                try:
                    for change in update_changes(table, update, source):
                        out.write(json.dumps(change_to_json(change, table, segment, entry.end)) + "\n")
                        stats.changes += 1
                except ChangeConversionError as exc:
                    stats.errors += 1
                    err.write(f"error: {path}: position {entry.end}: {exc}\n")
        if legacy_entries:
            stats.errors += 1
            err.write(
                f"error: {path}: written by Cassandra before 3.0 (commit-log version < 6); its"
                f" {legacy_entries} framed entries are not decoded: mutation bodies before 3.0 are unsupported\n"
            )
    return stats


def summary_lines(stats: InspectStats, schema: Schema) -> list[str]:
    lines = [f"{stats.entries} entries, {stats.changes} changes, {stats.errors} errors"]
    for table_id, count in sorted(stats.skipped_tables.items(), key=lambda kv: str(kv[0])):
        table = schema.by_id(table_id)
        lines.append(f"skipped {count} updates of {table.qualified_name if table else table_id} (not captured)")
    for table_id, count in sorted(stats.unknown_tables.items(), key=lambda kv: str(kv[0])):
        lines.append(f"skipped {count} mutations of unknown table id {table_id}")
    for kind, count in sorted(stats.signals.items()):
        lines.append(f"{count} {kind} signals (system tables)")
    return lines
