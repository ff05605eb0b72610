"""What the mutation decoder and encoder share: flag bits, EncodingStats epochs, column layouts.

A column layout is what decoding a row needs about each SerializationHeader column: its name, the
fixed byte length of its values (-1 when values carry a vint length) and whether it is complex
(multi-cell: a count of cells with paths, optionally preceded by a complex deletion).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.schema.types import CqlType

# EncodingStats.TIMESTAMP_EPOCH / DELETION_TIME_EPOCH: 2015-09-22T00:00:00Z, in microseconds / seconds.
DELETION_TIME_EPOCH = 1442880000
TIMESTAMP_EPOCH = DELETION_TIME_EPOCH * 1_000_000
TTL_EPOCH = 0

# Messaging versions (net/MessagingService): 3.0 = 10, 3.11 = 11, 4.0/4.1 = 12, 5.0 = 13.
VERSION_30 = 10
VERSION_3014 = 11
VERSION_40 = 12
VERSION_50 = 13
SUPPORTED_MESSAGING_VERSIONS = (VERSION_30, VERSION_3014, VERSION_40, VERSION_50)

# UnfilteredRowIteratorSerializer header flags.
IS_EMPTY = 0x01
IS_REVERSED = 0x02
HAS_PARTITION_DELETION = 0x04
HAS_STATIC_ROW = 0x08
HAS_ROW_ESTIMATE = 0x10

# UnfilteredSerializer flags and extended flags.
END_OF_PARTITION = 0x01
IS_MARKER = 0x02
HAS_TIMESTAMP = 0x04
HAS_TTL = 0x08
HAS_DELETION = 0x10
HAS_ALL_COLUMNS = 0x20
HAS_COMPLEX_DELETION = 0x40
EXTENSION_FLAG = 0x80
IS_STATIC = 0x01
HAS_SHADOWABLE_DELETION = 0x02

# Cell.Serializer flags.
CELL_IS_DELETED = 0x01
CELL_IS_EXPIRING = 0x02
CELL_HAS_EMPTY_VALUE = 0x04
CELL_USE_ROW_TIMESTAMP = 0x08
CELL_USE_ROW_TTL = 0x10

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

# (name, fixed value length or -1, is complex)
ColumnCodec = tuple[str, int, bool]


class UnknownColumnError(ValueError):
    """A SerializationHeader names a column the table neither has nor dropped."""

    def __init__(self, table: TableSchema, column: str) -> None:
        super().__init__(f"table {table.qualified_name} ({table.id}) has no column {column!r}, current or dropped")
        self.table_id: uuid.UUID = table.id
        self.column = column


@dataclass(frozen=True, slots=True)
class TableCodec:
    """Per-table facts the row codec needs, computed once per TableSchema."""

    clustering_fixed: tuple[int, ...]
    id_bytes: bytes


def wrap32(value: int) -> int:
    """Java ``(int)`` of an integer."""
    value &= MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


def wrap64(value: int) -> int:
    """Java ``(long)`` of an integer."""
    value &= MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def column_type_for(table: TableSchema, name: str) -> CqlType:
    """The type a header column decodes with: the current column's, else the dropped column's.

    Follows Columns.Serializer.deserialize (getColumn, then getDroppedColumn).
    """
    column = table.column(name)
    if column is not None:
        return column.type
    dropped = table.dropped_columns.get(name)
    if dropped is not None:
        return dropped.type
    raise UnknownColumnError(table, name)


def column_codec(table: TableSchema, name: str) -> ColumnCodec:
    type_ = column_type_for(table, name)
    return (name, type_.value_length_if_fixed(), type_.is_multi_cell)


def table_codec(table: TableSchema) -> TableCodec:
    return TableCodec(tuple(col.type.value_length_if_fixed() for col in table.clustering), table.id.bytes)


def column_sort_key(name: str, is_complex: bool) -> tuple[bool, bool, bytes]:
    """Order of regular (or static) columns in a Columns set (ColumnMetadata.compareTo).

    comparisonOrder packs kind, complexity, position (the same for every regular or static
    column) and the top 48 bits of ColumnIdentifier.prefixComparison, whose top bit is flipped: so
    simple columns come before complex ones, and names whose first UTF-8 byte is 0x80 or more sort
    before the others. Ties break on the name's bytes, unsigned.
    """
    raw = name.encode("utf-8")
    return (is_complex, not (raw and raw[0] >= 0x80), raw)
