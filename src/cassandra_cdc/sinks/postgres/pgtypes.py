"""How each CQL type is stored in PostgreSQL, how its Python values are converted, and Cassandra's order.

The mapping (docs/sinks-postgres.md has the table): every value is converted exactly or refused with
ValueOutOfRangeError, never altered. ``order_key`` gives, for the types whose PostgreSQL order differs
from Cassandra's (uuid, timeuuid, inet, float, double) and for collection element keys, bytes whose
unsigned comparison is Cassandra's comparator (AbstractType.compareCustom of each db/marshal type).
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import math
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cassandra_cdc.schema import types as T
from cassandra_cdc.sinks.base import ValueOutOfRangeError

Converter = Callable[[Any], Any]

_EPOCH_DATE = datetime.date(1970, 1, 1)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MASK64 = (1 << 64) - 1
# PostgreSQL numeric: at most 131072 digits before the point and 16383 after it.
_NUMERIC_MAX_INT_DIGITS = 131072
_NUMERIC_MAX_SCALE = 16383
# PostgreSQL date: 4713-11-24 BC (Julian day 0) .. 5874897-12-31 AD, in days since 1970-01-01.
_PG_DATE_MIN_DAYS = -2440588
_PG_DATE_MAX_DAYS = 2145031948


class _OutOfRange(Exception):
    """A value the PostgreSQL type cannot hold; the caller names the table and column."""


@dataclass(frozen=True, slots=True)
class PgType:
    """A column's PostgreSQL type and the conversion of Python values (None stays None)."""

    sql: str
    convert: Converter
    # Whether PostgreSQL's order on this type is Cassandra's (else clustering bounds use order_key).
    native_order: bool = False


