"""How each CQL type is stored in ClickHouse and shown in the final-state view.

Every cell value is stored as a String (the aggregate state of a cell holds one value of any
type); the view converts it back to the destination type with a SQL expression. The stored text is
chosen so that the conversion is exact:

- scalars: plain text ClickHouse parses exactly (integers in decimal, floats as the shortest
  round-trip decimal, uuids canonical, dates ISO, timestamps as integer milliseconds), text and blob
  as their bytes;
- frozen collections, tuples, UDTs, durations, vectors: ClickHouse's quoted literal syntax
  (``[1,2]``, ``('a',NULL)``), cast to the destination type; maps are written as arrays of pairs
  and cast twice, because ClickHouse cannot cast a String straight to a Map.

Values the destination type cannot hold raise ValueOutOfRangeError (never altered): varint beyond
Int256, dates and timestamps outside Date32/DateTime64 (1900-01-01 .. 2299-12-31), decimals that
do not fit an overridden Decimal(P, S) exactly.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cassandra_cdc.schema import types as T
from cassandra_cdc.sinks.clickhouse.keys import days, millis

# Date32 and DateTime64 cover 1900-01-01 .. 2299-12-31.
MIN_DAYS = (datetime.date(1900, 1, 1) - datetime.date(1970, 1, 1)).days
MAX_DAYS = (datetime.date(2299, 12, 31) - datetime.date(1970, 1, 1)).days
MIN_MS = MIN_DAYS * 86_400_000
MAX_MS = (MAX_DAYS + 1) * 86_400_000 - 1
INT256_MIN = -(1 << 255)
INT256_MAX = (1 << 255) - 1


class OutOfRange(ValueError):
    """A value the destination type cannot hold; the sink turns it into ValueOutOfRangeError."""


@dataclass(frozen=True, slots=True)
class Mapping_:
    """One CQL type's destination: its ClickHouse type, how values are stored, how the view reads them.

    ``text`` turns a Python value into the stored bytes; ``literal`` into ClickHouse's quoted literal
    (for use inside containers); ``sql`` wraps a String expression into one of type ``ch_type``.
    ``nullable`` says whether ``Nullable(ch_type)`` is allowed (not for Array, Map, Tuple).
    """

    ch_type: str
    text: Callable[[Any], bytes]
    literal: Callable[[Any], str]
    sql: Callable[[str], str]
    nullable: bool = True


# Escapes of a ClickHouse quoted literal, per byte (read as latin-1): backslash, quote, non-printables.
_QUOTE_MAP = {b: f"\\x{b:02x}" for b in [*range(0x20), *range(0x7F, 0x100)]} | {0x5C: "\\\\", 0x27: "\\'"}


def _quote(raw: bytes) -> str:
    return "'" + raw.decode("latin-1").translate(_QUOTE_MAP) + "'"


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))


def _date_text(value: Any) -> str:
    d = days(value)
    if not MIN_DAYS <= d <= MAX_DAYS:
        raise OutOfRange(f"date {value} is outside Date32 (1900-01-01 .. 2299-12-31)")
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=d)).isoformat()


def _ms(value: Any) -> int:
    ms = millis(value)
    if not MIN_MS <= ms <= MAX_MS:
        raise OutOfRange(f"timestamp {value} is outside DateTime64 (1900-01-01 .. 2299-12-31)")
    return ms


def _timestamp_literal(value: Any) -> str:
    ms = _ms(value)
    when = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return "'" + when.strftime("%Y-%m-%d %H:%M:%S") + f".{ms % 1000:03d}'"


def _varint(value: int) -> str:
    if not INT256_MIN <= value <= INT256_MAX:
        raise OutOfRange(f"varint {value} is outside Int256")
    return str(value)


def _enc(fn: Callable[[Any], str]) -> Callable[[Any], bytes]:
    return lambda v: fn(v).encode("utf-8")


_INT_TYPES = {T.TINYINT: "Int8", T.SMALLINT: "Int16", T.INT: "Int32", T.BIGINT: "Int64", T.COUNTER: "Int64"}


def _scalar(t: T.CqlType) -> Mapping_ | None:
    if t in (T.TEXT, T.ASCII):
        return Mapping_("String", lambda v: v.encode("utf-8"), lambda v: _quote(v.encode("utf-8")), lambda e: e)
    if t == T.BLOB or isinstance(t, T.CustomType):
        return Mapping_("String", bytes, lambda v: _quote(bytes(v)), lambda e: e)
    if t == T.BOOLEAN:
        return Mapping_(
            "Bool", lambda v: b"true" if v else b"false", lambda v: "true" if v else "false", lambda e: f"toBool({e})"
        )
    if t in _INT_TYPES:
        name = _INT_TYPES[t]
        return Mapping_(name, lambda v: str(v).encode(), str, lambda e: f"to{name}({e})")
    if t == T.VARINT:
        return Mapping_("Int256", _enc(_varint), _varint, lambda e: f"toInt256({e})")
    if t == T.DECIMAL:
        # Exact by default: Cassandra decimals have any scale; the text keeps it (1.50 stays 1.50).
        return Mapping_("String", lambda v: str(v).encode(), lambda v: _quote(str(v).encode()), lambda e: e)
    if t == T.FLOAT:
        return Mapping_("Float32", _enc(_float_text), _float_text, lambda e: f"toFloat32({e})")
    if t == T.DOUBLE:
        return Mapping_("Float64", _enc(_float_text), _float_text, lambda e: f"toFloat64({e})")
    if t in (T.UUID, T.TIMEUUID):
        return Mapping_("UUID", lambda v: str(v).encode(), lambda v: f"'{v}'", lambda e: f"toUUID({e})")
    if t == T.INET:
        # String, not IPv6: an IPv4 address and its IPv4-mapped IPv6 form are different Cassandra values.
        return Mapping_("String", lambda v: str(v).encode(), lambda v: f"'{v}'", lambda e: e)
    if t == T.DATE:
        return Mapping_("Date32", _enc(_date_text), lambda v: f"'{_date_text(v)}'", lambda e: f"toDate32({e})")
    if t == T.TIME:
        return Mapping_("Int64", lambda v: str(v).encode(), str, lambda e: f"toInt64({e})")
    if t == T.TIMESTAMP:
        return Mapping_(
            "DateTime64(3, 'UTC')",
            lambda v: str(_ms(v)).encode(),
            _timestamp_literal,
            lambda e: f"fromUnixTimestamp64Milli(toInt64({e}), 'UTC')",
        )
    if t == T.DURATION:
        ch = "Tuple(months Int32, days Int32, nanoseconds Int64)"

        def dur(v: Any) -> str:
            return f"({v.months},{v.days},{v.nanoseconds})"

        return Mapping_(ch, _enc(dur), dur, lambda e: f"CAST({e}, {_sql_str(ch)})")
    return None


def _sql_str(ch_type: str) -> str:
    return "'" + ch_type.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _inner(t: T.CqlType) -> tuple[str, str, Callable[[Any], str], bool]:
    """(destination type, parse type, literal writer, nullable) of a type inside a container."""
    scalar = _scalar(t)
    if scalar is not None:
        return scalar.ch_type, scalar.ch_type, scalar.literal, scalar.nullable
    if isinstance(t, T.ListType | T.SetType | T.VectorType):
        et, ep, el, _ = _inner(t.element)

        def lit_seq(v: Any) -> str:
            return "[" + ",".join(el(x) for x in v) + "]"

        return f"Array({et})", f"Array({ep})", lit_seq, False
    if isinstance(t, T.MapType):
        kt, kp, kl, _ = _inner(t.key)
        vt_n, vp_n, vl, _ = _inner(t.value)

        def lit_map(v: Any) -> str:
            items = v.items() if isinstance(v, Mapping) else v
            return "[" + ",".join(f"({kl(k)},{vl(x)})" for k, x in items) + "]"

        return f"Map({kt}, {vt_n})", f"Array(Tuple({kp}, {vp_n}))", lit_map, False
    if isinstance(t, T.TupleType | T.UserType):
        names = list(t.field_names) if isinstance(t, T.UserType) else [None] * len(t.elements)
        types = list(t.field_types) if isinstance(t, T.UserType) else list(t.elements)
        parts = [_inner(ft) for ft in types]

        def field(name: str | None, ty: str, nullable: bool) -> str:
            ty = f"Nullable({ty})" if nullable else ty
            return f"{_ident(name)} {ty}" if name is not None else ty

        ch = "Tuple(" + ", ".join(field(n, p[0], p[3]) for n, p in zip(names, parts, strict=True)) + ")"
        parse = "Tuple(" + ", ".join(field(n, p[1], p[3]) for n, p in zip(names, parts, strict=True)) + ")"

        def lit_tuple(v: Any) -> str:
            values = [v.get(n) for n in names] if isinstance(t, T.UserType) else list(v)
            values += [None] * (len(parts) - len(values))
            out = []
            for (_, _, lit, nullable), x in zip(parts, values, strict=True):
                if x is None:
                    if not nullable:
                        raise OutOfRange(f"a null field cannot be stored in {ch}")
                    out.append("NULL")
                else:
                    out.append(lit(x))
            return "(" + ",".join(out) + ")"

        return ch, parse, lit_tuple, True
    raise OutOfRange(f"no ClickHouse mapping for CQL type {t.cql()}")


def _ident(name: str | None) -> str:
    assert name is not None
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def mapping(t: T.CqlType) -> Mapping_:
    """The destination of a value of ``t`` (a whole frozen value, or a scalar)."""
    scalar = _scalar(t)
    if scalar is not None:
        return scalar
    ch, parse, lit, _ = _inner(t.freeze())

    def sql(e: str) -> str:
        if parse == ch:
            return f"CAST({e}, {_sql_str(ch)})"
        return f"CAST(CAST({e}, {_sql_str(parse)}), {_sql_str(ch)})"

    nullable = not ch.startswith(("Array(", "Map("))
    return Mapping_(ch, lambda v: lit(v).encode("utf-8"), lit, sql, nullable=nullable)


_DECIMAL_OVERRIDE = re.compile(r"Decimal\((\d+),\s*(\d+)\)")


def override(t: T.CqlType, ch_type: str) -> Mapping_:
    """A per-column override of the destination type.

    Supported: ``Decimal(P, S)`` for decimal (values must fit exactly: at most S fractional digits
    and P digits in all), ``IPv6`` for inet (IPv4 shown IPv4-mapped), ``String`` for any scalar
    (its stored text), and the default type itself.
    """
    default = mapping(t)
    if ch_type == default.ch_type:
        return default
    m = _DECIMAL_OVERRIDE.fullmatch(ch_type)
    if m and t == T.DECIMAL:
        precision, scale = int(m.group(1)), int(m.group(2))
        if not 1 <= precision <= 76 or scale > precision:
            raise ValueError(f"bad decimal override {ch_type}")

        def dec_text(v: decimal.Decimal) -> str:
            _, digits, exponent = v.as_tuple()
            assert isinstance(exponent, int)
            frac = max(0, -exponent)
            integral = max(0, len(digits) + exponent)
            if frac > scale and v != v.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_DOWN):
                raise OutOfRange(f"decimal {v} has more than {scale} fractional digits")
            if integral > precision - scale and abs(v) >= decimal.Decimal(10) ** (precision - scale):
                raise OutOfRange(f"decimal {v} does not fit {ch_type}")
            return str(v)

        return Mapping_(ch_type, _enc(dec_text), dec_text, lambda e: f"CAST({e}, {_sql_str(ch_type)})")
    if ch_type == "IPv6" and t == T.INET:

        def ip6(v: Any) -> str:
            addr = ipaddress.ip_address(v)
            return (
                str(ipaddress.IPv6Address(b"\x00" * 10 + b"\xff\xff" + addr.packed)) if addr.version == 4 else str(addr)
            )

        return Mapping_("IPv6", _enc(ip6), lambda v: f"'{ip6(v)}'", lambda e: f"toIPv6({e})")
    if ch_type == "String" and default.nullable:
        return Mapping_("String", default.text, lambda v: _quote(default.text(v)), lambda e: e)
    raise ValueError(f"unsupported override {ch_type!r} for CQL type {t.cql()}")


def uuid_text(value: uuid.UUID) -> str:
    return str(value)
