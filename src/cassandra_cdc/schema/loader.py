"""One entry point for schemas: a CQL file or a cluster's system_schema, plus what went wrong on the way.

``SchemaLoadReport`` collects what a loader could not turn into a usable table so that the caller can
say it clearly (missing table ids, unknown types, skipped statements and tables) instead of the
decoder later failing on "unknown table id".
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cassandra_cdc.schema.model import Schema, TableSchema

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class SchemaLoadReport:
    """What a schema loader skipped or had to guess, in the order it met it."""

    source: str
    # Every message, human readable, each naming file:line:column or the table.
    warnings: list[str] = field(default_factory=list)
    # Tables whose id the source did not give (plain DESCRIBE): they got a placeholder id.
    tables_without_id: list[str] = field(default_factory=list)
    # "ks.table.column: type text: reason" for column types that could not be parsed.
    unknown_types: list[str] = field(default_factory=list)
    # Statements or tables not turned into a TableSchema, with the reason.
    skipped: list[str] = field(default_factory=list)
    # Tables known by id that the decoder must not decode (e.g. COMPACT STORAGE): id -> reason.
    unsupported_table_ids: dict[uuid.UUID, str] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append(f"{what}: {reason}")
        self.warn(f"skipped {what}: {reason}")

    def missing_id_warning(self) -> str | None:
        """The warning to show when tables came without ids, or None when every id is known."""
        if not self.tables_without_id:
            return None
        return (
            f"{self.source}: {len(self.tables_without_id)} table(s) have no id "
            f"({', '.join(self.tables_without_id)}); commit-log mutations cannot be matched to them. "
            "Export the schema with `DESCRIBE SCHEMA WITH INTERNALS` (cqlsh 4.0+), use a snapshot's "
            "schema.cql, or load it from the cluster's system_schema tables."
        )

    def messages(self) -> list[str]:
        """All warnings, the missing-id summary first."""
        summary = self.missing_id_warning()
        return ([summary] if summary else []) + list(self.warnings)

    def log(self, logger: logging.Logger | None = None) -> None:
        target = logger or _log
        for message in self.messages():
            target.warning("%s", message)


def load_schema_file_with_report(path: str | Path) -> tuple[Schema, SchemaLoadReport]:
    """Parse a CQL schema file (DESCRIBE ... WITH INTERNALS output or a snapshot's schema.cql)."""
    # Imported here: cql_file imports SchemaLoadReport from this module.
    from cassandra_cdc.schema.cql_file import parse_cql_schema

    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file_path}: not UTF-8 text at byte {exc.start}: {exc.reason}") from exc
    return parse_cql_schema(text, source=str(file_path))


def load_schema_file(path: str | Path, report: SchemaLoadReport | None = None) -> Schema:
    """Parse a CQL schema file; warnings go to ``report`` when given, and are always logged."""
    schema, file_report = load_schema_file_with_report(path)
    file_report.log()
    if report is not None:
        _merge(report, file_report)
    return schema


def load_schema_dir(path: str | Path, report: SchemaLoadReport | None = None) -> Schema:
    """Merge every ``*.cql`` file under a directory, e.g. the ``schema.cql`` of each table's snapshot.

    Files are parsed one by one (each snapshot's schema.cql carries its own user types) in path
    order. A table found in several files keeps its first definition; differing ones are reported.
    """
    root = Path(path)
    files = sorted(p for p in root.rglob("*.cql") if p.is_file())
    merged = Schema()
    merged_report = SchemaLoadReport(source=str(root))
    if not files:
        merged_report.warn(f"{root}: no .cql files found")
    origin: dict[uuid.UUID, Path] = {}
    for file in files:
        schema, file_report = load_schema_file_with_report(file)
        _merge(merged_report, file_report)
        merged.keyspaces.update(schema.keyspaces)
        merged.user_types.update(schema.user_types)
        for table_id, table in schema.tables.items():
            first = merged.tables.get(table_id)
            if first is None:
                merged.add(table)
                origin[table_id] = file
            elif _describe(first) != _describe(table):
                merged_report.warn(
                    f"{file}: table {table.qualified_name} ({table_id}) differs from its definition in "
                    f"{origin[table_id]}; keeping the first definition"
                )
    merged_report.log()
    if report is not None:
        _merge(report, merged_report)
    return merged


def _describe(table: TableSchema) -> tuple[object, ...]:
    columns = sorted((c.name, c.type.cql(), c.kind.value, c.position, c.reversed) for c in table.columns)
    dropped = sorted((d.name, d.type.cql(), d.dropped_time, d.kind.value) for d in table.dropped_columns.values())
    return (table.keyspace, table.name, columns, dropped, table.cdc, table.gc_grace_seconds)


def load_schema(source: str | Path, report: SchemaLoadReport | None = None) -> Schema:
    """Load a schema from a ``.cql`` file, a directory of them (snapshots), or recorded
    system_schema rows in a ``.json`` file."""
    path = Path(source)
    if path.is_dir():
        return load_schema_dir(path, report)
    if path.suffix.lower() == ".json":
        from cassandra_cdc.schema.system_schema import rows_from_json, schema_from_rows

        schema, rows_report = schema_from_rows(rows_from_json(path), source=str(path))
        rows_report.log()
        if report is not None:
            _merge(report, rows_report)
        return schema
    return load_schema_file(path, report)


def _merge(into: SchemaLoadReport, other: SchemaLoadReport) -> None:
    into.warnings.extend(other.warnings)
    into.tables_without_id.extend(other.tables_without_id)
    into.unknown_types.extend(other.unknown_types)
    into.skipped.extend(other.skipped)
    into.unsupported_table_ids.update(other.unsupported_table_ids)
