"""How a dead letter shows a change and its error without a raw classified value.

With a masker: ``transform.redacted_dict`` (classified values masked). Without one: an outline
with no values at all (column names, timestamps, flags), since nothing says which values are safe.
Error texts quote values (ValueOutOfRangeError does): those are withheld unless the masker says the
column is not classified.
"""

from __future__ import annotations

from typing import Any

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.sinks.base import ValueOutOfRangeError
from cassandra_cdc.transform import Masker, redacted_dict

WITHHELD = "<withheld>"


def outline(change: RowChange) -> dict[str, Any]:
    """The change's shape, no values: which columns, when, and what kind of change."""
    out: dict[str, Any] = {
        "keyspace": change.keyspace,
        "table": change.table,
        "op": change.op.value,
        "source": f"{change.source.node}:{change.source}",
        "partition_key": sorted(change.partition_key),
        "values": "withheld (no masking configured)",
    }
    if change.clustering:
        out["clustering"] = sorted(change.clustering)
    if change.is_static:
        out["static"] = True
    cells = []
    for cell in change.cells:
        item: dict[str, Any] = {"column": cell.column, "writetime": cell.timestamp}
        if cell.has_path:
            item["element"] = True
        if cell.deleted:
            item["deleted"] = True
        if cell.ttl:
            item["ttl"] = cell.ttl
        cells.append(item)
    if cells:
        out["cells"] = cells
    for name in ("liveness", "row_deletion", "range_deletion", "partition_deletion"):
        value = getattr(change, name)
        if value is not None:
            out[name] = {"timestamp": value.timestamp}
    return out


def render_change(change: RowChange, masker: Masker | None) -> dict[str, Any]:
    return redacted_dict(change, masker) if masker is not None else outline(change)


def _quoted_values(change: RowChange, column: str) -> list[str]:
    """How an error may quote ``column``'s values (``repr`` cut at 80, as the sinks do)."""
    values: list[Any] = []
    for source in (change.partition_key, change.clustering):
        if column in source:
            values.append(source[column])
    for cell in change.cells:
        if cell.column == column:
            values.extend(v for v in (cell.value, cell.path) if v is not None)
    quoted = set()
    for value in values:
        quoted.update({repr(value)[:80], repr(value), str(value)})
    return sorted((q for q in quoted if len(q) >= 2), key=len, reverse=True)


def scrub_error_text(text: str, error: BaseException | None, change: RowChange | None, masker: Masker | None) -> str:
    """``text`` with the values of a refused column replaced by <withheld>, unless unclassified."""
    if change is None:
        return text
    column = error.column if isinstance(error, ValueOutOfRangeError) else None
    columns = [column] if column is not None else [c.column for c in change.cells] + list(change.key)
    for name in columns:
        if masker is not None and not masker.is_classified(change.keyspace, change.table, name):
            continue
        for quoted in _quoted_values(change, name):
            text = text.replace(quoted, WITHHELD)
    return text
