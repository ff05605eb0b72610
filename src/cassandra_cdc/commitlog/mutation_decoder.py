"""Decodes db/Mutation bytes, as the commit log (and hints) hold them, into commitlog.model objects.

Supported messaging versions: 10 and 11 (Cassandra 3.0/3.11, commit-log v6), 12 (4.0/4.1, v7) and
13 (5.0, v8). Their mutation layout is the same; 13 only reads local deletion times as unsigned.

Layout (MutationSerializer, PartitionUpdateSerializer, UnfilteredRowIteratorSerializer):
``<uvint update count>`` then per update ``<16-byte table id><vint-length key><flags>`` and, unless
the update is empty, ``<EncodingStats><static columns if any><regular columns>[<partition
deletion>][<static row>][<row estimate>]<unfiltereds...><end of partition>``.

Rows carry no size in this (messaging) form, so an update can only be walked with its table's
column types: an update of a table the schema does not know ends decoding of the mutation (as
Cassandra's UnknownTableException does); the updates before it are still returned.

The hot path reads a ``bytes`` object with local offsets; per-table and per-header facts (fixed
value lengths, complex columns) are computed once and cached on the decoder.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cassandra_cdc.commitlog.model import (
    EMPTY_LIVENESS,
    LIVE,
    NO_DELETION_TIME,
    NO_TIMESTAMP,
    NO_TTL,
    Cell,
    Clustering,
    ClusteringKind,
    DeletionTime,
    EncodingStats,
    LivenessInfo,
    PartitionEncoding,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
    Unfiltered,
)
from cassandra_cdc.commitlog.serialization_header import (
    DELETION_TIME_EPOCH,
    SUPPORTED_MESSAGING_VERSIONS,
    TIMESTAMP_EPOCH,
    VERSION_50,
    ColumnCodec,
    TableCodec,
    UnknownColumnError,
    column_codec,
    table_codec,
)
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.schema.system_tables import TRUNCATED_AT_COLUMN, classify_table_id
from cassandra_cdc.wire.vint import EXTRA_BYTES, FIRST_BYTE_MASK

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_S31 = 1 << 31
_S63 = 1 << 63
_T32 = 1 << 32
_T64 = 1 << 64
_BOUND_KINDS = frozenset({0, 1, 2, 5, 6, 7})
_KINDS = tuple(ClusteringKind)
# How many distinct table ids / header layouts a decoder remembers (corrupt input could invent many).
_CACHE_LIMIT = 4096


class SchemaLookup(Protocol):
    """What the decoder needs from a schema: the table with an id, if known (schema.model.Schema fits)."""

    def by_id(self, table_id: uuid.UUID) -> TableSchema | None: ...


# Names a system table whose updates are signals ("schema_change", "truncate", "system"), None otherwise.
SystemTableClassifier = Callable[[uuid.UUID], str | None]


def system_signal_kind(table_id: uuid.UUID) -> str | None:
    """The default classifier: "schema_change" for system_schema (and legacy system.schema_*) tables,
    "truncate" for system.local (where TRUNCATE records truncated_at), "system" for other system
    tables, None for user tables (schema.system_tables.classify_table_id knows the ids)."""
    table = classify_table_id(table_id)
    if table is None:
        return None
    if table.is_schema_table:
        return "schema_change"
    if table.is_truncation_record:
        return "truncate"
    return "system"


# Says whether a known table's updates are wanted (e.g. ``lambda t: t.cdc``); None wants them all.
CapturePredicate = Callable[[TableSchema], bool]


TRUNCATE_SIGNAL = "truncate"
SYSTEM_SIGNAL = "system"


def _peek_columns(data: bytes, pos: int, dlen: int) -> frozenset[str]:
    """The column names a partition update's SerializationHeader lists, read without its table's schema.

    Follows UnfilteredRowIteratorSerializer.deserializeHeader up to the header's Columns (names are
    written before anything type-dependent). Empty when the update is empty or the bytes end early.
    """
    try:
        key_length, pos = _uvint(data, pos)
        pos += key_length
        flags = data[pos]
        pos += 1
        if flags & 0x01:  # IS_EMPTY
            return frozenset()
        for _ in range(3):  # EncodingStats: timestamp, local deletion time and TTL deltas
            _, pos = _uvint(data, pos)
        names: set[str] = set()
        for _ in range(2 if flags & 0x08 else 1):  # static columns first when there is a static row
            count, pos = _uvint(data, pos)
            for _ in range(min(count, dlen)):
                length, pos = _uvint(data, pos)
                names.add(bytes(data[pos : pos + length]).decode("utf-8", "replace"))
                pos += length
        return frozenset(names)
    except (IndexError, _Corrupt):
        return frozenset()


class MutationDecodeError(ValueError):
    """Why (part of) a mutation could not be decoded.

    ``kind`` is one of: "unknown_table" (an update's table id is in no schema), "unknown_column",
    "corrupt" (bytes that break the format, including input that ends too early),
    "trailing_bytes", "unsupported_version". ``offset`` is where the problem was found, in the
    mutation's bytes; ``update_index`` and ``table_id``/``table`` say which update it was in.
    """

    def __init__(
        self,
        kind: str,
        reason: str,
        *,
        offset: int,
        update_index: int | None = None,
        table_id: uuid.UUID | None = None,
        table: str | None = None,
    ) -> None:
        where = f"offset {offset}"
        if update_index is not None:
            where += f", update #{update_index}"
        if table is not None:
            where += f" (table {table}, id {table_id})"
        elif table_id is not None:
            where += f" (table id {table_id})"
        super().__init__(f"mutation {where}: {reason}")
        self.kind = kind
        self.reason = reason
        self.offset = offset
        self.update_index = update_index
        self.table_id = table_id
        self.table = table


@dataclass(frozen=True, slots=True)
class SystemSignal:
    """An update to a system table the classifier recognised (schema change, truncation...).

    ``update`` is the decoded update when the schema knows the system table's columns, else None.
    """

    kind: str
    table_id: uuid.UUID
    update_index: int
    offset: int
    update: PartitionUpdate | None


@dataclass(slots=True)
class DecodeResult:
    """What one mutation decoded to.

    - ``updates``: the updates of captured tables, in the order the mutation holds them.
    - ``decoded``: every update decoded (captured, skipped or system), in order: re-encoding
      ``Mutation(decoded)`` gives the original bytes back when ``complete``.
    - ``skipped``: ids of known tables whose updates were decoded but are not captured.
    - ``signals``: updates of system tables the classifier recognised.
    - ``update_count``: how many updates the mutation declares.
    - ``undecoded``: how many declared updates were not decoded (after an error, or after a
      recognised system table whose columns the schema does not know).
    - ``error``: why decoding stopped early or found a problem; None when all went well.
    """

    updates: list[PartitionUpdate] = field(default_factory=list)
    decoded: list[PartitionUpdate] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    signals: list[SystemSignal] = field(default_factory=list)
    update_count: int = 0
    undecoded: int = 0
    error: MutationDecodeError | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and self.undecoded == 0


# (table id, signal kind, table, table codec, captured) for a table id's raw bytes.
_Entry = tuple[uuid.UUID, str | None, TableSchema | None, TableCodec | None, bool]


class _Corrupt(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def _uvint(data: bytes, pos: int) -> tuple[int, int]:
    """VIntCoding.readUnsignedVInt: (value as unsigned 64-bit, next offset)."""
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    extra = EXTRA_BYTES[b]
    end = pos + 1 + extra
    if end > len(data):
        raise _Corrupt(pos, f"vint of {extra + 1} bytes runs past the end of the mutation")
    return ((b & FIRST_BYTE_MASK[b]) << (extra << 3)) | int.from_bytes(data[pos + 1 : end], "big"), end


def _ldt(value: int, v13: bool) -> int:
    """A local deletion time from the Java int the delta arithmetic gives (signed before 5.0)."""
    if v13:
        value &= _M32
        return NO_DELETION_TIME if value == _M32 else value
    return value


class MutationDecoder:
    """Decodes mutations against a schema; keeps per-table and per-header caches between calls.

    ``capture`` chooses which known tables' updates are returned (others are decoded, to find
    where they end, and counted in ``skipped``); ``classify`` recognises system tables whose
    updates are reported as signals. Call ``clear_cache`` after changing TableSchema objects in
    place (replacing them in the schema is detected).
    """

    def __init__(
        self,
        schema: SchemaLookup,
        *,
        capture: CapturePredicate | None = None,
        classify: SystemTableClassifier | None = system_signal_kind,
    ) -> None:
        self._schema = schema
        self._capture = capture
        self._classify = classify
        self._entries: dict[bytes, _Entry] = {}
        # Per table, each column's codec by name: header layouts that miss the cache are built from it.
        self._codecs: dict[uuid.UUID, tuple[TableSchema, dict[str, ColumnCodec]]] = {}
        self._layouts: dict[bytes, tuple[TableSchema, tuple[str, ...], tuple[ColumnCodec, ...]]] = {}

    def clear_cache(self) -> None:
        self._codecs.clear()
        self._entries.clear()
        self._layouts.clear()

    def decode(self, data: bytes | bytearray | memoryview, messaging_version: int) -> DecodeResult:
        """Decode one serialised Mutation. Follows Mutation.MutationSerializer.deserialize.

        Never raises for bad input: problems are reported in ``DecodeResult.error``.
        """
        if not isinstance(data, bytes):
            data = bytes(data)
        result = DecodeResult([], [], [], [], 0, 0, None)
        if messaging_version not in SUPPORTED_MESSAGING_VERSIONS:
            result.error = MutationDecodeError(
                "unsupported_version",
                f"messaging version {messaging_version} is not one of {SUPPORTED_MESSAGING_VERSIONS}",
                offset=0,
            )
            return result
        v13 = messaging_version >= VERSION_50
        dlen = len(data)
        try:
            count, pos = _uvint(data, 0)
        except (IndexError, _Corrupt):
            result.error = MutationDecodeError("corrupt", "empty mutation", offset=0)
            return result
        result.update_count = count
        if count == 0 or count > dlen:
            result.error = MutationDecodeError("corrupt", f"implausible update count {count}", offset=0)
            return result
        for index in range(count):
            start = pos
            if pos + 16 > dlen:
                result.undecoded = count - index
                result.error = MutationDecodeError(
                    "corrupt", "mutation ends before the update's table id", offset=pos, update_index=index
                )
                return result
            raw_id = data[pos : pos + 16]
            entry = self._entries.get(raw_id)
            if entry is None:
                entry = self._identify(raw_id)
            table_id, kind, table, tcodec, captured = entry
            # The schema may have changed since the entry was cached: ask it every time.
            current = self._schema.by_id(table_id)
            if current is not table:
                entry = self._identify(raw_id)
                table_id, kind, table, tcodec, captured = entry
            if table is None or tcodec is None:
                if kind is not None:
                    if kind == TRUNCATE_SIGNAL and TRUNCATED_AT_COLUMN not in _peek_columns(data, pos + 16, dlen):
                        kind = SYSTEM_SIGNAL
                    result.signals.append(SystemSignal(kind, table_id, index, start, None))
                    # Decoding cannot go on; if this was the last update, nothing was lost.
                    result.undecoded = count - index - 1
                    return result
                result.undecoded = count - index
                result.error = MutationDecodeError(
                    "unknown_table",
                    "no schema knows this table id; the rest of the mutation cannot be walked",
                    offset=start,
                    update_index=index,
                    table_id=table_id,
                )
                return result
            try:
                update, pos = self._decode_update(data, pos + 16, dlen, v13, table, tcodec)
            except UnknownColumnError as exc:
                result.undecoded = count - index
                result.error = MutationDecodeError(
                    "unknown_column", str(exc), offset=start, update_index=index,
                    table_id=table_id, table=table.qualified_name,
                )  # fmt: skip
                return result
            except _Corrupt as exc:
                result.undecoded = count - index
                result.error = MutationDecodeError(
                    "corrupt", exc.reason, offset=exc.offset, update_index=index,
                    table_id=table_id, table=table.qualified_name,
                )  # fmt: skip
                return result
            except (IndexError, ValueError) as exc:
                reason = "mutation ends inside the update" if isinstance(exc, IndexError) else str(exc)
                result.undecoded = count - index
                result.error = MutationDecodeError(
                    "corrupt", f"{reason} (update starts at offset {start})", offset=dlen,
                    update_index=index, table_id=table_id, table=table.qualified_name,
                )  # fmt: skip
                return result
            result.decoded.append(update)
            if kind is not None:
                if kind == TRUNCATE_SIGNAL and not truncation_records(update):
                    kind = SYSTEM_SIGNAL
                result.signals.append(SystemSignal(kind, table_id, index, start, update))
            elif captured:
                result.updates.append(update)
            else:
                result.skipped.append(table_id)
        if pos != dlen:
            result.error = MutationDecodeError(
                "trailing_bytes", f"{dlen - pos} bytes follow the last update", offset=pos
            )
        return result

    def _identify(self, raw: bytes) -> _Entry:
        """What the decoder needs to know about a table id, cached by its 16 raw bytes."""
        table_id = uuid.UUID(bytes=raw)
        kind = self._classify(table_id) if self._classify is not None else None
        table = self._schema.by_id(table_id)
        entry: _Entry
        if table is None:
            entry = (table_id, kind, None, None, False)
        else:
            captured = self._capture(table) if self._capture is not None else True
            entry = (table_id, kind, table, table_codec(table), captured)
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.clear()
        self._entries[raw] = entry
        return entry

    def _columns(
        self, data: bytes, pos: int, dlen: int, table: TableSchema, id_bytes: bytes, is_static: bool
    ) -> tuple[tuple[str, ...], tuple[ColumnCodec, ...], int]:
        """Read a Columns list (Columns.Serializer.deserialize); resolve it through the cache."""
        start = pos
        b = data[pos]
        if b < 0x80:
            n = b
            pos += 1
        else:
            n, pos = _uvint(data, pos)
        if n > dlen - pos:
            raise _Corrupt(start, f"implausible column count {n}")
        for _ in range(n):
            b = data[pos]
            if b < 0x80:
                pos += 1 + b
            else:
                length, pos = _uvint(data, pos)
                pos += length
        if pos > dlen:
            raise _Corrupt(start, "column names run past the end of the mutation")
        key = id_bytes + (b"S" if is_static else b"R") + data[start:pos]
        cached = self._layouts.get(key)
        if cached is not None and cached[0] is table:
            return cached[1], cached[2], pos
        names = []
        p = start
        _, p = _uvint(data, p)
        for _ in range(n):
            length, p = _uvint(data, p)
            try:
                names.append(data[p : p + length].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _Corrupt(p, f"column name is not UTF-8: {exc}") from None
            p += length
        codecs = self._codecs.get(table.id)
        if codecs is None or codecs[0] is not table:
            codecs = (table, {})
            self._codecs[table.id] = codecs
        by_name = codecs[1]
        layout = tuple(by_name.get(name) or by_name.setdefault(name, column_codec(table, name)) for name in names)
        if len(self._layouts) >= _CACHE_LIMIT:
            self._layouts.clear()
        self._layouts[key] = (table, tuple(names), layout)
        return tuple(names), layout, pos

    def _decode_update(
        self, data: bytes, pos: int, dlen: int, v13: bool, table: TableSchema, tcodec: TableCodec
    ) -> tuple[PartitionUpdate, int]:
        """One PartitionUpdate after its table id.

        Follows PartitionUpdateSerializer.deserialize, UnfilteredRowIteratorSerializer.deserializeHeader,
        SerializationHeader.Serializer.deserializeForMessaging and EncodingStats.Serializer.deserialize.
        """
        b = data[pos]
        if b < 0x80:
            klen = b
            pos += 1
        else:
            klen, pos = _uvint(data, pos)
        end = pos + klen
        if end > dlen:
            raise _Corrupt(pos, f"partition key of {klen} bytes runs past the end of the mutation")
        key = data[pos:end]
        pos = end
        flags = data[pos]
        pos += 1
        if flags & 0x01:  # IS_EMPTY
            encoding = None
            if flags & 0x02:
                stats = EncodingStats(TIMESTAMP_EPOCH, DELETION_TIME_EPOCH, 0)
                encoding = PartitionEncoding(stats, (), (), None, True)
            return PartitionUpdate(table.id, key, LIVE, None, [], encoding), pos
        if flags & ~0x1F:
            raise _Corrupt(pos - 1, f"unknown partition flags {flags:#04x}")

        v, pos = _uvint(data, pos)
        min_ts = (v + TIMESTAMP_EPOCH) & _M64
        if min_ts >= _S63:
            min_ts -= _T64
        if data[pos] < 0x80:  # usual: no deletion time or ttl in the update, a zero delta
            v = data[pos]
            pos += 1
        else:
            v, pos = _uvint(data, pos)
        min_ldt = (v + DELETION_TIME_EPOCH) & _M32
        if min_ldt >= _S31:
            min_ldt -= _T32
        if data[pos] < 0x80:
            min_ttl = data[pos]
            pos += 1
        else:
            v, pos = _uvint(data, pos)
            min_ttl = v & _M32
            if min_ttl >= _S31:
                min_ttl -= _T32

        static_names: tuple[str, ...] = ()
        static_layout: tuple[ColumnCodec, ...] = ()
        if flags & 0x08:
            static_names, static_layout, pos = self._columns(data, pos, dlen, table, tcodec.id_bytes, True)
        regular_names, regular_layout, pos = self._columns(data, pos, dlen, table, tcodec.id_bytes, False)

        partition_deletion = LIVE
        if flags & 0x04:
            partition_deletion, pos = _deletion(data, pos, min_ts, min_ldt, v13)

        static_row = None
        if flags & 0x08:
            rflags = data[pos]
            if rflags & 0x83 != 0x80 or not data[pos + 1] & 0x01:
                raise _Corrupt(pos, f"static row flags {rflags:#04x}/{data[pos + 1]:#04x} are not a static row's")
            static_row, pos = _row_body(
                data, pos + 2, dlen, rflags, data[pos + 1], (), static_layout, min_ts, min_ldt, min_ttl, v13, True
            )

        row_estimate = None
        if flags & 0x10:
            row_estimate, pos = _uvint(data, pos)

        clustering_fixed = tcodec.clustering_fixed
        n_clustering = len(clustering_fixed)
        unfiltereds: list[Unfiltered] = []
        append = unfiltereds.append
        while True:
            uflags = data[pos]
            pos += 1
            if uflags & 0x01:  # END_OF_PARTITION
                break
            ext = 0
            if uflags & 0x80:
                ext = data[pos]
                pos += 1
            if uflags & 0x02:  # IS_MARKER
                marker, pos = _marker(data, pos, dlen, clustering_fixed, min_ts, min_ldt, v13)
                append(marker)
                continue
            if ext & 0x01:
                raise _Corrupt(pos - 1, "a static row among the partition's rows")
            if n_clustering:
                clustering, pos = _clustering(data, pos, dlen, clustering_fixed, n_clustering)
            else:
                clustering = ()
            row, pos = _row_body(
                data, pos, dlen, uflags, ext, clustering, regular_layout, min_ts, min_ldt, min_ttl, v13, False
            )
            append(row)

        encoding = PartitionEncoding(
            EncodingStats(min_ts, min_ldt, min_ttl), static_names, regular_names, row_estimate, bool(flags & 0x02)
        )
        return PartitionUpdate(table.id, key, partition_deletion, static_row, unfiltereds, encoding), pos


def _deletion(data: bytes, pos: int, min_ts: int, min_ldt: int, v13: bool) -> tuple[DeletionTime, int]:
    """SerializationHeader.readDeletionTime: delta-encoded timestamp then local deletion time."""
    b = data[pos]
    if b < 0x80:
        v = b
        pos += 1
    else:
        v, pos = _uvint(data, pos)
    ts = (v + min_ts) & _M64
    if ts >= _S63:
        ts -= _T64
    b = data[pos]
    if b < 0x80:
        v = b
        pos += 1
    else:
        v, pos = _uvint(data, pos)
    ldt = (v + min_ldt) & _M32
    if v13:
        ldt = NO_DELETION_TIME if ldt == _M32 else ldt
    elif ldt >= _S31:
        ldt -= _T32
    if ts == NO_TIMESTAMP and ldt == NO_DELETION_TIME:
        return LIVE, pos
    return DeletionTime(ts, ldt), pos


def _clustering(data: bytes, pos: int, dlen: int, fixed: tuple[int, ...], size: int) -> tuple[Clustering, int]:
    """ClusteringPrefix.Serializer.deserializeValuesWithoutSize: per 32 values a vint of 2-bit headers."""
    values: list[bytes | None] = []
    offset = 0
    while offset < size:
        b = data[pos]
        if b < 0x80:
            header = b
            pos += 1
        else:
            header, pos = _uvint(data, pos)
        limit = min(size, offset + 32)
        while offset < limit:
            shift = (offset << 1) & 63
            if header >> shift & 2:
                values.append(None)
            elif header >> shift & 1:
                values.append(b"")
            else:
                length = fixed[offset]
                if length < 0:
                    b = data[pos]
                    if b < 0x80:
                        length = b
                        pos += 1
                    else:
                        length, pos = _uvint(data, pos)
                end = pos + length
                if end > dlen:
                    raise _Corrupt(pos, f"clustering value of {length} bytes runs past the end of the mutation")
                values.append(data[pos:end])
                pos = end
            offset += 1
    return tuple(values), pos


def _marker(
    data: bytes, pos: int, dlen: int, fixed: tuple[int, ...], min_ts: int, min_ldt: int, v13: bool
) -> tuple[RangeTombstoneMarker, int]:
    """A range tombstone bound or boundary (ClusteringBoundOrBoundary.Serializer, deserializeMarkerBody)."""
    kind = data[pos]
    if kind not in _BOUND_KINDS:
        raise _Corrupt(pos, f"range tombstone marker of clustering kind {kind}")
    size = (data[pos + 1] << 8) | data[pos + 2]
    pos += 3
    if size > len(fixed):
        raise _Corrupt(
            pos - 2, f"range tombstone bound of {size} values; the table has {len(fixed)} clustering columns"
        )
    clustering: Clustering = ()
    if size:
        clustering, pos = _clustering(data, pos, dlen, fixed, size)
    first, pos = _deletion(data, pos, min_ts, min_ldt, v13)
    if kind == 2 or kind == 5:
        second, pos = _deletion(data, pos, min_ts, min_ldt, v13)
        return RangeTombstoneMarker(_KINDS[kind], clustering, second, first), pos
    return RangeTombstoneMarker(_KINDS[kind], clustering, first), pos


def _subset(data: bytes, pos: int, layout: tuple[ColumnCodec, ...]) -> tuple[tuple[ColumnCodec, ...], int]:
    """Columns.Serializer.deserializeSubset: a bitmap of missing columns, or index lists from 64 columns on."""
    start = pos
    encoded, pos = _uvint(data, pos)
    n = len(layout)
    if encoded == 0:
        return layout, pos
    if n < 64:
        if encoded >> n:
            raise _Corrupt(start, f"column subset bitmap {encoded:#x} names columns beyond the header's {n}")
        return tuple(col for i, col in enumerate(layout) if not encoded >> i & 1), pos
    delta = encoded
    if delta > n:
        raise _Corrupt(start, f"column subset misses {delta} of the header's {n} columns")
    count = n - delta
    chosen: list[ColumnCodec] = []
    if count < n // 2:
        for _ in range(count):
            idx, pos = _uvint(data, pos)
            if idx >= n:
                raise _Corrupt(pos, f"column index {idx} beyond the header's {n} columns")
            chosen.append(layout[idx])
        return tuple(chosen), pos
    idx = 0
    skipped = 0
    while True:
        if skipped < delta:
            missing, pos = _uvint(data, pos)
            if missing >= n or missing < idx:
                raise _Corrupt(pos, f"missing-column index {missing} out of order or beyond {n} columns")
        else:
            missing = n
        while idx < missing:
            chosen.append(layout[idx])
            idx += 1
        if idx == n:
            break
        idx += 1
        skipped += 1
    return tuple(chosen), pos


def _row_body(
    data: bytes,
    pos: int,
    dlen: int,
    flags: int,
    ext: int,
    clustering: Clustering,
    layout: tuple[ColumnCodec, ...],
    min_ts: int,
    min_ldt: int,
    min_ttl: int,
    v13: bool,
    is_static: bool,
) -> tuple[Row, int]:
    """UnfilteredSerializer.deserializeRowBody with Cell.Serializer.deserialize inlined."""
    row_ts = NO_TIMESTAMP
    row_ttl = NO_TTL
    row_ldt = NO_DELETION_TIME
    liveness = EMPTY_LIVENESS
    if flags & 0x04:  # HAS_TIMESTAMP
        b = data[pos]
        if b < 0x80:
            v = b
            pos += 1
        else:
            v, pos = _uvint(data, pos)
        row_ts = (v + min_ts) & _M64
        if row_ts >= _S63:
            row_ts -= _T64
        if flags & 0x08:  # HAS_TTL: the ttl, then the expiration time
            v, pos = _uvint(data, pos)
            row_ttl = (v + min_ttl) & _M32
            if row_ttl >= _S31:
                row_ttl -= _T32
            v, pos = _uvint(data, pos)
            row_ldt = (v + min_ldt) & _M32
            if v13:
                row_ldt = NO_DELETION_TIME if row_ldt == _M32 else row_ldt
            elif row_ldt >= _S31:
                row_ldt -= _T32
            liveness = LivenessInfo(row_ts, row_ttl, row_ldt)
        else:
            liveness = LivenessInfo(row_ts)
    deletion = LIVE
    if flags & 0x10:  # HAS_DELETION
        deletion, pos = _deletion(data, pos, min_ts, min_ldt, v13)
    if flags & 0x20:  # HAS_ALL_COLUMNS
        columns = layout
    else:
        columns, pos = _subset(data, pos, layout)
    has_complex_deletion = flags & 0x40
    cells: list[Cell] = []
    append = cells.append
    complex_deletions: dict[str, DeletionTime] = {}
    for name, fixed, is_complex in columns:
        count = 1
        if is_complex:
            if has_complex_deletion:
                dt, pos = _deletion(data, pos, min_ts, min_ldt, v13)
                if dt is not LIVE:
                    complex_deletions[name] = dt
            b = data[pos]
            if b < 0x80:
                count = b
                pos += 1
            else:
                count, pos = _uvint(data, pos)
            if count > dlen - pos:
                raise _Corrupt(pos, f"implausible cell count {count} for column {name!r}")
        for _ in range(count):
            cflags = data[pos]
            pos += 1
            if cflags & 0x08:  # USE_ROW_TIMESTAMP
                ts = row_ts
            else:
                b = data[pos]
                if b < 0x80:
                    v = b
                    pos += 1
                else:
                    v, pos = _uvint(data, pos)
                ts = (v + min_ts) & _M64
                if ts >= _S63:
                    ts -= _T64
            if cflags & 0x10:  # USE_ROW_TTL
                ldt = row_ldt
                ttl = row_ttl
            else:
                ttl = NO_TTL
                ldt = NO_DELETION_TIME
                if cflags & 0x03:  # IS_DELETED or IS_EXPIRING
                    b = data[pos]
                    if b < 0x80:
                        v = b
                        pos += 1
                    else:
                        v, pos = _uvint(data, pos)
                    ldt = (v + min_ldt) & _M32
                    if v13:
                        ldt = NO_DELETION_TIME if ldt == _M32 else ldt
                    elif ldt >= _S31:
                        ldt -= _T32
                    if cflags & 0x02:
                        b = data[pos]
                        if b < 0x80:
                            v = b
                            pos += 1
                        else:
                            v, pos = _uvint(data, pos)
                        ttl = (v + min_ttl) & _M32
                        if ttl >= _S31:
                            ttl -= _T32
            path = None
            if is_complex:
                b = data[pos]
                if b < 0x80:
                    length = b
                    pos += 1
                else:
                    length, pos = _uvint(data, pos)
                end = pos + length
                if end > dlen:
                    raise _Corrupt(pos, f"cell path of {length} bytes runs past the end of the mutation")
                path = data[pos:end]
                pos = end
            if cflags & 0x04:  # HAS_EMPTY_VALUE
                value = b""
            else:
                length = fixed
                if length < 0:
                    b = data[pos]
                    if b < 0x80:
                        length = b
                        pos += 1
                    else:
                        length, pos = _uvint(data, pos)
                end = pos + length
                if end > dlen:
                    raise _Corrupt(
                        pos, f"value of {length} bytes for column {name!r} runs past the end of the mutation"
                    )
                value = data[pos:end]
                pos = end
            append(Cell(name, ts, value, ttl, ldt, path))
    # Only a row deletion can be shadowable (Row.Deletion); the flag alone means nothing.
    shadowable = bool(ext & 0x02) and deletion is not LIVE
    return Row(clustering, liveness, deletion, shadowable, cells, complex_deletions, is_static), pos


def truncation_records(update: PartitionUpdate) -> list[tuple[uuid.UUID, Cell]]:
    """The ``truncated_at`` entries of a decoded system.local update: (truncated table id, cell).

    TRUNCATE records itself there (SystemKeyspace.saveTruncationRecord): a map<uuid, blob> cell
    whose path is the table id and whose value is the truncation's commit-log position and time.
    """
    records = []
    rows = [update.static_row] if update.static_row is not None else []
    rows.extend(u for u in update.unfiltereds if isinstance(u, Row))
    for row in rows:
        for cell in row.cells:
            if cell.column == "truncated_at" and cell.path is not None and len(cell.path) == 16:
                records.append((uuid.UUID(bytes=cell.path), cell))
    return records


def decode_mutation(
    data: bytes | bytearray | memoryview,
    messaging_version: int,
    schema: SchemaLookup,
    *,
    capture: CapturePredicate | None = None,
    classify: SystemTableClassifier | None = system_signal_kind,
    decoder: MutationDecoder | None = None,
) -> DecodeResult:
    """Decode one serialised Mutation (see MutationDecoder; pass ``decoder`` to reuse its caches)."""
    if decoder is None:
        decoder = MutationDecoder(schema, capture=capture, classify=classify)
    return decoder.decode(data, messaging_version)
