"""Encodes commitlog.model mutations into the bytes Cassandra writes (messaging versions 10-13).

The exact inverse of mutation_decoder. Whatever Cassandra derives when it serialises, this derives
the same way: cell and row flags (USE_ROW_TIMESTAMP, USE_ROW_TTL, HAS_ALL_COLUMNS...), the column
subset of a row, complex deletions written as LIVE for the row's other complex columns. What the
content cannot determine comes from ``PartitionUpdate.encoding`` when present (a decoded update's
header columns, EncodingStats, row estimate); without it, the encoder computes them as
PartitionUpdate does: EncodingStats.Collector minima, the columns holding data in
ColumnMetadata order, the number of rows.
"""

from __future__ import annotations

import uuid

from cassandra_cdc.commitlog.model import (
    NO_DELETION_TIME,
    NO_TIMESTAMP,
    NO_TTL,
    Cell,
    Clustering,
    DeletionTime,
    EncodingStats,
    LivenessInfo,
    Mutation,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
)
from cassandra_cdc.commitlog.mutation_decoder import SchemaLookup
from cassandra_cdc.commitlog.serialization_header import (
    DELETION_TIME_EPOCH,
    SUPPORTED_MESSAGING_VERSIONS,
    TIMESTAMP_EPOCH,
    VERSION_50,
    ColumnCodec,
    TableCodec,
    column_codec,
    column_sort_key,
    table_codec,
    wrap32,
)
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.wire.vint import encode_unsigned_vint

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_JAVA_LONG_MAX = 2**63 - 1


class MutationEncodeError(ValueError):
    """A model mutation Cassandra could not have serialised (or that contradicts the schema)."""


def _uv(out: bytearray, value: int) -> None:
    """VIntCoding.writeUnsignedVInt of a Java long (negative values take nine bytes)."""
    if 0 <= value < 0x80:
        out.append(value)
    else:
        out += encode_unsigned_vint(value & _M64)


def _uv32(out: bytearray, value: int) -> None:
    """writeUnsignedVInt32 of ``(int) value``: a negative int is sign-extended first."""
    value = wrap32(value)
    if 0 <= value < 0x80:
        out.append(value)
    else:
        out += encode_unsigned_vint(value & _M64)


class _Ctx:
    """The SerializationHeader of one update, as the row writers need it."""

    __slots__ = ("min_ldt", "min_ts", "min_ttl", "v13")

    def __init__(self, stats: EncodingStats, v13: bool) -> None:
        self.min_ts = stats.min_timestamp
        self.min_ldt = stats.min_local_deletion_time
        self.min_ttl = stats.min_ttl
        self.v13 = v13

    def ts(self, out: bytearray, timestamp: int) -> None:
        _uv(out, timestamp - self.min_ts)

    def ldt(self, out: bytearray, local_deletion_time: int) -> None:
        if self.v13 and local_deletion_time == NO_DELETION_TIME:
            local_deletion_time = _M32
        _uv32(out, local_deletion_time - self.min_ldt)

    def ttl(self, out: bytearray, ttl: int) -> None:
        _uv32(out, ttl - self.min_ttl)

    def deletion(self, out: bytearray, dt: DeletionTime) -> None:
        """SerializationHeader.writeDeletionTime."""
        self.ts(out, dt.marked_for_delete_at)
        self.ldt(out, dt.local_deletion_time)


