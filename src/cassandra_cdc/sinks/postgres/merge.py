"""Folding one batch of changes into one staged row per key, with Cassandra's merge rules.

The staged rows go through the upserts of ddl.py, which apply the same rules against the stored
state; folding first makes each key appear once per statement (PostgreSQL refuses an upsert that
touches a row twice) and sends less to the server. Every rule compares "rank" bytes, built here so
that their unsigned order is the order of Cassandra's rule:

- cell, 4.0+ (Cells.resolveRegular after CASSANDRA-14592): timestamp, dying (tombstone or expiring),
  tombstone, local deletion time, then the value's bytes unsigned;
- cell, 3.x (Conflicts.resolveRegular): timestamp, tombstone, the value's bytes signed, then the
  local deletion time; an expiring cell that has expired at read time beats a live one at the same
  timestamp, so the stored expiry is the earliest among the versions at the winning timestamp;
- liveness (LivenessInfo.supersedes): timestamp, expired-liveness TTL, expiring, expiration time;
- deletions (DeletionTime.supersedes): timestamp, local deletion time (and for row deletions a
  regular deletion above a shadowable one at equal times).
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cassandra_cdc.changes.model import Bound, CellChange, CounterShard, Deletion, Liveness, RowChange
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnSchema
from cassandra_cdc.sinks.base import NO_DELETION_TIME, ConflictRules, SinkError, ValueOutOfRangeError
from cassandra_cdc.sinks.postgres.ddl import EXPIRED_LIVENESS_TTL, KeyColumn, TableLayout
from cassandra_cdc.sinks.postgres.pgtypes import Converter, PgType, converter_for, order_key_function, passes_through

# The _ck of the static row in the elements and counters tables: no clustering encodes to it
# (a component length of 0xffffffff).
STATIC_CK = b"\xff\xff\xff\xff"
_XOR80 = bytes(b ^ 0x80 for b in range(256))
_LEN = struct.Struct(">I")


_Q = struct.Struct(">Q").pack
_BIAS = 1 << 63
_JSON = json.JSONEncoder(separators=(",", ":")).encode


def _u64(value: int) -> bytes:
    """A signed 64-bit integer as 8 bytes whose unsigned order is the integer order."""
    return _Q(value + _BIAS)


def _escaped(raw: bytes) -> bytes:
    # Prefix-free form of variable-length bytes (0x00 -> 0x00 0xff, then 0x00 0x00), so that what
    # follows it in a rank only breaks ties between equal values.
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


# ``ldt`` below is Cassandra's Cell.localDeletionTime: a tombstone's deletion time, an expiring
# cell's expiry, None for a plain cell (NO_DELETION_TIME).


def _cell_rank_4(ts: int, deleted: bool, expiring: bool, ldt: int | None, raw: bytes) -> bytes:
    return _u64(ts) + bytes((deleted or expiring, deleted)) + _u64(NO_DELETION_TIME if ldt is None else ldt) + raw


def _cell_rank_3(ts: int, deleted: bool, expiring: bool, ldt: int | None, raw: bytes) -> bytes:
    return (
        _u64(ts) + bytes((deleted,)) + _escaped(raw.translate(_XOR80)) + _u64(NO_DELETION_TIME if ldt is None else ldt)
    )


def cell_rank(rules: ConflictRules, ts: int, deleted: bool, expiring: bool, ldt: int | None, raw: bytes) -> bytes:
    """The rank of a cell version under ``rules``: a greater rank wins."""
    rank = _cell_rank_4 if rules is ConflictRules.CASSANDRA_4 else _cell_rank_3
    return rank(ts, deleted, expiring, ldt, raw)


def _same_ts_expiry(current_deleted: bool, new_deleted: bool, current: int | None, new: int | None) -> int | None:
    """3.x, two versions at the winning timestamp, the new one winning: the expiry to keep.

    Between live/expiring versions the earliest expiry (an expired one wins the tie, so the cell dies
    then). A tombstone wins every such tie and keeps its own deletion time (the column holds
    Cell.localDeletionTime), which purge compares with the cutoff.
    """
    if current_deleted or new_deleted:
        return new
    return _min_expiry(current, new)


# An element key's (path bytes, order bytes, key JSON, key text, value type or None for set elements).
ElementKey = tuple[bytes, bytes, str | None, str | None, T.CqlType | None]


@dataclass(frozen=True, slots=True)
class _ColumnPlan:
    """What folding needs about one non-key column, worked out once."""

    name: str
    value_type: T.CqlType
    convert: Converter
    is_counter: bool
    element: Callable[[Any], ElementKey] | None


def _compact_json(value: Any) -> str:
    return _JSON(value)


def _element_function(t: T.CqlType) -> Callable[[Any], ElementKey] | None:
    if isinstance(t, T.ListType):
        timeuuid_order = order_key_function(T.TIMEUUID)
        assert timeuuid_order is not None
        element_type = t.element

        def list_key(path: Any) -> ElementKey:
            if not isinstance(path, uuid.UUID):
                raise TypeError("a list element key must be a UUID")
            return path.bytes, timeuuid_order(path), None, None, element_type

        return list_key
    if isinstance(t, T.SetType | T.MapType):
        key_type = t.element if isinstance(t, T.SetType) else t.key
        value_type: T.CqlType | None = None if isinstance(t, T.SetType) else t.value
        order = order_key_function(key_type)
        serialize, to_json = key_type.serialize, key_type.to_json

        def keyed(path: Any) -> ElementKey:
            raw = serialize(path)
            rendered = to_json(path)
            key_json = _compact_json(rendered)
            key_text = rendered if isinstance(rendered, str) else key_json
            # Keys of types without an order key (frozen collections, tuples, UDTs) order by bytes.
            return raw, order(path) if order is not None else raw, key_json, key_text, value_type

        return keyed
    if isinstance(t, T.UserType):
        names = list(t.field_names)
        types = list(t.field_types)

        def field_key(path: Any) -> ElementKey:
            if path not in names:
                raise ValueError(f"no field {path!r}")
            index = struct.pack(">H", names.index(path))
            return index, index, None, path, types[names.index(path)]

        return field_key
    return None


def _plan(col: ColumnSchema, convert: Converter) -> _ColumnPlan:
    element = _element_function(col.type) if col.type.is_multi_cell else None
    return _ColumnPlan(col.name, col.type, convert, col.type.is_counter, element)


def liveness_rank(info: Liveness) -> bytes:
    expiring = info.ttl > 0 or info.expires_at is not None
    expiration = info.expires_at if info.expires_at is not None else NO_DELETION_TIME
    return _u64(info.timestamp) + bytes((info.ttl == EXPIRED_LIVENESS_TTL, expiring)) + _u64(expiration)


def deletion_rank(deletion: Deletion, shadowable: bool | None = None) -> bytes:
    rank = _u64(deletion.timestamp) + _u64(deletion.local_deletion_time)
    return rank if shadowable is None else rank + bytes((not shadowable,))


def _min_expiry(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass(slots=True)
class _RowSlots:
    """Positions, in a staged state/static row, of each merged field."""

    lv: int
    rd: int
    cells: dict[str, int]  # column -> index of its value (or of its rank for counters)
    counters: set[str]
    cdel: dict[str, int]  # column -> index of its collection-deletion rank
    width: int


def _row_slots(columns: list[str], layout: TableLayout, is_static: bool) -> _RowSlots:
    index = {name: i for i, name in enumerate(columns)}
    simple = layout.static_simple if is_static else layout.simple
    complex_ = layout.static_complex if is_static else layout.complex
    counters = [] if is_static else layout.counters
    cells = {c.name: index[c.name] for c in simple}
    cells.update({c.name: index[c.name + "__rank"] for c in counters})
    return _RowSlots(
        lv=index["_lv_rank"],
        rd=index["_rd_rank"],
        cells=cells,
        counters={c.name for c in counters},
        cdel={c.name: index[c.name + "__cdel_rank"] for c in complex_},
        width=len(columns),
    )


@dataclass(slots=True)
class StagedTable:
    """One table's folded batch: staged rows per destination, in the column order of ddl.py."""

    state: dict[tuple[bytes, bytes], list[Any]] = field(default_factory=dict)
    static: dict[bytes, list[Any]] = field(default_factory=dict)
    elements: dict[tuple[bytes, bytes, str, bytes], list[Any]] = field(default_factory=dict)
    shards: dict[tuple[bytes, bytes, str, uuid.UUID], list[Any]] = field(default_factory=dict)
    partition_deletions: dict[bytes, list[Any]] = field(default_factory=dict)
    ranges: dict[tuple[bytes, bytes], list[Any]] = field(default_factory=dict)


