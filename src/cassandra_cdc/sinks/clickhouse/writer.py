"""The ClickHouse sink: row changes become facts in a per-table AggregatingMergeTree.

Every fact is merged with ``argMax`` over Cassandra's reconcile order (or ``max``), which is
idempotent and commutative: a replayed batch, a replica's copy of a change or a reordered stream
changes nothing. So positions need no transaction with the data: they are written after it, and a
crash in between only replays a batch. Inserts are buffered into large blocks (at most one insert
per table per ``flush_interval`` seconds, or ``flush_changes`` changes), as ClickHouse wants.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cassandra_cdc.changes.model import Bound, CellChange, Deletion, RowChange, SourcePosition
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnSchema, TableSchema
from cassandra_cdc.sinks.background import DurablePositions, InFlight
from cassandra_cdc.sinks.base import NO_DELETION_TIME, ChangeBatch, ConflictRules, SinkError, ValueOutOfRangeError
from cassandra_cdc.sinks.clickhouse import ddl
from cassandra_cdc.sinks.clickhouse.client import ClickHouseClient, connect
from cassandra_cdc.sinks.clickhouse.keys import Encoder, column_encoder, path_encoder
from cassandra_cdc.sinks.clickhouse.positions import PositionStore
from cassandra_cdc.sinks.clickhouse.types import OutOfRange, mapping
from cassandra_cdc.sinks.failpoints import AFTER_DATA_BEFORE_POSITION, failpoint

_MAX_TTL = 2**31 - 1  # LivenessInfo.EXPIRED_LIVENESS_TTL
_SIGNED = bytes((b ^ 0x80) for b in range(256))
# Payload kind bits of a cell: a tombstone, a live cell whose value is empty (null).
KIND_TOMBSTONE = 2
KIND_EMPTY = 4
_KEY_CACHE_LIMIT = 200_000
_CACHE_SAFE = frozenset(
    {T.TEXT, T.ASCII, T.BLOB, T.BOOLEAN, T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.VARINT, T.UUID}
    | {T.TIMEUUID, T.INET, T.DATE, T.TIME, T.TIMESTAMP}
)
# Key texts are tuples, never lists: a fact row of immutable atoms is untracked by the cyclic GC,
# which otherwise walks every buffered row again and again (it tripled conversion time).
_NO_KEYS: tuple[bytes, ...] = ()

Row = tuple[Any, ...]


@dataclass(slots=True)
class _ColumnCodec:
    column: ColumnSchema
    text: Callable[[Any], bytes]  # the stored text of a whole (simple or frozen) value
    path: Encoder | None = None  # element identity, multi-cell columns
    key_text: Callable[[Any], bytes] | None = None  # a set element's / map key's stored text
    element_text: Callable[[Any], bytes] | None = None  # a list element's / map value's stored text
    field_text: dict[str, Callable[[Any], bytes]] = field(default_factory=dict)  # UDT fields
    value_type: T.CqlType | None = None
    # The common case precompiled: a simple (single-cell, non-counter) column's cell -> one fact row.
    simple: Callable[[bytes, int, bytes, CellChange], Row] | None = None


class _TableWriter:
    """Turns one table's changes into fact rows (tuples in ddl.INPUT_COLUMNS order)."""

    def __init__(self, layout: ddl.TableLayout, rules: ConflictRules) -> None:
        self.layout = layout
        self.table = layout.table
        self.rules = rules
        t = self.table
        self.pk_cols = t.partition_key
        self.ck_cols = t.clustering
        self.pk_enc = [column_encoder(ColumnSchema(c.name, c.type, c.kind)) for c in self.pk_cols]
        self.ck_enc = [column_encoder(c) for c in self.ck_cols]
        self.ck_index = {c.name: i for i, c in enumerate(self.ck_cols)}
        self.codecs: dict[str, _ColumnCodec] = {}
        columns = list(t.columns) + [
            ColumnSchema(d.name, d.type, d.kind) for d in t.dropped_columns.values() if t.column(d.name) is None
        ]
        for col in columns:
            self.codecs[col.name] = self._codec(col)
        # Key caches only where Python equality is Cassandra identity (not -0.0 == 0.0, not
        # Decimal("1.0") == Decimal("1.00"), whose texts differ).
        self.pk_cacheable = all(c.type in _CACHE_SAFE for c in self.pk_cols)
        self.ck_cacheable = all(c.type in _CACHE_SAFE for c in self.ck_cols)
        self.key_cache: dict[tuple[Any, ...], tuple[bytes, tuple[bytes, ...]]] = {}
        self.ck_cache: dict[tuple[Any, ...], tuple[bytes, tuple[bytes, ...]]] = {}

    def _codec(self, col: ColumnSchema) -> _ColumnCodec:
        t = col.type
        m = self.layout.mappings.get(col.name) or mapping(t.freeze())
        codec = _ColumnCodec(col, m.text)
        if not t.is_multi_cell and not t.is_counter:
            codec.simple = self._simple_cell(col, m.text)
        if t.is_multi_cell:
            codec.path = path_encoder(t)
            if isinstance(t, T.ListType):
                codec.element_text = mapping(t.element).text
            elif isinstance(t, T.SetType):
                codec.key_text = mapping(t.element).text
            elif isinstance(t, T.MapType):
                codec.key_text = mapping(t.key).text
                codec.element_text = mapping(t.value).text
            elif isinstance(t, T.UserType):
                codec.field_text = {n: mapping(ft).text for n, ft in zip(t.field_names, t.field_types, strict=True)}
        return codec

    def _simple_cell(
        self, col: ColumnSchema, text: Callable[[Any], bytes]
    ) -> Callable[[bytes, int, bytes, CellChange], Row]:
        """The fact row of a simple column's cell; the same fields _cell computes, without its dispatch."""
        name = col.name.encode()
        serialize = col.type.serialize
        needs_raw = col.type is not T.EMPTY
        rules4 = self.rules is ConflictRules.CASSANDRA_4
        table = self.table.qualified_name

        def convert(pk: bytes, rk: int, ck: bytes, cell: CellChange) -> Row:
            value = cell.value
            raw = cell.raw_value
            ttl = cell.ttl
            if cell.deleted:
                ldt = cell.deletion_time()
                order = (2, ldt, raw, 0) if rules4 else (1, 0, raw.translate(_SIGNED), ldt)
                return (pk, rk, ck, ddl.CELL, name, b"", _NO_KEYS, b"", b"", KIND_TOMBSTONE, cell.timestamp, ttl,
                        ldt, *order, b"", 0, 0)  # fmt: skip
            if value is None:
                stored = b""
                kind = KIND_EMPTY
            else:
                stored = text(value)
                kind = 0
                if not raw and needs_raw:
                    try:
                        raw = serialize(value)  # hand-made changes may omit the bytes
                    except (TypeError, ValueError) as exc:
                        raise SinkError(f"{table}: column {col.name}: {exc}", retryable=False) from None
            exp = cell.expires_at
            if exp is None:
                exp = NO_DELETION_TIME
                if ttl > 0:
                    kind |= 1
            else:
                kind |= 1
            expiring = kind & 1
            if rules4:
                return (pk, rk, ck, ddl.CELL, name, b"", _NO_KEYS, stored, b"", kind, cell.timestamp, ttl, exp,
                        expiring, exp, raw, 0, b"", 0, 0)  # fmt: skip
            return (pk, rk, ck, ddl.CELL, name, b"", _NO_KEYS, stored, b"", kind, cell.timestamp, ttl, exp,
                    0, 0, raw.translate(_SIGNED), exp, b"", 0, 0)  # fmt: skip

        return convert

    def _error(self, column: str, value: Any, exc: Exception) -> ValueOutOfRangeError:
        return ValueOutOfRangeError(self.table.qualified_name, column, repr(value)[:200], str(exc))

    def _texts(self, cols: list[ColumnSchema], values: dict[str, Any], what: str) -> tuple[bytes, ...]:
        out = []
        for c in cols:
            if c.name not in values:
                raise SinkError(f"{self.table.qualified_name}: {what} lacks column {c.name!r}", retryable=False)
            v = values[c.name]
            try:
                out.append(self.layout.mappings[c.name].text(v) if v is not None else b"")
            except OutOfRange as exc:
                raise self._error(c.name, v, exc) from None
        return tuple(out)

    def _partition(self, change: RowChange) -> tuple[bytes, tuple[bytes, ...]]:
        values = change.partition_key
        ident: tuple[Any, ...] | None = None
        hit = None
        if self.pk_cacheable:
            try:
                ident = tuple([values[c.name] for c in self.pk_cols])
                hit = self.key_cache.get(ident)
            except (KeyError, TypeError):  # a missing column (reported below) or unhashable values
                ident, hit = None, None
        if hit is not None:
            return hit
        texts = self._texts(self.pk_cols, values, "partition key")
        enc = b"".join(e(values[c.name]) for e, c in zip(self.pk_enc, self.pk_cols, strict=True))
        result = (enc, texts)
        if ident is not None:
            if len(self.key_cache) > _KEY_CACHE_LIMIT:
                self.key_cache.clear()
            self.key_cache[ident] = result
        return result

    def _clustering(self, values: dict[str, Any]) -> tuple[bytes, tuple[bytes, ...]]:
        ident: tuple[Any, ...] | None = None
        hit = None
        if self.ck_cacheable:
            try:
                ident = tuple([values[c.name] for c in self.ck_cols])
                hit = self.ck_cache.get(ident)
            except (KeyError, TypeError):
                ident, hit = None, None
        if hit is not None:
            return hit
        texts = self._texts(self.ck_cols, values, "clustering")
        enc = b"".join(e(values[c.name]) for e, c in zip(self.ck_enc, self.ck_cols, strict=True))
        result = (enc, texts)
        if ident is not None:
            if len(self.ck_cache) > _KEY_CACHE_LIMIT:
                self.ck_cache.clear()
            self.ck_cache[ident] = result
        return result

    def _prefix(self, bound: Bound | None) -> bytes:
        if bound is None:
            return b""
        values = bound.clustering
        out = []
        for i, c in enumerate(self.ck_cols):
            if c.name not in values:
                if any(n not in self.ck_index or self.ck_index[n] > i for n in values):
                    raise SinkError(
                        f"{self.table.qualified_name}: range bound {sorted(values)} is not a clustering prefix",
                        retryable=False,
                    )
                break
            out.append(self.ck_enc[i](values[c.name]))
        return b"".join(out)

    @staticmethod
    def _deletion(pk: bytes, rk: int, ck: bytes, fact: int, col: bytes, path: bytes, d: Deletion, raw: bytes) -> Row:
        # ``exp`` holds the local deletion time, which purge compares with the cutoff.
        return (pk, rk, ck, fact, col, path, _NO_KEYS, b"", b"", 0, d.timestamp, 0, d.local_deletion_time,
                0, d.local_deletion_time, raw, 0, b"", 0, 0)  # fmt: skip

    def rows(self, change: RowChange, out: list[Row]) -> None:
        pk, pk_texts = self._partition(change)
        if change.partition_deletion is not None:
            out.append(self._deletion(pk, ddl.RK_PARTITION, b"", ddl.PARTITION_DELETION, b"", b"",
                                      change.partition_deletion, b""))  # fmt: skip
        if change.range_deletion is not None:
            start, end = change.range_start, change.range_end
            flags = ("i" if start is None or start.inclusive else "e") + ("i" if end is None or end.inclusive else "e")
            out.append(self._deletion(pk, ddl.RK_PARTITION, self._prefix(start), ddl.RANGE, flags.encode(),
                                      self._prefix(end), change.range_deletion, b""))  # fmt: skip
        if not (change.liveness or change.row_deletion or change.cells or change.collection_deletions):
            return
        if change.is_static:
            rk, ck, keys = ddl.RK_STATIC, b"", pk_texts
        else:
            rk = ddl.RK_ROW
            ck, ck_texts = self._clustering(change.clustering)
            keys = pk_texts + ck_texts
        out.append((pk, rk, ck, ddl.KEYS, b"", b"", keys, b"", b"", 0, ddl.MIN_I64, 0, NO_DELETION_TIME,
                    0, 0, b"", 0, b"", 0, 0))  # fmt: skip
        info = change.liveness
        if info is not None:
            expired = info.ttl == _MAX_TTL
            expiring = info.ttl > 0 or info.expires_at is not None
            exp = info.expires_at if info.expires_at is not None else NO_DELETION_TIME
            out.append((pk, rk, ck, ddl.LIVENESS, b"", b"", _NO_KEYS, b"", b"", int(expired), info.timestamp,
                        info.ttl, exp, 2 * expired + expiring, exp, b"", 0, b"", 0, 0))  # fmt: skip
        if change.row_deletion is not None:
            d = change.row_deletion
            out.append((pk, rk, ck, ddl.ROW_DELETION, b"", b"", _NO_KEYS, b"", b"", int(change.shadowable),
                        d.timestamp, 0, d.local_deletion_time, 0, d.local_deletion_time,
                        b"\x00" if change.shadowable else b"\x01", 0, b"", 0, 0))  # fmt: skip
        for name, d in change.collection_deletions.items():
            if name not in self.codecs:
                raise SinkError(f"{self.table.qualified_name}: unknown column {name!r}", retryable=False)
            out.append(self._deletion(pk, rk, ck, ddl.COLLECTION_DELETION, name.encode(), b"", d, b""))
        codecs = self.codecs
        for cell in change.cells:
            codec = codecs.get(cell.column)
            simple = codec.simple if codec is not None and not cell.has_path else None
            if simple is None:
                self._cell(pk, rk, ck, cell, out)
                continue
            try:
                out.append(simple(pk, rk, ck, cell))
            except OutOfRange as exc:
                raise self._error(cell.column, cell.value, exc) from None
            except (KeyError, ValueError) as exc:
                raise SinkError(f"{self.table.qualified_name}: column {cell.column}: {exc}", retryable=False) from None

    def _cell(self, pk: bytes, rk: int, ck: bytes, cell: CellChange, out: list[Row]) -> None:
        codec = self.codecs.get(cell.column)
        if codec is None:
            raise SinkError(f"{self.table.qualified_name}: cell of unknown column {cell.column!r}", retryable=False)
        col = cell.column.encode()
        t = codec.column.type
        if t.is_counter:
            if cell.deleted:
                out.append((pk, rk, ck, ddl.COUNTER_TOMBSTONE, col, b"", _NO_KEYS, b"", b"", 0, cell.timestamp, 0,
                            cell.deletion_time(), 0, 0, b"", 0, b"", 0, 0))  # fmt: skip
                return
            for shard in cell.counter_shards or ():
                kind = {"global": 0, "local": 1}.get(shard.kind, 2)
                out.append((pk, rk, ck, ddl.COUNTER, col, b"", _NO_KEYS, b"", b"", kind, cell.timestamp, 0, 0, 0, 0,
                            b"", 0, str(shard.counter_id).encode(), shard.clock, shard.count))  # fmt: skip
            return
        path = b""
        key = b""
        value = b""
        value_type: T.CqlType = t
        try:
            if cell.has_path:
                assert codec.path is not None
                path = codec.path(cell.path)
                if isinstance(t, T.SetType):
                    key = codec.key_text(cell.path)  # type: ignore[misc]
                    value_type = T.EMPTY
                elif isinstance(t, T.MapType):
                    key = codec.key_text(cell.path)  # type: ignore[misc]
                    value_type = t.value
                    if not cell.deleted and cell.value is not None:
                        value = codec.element_text(cell.value)  # type: ignore[misc]
                elif isinstance(t, T.ListType):
                    value_type = t.element
                    if not cell.deleted and cell.value is not None:
                        value = codec.element_text(cell.value)  # type: ignore[misc]
                elif isinstance(t, T.UserType):
                    value_type = t.field_types[t.field_names.index(cell.path)]
                    if not cell.deleted and cell.value is not None:
                        value = codec.field_text[cell.path](cell.value)
            elif not cell.deleted and cell.value is not None:
                value = codec.text(cell.value)
        except OutOfRange as exc:
            raise self._error(cell.column, cell.value, exc) from None
        except (KeyError, ValueError) as exc:
            raise SinkError(f"{self.table.qualified_name}: column {cell.column}: {exc}", retryable=False) from None
        raw = cell.raw_value
        if not raw and not cell.deleted and cell.value is not None and value_type is not T.EMPTY:
            try:
                raw = value_type.serialize(cell.value)  # hand-made changes may omit the bytes
            except (TypeError, ValueError) as exc:
                raise SinkError(f"{self.table.qualified_name}: column {cell.column}: {exc}", retryable=False) from None
        expiring = not cell.deleted and (cell.ttl > 0 or cell.expires_at is not None)
        # ``exp`` is Cassandra's Cell.localDeletionTime: a tombstone's deletion time, an expiry, or none.
        if cell.deleted:
            exp = cell.deletion_time()
        else:
            exp = cell.expires_at if cell.expires_at is not None else NO_DELETION_TIME
        kind = KIND_TOMBSTONE if cell.deleted else int(expiring)
        if not cell.deleted and cell.value is None and not isinstance(t, T.SetType):
            kind |= KIND_EMPTY
        if self.rules is ConflictRules.CASSANDRA_4:
            order = (2 if cell.deleted else int(expiring), exp, raw, 0)
        else:
            order = (int(cell.deleted), 0, raw.translate(_SIGNED), exp)
        out.append((pk, rk, ck, ddl.CELL, col, path, _NO_KEYS, value, key, kind, cell.timestamp, cell.ttl, exp,
                    *order, b"", 0, 0))  # fmt: skip