class _StatsCollector:
    """EncodingStats.Collector over a model update."""

    def __init__(self, v13: bool) -> None:
        self.v13 = v13
        self.min_ts: int | None = None
        self.min_ldt: int | None = None
        self.min_ttl: int | None = None

    def timestamp(self, ts: int) -> None:
        if self.min_ts is None or ts < self.min_ts:
            self.min_ts = ts

    def local_deletion_time(self, ldt: int) -> None:
        if self.v13 and ldt == NO_DELETION_TIME:
            ldt = _JAVA_LONG_MAX  # 5.0 holds "none" as Long.MAX_VALUE
        if self.min_ldt is None or ldt < self.min_ldt:
            self.min_ldt = ldt

    def ttl(self, ttl: int) -> None:
        if self.min_ttl is None or ttl < self.min_ttl:
            self.min_ttl = ttl

    def deletion(self, dt: DeletionTime) -> None:
        if not dt.is_live():
            self.timestamp(dt.marked_for_delete_at)
            self.local_deletion_time(dt.local_deletion_time)

    def liveness(self, info: LivenessInfo) -> None:
        if info.is_empty():
            return
        self.timestamp(info.timestamp)
        if info.is_expiring():
            self.ttl(info.ttl)
            self.local_deletion_time(info.local_expiration_time)

    def cell(self, cell: Cell) -> None:
        self.timestamp(cell.timestamp)
        if cell.is_expiring():
            self.ttl(cell.ttl)
            self.local_deletion_time(cell.local_deletion_time)
        elif cell.is_tombstone():
            self.local_deletion_time(cell.local_deletion_time)

    def row(self, row: Row) -> None:
        """Rows.collectStats."""
        self.liveness(row.liveness)
        self.deletion(row.deletion)
        for cell in row.cells:
            self.cell(cell)
        for dt in row.complex_deletions.values():
            self.deletion(dt)

    def get(self) -> EncodingStats:
        """Collector.get and the EncodingStats constructor's replacement of "none" by the epochs."""
        ts = TIMESTAMP_EPOCH if self.min_ts is None or self.min_ts == NO_TIMESTAMP else self.min_ts
        none_ldt = _JAVA_LONG_MAX if self.v13 else NO_DELETION_TIME
        ldt = DELETION_TIME_EPOCH if self.min_ldt is None or self.min_ldt == none_ldt else self.min_ldt
        ttl = 0 if self.min_ttl is None else self.min_ttl
        return EncodingStats(ts, wrap32(ldt), wrap32(ttl))


def _row_is_empty(row: Row) -> bool:
    return row.liveness.is_empty() and row.deletion.is_live() and not row.cells and not row.complex_deletions


def derive_stats(update: PartitionUpdate, messaging_version: int) -> EncodingStats:
    """The EncodingStats Cassandra computes for an update (EncodingStats.Collector.collect)."""
    collector = _StatsCollector(messaging_version >= VERSION_50)
    collector.deletion(update.partition_deletion)
    for unfiltered in update.unfiltereds:
        if isinstance(unfiltered, RangeTombstoneMarker):
            collector.deletion(unfiltered.deletion)
            if unfiltered.end_deletion is not None:
                collector.deletion(unfiltered.end_deletion)
    if update.static_row is not None and not _row_is_empty(update.static_row):
        collector.row(update.static_row)
    for unfiltered in update.unfiltereds:
        if isinstance(unfiltered, Row):
            collector.row(unfiltered)
    return collector.get()


def _row_columns(row: Row) -> set[str]:
    names = {cell.column for cell in row.cells}
    names.update(row.complex_deletions)
    return names