_R4 = struct.Struct(">QBBQ").pack
_KEY_CACHE_LIMIT = 100_000


def _fast_converter(pgtype: PgType, checked: Converter) -> Converter | None:
    """None where the destination takes the Python value as it is (no call needed per cell)."""
    return None if passes_through(pgtype) else checked


@dataclass(slots=True)
class _CellSpec:
    """Where a simple (non-counter, single-cell) column's winning cell goes in a staged row."""

    at: int  # index of the value; rank, ts, ttl, exp, del follow it
    convert: Converter | None
    value_type: T.CqlType


_CACHE_SAFE = frozenset(
    {T.TEXT, T.ASCII, T.BLOB, T.BOOLEAN, T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.VARINT, T.UUID}
    | {T.TIMEUUID, T.INET, T.DATE, T.TIME, T.TIMESTAMP}
)


def _cache_safe(t: T.CqlType) -> bool:
    return t in _CACHE_SAFE


def _element_cache_safe(t: T.CqlType) -> bool:
    # List paths are fresh timeuuids (nothing to reuse); UDT paths are field names.
    if isinstance(t, T.SetType):
        return _cache_safe(t.element)
    if isinstance(t, T.MapType):
        return _cache_safe(t.key)
    return isinstance(t, T.UserType)


class TablePlan:
    """What folding one table needs, worked out once per sink and table (not per batch).

    It also caches the key bytes and typed key values of recently seen partitions and clustering
    rows, and element keys of sets, maps and UDTs: a busy table touches the same keys again and again.
    """

    def __init__(self, layout: TableLayout) -> None:
        self.layout = layout
        table = layout.table
        self.qualified = table.qualified_name
        self.columns: dict[str, ColumnSchema] = {c.name: c for c in table.columns}
        self.convert: dict[str, Converter] = {
            name: converter_for(pgt, self.qualified, name) for name, pgt in layout.pgtypes.items()
        }
        self.order_fn = {k.name: order_key_function(k.column.type) for k in (*layout.partition_key, *layout.clustering)}
        self.state_slots = _row_slots(layout.state_columns, layout, False)
        self.static_slots = _row_slots(layout.static_columns, layout, True) if layout.has_static else None
        self.plans = {c.name: _plan(c, self.convert[c.name]) for c in table.columns if not c.is_primary_key}
        self.state_specs = self._specs(self.state_slots)
        self.static_specs = self._specs(self.static_slots) if self.static_slots is not None else {}
        self.pk_names = [k.name for k in layout.partition_key]
        self.ck_names = [k.name for k in layout.clustering]
        # Caches only for keys whose Python equality is Cassandra's identity (not -0.0 == 0.0, not
        # Decimal("1.0") == Decimal("1.00")).
        self.pk_cache: dict[Any, tuple[bytes, list[Any]]] | None = (
            {} if all(_cache_safe(c.type) for c in table.partition_key) else None
        )
        self.ck_cache: dict[Any, tuple[bytes, list[Any]]] | None = (
            {} if all(_cache_safe(c.type) for c in table.clustering) else None
        )
        self.element_cache: dict[str, dict[Any, ElementKey]] = {
            name: {} for name, p in self.plans.items() if p.element is not None and _element_cache_safe(p.value_type)
        }

    def _specs(self, slots: _RowSlots) -> dict[str, _CellSpec]:
        out = {}
        for name, at in slots.cells.items():
            plan = self.plans[name]
            if plan.is_counter or plan.element is not None:
                continue
            pgt = self.layout.pgtypes[name]
            out[name] = _CellSpec(at, _fast_converter(pgt, self.convert[name]), plan.value_type)
        return out


