"""CQL types: how each serialises its values (db/marshal/*), parsed from CQL type text.

CONTRACT (other stages rely on it):
- ``parse_cql_type(text, user_types)`` turns ``frozen<map<text, int>>`` etc. into a CqlType.
- ``CqlType.value_length_if_fixed()`` is AbstractType.valueLengthIfFixed(): the byte length of every
  value of a fixed-length type, -1 otherwise (cells of fixed-length types carry no length prefix).
  Checked against cassandra-3.0, cassandra-3.11 and 5.0 (which also carries the 4.0 formats): the
  answer is the same in every version, so it takes no version argument. Fixed: boolean 1, int 4,
  float 4, bigint 8, double 8, timestamp 8, uuid 16, timeuuid 16, empty 0, and vector<T, n> when T
  is fixed (n * len(T); vector exists from 5.0). Variable in every version: tinyint, smallint, date,
  time, counter, varint, decimal, duration, inet, text/ascii/blob, collections, tuples, UDTs.
- ``is_multi_cell`` is true for non-frozen list/set/map/UDT: each element is a cell with a path.
- ``deserialize(raw)`` / ``serialize(value)`` convert between Cassandra's bytes and Python values.
- ``to_json(value)`` renders a Python value as the natural JSON of `inspect` (see below).
- For multi-cell types, ``cell_path_type()`` and ``cell_value_type(path)`` give the types of a cell's
  path and value (list: timeuuid path; set: element path, empty value; map: key path, value;
  UDT: field index path (smallint), field value).

Python values
-------------
ascii/text/varchar: str; blob and custom types: bytes; boolean: bool; tinyint, smallint, int, bigint,
varint, counter: int; decimal: decimal.Decimal; float/double: float; uuid/timeuuid: uuid.UUID;
inet: ipaddress.IPv4Address (4 bytes) or IPv6Address (16 bytes, kept as IPv6 even when IPv4-mapped so
bytes round-trip); date: datetime.date, or ``CqlDate(days since epoch)`` outside Python's years
1..9999; time: int nanoseconds since midnight; timestamp: timezone-aware UTC datetime (millisecond
precision), or ``CqlTimestamp(ms since epoch)`` outside Python's range; duration:
``Duration(months, days, nanoseconds)``; list and vector: list; set: list in the serialised order
(which is Cassandra's sort order) so that unhashable elements work; map: dict in the serialised order
when the key type's values are hashable and no two keys collide in Python (e.g. 0.0 and -0.0),
otherwise a list of (key, value) tuples; tuple: tuple (trailing missing components are None);
UDT: dict field name -> value (None for null or missing fields); empty: None.
An empty byte string deserialises to None for every type except text, ascii, blob and custom types,
as Cassandra's serializers do (an "empty" value is not a null, but has no other representation).
Null elements inside lists, tuples and UDTs (length -1) are None.

JSON (``to_json``)
------------------
blob/custom: "0x<hex>"; uuid, timeuuid, inet, decimal, varint: strings; other integers and counters:
numbers; float/double: numbers, NaN and infinities as "NaN", "Infinity", "-Infinity" (float renders the
shortest decimal that reads back as the same 32-bit float); date: "YYYY-MM-DD" (years beyond 1..9999
in ISO 8601 expanded form, e.g. "+10000-01-01", "-0001-12-31"); time: "HH:MM:SS.fffffffff" (a value
outside one day renders as its integer); timestamp: "2023-11-06T15:09:49.123Z" (expanded years too);
duration: CQL duration literal as Cassandra's Duration.toString writes it, e.g. "1y2mo3d4h5m6s7ms8us9ns",
"-3d", and "0s" for zero; list/set/vector/tuple: arrays; UDT: object (fields in declaration order);
map: object, whose keys are the key's JSON when that is a string, otherwise the key's JSON text
(compact, e.g. ``{"1": "a"}`` for map<int, text>, ``{"[1,2]": 3}``) as Cassandra's SELECT JSON does;
empty and null: null.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import math
import re
import struct
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from cassandra_cdc.wire.vint import (
    EXTRA_BYTES,
    FIRST_BYTE_MASK,
    encode_unsigned_vint,
    encode_vint,
    zigzag_decode,
)

__all__ = [
    "ASCII",
    "BIGINT",
    "BLOB",
    "BOOLEAN",
    "COUNTER",
    "DATE",
    "DECIMAL",
    "DOUBLE",
    "DURATION",
    "EMPTY",
    "FLOAT",
    "INET",
    "INT",
    "SMALLINT",
    "TEXT",
    "TIME",
    "TIMESTAMP",
    "TIMEUUID",
    "TINYINT",
    "UUID",
    "VARINT",
    "CqlDate",
    "CqlTimestamp",
    "CqlType",
    "CqlTypeError",
    "CqlValueError",
    "CustomType",
    "Duration",
    "ListType",
    "MapType",
    "NativeType",
    "SetType",
    "TupleType",
    "UserType",
    "UserTypeLike",
    "VectorType",
    "join_composite_key",
    "native_types",
    "parse_cql_type",
    "split_composite_key",
]


class CqlValueError(ValueError):
    """A value's bytes do not fit its CQL type (wrong length, bad UTF-8, truncated collection, ...)."""

    def __init__(self, type_cql: str, problem: str) -> None:
        super().__init__(f"invalid {type_cql} value: {problem}")
        self.type_cql = type_cql
        self.problem = problem


class CqlTypeError(ValueError):
    """CQL type text that cannot be parsed, or names an unknown user type."""


# ---------------------------------------------------------------------------------------------------
# Value wrappers for values Python's own types cannot hold exactly.


@dataclass(frozen=True, slots=True)
class CqlDate:
    """A CQL date outside Python's years 1..9999: signed days since 1970-01-01."""

    days: int


@dataclass(frozen=True, slots=True)
class CqlTimestamp:
    """A CQL timestamp outside Python's datetime range: signed milliseconds since the epoch (UTC)."""

    millis: int


@dataclass(frozen=True, slots=True)
class Duration:
    """A CQL duration (cql3/Duration): months, days and nanoseconds, all of the same sign."""

    months: int
    days: int
    nanoseconds: int


# ---------------------------------------------------------------------------------------------------
# The type contract.


class CqlType(ABC):
    """A CQL type. Instances are immutable and compare equal when they denote the same type."""

    is_multi_cell: bool = False
    is_counter: bool = False
    # Whether the Python values of this type are hashable (they may then be dict keys).
    hashable_values: bool = True

    @abstractmethod
    def cql(self) -> str:
        """The type as CQL writes it, e.g. ``frozen<list<int>>``."""

    @abstractmethod
    def value_length_if_fixed(self) -> int: ...

    @abstractmethod
    def deserialize(self, raw: bytes) -> Any: ...

    @abstractmethod
    def serialize(self, value: Any) -> bytes: ...

    @abstractmethod
    def to_json(self, value: Any) -> Any: ...

    def cell_path_type(self) -> CqlType:
        raise TypeError(f"{self.cql()} is not a multi-cell type")

    def cell_value_type(self, path: bytes) -> CqlType:
        raise TypeError(f"{self.cql()} is not a multi-cell type")

    def freeze(self) -> CqlType:
        """The frozen form of this type (itself when it is never multi-cell)."""
        return self

    def _key(self) -> tuple[Any, ...]:
        return (type(self), self.cql())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CqlType) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<{self.cql()}>"

    def _error(self, problem: str) -> CqlValueError:
        return CqlValueError(self.cql(), problem)

    def _wrong_length(self, raw: bytes, expected: str) -> CqlValueError:
        return CqlValueError(self.cql(), f"expected {expected} bytes, got {len(raw)}")

    def _not_a(self, value: Any, what: str) -> TypeError:
        return TypeError(f"cannot serialise {type(value).__name__} {value!r} as {self.cql()}: expected {what}")


