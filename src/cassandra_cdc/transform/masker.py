"""The Masker: applies the masking plans to row changes before any sink sees them.

It masks cell values (and set elements / map keys, which are element paths), partition key and
clustering values, and range-delete bounds with the same deterministic rules, so deletes still
match what was written. ``raw_value`` is recomputed as the masked value serialised with its CQL
type: sinks break equal-timestamp ties on it, so ties then compare masked bytes (deterministically).

``reload`` swaps the compiled plans atomically: changes masked afterwards use the new rules and
keys, changes already masked (and the tokens already written) are untouched. Rules at key
positions may not change on reload unless explicitly allowed (old rows would be orphaned).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cassandra_cdc.changes.model import Bound, CellChange, RowChange
from cassandra_cdc.schema.model import ColumnSchema, Schema, TableSchema
from cassandra_cdc.schema.types import CqlType, ListType, MapType, SetType, UserType
from cassandra_cdc.transform.config import MaskingConfig, MaskingConfigError, parse_masking_config
from cassandra_cdc.transform.plan import Node, any_classified, build_column_node, key_fingerprints, mask_value
from cassandra_cdc.transform.rules import MaskingError, RuleError


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    column: ColumnSchema
    node: Node

    @property
    def classified(self) -> bool:
        return any_classified(self.node)

    def element_node(self, part: Any) -> Node | None:
        """The plan of one part of a multi-cell column ("keys"/"values", 0, or a UDT field name)."""
        return self.node.children.get(part)


@dataclass(frozen=True, slots=True)
class TablePlan:
    table: TableSchema
    columns: Mapping[str, ColumnPlan]


@dataclass(frozen=True, slots=True)
class MaskingState:
    """Compiled plans for every configured table: immutable, swapped whole on reload."""

    config: MaskingConfig
    tables: Mapping[tuple[str, str], TablePlan]


def compile_masking(config: MaskingConfig, schema: Schema) -> MaskingState:
    """Check every selector against the schema and build the plans (MaskingConfigError if invalid)."""
    tables: dict[tuple[str, str], TablePlan] = {}
    for (keyspace, name), specs in config.tables.items():
        table = schema.by_name(keyspace, name)
        if table is None:
            raise MaskingConfigError(f"masking: table {keyspace}.{name} is not in the schema")
        by_column: dict[str, list[Any]] = {}
        for spec in specs:
            by_column.setdefault(spec.column, []).append(spec)
        columns: dict[str, ColumnPlan] = {}
        for column_name, column_specs in by_column.items():
            column = table.column(column_name)
            if column is None:
                raise MaskingConfigError(f"masking: {keyspace}.{name}: no column {column_name!r}")
            where = f"masking: {keyspace}.{name} column {column_name}"
            try:
                node = build_column_node(column.type, column_specs, key_position=column.is_primary_key, where=where)
            except RuleError as exc:
                raise MaskingConfigError(str(exc)) from None
            if node is not None:
                columns[column_name] = ColumnPlan(column, node)
        if columns:
            tables[(keyspace, name)] = TablePlan(table, columns)
    return MaskingState(config, tables)


def _key_fingerprints(state: MaskingState) -> dict[tuple[str, str, str], dict[str, str]]:
    out = {}
    for (keyspace, name), plan in state.tables.items():
        for column, cp in plan.columns.items():
            prints = key_fingerprints(cp.node)
            if prints:
                out[(keyspace, name, column)] = prints
    return out


class Masker:
    """Masks RowChanges (``masker(change)``); thread-safe, reloadable."""

    def __init__(self, state: MaskingState, schema: Schema) -> None:
        self._state = state
        self._schema = schema
        self._reload_lock = threading.Lock()

    @property
    def state(self) -> MaskingState:
        return self._state

    # -- configuration ------------------------------------------------------------------------
    def reload(
        self,
        section: Mapping[str, Any] | None,
        secrets: Mapping[str, str | bytes] | None = None,
        *,
        schema: Schema | None = None,
        allow_key_changes: bool = False,
    ) -> None:
        """Apply new rules/keys to changes masked from now on. An invalid section raises
        MaskingConfigError and leaves the current rules in force."""
        self.reload_config(parse_masking_config(section, secrets), schema=schema, allow_key_changes=allow_key_changes)

    def reload_config(
        self, config: MaskingConfig, *, schema: Schema | None = None, allow_key_changes: bool = False
    ) -> None:
        with self._reload_lock:
            new_schema = schema if schema is not None else self._schema
            new_state = compile_masking(config, new_schema)
            if not allow_key_changes:
                old, new = _key_fingerprints(self._state), _key_fingerprints(new_state)
                for where in sorted(set(old) | set(new)):
                    if old.get(where) != new.get(where):
                        keyspace, name, column = where
                        raise MaskingConfigError(
                            f"masking: {keyspace}.{name} column {column}: the rule of a key position changed on "
                            "reload; rows and elements written before would be orphaned (reload with "
                            "allow_key_changes after re-masking the destination)"
                        )
            self._schema = new_schema
            self._state = new_state  # one reference swap: maskers in flight keep the old state

    # -- queries --------------------------------------------------------------------------------
    def table_plan(self, keyspace: str, table: str) -> TablePlan | None:
        return self._state.tables.get((keyspace, table))

    def is_classified(self, keyspace: str, table: str, column: str) -> bool:
        plan = self.table_plan(keyspace, table)
        cp = plan.columns.get(column) if plan is not None else None
        return cp is not None and cp.classified

    def has_classified(self, keyspace: str, table: str) -> bool:
        """Whether raw bytes of this table's mutations may hold classified values (keep them out of DLQs)."""
        plan = self.table_plan(keyspace, table)
        return plan is not None and any(cp.classified for cp in plan.columns.values())

    # -- masking ----------------------------------------------------------------------------------
    def __call__(self, change: RowChange) -> RowChange:
        """A masked copy of ``change`` (the change itself when its table has no rules)."""
        plan = self._state.tables.get((change.keyspace, change.table))
        if plan is None:
            return change
        return mask_change(plan, change)

    def redacted(self, change: RowChange) -> dict[str, Any]:
        return redacted_dict(change, self)

    def redacted_repr(self, change: RowChange) -> str:
        return redacted_repr(change, self)


