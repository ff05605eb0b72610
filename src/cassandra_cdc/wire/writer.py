"""Java DataOutput (big-endian) plus Cassandra's vints, into a growing buffer."""

from __future__ import annotations

import struct

from cassandra_cdc.wire.vint import encode_unsigned_vint, zigzag_encode

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_LONG = struct.Struct(">q")
_SHORT = struct.Struct(">H")


class DataWriter:
    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def __len__(self) -> int:
        return len(self.buf)

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        self.buf += data

    def write_byte(self, value: int) -> None:
        self.buf.append(value & 0xFF)

    def write_boolean(self, value: bool) -> None:
        self.buf.append(1 if value else 0)

    def write_unsigned_short(self, value: int) -> None:
        self.buf += _SHORT.pack(value)

    def write_int(self, value: int) -> None:
        self.buf += _INT.pack(value)

    def write_unsigned_int(self, value: int) -> None:
        self.buf += _UINT.pack(value)

    def write_long(self, value: int) -> None:
        self.buf += _LONG.pack(value)

    def write_unsigned_vint(self, value: int) -> None:
        if 0 <= value < 0x80:
            self.buf.append(value)
        else:
            self.buf += encode_unsigned_vint(value)

    def write_vint(self, value: int) -> None:
        self.write_unsigned_vint(zigzag_encode(value))

    def write_with_short_length(self, data: bytes) -> None:
        if len(data) > 0xFFFF:
            raise ValueError(f"{len(data)} bytes do not fit a short length")
        self.write_unsigned_short(len(data))
        self.buf += data

    def write_with_vint_length(self, data: bytes) -> None:
        self.write_unsigned_vint(len(data))
        self.buf += data

    def write_utf(self, text: str) -> None:
        self.write_with_short_length(text.encode("utf-8"))
