"""Hypothesis strategies for CQL types and their values, shared by the project's property tests.

``cql_types()`` draws types (natives, nested frozen collections, tuples, UDTs, vectors, and at the top
level non-frozen collections and UDTs); ``values_of(t)`` draws Python values of a type in exactly the
form ``t.deserialize`` returns them, so ``t.deserialize(t.serialize(v)) == v`` holds (without NaN).
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from hypothesis import strategies as st

from cassandra_cdc.schema import types as T

_NATIVES: list[T.CqlType] = [
    T.ASCII,
    T.TEXT,
    T.BLOB,
    T.BOOLEAN,
    T.TINYINT,
    T.SMALLINT,
    T.INT,
    T.BIGINT,
    T.VARINT,
    T.DECIMAL,
    T.FLOAT,
    T.DOUBLE,
    T.UUID,
    T.TIMEUUID,
    T.INET,
    T.DATE,
    T.TIME,
    T.TIMESTAMP,
    T.DURATION,
]

_IDENT = st.from_regex(r"\A[a-z][a-z0-9_]{0,7}\Z").filter(lambda s: s not in T.native_types())


def native_types(include_counter: bool = False) -> st.SearchStrategy[T.CqlType]:
    return st.sampled_from(_NATIVES + ([T.COUNTER] if include_counter else []))


def _frozen_types(depth: int, include_udts: bool, include_vectors: bool) -> st.SearchStrategy[T.CqlType]:
    if depth <= 0:
        return native_types()
    inner = _frozen_types(depth - 1, include_udts, include_vectors)
    options: list[st.SearchStrategy[T.CqlType]] = [
        native_types(),
        st.builds(lambda e: T.ListType(e, frozen=True), inner),
        st.builds(lambda e: T.SetType(e, frozen=True), inner),
        st.builds(lambda k, v: T.MapType(k, v, frozen=True), inner, inner),
        st.lists(inner, min_size=1, max_size=3).map(T.TupleType),
    ]
    if include_udts:
        options.append(_udts(inner, frozen=True))
    if include_vectors:
        options.append(st.builds(T.VectorType, inner, st.integers(1, 4)))
    return st.one_of(options)


def _udts(fields: st.SearchStrategy[T.CqlType], frozen: bool) -> st.SearchStrategy[T.CqlType]:
    return st.builds(
        lambda ks, name, names, types: T.UserType(ks, name, names, types[: len(names)], frozen),
        _IDENT,
        _IDENT,
        st.lists(_IDENT, min_size=1, max_size=4, unique=True),
        st.lists(fields, min_size=4, max_size=4),
    )


def cql_types(
    max_depth: int = 2,
    *,
    allow_multi_cell: bool = True,
    include_counter: bool = False,
    include_udts: bool = True,
    include_vectors: bool = True,
) -> st.SearchStrategy[T.CqlType]:
    """CQL types nested up to ``max_depth`` levels; only the top level may be multi-cell."""
    frozen = _frozen_types(max_depth, include_udts, include_vectors)
    options = [frozen]
    if include_counter:
        options.append(st.just(T.COUNTER))
    if allow_multi_cell and max_depth > 0:
        inner = _frozen_types(max_depth - 1, include_udts, include_vectors)
        options.append(
            st.one_of(
                st.builds(T.ListType, inner),
                st.builds(T.SetType, inner),
                st.builds(T.MapType, inner, inner),
                *([_udts(inner, frozen=False)] if include_udts else []),
            )
        )
    return st.one_of(options)


_UTC = datetime.UTC
_MIN_PY_DAYS = datetime.date.min.toordinal() - datetime.date(1970, 1, 1).toordinal()
_MAX_PY_DAYS = datetime.date.max.toordinal() - datetime.date(1970, 1, 1).toordinal()


def _decimals() -> st.SearchStrategy[decimal.Decimal]:
    return st.builds(
        lambda unscaled, scale: decimal.Decimal(f"{unscaled}E{-scale}"),
        st.integers(-(10**40), 10**40),
        st.integers(-(2**31), 2**31 - 1) | st.integers(-20, 20),
    )


def _durations() -> st.SearchStrategy[T.Duration]:
    def build(sign: int, months: int, days: int, nanos: int) -> T.Duration:
        return T.Duration(sign * months, sign * days, sign * nanos)

    return st.builds(
        build,
        st.sampled_from([1, -1]),
        st.integers(0, 2**31 - 1),
        st.integers(0, 2**31 - 1),
        st.integers(0, 2**63 - 1),
    )


def _timestamps() -> st.SearchStrategy[Any]:
    in_range = st.datetimes(
        min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31, 23, 59, 59)
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=_UTC))
    out_of_range = st.one_of(
        st.integers(-(2**63), _MIN_PY_DAYS * 86_400_000 - 1),
        st.integers((_MAX_PY_DAYS + 1) * 86_400_000, 2**63 - 1),
    ).map(T.CqlTimestamp)
    return in_range | out_of_range


def _dates() -> st.SearchStrategy[Any]:
    out_of_range = st.one_of(st.integers(-(2**31), _MIN_PY_DAYS - 1), st.integers(_MAX_PY_DAYS + 1, 2**31 - 1)).map(
        T.CqlDate
    )
    return st.dates() | out_of_range


def _native_values(t: T.CqlType, allow_nan: bool) -> st.SearchStrategy[Any]:
    simple: dict[T.CqlType, st.SearchStrategy[Any]] = {
        T.ASCII: st.text(alphabet=[chr(i) for i in range(128)]),
        T.TEXT: st.text(),
        T.BLOB: st.binary(),
        T.BOOLEAN: st.booleans(),
        T.TINYINT: st.integers(-(2**7), 2**7 - 1),
        T.SMALLINT: st.integers(-(2**15), 2**15 - 1),
        T.INT: st.integers(-(2**31), 2**31 - 1),
        T.BIGINT: st.integers(-(2**63), 2**63 - 1),
        T.COUNTER: st.integers(-(2**63), 2**63 - 1),
        T.VARINT: st.integers() | st.integers(-(2**200), 2**200),
        T.DECIMAL: _decimals(),
        T.FLOAT: st.floats(width=32, allow_nan=allow_nan),
        T.DOUBLE: st.floats(allow_nan=allow_nan),
        T.UUID: st.uuids(),
        T.TIMEUUID: st.uuids(version=1),
        T.INET: st.ip_addresses(),
        T.DATE: _dates(),
        T.TIME: st.integers(0, 86_400 * 10**9 - 1),
        T.TIMESTAMP: _timestamps(),
        T.DURATION: _durations(),
    }
    if t in simple:
        return simple[t]
    if t == T.EMPTY:
        return st.none()
    if isinstance(t, T.CustomType):
        size = t.value_length_if_fixed()
        return st.binary(min_size=size, max_size=size) if size >= 0 else st.binary()
    raise TypeError(f"no value strategy for {t.cql()}")


def _unique_by_bytes(t: T.CqlType, values: st.SearchStrategy[Any], max_size: int) -> st.SearchStrategy[Any]:
    # Set elements and map keys are distinct in Cassandra by their serialised form.
    return st.lists(values, max_size=max_size, unique_by=t.serialize)


def values_of(t: T.CqlType, *, allow_nan: bool = False, max_size: int = 4) -> st.SearchStrategy[Any]:
    """Values of ``t`` in the form ``t.deserialize`` returns (not None at the top level)."""
    if isinstance(t, T.ListType):
        return st.lists(values_of(t.element, allow_nan=allow_nan, max_size=max_size), max_size=max_size)
    if isinstance(t, T.SetType):
        return _unique_by_bytes(t.element, values_of(t.element, allow_nan=allow_nan, max_size=max_size), max_size)
    if isinstance(t, T.MapType):
        key_type, value_type = t.key, t.value

        def as_map(pairs: list[tuple[Any, Any]]) -> Any:
            if key_type.hashable_values:
                as_dict = dict(pairs)
                if len(as_dict) == len(pairs):
                    return as_dict
            return pairs

        return st.lists(
            st.tuples(
                values_of(key_type, allow_nan=allow_nan, max_size=max_size),
                values_of(value_type, allow_nan=allow_nan, max_size=max_size),
            ),
            max_size=max_size,
            unique_by=lambda kv: key_type.serialize(kv[0]),
        ).map(as_map)
    if isinstance(t, T.TupleType):
        return st.tuples(*(st.none() | values_of(e, allow_nan=allow_nan, max_size=max_size) for e in t.elements))
    if isinstance(t, T.UserType):
        return st.fixed_dictionaries(
            {
                n: st.none() | values_of(ft, allow_nan=allow_nan, max_size=max_size)
                for n, ft in zip(t.field_names, t.field_types, strict=True)
            }
        )
    if isinstance(t, T.VectorType):
        element = values_of(t.element, allow_nan=allow_nan, max_size=max_size)
        return st.lists(element, min_size=t.dimension, max_size=t.dimension)
    return _native_values(t, allow_nan)


def identifiers() -> st.SearchStrategy[str]:
    """Lower-case CQL identifiers that need no quoting."""
    return _IDENT


__all__ = ["cql_types", "identifiers", "native_types", "values_of"]