class TableMerger:
    """Folds changes to one table into a StagedTable."""

    def __init__(self, layout: TableLayout, rules: ConflictRules, plan: TablePlan | None = None) -> None:
        if plan is None or plan.layout is not layout:
            plan = TablePlan(layout)
        self.plan = plan
        self.layout = layout
        self.rules = rules
        self.qualified = plan.qualified
        self.columns = plan.columns
        self.convert = plan.convert
        self.order_fn = plan.order_fn
        self.state_slots = plan.state_slots
        self.static_slots = plan.static_slots
        self.staged = StagedTable()
        self.min_expiry = rules is ConflictRules.CASSANDRA_3
        self._rank = _cell_rank_4 if rules is ConflictRules.CASSANDRA_4 else _cell_rank_3
        self.plans = plan.plans

    # --- keys ---

    def _serialize(self, col: ColumnSchema, value: Any) -> bytes:
        if value is None:
            return b""
        try:
            return col.type.serialize(value)
        except (TypeError, ValueError) as exc:
            raise SinkError(f"{self.qualified}: key column {col.name}: {exc}", retryable=False) from None

    def _partition_key(self, change: RowChange) -> bytes:
        parts = []
        for key in self.layout.partition_key:
            if key.name not in change.partition_key:
                raise SinkError(f"{self.qualified}: change lacks partition key column {key.name}", retryable=False)
            parts.append(self._serialize(key.column, change.partition_key[key.name]))
        return parts[0] if len(parts) == 1 else T.join_composite_key(parts)

    def _clustering_key(self, values: dict[str, Any], *, prefix: bool = False) -> tuple[bytes, int]:
        out = []
        n = 0
        for key in self.layout.clustering:
            if key.name not in values:
                if prefix:
                    break
                raise SinkError(f"{self.qualified}: change lacks clustering column {key.name}", retryable=False)
            raw = self._serialize(key.column, values[key.name])
            out.append(_LEN.pack(len(raw)) + raw)
            n += 1
        return b"".join(out), n

    def _key_values(self, keys: list[KeyColumn], values: dict[str, Any]) -> list[Any]:
        out = []
        for key in keys:
            value = values.get(key.name)
            out.append(self.convert[key.name](value))
            if key.order_column:
                out.append(self._order_key(key, value))
        return out

    def _order_key(self, key: KeyColumn, value: Any) -> bytes | None:
        fn = self.order_fn[key.name]
        return None if fn is None else fn(value)

    # --- folding ---

    def _partition(self, change: RowChange) -> tuple[bytes, list[Any]]:
        """The partition's key bytes and typed key values (cached by the key's values)."""
        values = change.partition_key
        cache = self.plan.pk_cache
        if cache is None:
            return self._partition_key(change), self._key_values(self.layout.partition_key, values)
        ident: Any
        try:
            ident = tuple([values[n] for n in self.plan.pk_names])
            hit = cache.get(ident)
        except (KeyError, TypeError):  # a missing column (reported below) or unhashable values
            ident = hit = None
        if hit is not None:
            return hit
        hit = (self._partition_key(change), self._key_values(self.layout.partition_key, values))
        if ident is not None:
            if len(cache) >= _KEY_CACHE_LIMIT:
                cache.clear()
            cache[ident] = hit
        return hit

    def _clustering(self, values: dict[str, Any]) -> tuple[bytes, list[Any]]:
        cache = self.plan.ck_cache
        if cache is None:
            return self._clustering_key(values)[0], self._key_values(self.layout.clustering, values)
        ident: Any
        try:
            ident = tuple([values[n] for n in self.plan.ck_names])
            hit = cache.get(ident)
        except (KeyError, TypeError):
            ident = hit = None
        if hit is not None:
            return hit
        hit = (self._clustering_key(values)[0], self._key_values(self.layout.clustering, values))
        if ident is not None:
            if len(cache) >= _KEY_CACHE_LIMIT:
                cache.clear()
            cache[ident] = hit
        return hit

    def add(self, change: RowChange) -> None:
        pk, pk_values = self._partition(change)
        if change.partition_deletion is not None:
            self._partition_deletion(pk, change.partition_deletion)
        if change.range_deletion is not None:
            self._range(pk, change)
        if not (change.liveness or change.row_deletion or change.cells or change.collection_deletions):
            return
        if change.is_static:
            if self.static_slots is None:
                raise SinkError(
                    f"{self.qualified}: static row change but the table has no static column", retryable=False
                )
            row = self.staged.static.get(pk)
            if row is None:
                row = [None] * self.static_slots.width
                row[0] = pk
                row[1 : 1 + len(pk_values)] = pk_values
                self.staged.static[pk] = row
            self._row(row, self.static_slots, self.plan.static_specs, change, pk, STATIC_CK)
            return
        ck, ck_values = self._clustering(change.clustering)
        row = self.staged.state.get((pk, ck))
        if row is None:
            row = [None] * self.state_slots.width
            row[0], row[1] = pk, ck
            keys = pk_values + ck_values
            row[2 : 2 + len(keys)] = keys
            self.staged.state[(pk, ck)] = row
        self._row(row, self.state_slots, self.plan.state_specs, change, pk, ck)

    def _pk_width(self) -> int:
        return sum(2 if k.order_column else 1 for k in self.layout.partition_key)

    def _row(
        self, row: list[Any], slots: _RowSlots, specs: dict[str, _CellSpec], change: RowChange, pk: bytes, ck: bytes
    ) -> None:
        if change.liveness is not None:
            info = change.liveness
            rank = liveness_rank(info)
            if row[slots.lv] is None or rank > row[slots.lv]:
                row[slots.lv : slots.lv + 4] = [rank, info.timestamp, info.ttl, info.expires_at]
        if change.row_deletion is not None:
            d = change.row_deletion
            rank = deletion_rank(d, change.shadowable)
            if row[slots.rd] is None or rank > row[slots.rd]:
                row[slots.rd : slots.rd + 4] = [rank, d.timestamp, d.local_deletion_time, change.shadowable]
        for name, d in change.collection_deletions.items():
            at = slots.cdel.get(name)
            if at is None:
                if name in self.columns or name in self.layout.table.dropped_columns:
                    continue
                raise SinkError(f"{self.qualified}: collection deletion of unknown column {name!r}", retryable=False)
            rank = deletion_rank(d)
            if row[at] is None or rank > row[at]:
                row[at : at + 3] = [rank, d.timestamp, d.local_deletion_time]
        if not change.cells:
            return
        if self.min_expiry:
            for cell in change.cells:
                self._cell(row, slots, cell, pk, ck)
            return
        # The common case, inlined: a simple column's cell under the 4.0+ rules. Anything else
        # (elements, counters, unknown columns, 3.x) takes _cell.
        get_spec = specs.get
        for cell in change.cells:
            spec = get_spec(cell.column)
            if spec is None or cell.has_path:
                self._cell(row, slots, cell, pk, ck)
                continue
            deleted = cell.deleted
            ts = cell.timestamp
            exp = cell.expires_at
            raw = cell.raw_value
            if deleted:
                value = None
                exp = cell.deletion_time()  # stored where an expiry goes: both are Cell.localDeletionTime
                rank = _R4(ts + _BIAS, 1, 1, exp + _BIAS) + raw
            else:
                value = cell.value
                if value is not None:
                    if not raw:
                        raw = self._serialize_value(spec.value_type, cell)
                    if spec.convert is not None:
                        value = spec.convert(value)
                if exp is None:
                    rank = _R4(ts + _BIAS, cell.ttl > 0, 0, NO_DELETION_TIME + _BIAS) + raw
                else:
                    rank = _R4(ts + _BIAS, 1, 0, exp + _BIAS) + raw
            at = spec.at
            current = row[at + 1]
            if current is None or rank > current:
                row[at : at + 6] = (value, rank, ts, cell.ttl, exp, deleted)

    def _cell(self, row: list[Any], slots: _RowSlots, cell: CellChange, pk: bytes, ck: bytes) -> None:
        plan = self.plans.get(cell.column)
        if plan is None:
            if cell.column in self.layout.table.dropped_columns:
                return  # cells of dropped columns never show
            raise SinkError(f"{self.qualified}: cell of unknown column {cell.column!r}", retryable=False)
        if cell.has_path:
            if plan.element is None:
                raise SinkError(
                    f"{self.qualified}: element cell for non-collection column {cell.column}", retryable=False
                )
            self._element(plan, cell, pk, ck)
            return
        if plan.is_counter:
            if cell.counter_shards:
                for shard in cell.counter_shards:
                    self._shard(plan.name, shard, cell.timestamp, pk, ck)
            if not cell.deleted:
                return
        at = slots.cells.get(cell.column)
        if at is None:
            raise SinkError(
                f"{self.qualified}: cell for collection column {cell.column} has no element key", retryable=False
            )
        deleted = cell.deleted
        expires_at = cell.deletion_time() if deleted else cell.expires_at
        ts = cell.timestamp
        raw = cell.raw_value
        if not raw and not deleted and cell.value is not None and not plan.is_counter:
            raw = self._serialize_value(plan.value_type, cell)
        rank = self._rank(ts, deleted, not deleted and (cell.ttl > 0 or expires_at is not None), expires_at, raw)
        if plan.is_counter:
            # Counter columns keep only tombstones here, from their rank on: rank, ts, ttl, exp, del.
            rank_at = base = at
            fields: list[Any] = [rank, ts, cell.ttl, expires_at, deleted]
        else:
            rank_at = at + 1
            base = at
            fields = [None if deleted else plan.convert(cell.value), rank, ts, cell.ttl, expires_at, deleted]
        current = row[rank_at]
        if current is None or rank > current:
            if self.min_expiry and current is not None and row[rank_at + 1] == ts:
                fields[-2] = _same_ts_expiry(row[rank_at + 4], deleted, row[rank_at + 3], expires_at)
            row[base : base + len(fields)] = fields
        elif self.min_expiry and row[rank_at + 1] == ts and not deleted and not row[rank_at + 4]:
            row[rank_at + 3] = _min_expiry(row[rank_at + 3], expires_at)

    def _serialize_value(self, value_type: T.CqlType, cell: CellChange) -> bytes:
        # Hand-made changes may omit Cassandra's bytes: they are the value's serialisation.
        try:
            return value_type.serialize(cell.value)
        except (TypeError, ValueError) as exc:
            raise SinkError(f"{self.qualified}.{cell.column}: {exc}", retryable=False) from None

    def _element(self, plan: _ColumnPlan, cell: CellChange, pk: bytes, ck: bytes) -> None:
        element = plan.element
        assert element is not None
        cache = self.plan.element_cache.get(plan.name)
        found = None
        if cache is not None:
            try:
                found = cache.get(cell.path)
            except TypeError:  # unhashable
                cache = None
        if found is None:
            try:
                found = element(cell.path)
            except (TypeError, ValueError, AttributeError) as exc:
                raise SinkError(
                    f"{self.qualified}.{plan.name}: element key {cell.path!r}: {exc}", retryable=False
                ) from None
            if cache is not None:
                if len(cache) >= _KEY_CACHE_LIMIT:
                    cache.clear()
                cache[cell.path] = found
        path_bytes, ord_bytes, key_json, key_text, value_type = found
        deleted = cell.deleted
        value_json = None
        if not deleted and value_type is not None:
            value_json = _JSON(value_type.to_json(cell.value))
            if "\\u0000" in value_json:
                raise ValueOutOfRangeError(
                    self.qualified, plan.name, repr(cell.value)[:80], "contains NUL, which jsonb cannot hold"
                )
        raw = cell.raw_value
        if not raw and not deleted and cell.value is not None:
            raw = self._serialize_value(value_type or T.EMPTY, cell)
        ts = cell.timestamp
        expires_at = cell.deletion_time() if deleted else cell.expires_at
        rank = self._rank(ts, deleted, not deleted and (cell.ttl > 0 or expires_at is not None), expires_at, raw)
        key = (pk, ck, plan.name, path_bytes)
        current = self.staged.elements.get(key)
        if current is None:
            self.staged.elements[key] = [
                pk,
                ck,
                plan.name,
                path_bytes,
                ord_bytes,
                key_json,
                key_text,
                value_json,
                rank,
                ts,
                cell.ttl,
                expires_at,
                deleted,
            ]
            return
        same_ts = current[9] == ts
        if rank > current[8]:
            fields = [pk, ck, plan.name, path_bytes, ord_bytes, key_json, key_text, value_json, rank, ts, cell.ttl]
            if self.min_expiry and same_ts:
                expires_at = _same_ts_expiry(current[12], deleted, current[11], expires_at)
            fields += [expires_at, deleted]
            self.staged.elements[key] = fields
        elif self.min_expiry and same_ts and not deleted and not current[12]:
            current[11] = _min_expiry(current[11], expires_at)

    def _shard(self, column: str, shard: CounterShard, ts: int, pk: bytes, ck: bytes) -> None:
        key = (pk, ck, column, shard.counter_id)
        current = self.staged.shards.get(key)
        if current is None:
            self.staged.shards[key] = [pk, ck, column, shard.counter_id, shard.clock, shard.count, ts]
            return
        if (shard.clock, shard.count) > (current[4], current[5]):
            current[4], current[5] = shard.clock, shard.count
        current[6] = max(current[6], ts)

    def _partition_deletion(self, pk: bytes, d: Deletion) -> None:
        rank = deletion_rank(d)
        current = self.staged.partition_deletions.get(pk)
        if current is None or rank > current[1]:
            self.staged.partition_deletions[pk] = [pk, rank, d.timestamp, d.local_deletion_time]

    def _bound(self, bound: Bound) -> tuple[bytes, int, list[Any]]:
        raw, n = self._clustering_key(bound.clustering, prefix=True)
        if n != len(bound.clustering):
            raise SinkError(
                f"{self.qualified}: range bound {sorted(bound.clustering)} is not a clustering prefix", retryable=False
            )
        values: list[Any] = []
        for i, key in enumerate(self.layout.clustering):
            if i >= n:
                values.append(None)
            elif key.order_column:
                if self.order_fn[key.name] is None:
                    raise SinkError(
                        f"{self.qualified}: range deletions over clustering column {key.name} of type "
                        f"{key.column.type.cql()} are not supported (no order key)",
                        retryable=False,
                    )
                values.append(self._order_key(key, bound.clustering[key.name]))
            else:
                values.append(self.convert[key.name](bound.clustering[key.name]))
        return raw, n, values

    def _range(self, pk: bytes, change: RowChange) -> None:
        assert change.range_deletion is not None
        start = change.range_start or Bound({}, True)
        end = change.range_end or Bound({}, True)
        s_raw, s_len, s_values = self._bound(start)
        e_raw, e_len, e_values = self._bound(end)
        rkey = b"".join(
            [_LEN.pack(s_len), bytes((start.inclusive,)), s_raw, b"|", _LEN.pack(e_len), bytes((end.inclusive,)), e_raw]
        )
        d = change.range_deletion
        rank = deletion_rank(d)
        current = self.staged.ranges.get((pk, rkey))
        if current is not None and rank <= current[-3]:
            return
        row: list[Any] = [pk, rkey]
        for s, e in zip(s_values, e_values, strict=True):
            row += [s, e]
        row += [s_len, start.inclusive, e_len, end.inclusive, rank, d.timestamp, d.local_deletion_time]
        self.staged.ranges[(pk, rkey)] = row


def fold(
    mergers: dict[tuple[str, str], TableMerger], changes: list[RowChange], on_unknown: Callable[[RowChange], None]
) -> None:
    """Fold ``changes`` into the merger of each change's table (``on_unknown`` for other tables)."""
    for change in changes:
        merger = mergers.get((change.keyspace, change.table))
        if merger is None:
            on_unknown(change)
            continue
        merger.add(change)
