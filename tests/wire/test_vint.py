"""VInt vectors worked out by hand from VIntCoding: leading one bits count the extra bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cassandra_cdc.wire import DataReader, DataWriter, TruncatedInputError
from cassandra_cdc.wire.vint import encode_unsigned_vint, encode_vint, unsigned_vint_size

# (value, encoding): 0..127 in one byte; 128 = 0b10_000000 10000000 -> 0x80 0x80; 16383 = 0xBF 0xFF;
# 16384 needs 15 bits -> two extra bytes: 0xC0 0x40 0x00; 2^64-1 -> 0xFF then eight 0xFF.
UNSIGNED_VECTORS = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x80"),
    (300, b"\x81\x2c"),
    (16383, b"\xbf\xff"),
    (16384, b"\xc0\x40\x00"),
    (2**56 - 1, b"\xfe" + b"\xff" * 7),
    (2**56, b"\xff\x01" + b"\x00" * 7),
    (2**64 - 1, b"\xff" * 9),
]
# Signed values are zigzagged first: 0 -> 0, -1 -> 1, 1 -> 2, -64 -> 127, 64 -> 128.
SIGNED_VECTORS = [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (-64, b"\x7f"), (64, b"\x80\x80")]


@pytest.mark.parametrize(("value", "encoded"), UNSIGNED_VECTORS)
def test_unsigned_vectors(value: int, encoded: bytes) -> None:
    assert encode_unsigned_vint(value) == encoded
    assert unsigned_vint_size(value) == len(encoded)
    reader = DataReader(encoded)
    assert reader.read_unsigned_vint() == value
    assert reader.remaining() == 0


@pytest.mark.parametrize(("value", "encoded"), SIGNED_VECTORS)
def test_signed_vectors(value: int, encoded: bytes) -> None:
    assert encode_vint(value) == encoded
    assert DataReader(encoded).read_vint() == value


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_signed_round_trip(value: int) -> None:
    writer = DataWriter()
    writer.write_vint(value)
    writer.write_long(value)
    reader = DataReader(writer.getvalue())
    assert reader.read_vint() == value
    assert reader.read_long() == value


def test_truncated_vint_names_offset() -> None:
    reader = DataReader(b"\x00\xc0\x40")
    reader.read_byte()
    with pytest.raises(TruncatedInputError) as info:
        reader.read_unsigned_vint()
    assert info.value.offset == 1


def test_vint32_rejects_oversized_length() -> None:
    with pytest.raises(ValueError, match="out of range"):
        DataReader(encode_unsigned_vint(2**31)).read_unsigned_vint32()
