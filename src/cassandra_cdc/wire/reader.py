"""A cursor over bytes with Java DataInput semantics (big-endian) plus Cassandra's vints."""

from __future__ import annotations

import struct

from cassandra_cdc.wire.vint import EXTRA_BYTES, FIRST_BYTE_MASK, zigzag_decode

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_LONG = struct.Struct(">q")
_SHORT = struct.Struct(">H")


class TruncatedInputError(ValueError):
    """The input ended inside a structure; ``offset`` is where the missing bytes were expected."""

    def __init__(self, offset: int, wanted: int, available: int) -> None:
        super().__init__(f"input truncated at offset {offset}: wanted {wanted} bytes, {available} left")
        self.offset = offset


class DataReader:
    """Reads from ``data`` starting at ``pos``; every read checks bounds and raises TruncatedInputError."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise TruncatedInputError(pos, n, self.end - pos)
        self.pos = pos + n
        return pos

    def read_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"negative length {n} at offset {self.pos}")
        pos = self._need(n)
        return bytes(self.data[pos : pos + n])

    def skip(self, n: int) -> None:
        self._need(n)

    def read_byte(self) -> int:
        """Unsigned byte."""
        pos = self._need(1)
        return self.data[pos]

    def read_boolean(self) -> bool:
        return self.read_byte() != 0

    def read_unsigned_short(self) -> int:
        pos = self._need(2)
        return int(_SHORT.unpack_from(self.data, pos)[0])

    def read_int(self) -> int:
        pos = self._need(4)
        return int(_INT.unpack_from(self.data, pos)[0])

    def read_unsigned_int(self) -> int:
        pos = self._need(4)
        return int(_UINT.unpack_from(self.data, pos)[0])

    def read_long(self) -> int:
        pos = self._need(8)
        return int(_LONG.unpack_from(self.data, pos)[0])

    def read_unsigned_vint(self) -> int:
        data = self.data
        pos = self.pos
        if pos >= self.end:
            raise TruncatedInputError(pos, 1, 0)
        first = data[pos]
        if first < 0x80:
            self.pos = pos + 1
            return first
        extra = EXTRA_BYTES[first]
        end = pos + 1 + extra
        if end > self.end:
            raise TruncatedInputError(pos, 1 + extra, self.end - pos)
        self.pos = end
        return ((first & FIRST_BYTE_MASK[first]) << (8 * extra)) | int.from_bytes(data[pos + 1 : end], "big")

    def read_vint(self) -> int:
        return zigzag_decode(self.read_unsigned_vint())

    def read_unsigned_vint32(self) -> int:
        """VIntCoding.readUnsignedVInt32: a vint that must fit a Java int."""
        start = self.pos
        value = self.read_unsigned_vint()
        if value > 0x7FFFFFFF:
            raise ValueError(f"vint {value} at offset {start} is out of range for a 32-bit length")
        return value

    def read_with_short_length(self) -> bytes:
        """ByteBufferUtil.readWithShortLength."""
        return self.read_bytes(self.read_unsigned_short())

    def read_with_vint_length(self) -> bytes:
        """ByteBufferUtil.readWithVIntLength."""
        return self.read_bytes(self.read_unsigned_vint32())

    def read_utf(self) -> str:
        """DataInput.readUTF (modified UTF-8; plain UTF-8 for the characters Cassandra writes)."""
        return self.read_with_short_length().decode("utf-8")
