"""Order-preserving byte encodings of clustering values, set elements, map keys and list paths.

ClickHouse compares String values as unsigned bytes (memcmp, shorter first). Each function here
turns a typed value into bytes whose memcmp order is the CQL type's own order (its
AbstractType.compareCustom: e.g. UUIDType version first, TimeUUIDType by timestamp, FloatType with
-0.0 < 0.0 and NaN last, DecimalType numerically), and every encoding is prefix-free, so a
concatenation of components compares component by component and a clustering prefix (a range
tombstone bound) compares as a byte prefix. A DESC clustering column's component is bit-inverted,
which reverses the order of a prefix-free code.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import math
import struct
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnSchema

Encoder = Callable[[Any], bytes]

_Q = struct.Struct(">Q")
_D = struct.Struct(">d")
_SIGN64 = 1 << 63
_MASK64 = (1 << 64) - 1
_ORDINAL_1970 = datetime.date(1970, 1, 1).toordinal()
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_INVERT = bytes(255 - i for i in range(256))


def _int64(value: int) -> bytes:
    """A signed 64-bit integer, sign bit flipped: unsigned order equals signed order."""
    return _Q.pack((value + _SIGN64) & _MASK64)


def _escaped(raw: bytes) -> bytes:
    """Variable-length bytes, unsigned order, shorter first: 0x00 escaped as 00 FF, ended by 00 00."""
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _varint(value: int) -> bytes:
    if value == 0:
        return b"\x01"
    magnitude = abs(value)
    body = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
    head = struct.pack(">I", len(body))
    if value > 0:
        return b"\x02" + head + body
    # Longer magnitudes are more negative: complement both the length and the bytes.
    return b"\x00" + head.translate(_INVERT) + body.translate(_INVERT)


def _decimal(value: decimal.Decimal) -> bytes:
    if not value.is_finite():
        raise ValueError(f"decimal {value} has no CQL order")
    if value.is_zero():
        return b"\x01"
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    digits = list(digit_tuple)
    while digits and digits[0] == 0:
        digits.pop(0)
    while digits and digits[-1] == 0:
        digits.pop()
        exponent += 1
    # value = 0.d1d2...dk * 10**adjusted, with d1 != 0 and no trailing zeros.
    adjusted = exponent + len(digits)
    body = _int64(adjusted) + bytes(d + 1 for d in digits) + b"\x00"
    return b"\x02" + body if not sign else b"\x00" + body.translate(_INVERT)


def _double(value: float) -> bytes:
    if math.isnan(value):
        value = math.nan  # Java compares every NaN equal, above +Infinity
        bits = 0x7FF8000000000000
    else:
        bits = _Q.unpack(_D.pack(value))[0]
    return _Q.pack(bits ^ _MASK64 if bits & _SIGN64 else bits | _SIGN64)


def _reordered_timestamp(msb: int) -> int:
    """TimeUUIDType's timestamp word: time_hi, time_mid, time_low, read as a signed long."""
    value = ((msb << 48) | ((msb << 16) & 0xFFFF00000000) | (msb >> 32)) & _MASK64
    return value - (1 << 64) if value & _SIGN64 else value


def _timeuuid(value: uuid.UUID) -> bytes:
    raw = value.bytes
    msb = int.from_bytes(raw[:8], "big")
    return _int64(_reordered_timestamp(msb)) + bytes(b ^ 0x80 for b in raw[8:])


def _uuid(value: uuid.UUID) -> bytes:
    raw = value.bytes
    msb = int.from_bytes(raw[:8], "big")
    version = (msb >> 12) & 0xF
    high = _int64(_reordered_timestamp(msb)) if version == 1 else raw[:8]
    return bytes([version]) + high + raw[8:]


def _days(value: Any) -> int:
    if isinstance(value, T.CqlDate):
        return value.days
    if isinstance(value, datetime.datetime):
        value = value.date()
    return int(value.toordinal() - _ORDINAL_1970)


