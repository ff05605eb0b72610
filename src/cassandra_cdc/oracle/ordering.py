"""Cassandra's sort order of typed values: clustering rows, range-tombstone bounds, set elements,
map keys and list cells.

Each comparison follows the type's AbstractType.compareCustom (db/marshal/*), applied to the
Python values of schema/types.py rather than to bytes. Approximations (documented in
docs/semantics.md): an empty value (Python None) sorts before every other value of any type, and
durations (never allowed in keys) compare by their serialised bytes.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnSchema

_MASK64 = (1 << 64) - 1
_ORDINAL_1970 = datetime.date(1970, 1, 1).toordinal()
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

Comparator = Callable[[Any, Any], int]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _signed64(x: int) -> int:
    x &= _MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


def _signed_bytes(raw: bytes) -> tuple[int, ...]:
    return tuple(b - 256 if b >= 128 else b for b in raw)


def _reorder_timestamp(msb: int) -> int:
    """TimeUUIDType.reorderTimestampBytes on a Java long: time_hi, then time_mid, then time_low."""
    msb &= _MASK64
    return _signed64((msb << 48) | ((msb << 16) & 0xFFFF00000000) | (msb >> 32))


def compare_timeuuid(a: uuid.UUID, b: uuid.UUID) -> int:
    """TimeUUIDType.compareCustom: the reordered timestamp word (signed long), then the low 8 bytes as
    signed bytes."""
    ma = _reorder_timestamp(int.from_bytes(a.bytes[:8], "big"))
    mb = _reorder_timestamp(int.from_bytes(b.bytes[:8], "big"))
    if ma != mb:
        return _cmp(ma, mb)
    return _cmp(_signed_bytes(a.bytes[8:]), _signed_bytes(b.bytes[8:]))


def compare_uuid(a: uuid.UUID, b: uuid.UUID) -> int:
    """UUIDType.compareCustom: version first; version 1 by timestamp, others by the high word
    (unsigned); then the low word unsigned."""
    ha, hb = int.from_bytes(a.bytes[:8], "big"), int.from_bytes(b.bytes[:8], "big")
    va, vb = (ha >> 12) & 0xF, (hb >> 12) & 0xF
    if va != vb:
        return _sign(va - vb)
    c = _cmp(_reorder_timestamp(ha), _reorder_timestamp(hb)) if va == 1 else _cmp(ha, hb)
    if c:
        return c
    return _cmp(a.bytes[8:], b.bytes[8:])


def _java_float_key(x: float) -> tuple[int, float, int]:
    # Float.compare / Double.compare: -0.0 < 0.0 and NaN above everything (NaN equals NaN).
    if math.isnan(x):
        return (1, 0.0, 0)
    return (0, x, 1 if math.copysign(1.0, x) > 0 else 0)


def _days(value: Any) -> int:
    if isinstance(value, T.CqlDate):
        return value.days
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.toordinal() - _ORDINAL_1970
    raise TypeError(f"not a CQL date value: {value!r}")


def _millis(value: Any) -> int:
    if isinstance(value, T.CqlTimestamp):
        return value.millis
    if isinstance(value, datetime.datetime):
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    raise TypeError(f"not a CQL timestamp value: {value!r}")


def _compare_sequences(cmp: Comparator, a: Sequence[Any], b: Sequence[Any]) -> int:
    """Element by element, then the shorter first (ListType/SetType compareListOrSet)."""
    for x, y in zip(a, b, strict=False):
        c = cmp(x, y)
        if c:
            return c
    return _sign(len(a) - len(b))


def _items(value: Any) -> list[tuple[Any, Any]]:
    return list(value.items()) if isinstance(value, Mapping) else [tuple(p) for p in value]


def comparator(type_: T.CqlType) -> Comparator:
    """A three-way comparison of two Python values of ``type_`` in Cassandra's order."""
    raw = _raw_comparator(type_)

    def compare(a: Any, b: Any) -> int:
        if a is None or b is None:
            # Empty values (None here) sort first, as AbstractType.compare does for empty buffers.
            return _sign((a is not None) - (b is not None))
        return raw(a, b)

    return compare


def _raw_comparator(t: T.CqlType) -> Comparator:
    if t in (T.TEXT, T.ASCII):
        # UTF8Type/AsciiType: unsigned bytes of the encoding, which is not Python's str order.
        return lambda a, b: _cmp(a.encode("utf-8"), b.encode("utf-8"))
    if isinstance(t, T.CustomType) or t == T.BLOB:
        return lambda a, b: _cmp(bytes(a), bytes(b))
    if t in (T.BOOLEAN, T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.VARINT, T.DECIMAL, T.TIME, T.COUNTER):
        return _cmp
    if t in (T.FLOAT, T.DOUBLE):
        return lambda a, b: _cmp(_java_float_key(a), _java_float_key(b))
    if t == T.TIMEUUID:
        return compare_timeuuid
    if t == T.UUID:
        return compare_uuid
    if t == T.INET:
        return lambda a, b: _cmp(ipaddress.ip_address(a).packed, ipaddress.ip_address(b).packed)
    if t == T.DATE:
        return lambda a, b: _cmp(_days(a), _days(b))
    if t == T.TIMESTAMP:
        return lambda a, b: _cmp(_millis(a), _millis(b))
    if isinstance(t, T.ListType | T.SetType | T.VectorType):
        element = comparator(t.element)
        return functools.partial(_compare_sequences, element)
    if isinstance(t, T.MapType):
        key, value = comparator(t.key), comparator(t.value)

        def entry(x: tuple[Any, Any], y: tuple[Any, Any]) -> int:
            return key(x[0], y[0]) or value(x[1], y[1])

        return lambda a, b: _compare_sequences(entry, _items(a), _items(b))
    if isinstance(t, T.TupleType):
        parts = [comparator(e) for e in t.elements]
        return lambda a, b: _compare_components(parts, list(a), list(b))
    if isinstance(t, T.UserType):
        parts = [comparator(e) for e in t.field_types]
        names = t.field_names
        return lambda a, b: _compare_components(parts, [a.get(n) for n in names], [b.get(n) for n in names])
    # duration, empty and anything else: serialised bytes, unsigned (BytesType order).
    return lambda a, b: _cmp(t.serialize(a), t.serialize(b))


def _compare_components(parts: list[Comparator], a: list[Any], b: list[Any]) -> int:
    """TupleType.compareCustom: component by component, a null component before any value."""
    for cmp, x, y in zip(parts, a, b, strict=False):
        c = cmp(x, y)
        if c:
            return c
    return _sign(len(a) - len(b))


def clustering_comparator(columns: Sequence[ColumnSchema]) -> Callable[[Sequence[Any], Sequence[Any]], int]:
    """ClusteringComparator.compare on (possibly prefix) tuples of clustering values.

    Compares the common prefix column by column, DESC columns (ReversedType) reversed; when one is a
    prefix of the other the result is 0 (the caller decides by bound kind).
    """
    comps = [(comparator(c.type), c.reversed) for c in columns]

    def compare(a: Sequence[Any], b: Sequence[Any]) -> int:
        for (cmp, rev), x, y in zip(comps, a, b, strict=False):
            c = cmp(x, y)
            if c:
                return -c if rev else c
        return 0

    return compare


def sort_key(cmp: Comparator) -> Callable[[Any], Any]:
    return functools.cmp_to_key(cmp)
