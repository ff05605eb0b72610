"""Cassandra's ICompressor framings as commit logs use them, keyed by the descriptor's class name.

Each class follows the Java compressor of the same name (io/compress/*Compressor, methods
compress(ByteBuffer, ByteBuffer) and uncompress(byte[], ...)). ``uncompress`` is given the length
the section header claims, which it uses only as an upper bound; it raises CompressionError on any
malformed input, never another exception type.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Protocol

import lz4.block
import snappy
import zstandard

_LE_INT = struct.Struct("<i")

# A claimed uncompressed size above this is treated as corrupt rather than allocated.
MAX_UNCOMPRESSED = 1 << 30


class CompressionError(ValueError):
    """Compressed bytes that do not decompress (or a compressor we do not know)."""


class Compressor(Protocol):
    """The part of ICompressor that commit logs use."""

    name: str

    def compress(self, data: bytes) -> bytes: ...

    def uncompress(self, data: bytes, max_length: int) -> bytes: ...


def _check_bound(max_length: int) -> None:
    if max_length < 0 or max_length > MAX_UNCOMPRESSED:
        raise CompressionError(f"implausible uncompressed length {max_length}")


class LZ4Compressor:
    """LZ4Compressor: a 4-byte little-endian uncompressed length, then one raw LZ4 block."""

    name = "LZ4Compressor"

    def __init__(self, parameters: Mapping[str, str] | None = None) -> None:
        params = parameters or {}
        self._high = params.get("lz4_compressor_type") == "high"
        self._level = int(params.get("lz4_high_compressor_level", "9"))

    def compress(self, data: bytes) -> bytes:
        block: bytes
        if self._high:
            block = lz4.block.compress(data, mode="high_compression", compression=self._level, store_size=False)
        else:
            block = lz4.block.compress(data, store_size=False)
        return _LE_INT.pack(len(data)) + block

    def uncompress(self, data: bytes, max_length: int) -> bytes:
        if len(data) < 4:
            raise CompressionError(f"LZ4 chunk of {len(data)} bytes has no length prefix")
        (length,) = _LE_INT.unpack_from(data, 0)
        _check_bound(length)
        if length > max_length:
            raise CompressionError(f"LZ4 chunk claims {length} bytes, more than the {max_length} expected")
        if length == 0:
            # lz4 writes a single 0x00 token for empty input; accept any trailing block here.
            return b""
        try:
            out: bytes = lz4.block.decompress(bytes(data[4:]), uncompressed_size=length)
        except Exception as exc:  # lz4 raises LZ4BlockError (and ValueError on bad sizes)
            raise CompressionError(f"LZ4 block does not decompress: {exc}") from None
        if len(out) != length:
            raise CompressionError(f"LZ4 block decompressed to {len(out)} bytes, prefix says {length}")
        return out


def _snappy_declared_length(data: bytes) -> int:
    """The varint uncompressed length a raw Snappy block starts with (checked before allocating)."""
    value = 0
    for i in range(min(len(data), 5)):
        byte = data[i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    raise CompressionError("Snappy block has no valid length preamble")


class SnappyCompressor:
    """SnappyCompressor: raw (unframed) Snappy."""

    name = "SnappyCompressor"

    def __init__(self, parameters: Mapping[str, str] | None = None) -> None:
        del parameters

    def compress(self, data: bytes) -> bytes:
        out: bytes = snappy.compress(data)
        return out

    def uncompress(self, data: bytes, max_length: int) -> bytes:
        declared = _snappy_declared_length(data)
        if declared > max_length or declared > MAX_UNCOMPRESSED:
            raise CompressionError(f"Snappy block claims {declared} bytes, more than the {max_length} expected")
        try:
            out: bytes = snappy.uncompress(bytes(data))
        except Exception as exc:  # python-snappy raises UncompressError and friends
            raise CompressionError(f"Snappy block does not decompress: {exc}") from None
        return out


class DeflateCompressor:
    """DeflateCompressor: a zlib stream (java.util.zip.Deflater defaults).

    compressArray returns nothing at all for empty input, and uncompress of nothing is nothing.
    """

    name = "DeflateCompressor"

    def __init__(self, parameters: Mapping[str, str] | None = None) -> None:
        del parameters

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        return zlib.compress(data)

    def uncompress(self, data: bytes, max_length: int) -> bytes:
        if not data:
            return b""
        _check_bound(max_length)
        try:
            inflater = zlib.decompressobj()
            out = inflater.decompress(bytes(data), max_length + 1)
        except zlib.error as exc:
            raise CompressionError(f"Deflate stream does not inflate: {exc}") from None
        if len(out) > max_length:
            raise CompressionError(f"Deflate stream inflates past the {max_length} bytes expected")
        if not inflater.eof or inflater.unused_data:
            # A section is exactly one stream: anything else means its boundaries are wrong.
            raise CompressionError("Deflate stream does not end exactly at the end of its section")
        return out


class ZstdCompressor:
    """ZstdCompressor: one zstd frame with a content checksum, level 3 unless configured."""

    name = "ZstdCompressor"

    def __init__(self, parameters: Mapping[str, str] | None = None) -> None:
        params = parameters or {}
        self._level = int(params.get("compression_level", "3"))

    def compress(self, data: bytes) -> bytes:
        out: bytes = zstandard.ZstdCompressor(level=self._level, write_checksum=True).compress(data)
        return out

    def uncompress(self, data: bytes, max_length: int) -> bytes:
        _check_bound(max_length)
        raw = bytes(data)
        try:
            declared = zstandard.frame_content_size(raw)
            if declared > max_length:
                raise CompressionError(f"Zstd frame claims {declared} bytes, more than the {max_length} expected")
            reader = zstandard.ZstdDecompressor().decompressobj()
            out: bytes = reader.decompress(raw)
        except zstandard.ZstdError as exc:
            raise CompressionError(f"Zstd frame does not decompress: {exc}") from None
        if len(out) > max_length:
            raise CompressionError(f"Zstd frame decompresses past the {max_length} bytes expected")
        if not reader.eof or reader.unused_data:
            # A section is exactly one frame: anything else means its boundaries are wrong.
            raise CompressionError("Zstd frame does not end exactly at the end of its section")
        return out


_FACTORIES: Mapping[str, Callable[[Mapping[str, str] | None], Compressor]] = {
    "LZ4Compressor": LZ4Compressor,
    "SnappyCompressor": SnappyCompressor,
    "DeflateCompressor": DeflateCompressor,
    "ZstdCompressor": ZstdCompressor,
}

KNOWN_COMPRESSORS = tuple(_FACTORIES)


def get_compressor(class_name: str, parameters: Mapping[str, str] | None = None) -> Compressor:
    """The compressor for a descriptor's class name, short (``LZ4Compressor``) or qualified
    (``org.apache.cassandra.io.compress.LZ4Compressor``); follows CompressionParams.createCompressor."""
    short = class_name.rsplit(".", 1)[-1]
    factory = _FACTORIES.get(short)
    if factory is None:
        raise CompressionError(f"unknown commit-log compressor {class_name!r} (known: {', '.join(_FACTORIES)})")
    return factory(parameters)
