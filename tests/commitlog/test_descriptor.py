"""Segment header and file names, checked against bytes Cassandra wrote (hand-copied hex)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cassandra_cdc.commitlog.descriptor import (
    CommitLogDescriptor,
    DescriptorError,
    EncryptionParams,
    build_parameters,
    encode_descriptor,
    encode_parameters,
    parse_descriptor,
    parse_segment_file_name,
    read_descriptor,
)

# First 24 bytes of 4.0.11-encrypted/CommitLog-7-1699285478684.log (xxd), a 4.0 header with "{}".
HEADER_V7 = bytes.fromhex("000000070000018ba54ead1c00027b7d943080a5")
# 3.0.13 header: version 6, id 1699284515156, "{}", CRC 195f6795.
HEADER_V6 = bytes.fromhex("000000060000018ba53ff95400027b7d195f6795")


def test_encode_matches_real_v7_header() -> None:
    assert encode_descriptor(7, 1699285478684, {}) == HEADER_V7


def test_encode_matches_real_v6_header() -> None:
    assert encode_descriptor(6, 1699284515156, {}) == HEADER_V6


def test_parse_real_header() -> None:
    desc = parse_descriptor(HEADER_V7 + b"\0" * 8)
    assert desc == CommitLogDescriptor(7, 1699285478684, {}, 20)
    assert desc.messaging_version == 12
    assert desc.compression_class is None
    assert desc.encryption is None
    assert desc.file_name() == "CommitLog-7-1699285478684.log"
    assert desc.cdc_index_file_name() == "CommitLog-7-1699285478684_cdc.idx"


@pytest.mark.parametrize(("version", "messaging"), [(5, 9), (6, 10), (7, 12), (8, 13)])
def test_messaging_versions(version: int, messaging: int) -> None:
    assert parse_descriptor(encode_descriptor(version, 1, {})).messaging_version == messaging


def test_bad_crc_names_file() -> None:
    bad = bytearray(HEADER_V7)
    bad[-1] ^= 1
    with pytest.raises(DescriptorError, match=r"seg\.log: bad commit-log descriptor: header CRC mismatch"):
        parse_descriptor(bytes(bad), "seg.log")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than a header"),
        (bytes.fromhex("00000004") + bytes(20), "unsupported commit-log version 4"),
        (bytes.fromhex("000000070000000000000001ffff") + b"{}" + bytes(4), "runs past the end"),
    ],
)
def test_malformed_headers(data: bytes, reason: str) -> None:
    with pytest.raises(DescriptorError, match=reason):
        parse_descriptor(data, Path("x/CommitLog-7-1.log"))


def test_json_like_json_simple_and_jackson() -> None:
    enc = EncryptionParams("AES/CBC/PKCS5Padding", "testing:1", bytes.fromhex("4927e54951a0c100d93d9de98da8ccd9"))
    params = build_parameters(encryption=enc)
    # Exactly the 3.4-encrypted header's JSON (json-simple escapes '/').
    assert encode_parameters(params, version=6) == (
        b'{"encCipher":"AES\\/CBC\\/PKCS5Padding","encIV":"4927e54951a0c100d93d9de98da8ccd9","encKeyAlias":"testing:1"}'
    )
    assert b"AES/CBC/PKCS5Padding" in encode_parameters(params, version=7)
    lz4 = build_parameters(compression="LZ4Compressor")
    assert encode_parameters(lz4, version=7) == b'{"compressionClass":"LZ4Compressor","compressionParameters":{}}'


def test_round_trip_with_compression_and_encryption() -> None:
    enc = EncryptionParams("AES/CBC/PKCS5Padding", "k", b"\x01" * 16)
    params = build_parameters(compression="org.apache.cassandra.io.compress.ZstdCompressor", encryption=enc)
    desc = parse_descriptor(encode_descriptor(8, 2**40 + 5, params))
    assert desc.segment_id == 2**40 + 5
    assert desc.compression_class == "org.apache.cassandra.io.compress.ZstdCompressor"
    assert desc.encryption == enc


def test_file_names() -> None:
    name = parse_segment_file_name("CommitLog-7-1699285478684.log")
    assert (name.version, name.segment_id, name.is_cdc_index) == (7, 1699285478684, False)
    idx = parse_segment_file_name("/some/dir/CommitLog-6-12_cdc.idx")
    assert (idx.version, idx.segment_id, idx.is_cdc_index) == (6, 12, True)
    assert idx.log_name == "CommitLog-6-12.log"
    for bad in ("CommitLog-12345.log", "CommitLog-7-1.log.tmp", "Foo-7-1.log"):
        with pytest.raises(ValueError, match="not a commit-log segment name"):
            parse_segment_file_name(bad)


@pytest.mark.fixtures
def test_real_fixture_descriptors(commitlog_fixtures: Path) -> None:
    lz4 = read_descriptor(commitlog_fixtures / "2.2-lz4" / "CommitLog-5-1438186885380.log")
    assert (lz4.version, lz4.compression_class, lz4.header_size) == (5, "LZ4Compressor", 83)
    assert lz4.compression_parameters == {}  # written as null by 2.2
    enc = read_descriptor(commitlog_fixtures / "3.4-encrypted" / "CommitLog-6-1480001790338.log")
    assert enc.encryption == EncryptionParams(
        "AES/CBC/PKCS5Padding", "testing:1", bytes.fromhex("4927e54951a0c100d93d9de98da8ccd9")
    )
    assert enc.compression_class is None
    for name in ("3.0.13-encrypted", "3.0.29-encrypted", "4.0.11-encrypted"):
        for path in (commitlog_fixtures / name).glob("CommitLog-*.log"):
            desc = read_descriptor(path)
            assert desc.parameters == {} and desc.encryption is None
            assert desc.file_name() == path.name