def masker_from_config(
    masking_section: Mapping[str, Any] | None, schema: Schema, secrets: Mapping[str, str | bytes] | None = None
) -> Masker:
    """Build a Masker from the ``masking`` configuration section (MaskingConfigError if invalid)."""
    return Masker(compile_masking(parse_masking_config(masking_section, secrets), schema), schema)


# ---------------------------------------------------------------------------------------------------
# Masking one change


def _context(plan: TablePlan, column: str) -> str:
    return f"{plan.table.qualified_name} column {column}"


def _serialize(plan: TablePlan, column: str, type_: CqlType, value: Any) -> bytes:
    if value is None:
        return b""
    try:
        return type_.serialize(value)
    except (TypeError, ValueError):
        # The underlying message would quote the value: name only where and what.
        raise MaskingError(f"{_context(plan, column)}: masked value does not serialise as {type_.cql()}") from None


def _mask(plan: TablePlan, column: str, node: Node | None, value: Any) -> Any:
    try:
        return mask_value(node, value)
    except MaskingError as exc:
        raise MaskingError(f"{_context(plan, column)}: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError):
        raise MaskingError(f"{_context(plan, column)}: value does not fit its type") from None


def _mask_key(plan: TablePlan, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name, value in values.items():
        cp = plan.columns.get(name)
        if cp is not None:
            out[name] = _mask(plan, name, cp.node, value)
    return out


def _mask_bound(plan: TablePlan, bound: Bound | None) -> Bound | None:
    if bound is None:
        return None
    return Bound(_mask_key(plan, bound.clustering), bound.inclusive)


def _mask_cell(plan: TablePlan, cell: CellChange) -> CellChange:
    cp = plan.columns.get(cell.column)
    if cp is None or cell.counter_shards is not None:
        return cell
    type_ = cp.column.type
    column = cell.column
    if not cell.has_path:
        if cell.value is None:
            return cell if not cell.raw_value else dataclasses.replace(cell, raw_value=b"")
        masked = _mask(plan, column, cp.node, cell.value)
        return dataclasses.replace(cell, value=masked, raw_value=_serialize(plan, column, type_, masked))
    path, value = cell.path, cell.value
    value_node: Node | None = None
    value_type: CqlType | None = None
    if isinstance(type_, ListType):
        value_node, value_type = cp.element_node(0), type_.element  # the path is a timeuuid: not data
    elif isinstance(type_, SetType):
        path = _mask(plan, column, cp.element_node(0), path)  # the element is the path
    elif isinstance(type_, MapType):
        path = _mask(plan, column, cp.element_node("keys"), path)
        value_node, value_type = cp.element_node("values"), type_.value
    elif isinstance(type_, UserType):
        if path in type_.field_names:
            value_node = cp.element_node(path)
            value_type = type_.field_types[type_.field_names.index(path)]
    else:
        raise MaskingError(f"{_context(plan, column)}: element cell of a {type_.cql()} column")
    raw = cell.raw_value
    if value_node is not None and value_type is not None and value is not None:
        value = _mask(plan, column, value_node, value)
        raw = _serialize(plan, column, value_type, value)
    if path is cell.path and value is cell.value:
        return cell
    return dataclasses.replace(cell, path=path, value=value, raw_value=raw)


def mask_change(plan: TablePlan, change: RowChange) -> RowChange:
    """A copy of ``change`` with every planned value masked."""
    return dataclasses.replace(
        change,
        partition_key=_mask_key(plan, change.partition_key),
        clustering=_mask_key(plan, change.clustering),
        cells=[_mask_cell(plan, cell) for cell in change.cells],
        range_start=_mask_bound(plan, change.range_start),
        range_end=_mask_bound(plan, change.range_end),
    )


# ---------------------------------------------------------------------------------------------------
# Rendering for logs, traces and the dead-letter queue


def _placeholder(cp: ColumnPlan) -> str:
    kinds = sorted({leaf_class for leaf_class in _classes(cp.node) if leaf_class})
    return f"<{'/'.join(kinds) or 'masked'}>"


def _classes(node: Node) -> list[str | None]:
    if node.kind == "leaf":
        return [node.classification if node.classified else None]
    return [c for child in node.children.values() for c in _classes(child)]


_WHOLE = object()


def _safe(plan: TablePlan | None, column: str, value: Any, part: Any = _WHOLE) -> Any:
    """The value as a log may show it: masked if the column has a plan (a placeholder if masking fails)."""
    if plan is None or value is None:
        return _jsonable(value)
    cp = plan.columns.get(column)
    if cp is None:
        return _jsonable(value)
    try:
        node = cp.node if part is _WHOLE else cp.element_node(part)
        return _jsonable(mask_value(node, value))
    except Exception:  # a log line must never fail, nor fall back to the raw value
        return _placeholder(cp)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def redacted_dict(change: RowChange, masker: Masker | None) -> dict[str, Any]:
    """The change as a dict for logs and the DLQ: values of masked columns shown masked (or as a
    ``<pii>``/``<phi>`` placeholder when masking fails), raw cell bytes never included."""
    plan = masker.table_plan(change.keyspace, change.table) if masker is not None else None

    def key(values: dict[str, Any]) -> dict[str, Any]:
        return {name: _safe(plan, name, v) for name, v in values.items()}

    cells = []
    for cell in change.cells:
        cp = plan.columns.get(cell.column) if plan is not None else None
        item: dict[str, Any] = {"column": cell.column, "writetime": cell.timestamp}
        if cell.has_path:
            type_ = cp.column.type if cp is not None else None
            if isinstance(type_, SetType):
                item["path"] = _safe(plan, cell.column, cell.path, 0)
            elif isinstance(type_, MapType):
                item["path"] = _safe(plan, cell.column, cell.path, "keys")
                item["value"] = _safe(plan, cell.column, cell.value, "values")
            elif isinstance(type_, ListType):
                item["path"] = _jsonable(cell.path)
                item["value"] = _safe(plan, cell.column, cell.value, 0)
            elif isinstance(type_, UserType):
                item["path"] = cell.path
                item["value"] = _safe(plan, cell.column, cell.value, str(cell.path))
            else:
                item["path"] = _jsonable(cell.path)
                item["value"] = _jsonable(cell.value)
        else:
            item["value"] = _safe(plan, cell.column, cell.value)
        if cell.deleted:
            item["deleted"] = True
            if cell.local_deletion_time is not None:
                item["local_deletion_time"] = cell.local_deletion_time
        if cell.ttl:
            item["ttl"] = cell.ttl
        cells.append(item)
    out: dict[str, Any] = {
        "keyspace": change.keyspace,
        "table": change.table,
        "op": change.op.value,
        "source": f"{change.source.node}:{change.source}",
        "partition_key": key(change.partition_key),
    }
    if change.clustering:
        out["clustering"] = key(change.clustering)
    if change.is_static:
        out["static"] = True
    if cells:
        out["cells"] = cells
    for name in ("range_start", "range_end"):
        bound = getattr(change, name)
        if bound is not None:
            out[name] = {"clustering": key(bound.clustering), "inclusive": bound.inclusive}
    return out


def redacted_repr(change: RowChange, masker: Masker | None) -> str:
    """One JSON line for logs, traces and the dead-letter queue, classified values masked."""
    return json.dumps(redacted_dict(change, masker), sort_keys=False, ensure_ascii=False)