def _identity(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    if "\x00" in value:
        raise _OutOfRange("contains a NUL character, which PostgreSQL text cannot hold")
    return value


def _numeric_int(value: Any) -> Any:
    if len(str(abs(value))) > _NUMERIC_MAX_INT_DIGITS:
        raise _OutOfRange("has more digits than PostgreSQL numeric holds")
    return decimal.Decimal(value)


def _numeric(value: Any) -> Any:
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise _OutOfRange("is not a finite number")
    if -exponent > _NUMERIC_MAX_SCALE or len(digits) + exponent > _NUMERIC_MAX_INT_DIGITS:
        raise _OutOfRange("is beyond PostgreSQL numeric's precision or scale")
    return value


def _days(value: Any) -> int:
    if isinstance(value, T.CqlDate):
        return value.days
    return int((value - _EPOCH_DATE).days)


def _civil(days: int) -> tuple[int, int, int]:
    # Days since 1970-01-01 to a proleptic Gregorian (year, month, day), any year.
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def _date(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value
    days = _days(value)
    if not _PG_DATE_MIN_DAYS <= days <= _PG_DATE_MAX_DAYS:
        raise _OutOfRange("is outside PostgreSQL date's range (4713 BC .. 5874897 AD)")
    y, m, d = _civil(days)
    # PostgreSQL spells years before 1 AD as "N BC" with year 0 being 1 BC.
    return f"{y:04d}-{m:02d}-{d:02d}" if y >= 1 else f"{1 - y:04d}-{m:02d}-{d:02d} BC"


def _timestamp(value: Any) -> Any:
    if isinstance(value, T.CqlTimestamp):
        raise _OutOfRange("is outside the years 1..9999 this sink converts exactly")
    return value


def _time_ns(value: Any) -> Any:
    return int(value)


def _time_of_day(value: Any) -> Any:
    ns = int(value)
    if ns % 1000:
        raise _OutOfRange("has sub-microsecond precision, which PostgreSQL time cannot hold")
    us = ns // 1000
    return datetime.time(us // 3_600_000_000, us // 60_000_000 % 60, us // 1_000_000 % 60, us % 1_000_000)


def _interval(value: Any) -> Any:
    if value.nanoseconds % 1000:
        raise _OutOfRange("has sub-microsecond precision, which PostgreSQL interval cannot hold")
    return f"{value.months} mons {value.days} days {value.nanoseconds // 1000} microseconds"


def _json_of(type_: T.CqlType) -> Converter:
    to_json = type_.to_json
    encode = json.JSONEncoder(separators=(",", ":")).encode

    def convert(value: Any) -> Any:
        return encode(to_json(value))

    return convert


def _float_array(value: Any) -> Any:
    return list(value)


def pg_type(type_: T.CqlType) -> PgType:
    """The default PostgreSQL type of a CQL type (see docs/sinks-postgres.md)."""
    if type_ in (T.TEXT, T.ASCII):
        # "C" collation compares UTF-8 bytes, which is Cassandra's UTF8Type/AsciiType order.
        return PgType('text COLLATE "C"', _text, True)
    if type_ == T.BLOB or isinstance(type_, T.CustomType):
        return PgType("bytea", _identity, True)
    if type_ == T.BOOLEAN:
        return PgType("boolean", _identity, True)
    if type_ in (T.TINYINT, T.SMALLINT):
        return PgType("smallint", _identity, True)
    if type_ == T.INT:
        return PgType("integer", _identity, True)
    if type_ in (T.BIGINT, T.COUNTER):
        return PgType("bigint", _identity, True)
    if type_ == T.VARINT:
        return PgType("numeric", _numeric_int, True)
    if type_ == T.DECIMAL:
        return PgType("numeric", _numeric, True)
    if type_ == T.FLOAT:
        return PgType("real", _identity)
    if type_ == T.DOUBLE:
        return PgType("double precision", _identity)
    if type_ in (T.UUID, T.TIMEUUID):
        return PgType("uuid", _identity)
    if type_ == T.INET:
        return PgType("inet", _identity)
    if type_ == T.DATE:
        return PgType("date", _date, True)
    if type_ == T.TIME:
        # Nanoseconds since midnight: PostgreSQL's time keeps only microseconds.
        return PgType("bigint", _time_ns, True)
    if type_ == T.TIMESTAMP:
        return PgType("timestamptz", _timestamp, True)
    if type_ == T.DURATION:
        # The CQL literal (e.g. "1mo2d3h4ns"): exact, where interval would drop the nanoseconds.
        return PgType('text COLLATE "C"', T.DURATION.to_json)
    if isinstance(type_, T.VectorType) and type_.element in (T.FLOAT, T.DOUBLE):
        return PgType("real[]" if type_.element == T.FLOAT else "double precision[]", _float_array)
    # Collections, tuples, UDTs, other vectors, empty: JSON as CqlType.to_json renders it.
    return PgType("jsonb", _json_of(type_))


# Overrides a user may name per column, with the conversion each needs from the CQL type's values.
def override_type(type_: T.CqlType, sql: str) -> PgType:
    """The PostgreSQL type ``sql`` for a column of ``type_``: values go as the default mapping makes
    them and PostgreSQL casts them; ``time`` for a CQL time and ``interval`` for a duration convert
    exactly and refuse sub-microsecond values."""
    default = pg_type(type_)
    if type_ == T.TIME and sql.strip().lower() in ("time", "time without time zone"):
        return PgType(sql, _time_of_day, True)
    if type_ == T.DURATION and sql.strip().lower() == "interval":
        return PgType(sql, _interval)
    return PgType(sql, default.convert, default.native_order and sql == default.sql)


def passes_through(pgtype: PgType) -> bool:
    """Whether ``pgtype`` takes Python values unconverted (so callers may skip the conversion call)."""
    return pgtype.convert is _identity


def converter_for(pgtype: PgType, table: str, column: str) -> Converter:
    """``pgtype.convert`` raising ValueOutOfRangeError that names the table and column."""
    convert = pgtype.convert

    def checked(value: Any) -> Any:
        if value is None:
            return None
        try:
            return convert(value)
        except _OutOfRange as exc:
            raise ValueOutOfRangeError(table, column, repr(value)[:80], str(exc)) from None

    return checked


# --- Cassandra's order as unsigned bytes ---------------------------------------------------------

_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_XOR80 = bytes(b ^ 0x80 for b in range(256))


def _signed_fixed(value: int, size: int) -> bytes:
    return (value + (1 << (8 * size - 1))).to_bytes(size, "big")


def _float_key(value: float, st: struct.Struct) -> bytes:
    # Float.compare / Double.compare: -0.0 before 0.0, NaN (canonical) after +Infinity.
    if math.isnan(value):
        value = math.nan
    bits = int.from_bytes(st.pack(value), "big")
    width = st.size * 8
    if bits >> (width - 1):
        bits ^= (1 << width) - 1
    else:
        bits |= 1 << (width - 1)
    return bits.to_bytes(st.size, "big")


def _reorder(msb: int) -> int:
    # TimeUUIDType's timestamp word: time_hi, time_mid, time_low, compared as a signed long.
    r = ((msb << 48) | ((msb << 16) & 0xFFFF00000000) | (msb >> 32)) & _MASK64
    return r - (1 << 64) if r >> 63 else r


def _timeuuid_key(value: uuid.UUID) -> bytes:
    raw = value.bytes
    return _signed_fixed(_reorder(int.from_bytes(raw[:8], "big")), 8) + raw[8:].translate(_XOR80)


def _uuid_key(value: uuid.UUID) -> bytes:
    raw = value.bytes
    high = int.from_bytes(raw[:8], "big")
    version = (high >> 12) & 0xF
    middle = _signed_fixed(_reorder(high), 8) if version == 1 else raw[:8]
    return bytes([version]) + middle + raw[8:]


def _varint_key(value: int) -> bytes:
    if value >= 0:
        size = (value.bit_length() + 7) // 8
        return b"\x01" + size.to_bytes(4, "big") + value.to_bytes(size, "big")
    size = ((-value).bit_length() + 7) // 8
    return b"\x00" + (0xFFFFFFFF - size).to_bytes(4, "big") + ((1 << (8 * size)) + value).to_bytes(size, "big")


def _decimal_key(value: decimal.Decimal) -> bytes:
    if value.is_nan() or value.is_infinite():
        raise ValueError("not a finite decimal")
    if value == 0:
        return b"\x01"
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    # Normalise by hand (Decimal.normalize obeys the context's precision and exponent limits).
    text = "".join(map(str, digits)).lstrip("0")
    stripped = text.rstrip("0")
    exponent += len(text) - len(stripped)
    text = stripped
    adjusted = len(text) + exponent  # value = 0.<text> * 10**adjusted
    if not sign:
        return b"\x02" + _signed_fixed(adjusted, 8) + text.encode()
    inverted = bytes(0x39 - b + 0x30 for b in text.encode())
    return b"\x00" + _signed_fixed(-adjusted, 8) + inverted + b"\xff"


def _timestamp_millis(value: Any) -> int:
    if isinstance(value, T.CqlTimestamp):
        return value.millis
    delta = value - _EPOCH
    return int((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)


def order_key_function(type_: T.CqlType) -> Callable[[Any], bytes] | None:
    """A function from values to bytes ordered as Cassandra orders the values; None when unsupported
    (collections, tuples, UDTs, durations). None values (empty) give b"", which sorts first."""
    fn: Callable[[Any], bytes]
    if type_ in (T.TEXT, T.ASCII):
        fn = lambda v: v.encode("utf-8")  # noqa: E731
    elif type_ == T.BLOB or isinstance(type_, T.CustomType):
        fn = bytes
    elif type_ == T.BOOLEAN:
        fn = lambda v: b"\x01" if v else b"\x00"  # noqa: E731
    elif type_ in (T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.TIME, T.COUNTER):
        fn = lambda v: _signed_fixed(int(v), 8)  # noqa: E731
    elif type_ == T.VARINT:
        fn = _varint_key
    elif type_ == T.DECIMAL:
        fn = _decimal_key
    elif type_ == T.FLOAT:
        fn = lambda v: _float_key(v, _F32)  # noqa: E731
    elif type_ == T.DOUBLE:
        fn = lambda v: _float_key(v, _F64)  # noqa: E731
    elif type_ == T.TIMEUUID:
        fn = _timeuuid_key
    elif type_ == T.UUID:
        fn = _uuid_key
    elif type_ == T.INET:
        fn = lambda v: ipaddress.ip_address(v).packed  # noqa: E731
    elif type_ == T.DATE:
        fn = lambda v: _signed_fixed(_days(v), 8)  # noqa: E731
    elif type_ == T.TIMESTAMP:
        fn = lambda v: _signed_fixed(_timestamp_millis(v), 8)  # noqa: E731
    else:
        return None

    def keyed(value: Any) -> bytes:
        return b"" if value is None else fn(value)

    return keyed