def millis(value: Any) -> int:
    """Milliseconds since the epoch of a CQL timestamp value."""
    if isinstance(value, T.CqlTimestamp):
        return value.millis
    delta: datetime.timedelta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def days(value: Any) -> int:
    """Days since the epoch of a CQL date value."""
    return _days(value)


def _component(encode: Encoder, value: Any) -> bytes:
    # Null (an empty value) sorts before any value, the end of a sequence before both.
    return b"\x01" if value is None else b"\x02" + encode(value)


def _sequence(encode: Encoder) -> Encoder:
    def enc(values: Any) -> bytes:
        return b"".join(_component(encode, v) for v in values) + b"\x00"

    return enc


def _items(value: Any) -> list[tuple[Any, Any]]:
    return list(value.items()) if isinstance(value, Mapping) else [tuple(p) for p in value]


def encoder(type_: T.CqlType) -> Encoder:
    """The order-preserving, prefix-free encoder of non-null values of ``type_``."""
    t = type_
    if t in (T.TEXT, T.ASCII):
        return lambda v: _escaped(v.encode("utf-8"))
    if t == T.BLOB or isinstance(t, T.CustomType):
        return lambda v: _escaped(bytes(v))
    if t == T.BOOLEAN:
        return lambda v: b"\x01" if v else b"\x00"
    if t in (T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.TIME, T.COUNTER):
        return _int64
    if t == T.VARINT:
        return _varint
    if t == T.DECIMAL:
        return _decimal
    if t in (T.FLOAT, T.DOUBLE):
        return _double
    if t == T.TIMEUUID:
        return _timeuuid
    if t == T.UUID:
        return _uuid
    if t == T.INET:
        return lambda v: _escaped(ipaddress.ip_address(v).packed)
    if t == T.DATE:
        return lambda v: _int64(_days(v))
    if t == T.TIMESTAMP:
        return lambda v: _int64(millis(v))
    if isinstance(t, T.ListType | T.SetType | T.VectorType):
        return _sequence(encoder(t.element))
    if isinstance(t, T.MapType):
        key, val = encoder(t.key), encoder(t.value)

        def enc_map(v: Any) -> bytes:
            return b"".join(b"\x02" + _component(key, k) + _component(val, x) for k, x in _items(v)) + b"\x00"

        return enc_map
    if isinstance(t, T.TupleType):
        parts = [encoder(e) for e in t.elements]

        def enc_tuple(v: Any) -> bytes:
            return b"".join(_component(p, x) for p, x in zip(parts, v, strict=False)) + b"\x00"

        return enc_tuple
    if isinstance(t, T.UserType):
        fields = [(n, encoder(ft)) for n, ft in zip(t.field_names, t.field_types, strict=True)]

        def enc_udt(v: Any) -> bytes:
            return b"".join(_component(p, v.get(n)) for n, p in fields) + b"\x00"

        return enc_udt
    # duration and anything else: serialised bytes, unsigned.
    return lambda v: _escaped(t.serialize(v))


def column_encoder(column: ColumnSchema) -> Encoder:
    """One clustering component, null-aware, bit-inverted for DESC columns."""
    enc = encoder(column.type)
    if column.reversed:
        return lambda v: _component(enc, v).translate(_INVERT)
    return lambda v: _component(enc, v)


def path_encoder(type_: T.CqlType) -> Callable[[Any], bytes]:
    """Cell path (element identity) of a multi-cell column, in Cassandra's element order."""
    if isinstance(type_, T.ListType):
        return _timeuuid
    if isinstance(type_, T.SetType):
        return encoder(type_.element)
    if isinstance(type_, T.MapType):
        return encoder(type_.key)
    if isinstance(type_, T.UserType):
        names = {name: struct.pack(">H", i) for i, name in enumerate(type_.field_names)}
        return lambda v: names[v]
    raise TypeError(f"{type_.cql()} is not a multi-cell type")