@dataclass(slots=True)
class _Insert:
    """Buffered fact rows (per table) and the source positions they complete."""

    rows: dict[tuple[str, str], list[Row]] = field(default_factory=dict)
    positions: dict[str, SourcePosition] = field(default_factory=dict)
    changes: int = 0

    def absorb(self, later: _Insert) -> None:
        for key, rows in later.rows.items():
            self.rows.setdefault(key, []).extend(rows)
        self.positions.update(later.positions)
        self.changes += later.changes


class ClickHouseSink:
    """Applies change batches to ClickHouse; users query the view ``keyspace.table``.

    ``target``: a client, or a URL (``http://host:port`` for clickhouse-connect, ``chdb:///path``
    for chdb in this process). ``overrides``: ``{"ks.table": {"column": "ClickHouse type"}}``.

    Batches are converted at once (a value out of range fails its own batch) and buffered; the
    buffer is inserted as one block per table when it holds ``flush_changes`` changes or is
    ``flush_interval`` seconds old, followed by the positions it completes. ``grace_seconds``: how long
    :meth:`purge` keeps tombstones (default: each table's gc_grace_seconds). With ``background``
    the insert runs on a thread of its own while the next batches are converted (ClickHouse works
    in its own process, so the two overlap); at most one insert is in flight and one buffered, so
    memory stays bounded. :meth:`durable_positions` says what has reached ClickHouse; a crash
    loses only what was buffered or in flight, which the pipeline replays from the committed
    positions (replays change nothing).
    """

    def __init__(
        self,
        target: str | ClickHouseClient,
        *,
        name: str = "clickhouse",
        conflict_rules: ConflictRules = ConflictRules.CASSANDRA_4,
        overrides: dict[str, dict[str, str]] | None = None,
        metadata_database: str = "cassandra_cdc",
        flush_changes: int = 20_000,
        flush_interval: float = 1.0,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
        grace_seconds: int | None = None,
    ) -> None:
        self.name = name
        self.grace_seconds = grace_seconds  # purge grace; None: each table's gc_grace_seconds
        self.client = connect(target) if isinstance(target, str) else target
        self.rules = conflict_rules
        self.overrides = overrides or {}
        self.positions = PositionStore(self.client, metadata_database, name)
        self.flush_changes = flush_changes
        self.flush_interval = flush_interval
        self.clock = clock
        self.writers: dict[tuple[str, str], _TableWriter] = {}
        self._buffer = _Insert()
        self._first_buffered: float | None = None
        self._inserts: InFlight[_Insert] = InFlight(name, self._apply, background=background)
        # One request at a time on the client (its HTTP session refuses concurrent queries).
        self._client_lock = threading.Lock()
        self._durable = DurablePositions()
        # Test hook: called between the data inserts and the position insert of a flush.
        self.before_positions: Callable[[], None] | None = None

    # --- Sink protocol ---

    def start(self, tables: list[TableSchema]) -> None:
        with self._client_lock:
            self.positions.create()
            for table in tables:
                layout = ddl.TableLayout(table, self.overrides.get(table.qualified_name, {}), self.rules.value)
                self._check_layout(layout)
                for statement in layout.ddl():
                    self.client.command(statement)
                self.writers[(table.keyspace, table.name)] = _TableWriter(layout, self.rules)

    def _check_layout(self, layout: ddl.TableLayout) -> None:
        """Refuse state tables of an older storage layout (argMax states), which this version cannot read."""
        found = self.client.query(
            "SELECT type FROM system.columns WHERE database = "
            f"{ddl.s(layout.table.keyspace)} AND table = {ddl.s(layout.table.name + '__cells')} AND name = 'cell'"
        )
        if found and str(found[0][0]).startswith("AggregateFunction"):
            raise SinkError(
                f"{layout.name('__cells')} holds an earlier storage layout (argMax states): drop the table's "
                f"ClickHouse objects ({', '.join(layout.object_names())}) and this sink's positions, then re-sync it "
                "(docs/sinks-clickhouse.md)",
                retryable=False,
            )

    def committed_positions(self) -> dict[str, SourcePosition]:
        with self._client_lock:
            committed = self.positions.read()
        self._durable.advance(committed)
        return committed

    def durable_positions(self) -> dict[str, SourcePosition]:
        """Positions whose changes (and everything before them) are in ClickHouse."""
        return self._durable.snapshot()

    def write_batch(self, batch: ChangeBatch) -> None:
        # Nothing of a batch is buffered unless it converted and every earlier failure is cleared,
        # so a retry of the same batch never buffers it twice.
        self._inserts.settle(wait=False)
        converted = _Insert(changes=len(batch.changes), positions=dict(batch.positions))
        for change in batch.changes:
            writer = self.writers.get((change.keyspace, change.table))
            if writer is None:
                raise SinkError(f"change for unknown table {change.keyspace}.{change.table}", retryable=False)
            writer.rows(change, converted.rows.setdefault((change.keyspace, change.table), []))
        due = self._buffer.changes + converted.changes >= self.flush_changes or self._interval_passed()
        if due:
            self._inserts.settle(wait=True)  # the insert in flight must land before the next one starts
        self._buffer.absorb(converted)
        if self._first_buffered is None:
            self._first_buffered = self.clock()
        if due:
            self._dispatch()

    def flush_if_due(self) -> None:
        """Start inserting the buffer if it is older than ``flush_interval`` (called when the stream is idle)."""
        self._inserts.settle(wait=False)
        if self._buffer.changes and self._interval_passed():
            self._dispatch()

    def flush(self) -> None:
        """Insert everything buffered or in flight, and its positions; returns when it is in ClickHouse."""
        if self._buffer.changes or self._buffer.positions:
            self._dispatch()
        self._inserts.settle(wait=True)

    def purge(self, now: int) -> int:
        from cassandra_cdc.sinks.clickhouse.purge import purge

        with self._client_lock:
            return purge(self.client, [w.layout for w in self.writers.values()], now, self.grace_seconds)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._inserts.close()
            self.client.close()

    # --- inserting ---

    def _interval_passed(self) -> bool:
        return self._first_buffered is not None and self.clock() - self._first_buffered >= self.flush_interval

    def _dispatch(self) -> None:
        self._inserts.settle(wait=True)  # raises while an earlier insert still fails: the buffer stays
        work, self._buffer, self._first_buffered = self._buffer, _Insert(), None
        self._inserts.submit(work)

    def _apply(self, work: _Insert) -> None:
        """Insert the data (one block per table), then the positions it covers."""
        try:
            with self._client_lock:
                for key, rows in work.rows.items():
                    if rows:
                        self.client.insert(self.writers[key].layout.name("__in"), ddl.INPUT_COLUMNS, rows)
                if self.before_positions is not None:
                    self.before_positions()
                # A crash here leaves data without its position: the replay that follows changes nothing.
                failpoint(AFTER_DATA_BEFORE_POSITION)
                if work.positions:
                    self.positions.write(work.positions)
        except SinkError:
            raise
        except Exception as exc:
            raise SinkError(f"ClickHouse write failed: {exc}", retryable=True) from exc
        self._durable.advance(work.positions)
