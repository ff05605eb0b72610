"""Order-preserving key encodings: hand vectors, and agreement with the oracle's comparator."""

from __future__ import annotations

import decimal
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_cdc.oracle.ordering import comparator
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnKind, ColumnSchema
from cassandra_cdc.sinks.clickhouse.keys import column_encoder, encoder


def test_hand_vectors() -> None:
    # int: sign bit flipped, 8 bytes big-endian.
    assert encoder(T.INT)(-1) == bytes.fromhex("7fffffffffffffff")
    assert encoder(T.INT)(1) == bytes.fromhex("8000000000000001")
    # text: 0x00 escaped as 00 FF, then 00 00.
    assert encoder(T.TEXT)("a\x00") == b"a\x00\xff\x00\x00"
    # varint: zero, positive (length 1, 0x05), negative (complemented length and magnitude).
    assert encoder(T.VARINT)(0) == b"\x01"
    assert encoder(T.VARINT)(5) == b"\x02\x00\x00\x00\x01\x05"
    assert encoder(T.VARINT)(-5) == b"\x00\xff\xff\xff\xfe\xfa"
    # double: positive has the sign bit set; -0.0 is all bits inverted (0x7fff...).
    assert encoder(T.DOUBLE)(1.0) == bytes.fromhex("bff0000000000000")
    assert encoder(T.DOUBLE)(-0.0) == bytes.fromhex("7fffffffffffffff")
    # A DESC clustering component is the bit-inverse of the ASC one.
    asc = column_encoder(ColumnSchema("c", T.INT, ColumnKind.CLUSTERING))(7)
    desc = column_encoder(ColumnSchema("c", T.INT, ColumnKind.CLUSTERING, reversed=True))(7)
    assert bytes(255 - b for b in asc) == desc


def _same_order(type_: T.CqlType, a: object, b: object) -> None:
    enc = encoder(type_)
    want = comparator(type_)(a, b)
    ea, eb = enc(a), enc(b)
    got = (ea > eb) - (ea < eb)
    assert got == want, (type_.cql(), a, b, ea.hex(), eb.hex())


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**70), 2**70), st.integers(-(2**70), 2**70))
def test_varint_order(a: int, b: int) -> None:
    _same_order(T.VARINT, a, b)


@settings(max_examples=300, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False), st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_order(a: decimal.Decimal, b: decimal.Decimal) -> None:
    _same_order(T.DECIMAL, a, b)


@settings(max_examples=300, deadline=None)
@given(st.floats(), st.floats())
def test_double_order(a: float, b: float) -> None:
    _same_order(T.DOUBLE, a, b)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_text_order(a: str, b: str) -> None:
    _same_order(T.TEXT, a, b)


@settings(max_examples=200, deadline=None)
@given(st.uuids(), st.uuids(version=1))
def test_uuid_orders(a: uuid.UUID, b: uuid.UUID) -> None:
    _same_order(T.UUID, a, b)
    _same_order(T.TIMEUUID, b, uuid.uuid1(node=a.node & 0xFFFFFFFFFFFF, clock_seq=a.clock_seq & 0x3FFF))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=4), st.lists(st.integers(-5, 5), max_size=4))
def test_frozen_list_order(a: list[int], b: list[int]) -> None:
    _same_order(T.ListType(T.INT, frozen=True), a, b)
