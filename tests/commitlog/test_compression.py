"""Cassandra compressor framings, with vectors worked out from the Java compress methods."""

from __future__ import annotations

import pytest

from cassandra_cdc.commitlog.compression import (
    CompressionError,
    DeflateCompressor,
    LZ4Compressor,
    SnappyCompressor,
    ZstdCompressor,
    get_compressor,
)

ALL = ["LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor"]


def test_lz4_frame_vector() -> None:
    # LZ4Compressor.compress: length 3 little-endian, then an LZ4 block with one literal run
    # (token 0x30: 3 literals, no match).
    assert LZ4Compressor().compress(b"abc") == bytes.fromhex("0300000030616263")
    assert LZ4Compressor().uncompress(bytes.fromhex("0300000030616263"), 3) == b"abc"


def test_snappy_vector() -> None:
    # Raw snappy: varint length 3, literal tag (3-1)<<2 = 0x08.
    assert SnappyCompressor().compress(b"abc") == bytes.fromhex("0308616263")
    assert SnappyCompressor().uncompress(bytes.fromhex("0308616263"), 3) == b"abc"


def test_deflate_empty_input_is_empty() -> None:
    # DeflateCompressor.compressArray returns 0 bytes when the Deflater needs no input.
    assert DeflateCompressor().compress(b"") == b""
    assert DeflateCompressor().uncompress(b"", 0) == b""
    assert DeflateCompressor().compress(b"abc")[:2] == bytes.fromhex("789c")  # zlib header, default level


def test_zstd_has_checksum() -> None:
    frame = ZstdCompressor().compress(b"abc")
    assert frame[:4] == bytes.fromhex("28b52ffd")
    assert frame[4] & 0x04  # frame header descriptor: content checksum flag


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 300])
def test_round_trip(name: str, payload: bytes) -> None:
    comp = get_compressor(name)
    assert comp.uncompress(comp.compress(payload), len(payload)) == payload


@pytest.mark.parametrize("name", ALL)
def test_corrupt_input_raises_compression_error(name: str) -> None:
    comp = get_compressor(name)
    data = bytearray(comp.compress(bytes(range(200)) * 50))
    for i in range(0, len(data), max(1, len(data) // 20)):
        data[i] ^= 0x5A
    with pytest.raises(CompressionError):
        out = comp.uncompress(bytes(data), 10000)
        # Some damage decompresses "successfully" to other bytes; the entry CRCs catch that.
        if out != bytes(range(200)) * 50:
            raise CompressionError("different output")


def test_claimed_length_is_bounded() -> None:
    with pytest.raises(CompressionError, match="more than"):
        LZ4Compressor().uncompress(bytes.fromhex("ffffff00") + b"\0", 100)
    with pytest.raises(CompressionError):
        SnappyCompressor().uncompress(bytes.fromhex("ffffffff0f"), 100)
    with pytest.raises(CompressionError):
        ZstdCompressor().uncompress(ZstdCompressor().compress(b"a" * 1000), 10)


def test_class_names() -> None:
    assert isinstance(get_compressor("org.apache.cassandra.io.compress.LZ4Compressor"), LZ4Compressor)
    assert isinstance(get_compressor("SnappyCompressor"), SnappyCompressor)
    high = get_compressor("LZ4Compressor", {"lz4_compressor_type": "high"})
    assert high.uncompress(high.compress(b"abcabcabc" * 20), 180) == b"abcabcabc" * 20
    with pytest.raises(CompressionError, match="unknown commit-log compressor 'NopeCompressor'"):
        get_compressor("NopeCompressor")
