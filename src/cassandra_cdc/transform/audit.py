"""`cassandra-cdc audit`: prove that no classified value reached a sink unmasked (SC-004).

The audit reads the raw changes itself (segments from cdc_raw, decoded as the pipeline does, or
changes handed in), collects every value of every classified field, then reads each sink's
final-state rows and reports any value of a classified column that equals, or (for text, blob,
uuid and inet values of ``min_contains`` characters or more) contains, one of those raw values.
Values are compared in a normalised text form, so a sink's own representation (psycopg's types,
JSON text of a UDT, hex of a blob) still matches. The report never quotes a raw value.

Not counted as leaks: fields masked by ``passthrough`` (already encrypted; listed as unchecked)
and raw values that their own rule maps to themselves (e.g. 0 redacted to 0; counted).
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cassandra_cdc.changes.model import CellChange, RowChange, SourcePosition
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.to_changes import ChangeConversionError, update_changes
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.schema.types import CqlDate, CqlTimestamp, Duration, ListType, MapType, SetType, UserType
from cassandra_cdc.transform.masker import ColumnPlan, Masker, TablePlan
from cassandra_cdc.transform.plan import Node, leaves

# A sink's final-state rows of one table, one dict per row (column name -> value).
RowSource = Callable[[TableSchema], Iterable[Mapping[str, Any]]]

MIN_DECODABLE_COMMITLOG_VERSION = 6


@dataclass(frozen=True, slots=True)
class Leak:
    """Rows of one sink column holding a raw classified value (the value itself is not kept)."""

    sink: str
    table: str
    column: str
    selector: str
    classification: str
    kind: str  # "equals" or "contains"
    rows: int
    first_row: int


@dataclass(slots=True)
class TableAudit:
    sink: str
    table: str
    rows: int = 0
    values_checked: int = 0
    raw_values: int = 0
    fixed_points: int = 0
    unchecked: list[str] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.leaks


@dataclass(slots=True)
class AuditReport:
    tables: list[TableAudit] = field(default_factory=list)
    changes_read: int = 0
    read_errors: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> list[Leak]:
        return [leak for t in self.tables for leak in t.leaks]

    @property
    def ok(self) -> bool:
        return not self.leaks

    def render(self) -> str:
        lines = [f"audit: {self.changes_read} source changes read, {len(self.read_errors)} read errors"]
        lines.extend(f"  read error: {e}" for e in self.read_errors)
        for t in self.tables:
            verdict = "OK" if t.ok else f"LEAK ({sum(leak.rows for leak in t.leaks)} rows)"
            lines.append(
                f"{t.sink} {t.table}: {t.rows} rows, {t.values_checked} values checked against "
                f"{t.raw_values} raw classified values: {verdict}"
            )
            if t.fixed_points:
                lines.append(f"  {t.fixed_points} raw values are their own masked form (not leaks)")
            if t.unchecked:
                lines.append(f"  passthrough (not checked): {', '.join(sorted(t.unchecked))}")
            for leak in t.leaks:
                lines.append(
                    f"  column {leak.column} ({leak.classification}, selector {leak.selector}): {leak.rows} rows "
                    f"{'equal' if leak.kind == 'equals' else 'contain'} a raw source value"
                    f" (first at row {leak.first_row})"
                )
        lines.append("audit passed" if self.ok else "audit FAILED: classified values reached a sink unmasked")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Reading the raw changes


def read_raw_changes(
    paths: Iterable[Path],
    schema: Schema,
    *,
    encryption: EncryptionConfig | None = None,
    node: str = "local",
    errors: list[str] | None = None,
) -> Iterator[RowChange]:
    """Every change in the segments at ``paths`` (files, or directories of CommitLog-*.log), unmasked.
    Damaged entries are appended to ``errors`` (file and offset) and skipped."""
    problems = errors if errors is not None else []
    decoder = MutationDecoder(schema)
    for path in _segments(paths):
        for entry in read_segment(path, encryption=encryption):
            if isinstance(entry, EntryError):
                problems.append(f"{entry.path}: offset {entry.offset}: {entry.reason}")
                continue
            if entry.commitlog_version < MIN_DECODABLE_COMMITLOG_VERSION:
                problems.append(f"{path}: offset {entry.start}: commit-log version before 3.0 is not decoded")
                continue
            result = decoder.decode(entry.data, entry.messaging_version)
            if result.error is not None and result.error.kind != "unknown_table":
                problems.append(f"{path}: entry at offset {entry.start}: {result.error}")
            source = SourcePosition(node, entry.segment_id, entry.end)
            for update in result.updates:
                table = schema.by_id(update.table_id)
                if table is None:
                    continue
                try:
                    yield from update_changes(table, update, source)
                except ChangeConversionError as exc:
                    problems.append(f"{path}: position {entry.end}: {exc}")


def _segments(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        found.extend(sorted(path.glob("CommitLog-*.log")) if path.is_dir() else [path])
    return found


# ---------------------------------------------------------------------------------------------------
# Normalised forms


def _scalar_text(value: Any) -> str | None:
    """A value's comparison form: the same for the source's Python value and a sink's."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return str(int(value.timestamp() * 1000))
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return str(((value.hour * 60 + value.minute) * 60 + value.second) * 10**9 + value.microsecond * 1000)
    if isinstance(value, CqlTimestamp):
        return str(value.millis)
    if isinstance(value, CqlDate):
        return f"date:{value.days}"
    if isinstance(value, Duration):
        return f"duration:{value.months}:{value.days}:{value.nanoseconds}"
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return str(value)