class NativeType(CqlType):
    """A CQL native type: one singleton instance each (see the module constants)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def cql(self) -> str:
        return self._name

    def value_length_if_fixed(self) -> int:
        return -1


# --- strings and bytes ------------------------------------------------------------------------------


class _TextType(NativeType):
    """text/varchar (UTF8Type, UTF8Serializer): strict UTF-8."""

    def deserialize(self, raw: bytes) -> Any:
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise self._error(f"bad UTF-8 at byte {exc.start}") from None

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise self._not_a(value, "str")
        return value.encode("utf-8")

    def to_json(self, value: Any) -> Any:
        return value


class _AsciiType(_TextType):
    """ascii (AsciiType, AsciiSerializer): bytes below 0x80 only."""

    def deserialize(self, raw: bytes) -> Any:
        try:
            return str(raw, "ascii")
        except UnicodeDecodeError as exc:
            raise self._error(f"non-ASCII byte 0x{raw[exc.start]:02x} at byte {exc.start}") from None

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise self._not_a(value, "str")
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"{value!r} has non-ASCII characters, cannot be ascii") from None


class _BlobType(NativeType):
    """blob (BytesType): the bytes themselves."""

    def deserialize(self, raw: bytes) -> Any:
        return bytes(raw)

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise self._not_a(value, "bytes")
        return bytes(value)

    def to_json(self, value: Any) -> Any:
        return None if value is None else "0x" + bytes(value).hex()


# --- fixed-width numbers ----------------------------------------------------------------------------

_S8 = struct.Struct(">b")
_S16 = struct.Struct(">h")
_S32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_S64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_U16 = struct.Struct(">H")


class _IntegerType(NativeType):
    """tinyint/smallint/int/bigint (ByteType, ShortType, Int32Type, LongType): big-endian two's complement."""

    __slots__ = ("_fixed", "_max", "_min", "_size", "_struct")

    def __init__(self, name: str, st: struct.Struct, fixed: bool) -> None:
        super().__init__(name)
        self._struct = st
        self._size = st.size
        self._fixed = st.size if fixed else -1
        self._min = -(1 << (8 * st.size - 1))
        self._max = (1 << (8 * st.size - 1)) - 1

    def value_length_if_fixed(self) -> int:
        return self._fixed

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == self._size:
            return self._struct.unpack(raw)[0]
        if not raw:
            return None
        raise self._wrong_length(raw, f"{self._size} (or 0)")

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._not_a(value, "int")
        if not self._min <= value <= self._max:
            raise ValueError(f"{value} is out of range for {self._name}")
        return self._struct.pack(value)

    def to_json(self, value: Any) -> Any:
        return value


class _VarintType(NativeType):
    """varint (IntegerType, IntegerSerializer): minimal big-endian two's complement, any length."""

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        return int.from_bytes(raw, "big", signed=True)

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._not_a(value, "int")
        return _varint_bytes(value)

    def to_json(self, value: Any) -> Any:
        return None if value is None else str(value)


def _varint_bytes(value: int) -> bytes:
    # Same length as Java's BigInteger.toByteArray: enough bytes for the magnitude plus a sign bit.
    size = (value.bit_length() if value >= 0 else (~value).bit_length()) // 8 + 1
    return value.to_bytes(size, "big", signed=True)