class MutationEncoder:
    """Encodes mutations against a schema (for column types); caches per-table facts."""

    def __init__(self, schema: SchemaLookup) -> None:
        self._schema = schema
        self._tables: dict[uuid.UUID, tuple[TableSchema, TableCodec, dict[str, ColumnCodec]]] = {}

    def _table(self, table_id: uuid.UUID) -> tuple[TableSchema, TableCodec, dict[str, ColumnCodec]]:
        table = self._schema.by_id(table_id)
        if table is None:
            raise MutationEncodeError(f"no schema knows table id {table_id}")
        entry = self._tables.get(table_id)
        if entry is None or entry[0] is not table:
            entry = (table, table_codec(table), {})
            self._tables[table_id] = entry
        return entry

    def header_columns(self, update: PartitionUpdate) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(static, regular) header columns: from ``encoding``, else the columns holding data.

        Derived lists follow ColumnMetadata order (see column_sort_key).
        """
        if update.encoding is not None:
            return update.encoding.static_columns, update.encoding.regular_columns
        table, _, codecs = self._table(update.table_id)
        static_names = _row_columns(update.static_row) if update.static_row is not None else set()
        regular_names: set[str] = set()
        for unfiltered in update.unfiltereds:
            if isinstance(unfiltered, Row):
                regular_names |= _row_columns(unfiltered)

        def ordered(names: set[str]) -> tuple[str, ...]:
            return tuple(sorted(names, key=lambda n: column_sort_key(n, self._codec(table, codecs, n)[2])))

        return ordered(static_names), ordered(regular_names)

    @staticmethod
    def _codec(table: TableSchema, codecs: dict[str, ColumnCodec], name: str) -> ColumnCodec:
        codec = codecs.get(name)
        if codec is None:
            try:
                codec = column_codec(table, name)
            except ValueError as exc:
                raise MutationEncodeError(str(exc)) from None
            codecs[name] = codec
        return codec

    def encode(self, mutation: Mutation, messaging_version: int) -> bytes:
        """Follows Mutation.MutationSerializer.serialize (updates in the model's order)."""
        if messaging_version not in SUPPORTED_MESSAGING_VERSIONS:
            raise MutationEncodeError(f"messaging version {messaging_version} is not supported")
        if not mutation.updates:
            raise MutationEncodeError("a mutation holds at least one update")
        out = bytearray()
        _uv(out, len(mutation.updates))
        for update in mutation.updates:
            self.encode_update(out, update, messaging_version)
        return bytes(out)

    def encode_update(self, out: bytearray, update: PartitionUpdate, messaging_version: int) -> None:
        """PartitionUpdateSerializer.serialize and UnfilteredRowIteratorSerializer.serialize."""
        table, tcodec, codecs = self._table(update.table_id)
        out += update.table_id.bytes
        _uv(out, len(update.partition_key))
        out += update.partition_key
        encoding = update.encoding
        flags = 0x02 if encoding is not None and encoding.reversed else 0
        static_row = update.static_row
        if update.partition_deletion.is_live() and static_row is None and not update.unfiltereds:
            out.append(flags | 0x01)  # IS_EMPTY
            return
        if encoding is not None:
            stats = encoding.stats
            row_estimate = encoding.row_estimate
        else:
            stats = derive_stats(update, messaging_version)
            row_estimate = sum(1 for u in update.unfiltereds if isinstance(u, Row))
        static_names, regular_names = self.header_columns(update)
        if not update.partition_deletion.is_live():
            flags |= 0x04
        if static_row is not None:
            flags |= 0x08
        if row_estimate is not None:
            flags |= 0x10
        out.append(flags)

        # SerializationHeader.Serializer.serializeForMessaging: EncodingStats, then the columns.
        _uv(out, stats.min_timestamp - TIMESTAMP_EPOCH)
        _uv32(out, stats.min_local_deletion_time - DELETION_TIME_EPOCH)
        _uv32(out, stats.min_ttl)
        if static_row is not None:
            _write_names(out, static_names)
        _write_names(out, regular_names)

        ctx = _Ctx(stats, messaging_version >= VERSION_50)
        if not update.partition_deletion.is_live():
            ctx.deletion(out, update.partition_deletion)
        static_layout = tuple(self._codec(table, codecs, n) for n in static_names)
        regular_layout = tuple(self._codec(table, codecs, n) for n in regular_names)
        where = f"table {table.qualified_name}"
        if static_row is not None:
            _write_row(out, static_row, True, static_layout, tcodec, ctx, where)
        if row_estimate is not None:
            _uv(out, row_estimate)
        for unfiltered in update.unfiltereds:
            if isinstance(unfiltered, Row):
                _write_row(out, unfiltered, False, regular_layout, tcodec, ctx, where)
            else:
                _write_marker(out, unfiltered, tcodec, ctx, where)
        out.append(0x01)  # END_OF_PARTITION


def _write_names(out: bytearray, names: tuple[str, ...]) -> None:
    """Columns.Serializer.serialize."""
    _uv(out, len(names))
    for name in names:
        raw = name.encode("utf-8")
        _uv(out, len(raw))
        out += raw


def _write_clustering(out: bytearray, values: Clustering, fixed: tuple[int, ...], where: str) -> None:
    """ClusteringPrefix.Serializer.serializeValuesWithoutSize."""
    size = len(values)
    offset = 0
    while offset < size:
        limit = min(size, offset + 32)
        header = 0
        for i in range(offset, limit):
            v = values[i]
            shift = (i * 2) & 63
            if v is None:
                header |= 2 << shift
            elif not v:
                header |= 1 << shift
        _uv(out, header)
        for i in range(offset, limit):
            v = values[i]
            if v:
                _write_value(out, v, fixed[i], f"{where}: clustering value #{i}")
        offset = limit


def _write_value(out: bytearray, value: bytes, fixed: int, where: str) -> None:
    """AbstractType.writeValue: fixed-length values go bare, others with a vint length."""
    if fixed >= 0:
        if len(value) != fixed:
            raise MutationEncodeError(f"{where}: {len(value)}-byte value for a type of fixed length {fixed}")
    else:
        _uv(out, len(value))
    out += value


def _write_marker(out: bytearray, marker: RangeTombstoneMarker, tcodec: TableCodec, ctx: _Ctx, where: str) -> None:
    """UnfilteredSerializer.serialize(RangeTombstoneMarker) with ClusteringBoundOrBoundary.Serializer."""
    fixed = tcodec.clustering_fixed
    if len(marker.clustering) > len(fixed):
        raise MutationEncodeError(f"{where}: range tombstone bound of {len(marker.clustering)} values")
    if marker.kind in (3, 4):
        raise MutationEncodeError(f"{where}: range tombstone marker of kind {marker.kind.name}")
    out.append(0x02)  # IS_MARKER
    out.append(int(marker.kind))
    out += len(marker.clustering).to_bytes(2, "big")
    _write_clustering(out, marker.clustering, fixed, where)
    if marker.kind.is_boundary():
        if marker.end_deletion is None:
            raise MutationEncodeError(f"{where}: boundary marker without the deletion it closes")
        ctx.deletion(out, marker.end_deletion)
    ctx.deletion(out, marker.deletion)


def _write_row(
    out: bytearray,
    row: Row,
    is_static: bool,
    layout: tuple[ColumnCodec, ...],
    tcodec: TableCodec,
    ctx: _Ctx,
    where: str,
) -> None:
    """UnfilteredSerializer.serialize(Row) and serializeRowBody, with Cell.Serializer.serialize."""
    by_column: dict[str, list[Cell]] = {}
    for cell in row.cells:
        by_column.setdefault(cell.column, []).append(cell)
    present = set(by_column)
    present.update(row.complex_deletions)
    header_names = {codec[0] for codec in layout}
    if not present <= header_names:
        missing = sorted(present - header_names)
        raise MutationEncodeError(f"{where}: row has columns {missing} that the header does not list")
    liveness = row.liveness
    deletion = row.deletion
    has_deletion = not deletion.is_live()
    shadowable = has_deletion and row.shadowable
    has_complex_deletion = any(not dt.is_live() for dt in row.complex_deletions.values())
    flags = 0
    if not liveness.is_empty():
        flags |= 0x04
    if liveness.is_expiring():
        flags |= 0x08
    if has_deletion:
        flags |= 0x10
    if has_complex_deletion:
        flags |= 0x40
    if len(present) == len(layout):
        flags |= 0x20
    if is_static or shadowable:
        flags |= 0x80
        out.append(flags)
        out.append((0x01 if is_static else 0) | (0x02 if shadowable else 0))
    else:
        out.append(flags)
    if not is_static:
        if len(row.clustering) != len(tcodec.clustering_fixed):
            raise MutationEncodeError(
                f"{where}: row clustering has {len(row.clustering)} values, the table {len(tcodec.clustering_fixed)}"
            )
        _write_clustering(out, row.clustering, tcodec.clustering_fixed, where)
    if flags & 0x04:
        ctx.ts(out, liveness.timestamp)
    if flags & 0x08:
        ctx.ttl(out, liveness.ttl)
        ctx.ldt(out, liveness.local_expiration_time)
    if has_deletion:
        ctx.deletion(out, deletion)
    if not flags & 0x20:
        _write_subset(out, present, layout)
    for name, fixed, is_complex in layout:
        if name not in present:
            continue
        cells = by_column.get(name, [])
        if is_complex:
            if has_complex_deletion:
                ctx.deletion(out, row.complex_deletions.get(name, _LIVE))
            _uv(out, len(cells))
            for cell in cells:
                if cell.path is None:
                    raise MutationEncodeError(f"{where}: cell of multi-cell column {name!r} without a path")
                _write_cell(out, cell, fixed, True, liveness, ctx, where)
        else:
            if len(cells) != 1 or name in row.complex_deletions:
                raise MutationEncodeError(f"{where}: simple column {name!r} must have exactly one cell in a row")
            _write_cell(out, cells[0], fixed, False, liveness, ctx, where)


_LIVE = DeletionTime(NO_TIMESTAMP, NO_DELETION_TIME)


def _write_subset(out: bytearray, present: set[str], layout: tuple[ColumnCodec, ...]) -> None:
    """Columns.Serializer.serializeSubset (the row's columns against the header's)."""
    n = len(layout)
    indexes = [i for i, codec in enumerate(layout) if codec[0] in present]
    count = len(indexes)
    if count == n:
        _uv(out, 0)
    elif n < 64:
        bitmap = 0
        for i, codec in enumerate(layout):
            if codec[0] not in present:
                bitmap |= 1 << i
        _uv(out, bitmap)
    else:
        _uv(out, n - count)
        if count < n // 2:
            for i in indexes:
                _uv(out, i)
        else:
            chosen = set(indexes)
            for i in range(n):
                if i not in chosen:
                    _uv(out, i)


def _write_cell(
    out: bytearray, cell: Cell, fixed: int, is_complex: bool, liveness: LivenessInfo, ctx: _Ctx, where: str
) -> None:
    """Cell.Serializer.serialize: flags chosen exactly as Cassandra chooses them."""
    value = cell.value
    has_value = len(value) > 0
    is_expiring = cell.ttl != NO_TTL
    is_deleted = not is_expiring and cell.local_deletion_time != NO_DELETION_TIME
    use_row_ts = liveness.timestamp != NO_TIMESTAMP and cell.timestamp == liveness.timestamp
    use_row_ttl = (
        is_expiring
        and liveness.ttl != NO_TTL
        and cell.ttl == liveness.ttl
        and cell.local_deletion_time == liveness.local_expiration_time
    )
    flags = 0
    if not has_value:
        flags |= 0x04
    if is_deleted:
        flags |= 0x01
    elif is_expiring:
        flags |= 0x02
    if use_row_ts:
        flags |= 0x08
    if use_row_ttl:
        flags |= 0x10
    out.append(flags)
    if not use_row_ts:
        ctx.ts(out, cell.timestamp)
    if (is_deleted or is_expiring) and not use_row_ttl:
        ctx.ldt(out, cell.local_deletion_time)
    if is_expiring and not use_row_ttl:
        ctx.ttl(out, cell.ttl)
    if is_complex:
        path = cell.path or b""
        _uv(out, len(path))
        out += path
    if has_value:
        _write_value(out, value, fixed, f"{where}: column {cell.column!r}")


def encode_mutation(mutation: Mutation, messaging_version: int, schema: SchemaLookup) -> bytes:
    """Serialise a mutation as Cassandra does for ``messaging_version`` (see MutationEncoder)."""
    return MutationEncoder(schema).encode(mutation, messaging_version)