def _containable(value: Any) -> bool:
    return isinstance(value, str | bytes | bytearray | memoryview | uuid.UUID | ipaddress.IPv6Address)


def sink_atoms(value: Any) -> Iterator[str]:
    """Every scalar inside a sink value (dict keys included; JSON text parsed as well)."""
    if value is None:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from sink_atoms(k)
            yield from sink_atoms(v)
        return
    if isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from sink_atoms(v)
        return
    text = _scalar_text(value)
    if text is None:
        return
    yield text
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return
        yield from sink_atoms(parsed)


# ---------------------------------------------------------------------------------------------------
# Raw classified values


@dataclass(slots=True)
class _RawField:
    """Raw values of one classified selector: normalised text -> classification."""

    classification: str = ""
    equal: set[str] = field(default_factory=set)
    contained: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _RawTable:
    # column -> selector -> raw values
    columns: dict[str, dict[str, _RawField]] = field(default_factory=dict)
    fixed_points: int = 0
    unchecked: set[str] = field(default_factory=set)


def _cell_parts(cp: ColumnPlan, cell: CellChange) -> Iterator[tuple[Node | None, Any]]:
    type_ = cp.column.type
    if not cell.has_path:
        yield cp.node, cell.value
    elif isinstance(type_, ListType):
        yield cp.element_node(0), cell.value
    elif isinstance(type_, SetType):
        yield cp.element_node(0), cell.path
    elif isinstance(type_, MapType):
        yield cp.element_node("keys"), cell.path
        yield cp.element_node("values"), cell.value
    elif isinstance(type_, UserType):
        yield cp.element_node(cell.path), cell.value


def _change_parts(plan: TablePlan, change: RowChange) -> Iterator[tuple[str, Node | None, Any]]:
    keys = [change.partition_key, change.clustering]
    keys.extend(b.clustering for b in (change.range_start, change.range_end) if b is not None)
    for values in keys:
        for name, value in values.items():
            cp = plan.columns.get(name)
            if cp is not None:
                yield name, cp.node, value
    for cell in change.cells:
        cp = plan.columns.get(cell.column)
        if cp is not None and cell.counter_shards is None:
            for node, value in _cell_parts(cp, cell):
                yield cell.column, node, value


def _checked(node: Node) -> bool:
    return node.classified and node.rule is not None and not node.rule.identity


def _collect(raw: _RawTable, plan: TablePlan, change: RowChange, min_contains: int) -> None:
    for column, node, value in _change_parts(plan, change):
        for leaf, scalar in leaves(node, value):
            if not leaf.classified or leaf.rule is None:
                continue
            if leaf.rule.identity:
                raw.unchecked.add(leaf.selector)
                continue
            try:
                own_mask = leaf.rule.apply(leaf.type, scalar)
            except ValueError:
                own_mask = None
            text = _scalar_text(scalar)
            if text is None:
                continue
            if own_mask is not None and _scalar_text(own_mask) == text:
                raw.fixed_points += 1
                continue
            target = raw.columns.setdefault(column, {}).setdefault(leaf.selector, _RawField(leaf.classification or ""))
            target.equal.add(text)
            if _containable(scalar) and len(text) >= min_contains:
                target.contained.add(text)


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def sink_field_atoms(node: Node | None, value: Any) -> Iterator[tuple[str | None, str]]:
    """(selector, atom) for the parts of a sink value that a classified rule covers. Where the sink's
    shape does not mirror the CQL type, every atom is yielded with selector None (any selector)."""
    if node is None or value is None:
        return
    if node.kind == "leaf":
        if _checked(node):
            for atom in sink_atoms(value):
                yield node.selector, atom
        return
    value = _parsed(value)
    children = node.children
    if node.kind == "seq" and isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from sink_field_atoms(children.get(0), v)
    elif node.kind == "map" and isinstance(value, Mapping):
        for k, v in value.items():
            yield from sink_field_atoms(children.get("keys"), k)
            yield from sink_field_atoms(children.get("values"), v)
    elif node.kind == "tuple" and isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from sink_field_atoms(children.get(i), v)
    elif node.kind == "udt" and isinstance(value, Mapping):
        for name, v in value.items():
            yield from sink_field_atoms(children.get(name), v)
    else:
        for atom in sink_atoms(value):
            yield None, atom