class _DecimalType(NativeType):
    """decimal (DecimalType, DecimalSerializer): 4-byte scale, then the unscaled value as a varint."""

    def deserialize(self, raw: bytes) -> Any:
        n = len(raw)
        if n >= 5:
            scale = _S32.unpack_from(raw)[0]
            unscaled = int.from_bytes(raw[4:], "big", signed=True)
            # The string form is exact (no context rounding): unscaled * 10**-scale.
            return decimal.Decimal(f"{unscaled}E{-scale}")
        if n == 0:
            return None
        raise self._wrong_length(raw, "at least 5 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, int) and not isinstance(value, bool):
            value = decimal.Decimal(value)
        if not isinstance(value, decimal.Decimal):
            raise self._not_a(value, "decimal.Decimal")
        sign, digits, exponent = value.as_tuple()
        if not isinstance(exponent, int):
            raise ValueError(f"{value} cannot be a CQL decimal")
        unscaled = int("".join(map(str, digits)) or "0")
        if sign:
            unscaled = -unscaled
        scale = -exponent
        if not -(1 << 31) <= scale < (1 << 31):
            raise ValueError(f"{value}: scale {scale} does not fit a 32-bit int")
        return _S32.pack(scale) + _varint_bytes(unscaled)

    def to_json(self, value: Any) -> Any:
        return None if value is None else str(value)


def _float_json(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class _FloatType(NativeType):
    """float (FloatType): IEEE 754 binary32."""

    def value_length_if_fixed(self) -> int:
        return 4

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 4:
            return _F32.unpack(raw)[0]
        if not raw:
            return None
        raise self._wrong_length(raw, "4 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, float | int) or isinstance(value, bool):
            raise self._not_a(value, "float")
        try:
            return _F32.pack(value)
        except OverflowError:
            raise ValueError(f"{value} is out of range for float") from None

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        special = _float_json(value)
        if special is not value:
            return special
        # The shortest decimal that reads back as the same binary32, as Java's Float.toString aims for.
        for digits in range(6, 10):
            candidate = float(f"{value:.{digits}g}")
            if _F32.pack(candidate) == _F32.pack(value):
                return candidate
        return value


class _DoubleType(NativeType):
    """double (DoubleType): IEEE 754 binary64."""

    def value_length_if_fixed(self) -> int:
        return 8

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 8:
            return _F64.unpack(raw)[0]
        if not raw:
            return None
        raise self._wrong_length(raw, "8 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, float | int) or isinstance(value, bool):
            raise self._not_a(value, "float")
        return _F64.pack(value)

    def to_json(self, value: Any) -> Any:
        return None if value is None else _float_json(value)


class _BooleanType(NativeType):
    """boolean (BooleanType): one byte, non-zero is true."""

    def value_length_if_fixed(self) -> int:
        return 1

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 1:
            return raw[0] != 0
        if not raw:
            return None
        raise self._wrong_length(raw, "1 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, bool):
            raise self._not_a(value, "bool")
        return b"\x01" if value else b"\x00"

    def to_json(self, value: Any) -> Any:
        return value


class _CounterType(NativeType):
    """counter (CounterColumnType). A counter cell holds a CounterContext (db/context/CounterContext):
    a signed 2-byte count h of header entries, h 2-byte shard indexes, then 32-byte shards (16-byte
    counter id, 8-byte clock, 8-byte count). The value is the sum of the shards' counts
    (CounterContext.total). Use ``counter_shards`` for the shards themselves."""

    is_counter = True

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        return sum(shard[2] for shard in self.shards(raw))

    def shards(self, raw: bytes) -> list[tuple[uuid.UUID, int, int]]:
        """The context's shards as (counter id, clock, count)."""
        if len(raw) < 2:
            raise self._wrong_length(raw, "at least 2")
        header = 2 + 2 * abs(_S16.unpack_from(raw)[0])
        body = len(raw) - header
        if body < 0 or body % 32:
            raise self._error(
                f"counter context of {len(raw)} bytes has a header of {header} bytes "
                "and a body that is not a whole number of 32-byte shards"
            )
        out = []
        for offset in range(header, len(raw), 32):
            counter_id = uuid.UUID(bytes=bytes(raw[offset : offset + 16]))
            clock, count = struct.unpack_from(">qq", raw, offset + 16)
            out.append((counter_id, clock, count))
        return out

    def serialize(self, value: Any) -> bytes:
        """A context with one global shard (counter id all zero, clock 1) holding ``value``."""
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._not_a(value, "int")
        # Global shard indexes are stored as index + Short.MIN_VALUE.
        return _S16.pack(1) + _S16.pack(-32768) + bytes(16) + struct.pack(">qq", 1, value)

    def to_json(self, value: Any) -> Any:
        return value


# --- uuids, inet -------------------------------------------------------------------------------------


_timedelta = datetime.timedelta
_new_object = object.__new__
_set_attribute = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def _uuid_fast(raw: bytes) -> uuid.UUID:
    # uuid.UUID(bytes=...) validates its arguments at length; 16 bytes are already checked here, so
    # fill the two slots directly (about twice as fast, which matters at one UUID per cell).
    value = _new_object(uuid.UUID)
    _set_attribute(value, "int", int.from_bytes(raw, "big"))
    _set_attribute(value, "is_safe", _SAFE_UNKNOWN)
    return value


def _uuid_checked(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(raw))


# Use the fast constructor only if it builds the very same UUID on this Python.
_SAMPLE = bytes(range(16))
_make_uuid = _uuid_fast if _uuid_fast(_SAMPLE) == _uuid_checked(_SAMPLE) else _uuid_checked


class _UUIDType(NativeType):
    """uuid (UUIDType): 16 bytes."""

    def value_length_if_fixed(self) -> int:
        return 16

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 16:
            return _make_uuid(raw)
        if not raw:
            return None
        raise self._wrong_length(raw, "16 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, uuid.UUID):
            raise self._not_a(value, "uuid.UUID")
        return value.bytes

    def to_json(self, value: Any) -> Any:
        return None if value is None else str(value)


class _TimeUUIDType(_UUIDType):
    """timeuuid (TimeUUIDType): 16 bytes of a version 1 UUID."""

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 16:
            if raw[6] >> 4 != 1:
                raise self._error(f"UUID version {raw[6] >> 4}, expected 1")
            return _make_uuid(raw)
        if not raw:
            return None
        raise self._wrong_length(raw, "16 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, uuid.UUID):
            raise self._not_a(value, "uuid.UUID")
        if value.version != 1:
            raise ValueError(f"{value} is not a version 1 UUID, cannot be a timeuuid")
        return value.bytes


class _InetType(NativeType):
    """inet (InetAddressType): 4 bytes (IPv4) or 16 bytes (IPv6)."""

    def deserialize(self, raw: bytes) -> Any:
        n = len(raw)
        if n == 4:
            return ipaddress.IPv4Address(bytes(raw))
        if n == 16:
            return ipaddress.IPv6Address(bytes(raw))
        if n == 0:
            return None
        raise self._wrong_length(raw, "4 or 16 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            raise self._not_a(value, "IPv4Address or IPv6Address")
        return value.packed

    def to_json(self, value: Any) -> Any:
        return None if value is None else str(value)


# --- dates and times ----------------------------------------------------------------------------------

_DATE_EPOCH_BIAS = 1 << 31  # SimpleDateSerializer: unsigned days with the epoch at 2**31
_ORDINAL_1970 = datetime.date(1970, 1, 1).toordinal()
_MIN_DAYS = datetime.date.min.toordinal() - _ORDINAL_1970
_MAX_DAYS = datetime.date.max.toordinal() - _ORDINAL_1970
_UTC = datetime.UTC
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_MS_PER_DAY = 86_400_000
_MIN_MS = _MIN_DAYS * _MS_PER_DAY
_MAX_MS = (_MAX_DAYS + 1) * _MS_PER_DAY - 1
_NANOS_PER_DAY = 86_400_000_000_000


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of ``days`` since 1970-01-01, for any int (year 0 = 1 BC)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def _iso_date(days: int) -> str:
    year, month, day = _civil_from_days(days)
    if 0 <= year <= 9999:
        return f"{year:04d}-{month:02d}-{day:02d}"
    # ISO 8601 expanded years carry an explicit sign.
    return f"{'+' if year > 0 else '-'}{abs(year):04d}-{month:02d}-{day:02d}"


class _DateType(NativeType):
    """date (SimpleDateType): unsigned 32-bit days, 2**31 being 1970-01-01."""

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 4:
            days = _U32.unpack(raw)[0] - _DATE_EPOCH_BIAS
            if _MIN_DAYS <= days <= _MAX_DAYS:
                return datetime.date.fromordinal(days + _ORDINAL_1970)
            return CqlDate(days)
        if not raw:
            return None
        raise self._wrong_length(raw, "4 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, datetime.date):  # datetime is a date too: its day is taken
            days = value.toordinal() - _ORDINAL_1970
        elif isinstance(value, CqlDate):
            days = value.days
        else:
            raise self._not_a(value, "datetime.date or CqlDate")
        if not -_DATE_EPOCH_BIAS <= days < _DATE_EPOCH_BIAS:
            raise ValueError(f"{days} days since the epoch is out of range for date")
        return _U32.pack(days + _DATE_EPOCH_BIAS)

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, CqlDate):
            return _iso_date(value.days)
        return value.isoformat()


class _TimeType(NativeType):
    """time (TimeType): signed 64-bit nanoseconds since midnight."""

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 8:
            return _S64.unpack(raw)[0]
        if not raw:
            return None
        raise self._wrong_length(raw, "8 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, datetime.time):
            value = ((value.hour * 3600 + value.minute * 60 + value.second) * 1_000_000 + value.microsecond) * 1000
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._not_a(value, "int nanoseconds or datetime.time")
        if not 0 <= value < _NANOS_PER_DAY:
            raise ValueError(f"{value} ns is not a time of day")
        return _S64.pack(value)

    def to_json(self, value: Any) -> Any:
        if value is None or not 0 <= value < _NANOS_PER_DAY:
            return value
        seconds, nanos = divmod(value, 1_000_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{hour:02d}:{minute:02d}:{second:02d}.{nanos:09d}"


class _TimestampType(NativeType):
    """timestamp (TimestampType): signed 64-bit milliseconds since the epoch, UTC."""

    def value_length_if_fixed(self) -> int:
        return 8

    def deserialize(self, raw: bytes) -> Any:
        if len(raw) == 8:
            millis = _S64.unpack(raw)[0]
            if _MIN_MS <= millis <= _MAX_MS:
                return _EPOCH + _timedelta(0, 0, 0, millis)  # positional: the fast path
            return CqlTimestamp(millis)
        if not raw:
            return None
        raise self._wrong_length(raw, "8 (or 0)")

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:  # naive datetimes are taken as UTC
                value = value.replace(tzinfo=_UTC)
            delta = value - _EPOCH
            millis = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
        elif isinstance(value, CqlTimestamp):
            millis = value.millis
        else:
            raise self._not_a(value, "datetime.datetime or CqlTimestamp")
        try:
            return _S64.pack(millis)
        except struct.error:
            raise ValueError(f"{millis} ms is out of range for timestamp") from None

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, CqlTimestamp):
            days, ms = divmod(value.millis, _MS_PER_DAY)
            seconds, milli = divmod(ms, 1000)
            minutes, second = divmod(seconds, 60)
            hour, minute = divmod(minutes, 60)
            return f"{_iso_date(days)}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"
        value = value.astimezone(_UTC)
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}.{value.microsecond // 1000:03d}Z"
        )


# --- duration -----------------------------------------------------------------------------------------

_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _read_vint(raw: bytes, pos: int, type_cql: str) -> tuple[int, int]:
    if pos >= len(raw):
        raise CqlValueError(type_cql, f"truncated: a vint expected at byte {pos}")
    first = raw[pos]
    if first < 0x80:
        return (first >> 1) ^ -(first & 1), pos + 1
    extra = EXTRA_BYTES[first]
    end = pos + 1 + extra
    if end > len(raw):
        raise CqlValueError(type_cql, f"truncated: a {1 + extra}-byte vint at byte {pos}")
    value = ((first & FIRST_BYTE_MASK[first]) << (8 * extra)) | int.from_bytes(raw[pos + 1 : end], "big")
    return zigzag_decode(value), end


class _DurationType(NativeType):
    """duration (DurationType, DurationSerializer): signed vints months, days, nanoseconds."""

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        cql = self._name
        months, pos = _read_vint(raw, 0, cql)
        days, pos = _read_vint(raw, pos, cql)
        nanos, pos = _read_vint(raw, pos, cql)
        if pos != len(raw):
            raise self._error(f"{len(raw) - pos} extra bytes after the nanoseconds")
        if not (_INT32_MIN <= months <= _INT32_MAX and _INT32_MIN <= days <= _INT32_MAX):
            raise self._error(f"months {months} or days {days} do not fit a 32-bit int")
        if not ((months >= 0 and days >= 0 and nanos >= 0) or (months <= 0 and days <= 0 and nanos <= 0)):
            raise self._error(f"months {months}, days {days}, nanoseconds {nanos} have different signs")
        return Duration(months, days, nanos)

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, Duration):
            raise self._not_a(value, "Duration")
        if not (
            _INT32_MIN <= value.months <= _INT32_MAX
            and _INT32_MIN <= value.days <= _INT32_MAX
            and _INT64_MIN <= value.nanoseconds <= _INT64_MAX
        ):
            raise ValueError(f"{value} is out of range for duration")
        return encode_vint(value.months) + encode_vint(value.days) + encode_vint(value.nanoseconds)

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        return duration_literal(value)


def duration_literal(value: Duration) -> str:
    """The CQL literal of a duration, as Duration.toString writes it ("0s" for zero)."""
    parts: list[str] = []
    negative = value.months < 0 or value.days < 0 or value.nanoseconds < 0
    years, months = divmod(abs(value.months), 12)
    days = abs(value.days)
    nanos = abs(value.nanoseconds)
    for amount, unit in ((years, "y"), (months, "mo"), (days, "d")):
        if amount:
            parts.append(f"{amount}{unit}")
    for size, unit in (
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ):
        amount, nanos = divmod(nanos, size)
        if amount:
            parts.append(f"{amount}{unit}")
    if not parts:
        return "0s"
    return ("-" if negative else "") + "".join(parts)


# --- empty and custom ---------------------------------------------------------------------------------


class _EmptyType(NativeType):
    """EmptyType: values are always zero bytes (used by compact tables without a value column)."""

    def value_length_if_fixed(self) -> int:
        return 0

    def deserialize(self, raw: bytes) -> Any:
        if raw:
            raise self._wrong_length(raw, "0")
        return None

    def serialize(self, value: Any) -> bytes:
        if value is not None:
            raise self._not_a(value, "None")
        return b""

    def to_json(self, value: Any) -> Any:
        return None


class CustomType(CqlType):
    """A custom type ('org.apache.cassandra.db.marshal.X'): values are kept as raw bytes.

    ``fixed_length`` is the class's valueLengthIfFixed when it is a known fixed-length class
    (e.g. LexicalUUIDType, 16), -1 otherwise."""

    __slots__ = ("class_name", "fixed_length")

    def __init__(self, class_name: str, fixed_length: int = -1) -> None:
        self.class_name = class_name
        self.fixed_length = fixed_length

    def cql(self) -> str:
        return "'" + self.class_name.replace("'", "''") + "'"

    def value_length_if_fixed(self) -> int:
        return self.fixed_length

    def deserialize(self, raw: bytes) -> Any:
        if self.fixed_length >= 0 and len(raw) not in (0, self.fixed_length):
            raise self._wrong_length(raw, f"{self.fixed_length} (or 0)")
        return bytes(raw)

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise self._not_a(value, "bytes")
        return bytes(value)

    def to_json(self, value: Any) -> Any:
        return None if value is None else "0x" + bytes(value).hex()


ASCII: CqlType = _AsciiType("ascii")
TEXT: CqlType = _TextType("text")
BLOB: CqlType = _BlobType("blob")
BOOLEAN: CqlType = _BooleanType("boolean")
TINYINT: CqlType = _IntegerType("tinyint", _S8, fixed=False)
SMALLINT: CqlType = _IntegerType("smallint", _S16, fixed=False)
INT: CqlType = _IntegerType("int", _S32, fixed=True)
BIGINT: CqlType = _IntegerType("bigint", _S64, fixed=True)
VARINT: CqlType = _VarintType("varint")
DECIMAL: CqlType = _DecimalType("decimal")
FLOAT: CqlType = _FloatType("float")
DOUBLE: CqlType = _DoubleType("double")
COUNTER: CqlType = _CounterType("counter")
UUID: CqlType = _UUIDType("uuid")
TIMEUUID: CqlType = _TimeUUIDType("timeuuid")
INET: CqlType = _InetType("inet")
DATE: CqlType = _DateType("date")
TIME: CqlType = _TimeType("time")
TIMESTAMP: CqlType = _TimestampType("timestamp")
DURATION: CqlType = _DurationType("duration")
# CQL3Type.Native.EMPTY: system_schema writes "empty" (compact tables' value columns).
EMPTY: CqlType = _EmptyType("empty")

_NATIVES: dict[str, CqlType] = {
    t.cql(): t
    for t in (
        ASCII,
        TEXT,
        BLOB,
        BOOLEAN,
        TINYINT,
        SMALLINT,
        INT,
        BIGINT,
        VARINT,
        DECIMAL,
        FLOAT,
        DOUBLE,
        COUNTER,
        UUID,
        TIMEUUID,
        INET,
        DATE,
        TIME,
        TIMESTAMP,
        DURATION,
        EMPTY,
    )
}
_NATIVES["varchar"] = TEXT


def native_types() -> dict[str, CqlType]:
    """Every CQL native type by name (``varchar`` is ``text``)."""
    return dict(_NATIVES)


def counter_shards(raw: bytes) -> list[tuple[uuid.UUID, int, int]]:
    """The shards (counter id, clock, count) of a counter cell's CounterContext."""
    assert isinstance(COUNTER, _CounterType)
    return COUNTER.shards(raw)


# ---------------------------------------------------------------------------------------------------
# Collection framing (CollectionSerializer, protocol v3+): 4-byte counts and lengths, -1 for null.


def _read_items(raw: bytes, count: int, t: CqlType, what: str) -> list[bytes | None]:
    """Split ``count`` [int length][bytes] items starting at byte 4; the input must end exactly."""
    n = len(raw)
    pos = 4
    items: list[bytes | None] = []
    append = items.append
    for i in range(count):
        if pos + 4 > n:
            raise t._error(f"truncated: length of {what} {i} of {count} expected at byte {pos}")
        size = _S32.unpack_from(raw, pos)[0]
        pos += 4
        if size < 0:
            append(None)
            continue
        end = pos + size
        if end > n:
            raise t._error(f"truncated: {what} {i} of {count} needs {size} bytes at byte {pos}, {n - pos} left")
        append(raw[pos:end])
        pos = end
    if pos != n:
        raise t._error(f"{n - pos} extra bytes after {count} {what}s")
    return items


def _read_count(raw: bytes, t: CqlType) -> int:
    if len(raw) < 4:
        raise t._wrong_length(raw, "at least 4")
    count: int = _S32.unpack_from(raw)[0]
    if count < 0:
        raise t._error(f"negative element count {count}")
    # Each element takes at least 4 bytes: a bigger count cannot be right (and must not allocate).
    if count > (len(raw) - 4) // 4:
        raise t._error(f"{count} elements cannot fit in {len(raw)} bytes")
    return count


def _pack_items(items: Sequence[bytes | None]) -> bytes:
    out = [_S32.pack(len(items))]
    for item in items:
        if item is None:
            out.append(b"\xff\xff\xff\xff")
        else:
            out.append(_S32.pack(len(item)))
            out.append(item)
    return b"".join(out)


def _element(t: CqlType, raw: bytes | None, parent: CqlType, what: str) -> Any:
    if raw is None:
        return None
    try:
        return t.deserialize(raw)
    except CqlValueError as exc:
        raise parent._error(f"{what}: {exc}") from None


class _CollectionType(CqlType):
    __slots__ = ("frozen",)
    hashable_values = False
    kind = ""

    def __init__(self, frozen: bool) -> None:
        self.frozen = frozen
        self.is_multi_cell = not frozen

    def value_length_if_fixed(self) -> int:
        return -1

    def _args(self) -> str:
        raise NotImplementedError

    def _require_multi_cell(self) -> None:
        if self.frozen:
            raise TypeError(f"{self.cql()} is not a multi-cell type")

    def cql(self) -> str:
        inner = f"{self.kind}<{self._args()}>"
        return f"frozen<{inner}>" if self.frozen else inner


class _ElementCollection(_CollectionType):
    """A collection of one element type (list and set): construction, freezing and identity."""

    __slots__ = ("element",)

    def __init__(self, element: CqlType, frozen: bool = False) -> None:
        super().__init__(frozen)
        self.element = element.freeze()

    def _args(self) -> str:
        return self.element.cql()

    def freeze(self) -> CqlType:
        return self if self.frozen else type(self)(self.element, True)

    def _key(self) -> tuple[Any, ...]:
        return (type(self), self.element, self.frozen)


class ListType(_ElementCollection):
    """list<T> (ListType, ListSerializer). Multi-cell cells: path a timeuuid, value an element."""

    __slots__ = ()
    kind = "list"

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        items = _read_items(raw, _read_count(raw, self), self, "element")
        element = self.element
        return [_element(element, item, self, f"element {i}") for i, item in enumerate(items)]

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise self._not_a(value, "list")
        ser = self.element.serialize
        return _pack_items([None if v is None else ser(v) for v in value])

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        tj = self.element.to_json
        return [None if v is None else tj(v) for v in value]

    def cell_path_type(self) -> CqlType:
        self._require_multi_cell()
        return TIMEUUID

    def cell_value_type(self, path: bytes) -> CqlType:
        self._require_multi_cell()
        return self.element


class SetType(_ElementCollection):
    """set<T> (SetType, SetSerializer). Multi-cell cells: path the element, value empty."""

    __slots__ = ()
    kind = "set"

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        items = _read_items(raw, _read_count(raw, self), self, "element")
        element = self.element
        out = []
        for i, item in enumerate(items):
            if item is None:
                raise self._error(f"element {i} is null")
            out.append(_element(element, item, self, f"element {i}"))
        return out

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise self._not_a(value, "set, frozenset or list")
        ser = self.element.serialize
        return _pack_items([ser(v) for v in value])

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        tj = self.element.to_json
        return [tj(v) for v in value]

    def cell_path_type(self) -> CqlType:
        self._require_multi_cell()
        return self.element

    def cell_value_type(self, path: bytes) -> CqlType:
        self._require_multi_cell()
        return EMPTY


class MapType(_CollectionType):
    """map<K, V> (MapType, MapSerializer). Multi-cell cells: path the key, value the value."""

    __slots__ = ("key", "value")
    kind = "map"

    def __init__(self, key: CqlType, value: CqlType, frozen: bool = False) -> None:
        super().__init__(frozen)
        self.key = key.freeze()
        self.value = value.freeze()

    def _args(self) -> str:
        return f"{self.key.cql()}, {self.value.cql()}"

    def freeze(self) -> CqlType:
        return self if self.frozen else MapType(self.key, self.value, True)

    def _key(self) -> tuple[Any, ...]:
        return (MapType, self.key, self.value, self.frozen)

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        count = _read_count(raw, self)
        items = _read_items(raw, 2 * count, self, "key or value")
        kt, vt = self.key, self.value
        pairs: list[tuple[Any, Any]] = []
        for i in range(count):
            k, v = items[2 * i], items[2 * i + 1]
            if k is None or v is None:
                raise self._error(f"entry {i} has a null {'key' if k is None else 'value'}")
            pairs.append((_element(kt, k, self, f"key {i}"), _element(vt, v, self, f"value {i}")))
        if kt.hashable_values:
            as_dict = dict(pairs)
            if len(as_dict) == count:
                return as_dict
        return pairs

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, Mapping):
            pairs: Iterable[Any] = value.items()
        elif isinstance(value, list | tuple):
            pairs = value
        else:
            raise self._not_a(value, "dict or list of pairs")
        ks, vs = self.key.serialize, self.value.serialize
        flat: list[bytes | None] = []
        for k, v in pairs:
            flat.append(ks(k))
            flat.append(vs(v))
        out = _pack_items(flat)
        # _pack_items counted keys and values; a map's count is the number of entries.
        return _S32.pack(len(flat) // 2) + out[4:]

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        pairs = value.items() if isinstance(value, Mapping) else value
        kj, vj = self.key.to_json, self.value.to_json
        out: dict[str, Any] = {}
        for k, v in pairs:
            key_json = kj(k)
            if not isinstance(key_json, str):
                key_json = json.dumps(key_json, separators=(",", ":"), ensure_ascii=False)
            out[key_json] = vj(v)
        return out

    def cell_path_type(self) -> CqlType:
        self._require_multi_cell()
        return self.key

    def cell_value_type(self, path: bytes) -> CqlType:
        self._require_multi_cell()
        return self.value


# ---------------------------------------------------------------------------------------------------
# Tuples and user types (TupleType.split / buildValue): [int length][bytes] per component, -1 null;
# fewer components than declared are allowed (fields added later), more are not.


def _split_components(raw: bytes, count: int, t: CqlType) -> list[bytes | None]:
    n = len(raw)
    pos = 0
    parts: list[bytes | None] = []
    for i in range(count):
        if pos == n:
            break
        if pos + 4 > n:
            raise t._error(f"truncated: length of component {i} expected at byte {pos}")
        size = _S32.unpack_from(raw, pos)[0]
        pos += 4
        if size < 0:
            parts.append(None)
            continue
        end = pos + size
        if end > n:
            raise t._error(f"truncated: component {i} needs {size} bytes at byte {pos}, {n - pos} left")
        parts.append(raw[pos:end])
        pos = end
    if pos != n:
        raise t._error(f"{n - pos} extra bytes after {count} components")
    return parts


def _build_components(parts: Sequence[bytes | None]) -> bytes:
    out: list[bytes] = []
    for p in parts:
        if p is None:
            out.append(b"\xff\xff\xff\xff")
        else:
            out.append(_S32.pack(len(p)))
            out.append(p)
    return b"".join(out)


class TupleType(CqlType):
    """tuple<A, B, ...> (TupleType): always frozen."""

    __slots__ = ("elements",)

    def __init__(self, elements: Sequence[CqlType]) -> None:
        if not elements:
            raise CqlTypeError("a tuple needs at least one component")
        self.elements: tuple[CqlType, ...] = tuple(e.freeze() for e in elements)
        self.hashable_values = all(e.hashable_values for e in self.elements)

    def cql(self) -> str:
        return "frozen<tuple<" + ", ".join(e.cql() for e in self.elements) + ">>"

    def _key(self) -> tuple[Any, ...]:
        return (TupleType, self.elements)

    def value_length_if_fixed(self) -> int:
        return -1

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        elements = self.elements
        parts = _split_components(raw, len(elements), self)
        values = [_element(elements[i], p, self, f"component {i}") for i, p in enumerate(parts)]
        values.extend([None] * (len(elements) - len(values)))
        return tuple(values)

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, tuple | list):
            raise self._not_a(value, "tuple")
        if len(value) > len(self.elements):
            raise ValueError(f"{len(value)} components given for {self.cql()}")
        return _build_components(
            [None if v is None else t.serialize(v) for t, v in zip(self.elements, value, strict=False)]
        )

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        return [None if v is None else t.to_json(v) for t, v in zip(self.elements, value, strict=False)]


class UserTypeLike(Protocol):
    """What parse_cql_type needs of a user type definition (schema.model.UserTypeDef fits)."""

    @property
    def keyspace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def field_names(self) -> Sequence[str]: ...
    @property
    def field_types(self) -> Sequence[CqlType]: ...


def _quote_identifier(name: str) -> str:
    """ColumnIdentifier.maybeQuote: bare when lower-case unreserved-looking, quoted otherwise."""
    if re.fullmatch(r"[a-z][a-z0-9_]*", name) and name not in _TYPE_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


class UserType(CqlType):
    """A user-defined type (UserType). Multi-cell (non-frozen) cells: path the field's index as a
    2-byte smallint (UserType.cellPathForField), value the field's value."""

    __slots__ = ("field_names", "field_types", "frozen", "keyspace", "name")

    def __init__(
        self,
        keyspace: str,
        name: str,
        field_names: Sequence[str],
        field_types: Sequence[CqlType],
        frozen: bool = False,
    ) -> None:
        if len(field_names) != len(field_types):
            raise CqlTypeError(
                f"user type {keyspace}.{name}: {len(field_names)} field names but {len(field_types)} field types"
            )
        self.keyspace = keyspace
        self.name = name
        self.field_names: tuple[str, ...] = tuple(field_names)
        self.field_types: tuple[CqlType, ...] = tuple(t.freeze() for t in field_types)
        self.frozen = frozen
        self.is_multi_cell = not frozen
        self.hashable_values = False

    def _key(self) -> tuple[Any, ...]:
        return (UserType, self.keyspace, self.name, self.field_names, self.field_types, self.frozen)

    def cql(self) -> str:
        name = _quote_identifier(self.name)
        return f"frozen<{name}>" if self.frozen else name

    def freeze(self) -> CqlType:
        if self.frozen:
            return self
        return UserType(self.keyspace, self.name, self.field_names, self.field_types, True)

    def value_length_if_fixed(self) -> int:
        return -1

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        names, types = self.field_names, self.field_types
        parts = _split_components(raw, len(types), self)
        out: dict[str, Any] = dict.fromkeys(names)
        for i, p in enumerate(parts):
            if p is not None:
                out[names[i]] = _element(types[i], p, self, f"field {names[i]}")
        return out

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, Mapping):
            raise self._not_a(value, "dict of field values")
        unknown = set(value) - set(self.field_names)
        if unknown:
            raise ValueError(f"{self.cql()} has no field(s) {sorted(unknown)}")
        return _build_components(
            [
                None if value.get(n) is None else t.serialize(value[n])
                for n, t in zip(self.field_names, self.field_types, strict=True)
            ]
        )

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        return {
            n: (None if value.get(n) is None else t.to_json(value[n]))
            for n, t in zip(self.field_names, self.field_types, strict=True)
        }

    def _require_multi_cell(self) -> None:
        if self.frozen:
            raise TypeError(f"{self.cql()} is not a multi-cell type")

    def field_index(self, path: bytes) -> int:
        """The field index a multi-cell cell path names (a 2-byte smallint)."""
        if len(path) != 2:
            raise self._error(f"field path of {len(path)} bytes, expected 2")
        index: int = _S16.unpack(path)[0]
        if not 0 <= index < len(self.field_types):
            raise self._error(f"field index {index} out of range ({len(self.field_types)} fields)")
        return index

    def cell_path_type(self) -> CqlType:
        self._require_multi_cell()
        return SMALLINT

    def cell_value_type(self, path: bytes) -> CqlType:
        self._require_multi_cell()
        return self.field_types[self.field_index(path)]


# ---------------------------------------------------------------------------------------------------
# Vectors (5.0, VectorType): fixed-length elements back to back when the element type is fixed;
# otherwise each element prefixed by its unsigned-vint length. No nulls.


class VectorType(CqlType):
    """vector<T, n> (VectorType, Cassandra 5.0)."""

    __slots__ = ("_fixed", "dimension", "element")
    hashable_values = False

    def __init__(self, element: CqlType, dimension: int) -> None:
        if dimension <= 0:
            raise CqlTypeError(f"vector dimension must be positive, got {dimension}")
        self.element = element.freeze()
        self.dimension = dimension
        element_length = self.element.value_length_if_fixed()
        self._fixed = element_length * dimension if element_length >= 0 else -1

    def cql(self) -> str:
        return f"vector<{self.element.cql()}, {self.dimension}>"

    def _key(self) -> tuple[Any, ...]:
        return (VectorType, self.element, self.dimension)

    def value_length_if_fixed(self) -> int:
        return self._fixed

    def deserialize(self, raw: bytes) -> Any:
        if not raw:
            return None
        element = self.element
        if self._fixed >= 0:
            if len(raw) != self._fixed:
                raise self._wrong_length(raw, str(self._fixed))
            size = self._fixed // self.dimension
            return [
                _element(element, raw[i : i + size], self, f"element {i // size}") for i in range(0, self._fixed, size)
            ]
        out = []
        pos = 0
        n = len(raw)
        for i in range(self.dimension):
            if pos >= n:
                raise self._error(f"truncated: element {i} of {self.dimension} expected at byte {pos}")
            first = raw[pos]
            extra = EXTRA_BYTES[first]
            if pos + 1 + extra > n:
                raise self._error(f"truncated: length of element {i} at byte {pos}")
            size = ((first & FIRST_BYTE_MASK[first]) << (8 * extra)) | int.from_bytes(
                raw[pos + 1 : pos + 1 + extra], "big"
            )
            pos += 1 + extra
            if pos + size > n:
                raise self._error(f"truncated: element {i} needs {size} bytes at byte {pos}, {n - pos} left")
            out.append(_element(element, raw[pos : pos + size], self, f"element {i}"))
            pos += size
        if pos != n:
            raise self._error(f"{n - pos} extra bytes after {self.dimension} elements")
        return out

    def serialize(self, value: Any) -> bytes:
        if not isinstance(value, list | tuple):
            raise self._not_a(value, "list")
        if len(value) != self.dimension:
            raise ValueError(f"{len(value)} elements given for {self.cql()}")
        ser = self.element.serialize
        parts = []
        for v in value:
            if v is None:
                raise ValueError(f"{self.cql()} cannot hold null elements")
            item = ser(v)
            if self._fixed < 0:
                parts.append(encode_unsigned_vint(len(item)))
            parts.append(item)
        return b"".join(parts)

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        tj = self.element.to_json
        return [tj(v) for v in value]


# ---------------------------------------------------------------------------------------------------
# CompositeType keys (multi-column partition keys): per component a 2-byte length, the bytes, and
# an end-of-component byte (0 in partition keys).


def split_composite_key(raw: bytes, n: int) -> list[bytes]:
    """Split a CompositeType-encoded partition key into its ``n`` components (CompositeType.split)."""
    parts: list[bytes] = []
    pos = 0
    end = len(raw)
    for i in range(n):
        if pos + 2 > end:
            raise CqlValueError("composite key", f"truncated: length of component {i} of {n} at byte {pos}")
        size = _U16.unpack_from(raw, pos)[0]
        pos += 2
        if pos + size + 1 > end:
            raise CqlValueError(
                "composite key", f"truncated: component {i} of {n} needs {size} + 1 bytes at byte {pos}"
            )
        parts.append(bytes(raw[pos : pos + size]))
        pos += size
        if raw[pos] != 0:
            raise CqlValueError("composite key", f"end-of-component byte {raw[pos]} after component {i}")
        pos += 1
    if pos != end:
        raise CqlValueError("composite key", f"{end - pos} extra bytes after {n} components")
    return parts


def join_composite_key(parts: Sequence[bytes]) -> bytes:
    """Encode partition key components as CompositeType does (CompositeType.build)."""
    out = []
    for p in parts:
        if len(p) > 0xFFFF:
            raise ValueError(f"composite key component of {len(p)} bytes exceeds 65535")
        out.append(_U16.pack(len(p)))
        out.append(bytes(p))
        out.append(b"\x00")
    return b"".join(out)


# ---------------------------------------------------------------------------------------------------
# Parsing CQL type text.

UserTypeResolver: TypeAlias = Callable[[str | None, str], UserTypeLike | None]
UserTypes: TypeAlias = Mapping[Any, UserTypeLike] | UserTypeResolver

_TYPE_KEYWORDS = frozenset({*_NATIVES, "frozen", "list", "set", "map", "tuple", "vector"})

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | "(?P<quoted>(?:[^"]|"")*)"
      | '(?P<string>(?:[^']|'')*)'
      | (?P<number>[0-9]+)
      | (?P<punct>[<>,.])
    )""",
    re.VERBOSE,
)


class _Parser:
    def __init__(self, text: str, user_types: UserTypes | None, keyspace: str | None) -> None:
        self.text = text
        self.user_types = user_types
        self.keyspace = keyspace
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        stripped_end = len(text.rstrip())
        while pos < stripped_end:
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise CqlTypeError(f"cannot parse CQL type {text!r}: unexpected {text[pos:].strip()[:20]!r}")
            kind = m.lastgroup
            assert kind is not None
            value = m.group(kind)
            if kind == "quoted":
                value = value.replace('""', '"')
            elif kind == "string":
                value = value.replace("''", "'")
            self.tokens.append((kind, value, m.start(kind)))
            pos = m.end()
        self.i = 0

    def fail(self, message: str) -> CqlTypeError:
        where = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return CqlTypeError(f"cannot parse CQL type {self.text!r} at {where}: {message}")

    def peek(self) -> tuple[str, str] | None:
        if self.i < len(self.tokens):
            kind, value, _ = self.tokens[self.i]
            return kind, value
        return None

    def next(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end")
        self.i += 1
        return tok

    def expect(self, punct: str) -> None:
        tok = self.next()
        if tok != ("punct", punct):
            self.i -= 1
            raise self.fail(f"expected {punct!r}, found {tok[1]!r}")

    def parse(self) -> CqlType:
        t = self.type()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r} after the type")  # type: ignore[index]
        return t

    def type(self) -> CqlType:
        kind, value = self.next()
        if kind == "string":
            return _parse_marshal(value, self.user_types, self.keyspace)
        if kind == "ident":
            lower = value.lower()
            nxt = self.peek()
            if nxt == ("punct", "<") and lower in ("frozen", "list", "set", "map", "tuple", "vector"):
                self.i += 1
                return self.parametrized(lower)
            if nxt != ("punct", ".") and lower in _NATIVES:
                return _NATIVES[lower]
            return self.user_type(lower)
        if kind == "quoted":
            return self.user_type(value)
        self.i -= 1
        raise self.fail(f"expected a type, found {value!r}")

    def parametrized(self, name: str) -> CqlType:
        if name == "frozen":
            inner = self.type()
            self.expect(">")
            return inner.freeze()
        if name in ("list", "set"):
            element = self.type()
            self.expect(">")
            return ListType(element) if name == "list" else SetType(element)
        if name == "map":
            key = self.type()
            self.expect(",")
            value_type = self.type()
            self.expect(">")
            return MapType(key, value_type)
        if name == "tuple":
            elements = [self.type()]
            while self.peek() == ("punct", ","):
                self.i += 1
                elements.append(self.type())
            self.expect(">")
            return TupleType(elements)
        element = self.type()
        self.expect(",")
        kind, value = self.next()
        if kind != "number":
            self.i -= 1
            raise self.fail(f"expected a vector dimension, found {value!r}")
        self.expect(">")
        return VectorType(element, int(value))

    def user_type(self, name: str) -> CqlType:
        try:
            return self._user_type(name)
        except CqlTypeError as exc:
            raise CqlTypeError(f"{exc} in CQL type {self.text!r}") from None

    def _user_type(self, name: str) -> CqlType:
        keyspace = self.keyspace
        if self.peek() == ("punct", "."):
            self.i += 1
            kind, value = self.next()
            if kind == "ident":
                keyspace, name = name, value.lower()
            elif kind == "quoted":
                keyspace, name = name, value
            else:
                self.i -= 1
                raise self.fail(f"expected a type name after '.', found {value!r}")
        return _resolve_user_type(keyspace, name, self.user_types)


def _resolve_user_type(keyspace: str | None, name: str, user_types: UserTypes | None) -> UserType:
    found: UserTypeLike | None = None
    if callable(user_types):
        found = user_types(keyspace, name)
    elif user_types is not None:
        keys: list[Any] = [(keyspace, name), f"{keyspace}.{name}"] if keyspace is not None else []
        keys.append(name)
        for key in keys:
            if key in user_types:
                found = user_types[key]
                break
    if found is None:
        qualified = f"{keyspace}.{name}" if keyspace else name
        raise CqlTypeError(f"unknown user type {qualified!r}")
    return UserType(found.keyspace, found.name, list(found.field_names), list(found.field_types))


def parse_cql_type(text: str, user_types: UserTypes | None = None, keyspace: str | None = None) -> CqlType:
    """Parse CQL type text as system_schema stores it and DESCRIBE prints it.

    ``user_types`` resolves user type names: a mapping keyed by ``(keyspace, name)``, ``"ks.name"`` or
    ``"name"``, or a callable ``(keyspace or None, name) -> definition or None``. ``keyspace`` is the
    keyspace of unqualified names. Unknown names raise CqlTypeError naming the type.
    Native type names are case-insensitive (``varchar`` is ``text``); nested types are frozen;
    a quoted class name ('org.apache.cassandra.db.marshal.X') becomes the matching CQL type when
    it is a known marshal class, else a CustomType keeping raw bytes.
    """
    return _Parser(text, user_types, keyspace).parse()


# --- marshal class names (TypeParser syntax), as used for custom types ----------------------------

_MARSHAL_NATIVES: dict[str, CqlType] = {
    "AsciiType": ASCII,
    "UTF8Type": TEXT,
    "BytesType": BLOB,
    "BooleanType": BOOLEAN,
    "ByteType": TINYINT,
    "ShortType": SMALLINT,
    "Int32Type": INT,
    "LongType": BIGINT,
    "IntegerType": VARINT,
    "DecimalType": DECIMAL,
    "FloatType": FLOAT,
    "DoubleType": DOUBLE,
    "CounterColumnType": COUNTER,
    "UUIDType": UUID,
    "TimeUUIDType": TIMEUUID,
    "InetAddressType": INET,
    "SimpleDateType": DATE,
    "TimeType": TIME,
    "TimestampType": TIMESTAMP,
    # DateType is the pre-2.0 timestamp: same bytes, and CQL shows it as timestamp.
    "DateType": TIMESTAMP,
    "DurationType": DURATION,
    "EmptyType": EMPTY,
}
# Known fixed-length classes without a CQL type of their own.
_MARSHAL_FIXED = {"LexicalUUIDType": 16}
_MARSHAL_PREFIX = "org.apache.cassandra.db.marshal."


class _MarshalUnknown(Exception):
    pass


def _parse_marshal(text: str, user_types: UserTypes | None, keyspace: str | None) -> CqlType:
    try:
        t, rest = _marshal_type(text.strip(), user_types, keyspace)
        if rest.strip():
            raise _MarshalUnknown
        return t
    except _MarshalUnknown:
        short = text.strip().removeprefix(_MARSHAL_PREFIX)
        return CustomType(text, _MARSHAL_FIXED.get(short, -1))


def _marshal_args(text: str) -> tuple[list[str], str]:
    """Split ``(a, b(c, d), e)`` at its top-level commas; return the arguments and what follows."""
    assert text.startswith("(")
    depth = 0
    args: list[str] = []
    start = 1
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
                return [a for a in args if a] if args != [""] else [], text[i + 1 :]
        elif ch == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
    raise _MarshalUnknown


def _marshal_type(text: str, user_types: UserTypes | None, keyspace: str | None) -> tuple[CqlType, str]:
    m = re.match(r"[A-Za-z0-9_.$]+", text)
    if m is None:
        raise _MarshalUnknown
    name = m.group(0).removeprefix(_MARSHAL_PREFIX)
    rest = text[m.end() :].lstrip()
    args: list[str] = []
    if rest.startswith("("):
        args, rest = _marshal_args(rest)

    def sub(arg: str) -> CqlType:
        t, tail = _marshal_type(arg, user_types, keyspace)
        if tail.strip():
            raise _MarshalUnknown
        return t

    if name in _MARSHAL_NATIVES and not args:
        return _MARSHAL_NATIVES[name], rest
    if name == "ReversedType" and len(args) == 1:
        return sub(args[0]), rest
    if name == "FrozenType" and len(args) == 1:
        return sub(args[0]).freeze(), rest
    if name == "ListType" and len(args) == 1:
        return ListType(sub(args[0])), rest
    if name == "SetType" and len(args) == 1:
        return SetType(sub(args[0])), rest
    if name == "MapType" and len(args) == 2:
        return MapType(sub(args[0]), sub(args[1])), rest
    if name == "TupleType" and args:
        return TupleType([sub(a) for a in args]), rest
    if name == "VectorType" and len(args) == 2 and args[1].isdigit():
        return VectorType(sub(args[0]), int(args[1])), rest
    if name == "UserType" and len(args) >= 2:
        # UserType(keyspace, hex(name), hex(field):type, ...)
        try:
            type_name = bytes.fromhex(args[1]).decode("utf-8")
            names, types = [], []
            for arg in args[2:]:
                hex_name, _, field_type = arg.partition(":")
                names.append(bytes.fromhex(hex_name).decode("utf-8"))
                types.append(sub(field_type))
        except ValueError:
            raise _MarshalUnknown from None
        return UserType(args[0], type_name, names, types), rest
    raise _MarshalUnknown
