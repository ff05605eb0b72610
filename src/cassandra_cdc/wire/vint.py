"""Cassandra's variable-length integers (utils/vint/VIntCoding).

The count of leading one bits in the first byte is the number of extra bytes that follow, big-endian;
the first byte's remaining bits are the value's most significant bits. Nine bytes hold any 64-bit value.
Signed values are zigzag-encoded first.
"""

from __future__ import annotations

# Number of extra bytes, indexed by the first byte (VIntCoding.numberOfExtraBytesToRead).
EXTRA_BYTES: tuple[int, ...] = tuple(0 if b < 0x80 else min(8, 8 - (b ^ 0xFF).bit_length()) for b in range(256))
# Mask of the value bits kept in the first byte (VIntCoding.firstByteValueMask).
FIRST_BYTE_MASK: tuple[int, ...] = tuple(0xFF >> (EXTRA_BYTES[b] + 1) if EXTRA_BYTES[b] < 8 else 0 for b in range(256))


def zigzag_encode(value: int) -> int:
    """Signed 64-bit to unsigned (VIntCoding.encodeZigZag64)."""
    return ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF


def zigzag_decode(value: int) -> int:
    """Unsigned to signed 64-bit (VIntCoding.decodeZigZag64)."""
    return (value >> 1) ^ -(value & 1)


def unsigned_vint_size(value: int) -> int:
    """Encoded size of an unsigned vint (VIntCoding.computeUnsignedVIntSize)."""
    magnitude = value.bit_length() or 1
    return min(9, (magnitude - 1) // 7 + 1)


def encode_unsigned_vint(value: int) -> bytes:
    """VIntCoding.writeUnsignedVInt: ``value`` is taken as an unsigned 64-bit integer."""
    value &= 0xFFFFFFFFFFFFFFFF
    if value < 0x80:
        return bytes((value,))
    size = unsigned_vint_size(value)
    extra = size - 1
    encoded = bytearray(value.to_bytes(size, "big"))
    # Leading one bits announce the extra bytes; with 8 extra bytes the first byte is all ones.
    encoded[0] |= (0xFF << (8 - extra)) & 0xFF
    return bytes(encoded)


def encode_vint(value: int) -> bytes:
    """VIntCoding.writeVInt: signed, zigzag then unsigned vint."""
    return encode_unsigned_vint(zigzag_encode(value))


def decode_unsigned_vint(data: bytes | bytearray | memoryview, offset: int) -> tuple[int, int]:
    """Return (value, next offset). Raises IndexError when ``data`` ends inside the vint."""
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    extra = EXTRA_BYTES[first]
    end = offset + 1 + extra
    if end > len(data):
        raise IndexError("vint runs past the end of the input")
    value = first & FIRST_BYTE_MASK[first]
    value = (value << (8 * extra)) | int.from_bytes(data[offset + 1 : end], "big")
    return value, end