def _sink_columns(row: Mapping[str, Any], column: str) -> Iterator[tuple[str, bool]]:
    """The sink columns holding ``column``: itself (True), and flattened parts such as ``home_street``."""
    for name in row:
        if name == column:
            yield name, True
        elif name.startswith(column) and name[len(column) : len(column) + 1] in ("_", "."):
            yield name, False


def _match(fields: Mapping[str, _RawField], selector: str | None, atom: str) -> tuple[str, str, str] | None:
    candidates = fields.items() if selector is None else [(selector, fields[selector])] if selector in fields else []
    for name, raw in candidates:
        if atom in raw.equal:
            return name, raw.classification, "equals"
    for name, raw in candidates:
        for text in raw.contained:
            if len(text) < len(atom) and text in atom:
                return name, raw.classification, "contains"
    return None


def _check_table(sink: str, plan: TablePlan, rows: Iterable[Mapping[str, Any]], raw: _RawTable) -> TableAudit:
    table = plan.table
    result = TableAudit(sink, table.qualified_name)
    result.raw_values = sum(len(f.equal) for fields in raw.columns.values() for f in fields.values())
    result.fixed_points = raw.fixed_points
    result.unchecked = sorted(raw.unchecked)
    found: dict[tuple[str, str, str, str], list[int]] = {}
    for index, row in enumerate(rows):
        result.rows += 1
        for column, fields in raw.columns.items():
            node = plan.columns[column].node
            for sink_column, exact in _sink_columns(row, column):
                value = row[sink_column]
                parts = sink_field_atoms(node, value) if exact else ((None, a) for a in sink_atoms(value))
                for selector, atom in parts:
                    result.values_checked += 1
                    hit = _match(fields, selector, atom)
                    if hit is not None:
                        rows_hit = found.setdefault((sink_column, *hit), [])
                        if not rows_hit or rows_hit[-1] != index:
                            rows_hit.append(index)
    for (sink_column, selector, classification, kind), indexes in sorted(found.items()):
        result.leaks.append(
            Leak(sink, table.qualified_name, sink_column, selector, classification, kind, len(indexes), indexes[0])
        )
    return result


def audit(
    schema: Schema,
    masker: Masker,
    sinks: Mapping[str, RowSource],
    *,
    segments: Iterable[Path] = (),
    changes: Iterable[RowChange] | None = None,
    encryption: EncryptionConfig | None = None,
    min_contains: int = 4,
) -> AuditReport:
    """Check every sink's rows of every table with classified fields against the raw source values.

    The raw values come from ``changes`` if given, else from decoding ``segments`` (cdc_raw files
    or directories). ``sinks`` maps a sink's name to a function returning a table's rows.
    """
    report = AuditReport()
    source = (
        changes
        if changes is not None
        else read_raw_changes(segments, schema, encryption=encryption, errors=report.read_errors)
    )
    raw_tables: dict[tuple[str, str], _RawTable] = {}
    for change in source:
        report.changes_read += 1
        plan = masker.table_plan(change.keyspace, change.table)
        if plan is None:
            continue
        _collect(raw_tables.setdefault((change.keyspace, change.table), _RawTable()), plan, change, min_contains)
    for sink_name, row_source in sinks.items():
        for (keyspace, name), plan in sorted(masker.state.tables.items()):
            if not any(cp.classified for cp in plan.columns.values()):
                continue
            raw = raw_tables.get((keyspace, name), _RawTable())
            report.tables.append(_check_table(sink_name, plan, row_source(plan.table), raw))
    return report
