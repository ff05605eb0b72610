"""The segment encoder: reproduces the real fixtures and round-trips every format."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.segment_reader import SegmentReader, read_segment
from cassandra_cdc.commitlog.segment_writer import (
    SegmentFullError,
    SegmentWriter,
    encode_entry,
    encode_segment,
    encode_sync_marker,
)

KEY = EncryptionConfig(bytes.fromhex("b7d96fb9b11d829179aeeb0b4e81f97a"), chunk_length=1024)
IV = bytes.fromhex("4927e54951a0c100d93d9de98da8ccd9")
P = Path("CommitLog-7-5.log")


def test_entry_frame_vector() -> None:
    # size 10, crc32(00 00 00 0a), data, crc32 over size bytes then data (computed with zlib by hand).
    assert encode_entry(b"0123456789") == bytes.fromhex("0000000ac1913602") + b"0123456789" + bytes.fromhex("761a8ef3")


def test_sync_marker_vector() -> None:
    # 4.0.11 fixture, bytes 20..28: marker at 20 pointing at 467.
    assert encode_sync_marker(1699285478684, 20, 467) == bytes.fromhex("000001d31e5c81d1")


def _read(data: bytes, enc: EncryptionConfig | None = None) -> list[RawEntry | EntryError]:
    return list(read_segment(P, data=data, encryption=enc))


SECTIONS = [[b"m" * 40, b"n" * 300], [], [bytes(range(256)) * 20], [b"z" * 11]]


@pytest.mark.parametrize(
    ("version", "compression", "encrypted"),
    [
        *itertools.product(
            (5, 6, 7, 8),
            (None, "LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor"),
            (False,),
        ),
        *((v, None, True) for v in (6, 7, 8)),
    ],
)
@pytest.mark.parametrize("closed", [False, True])
def test_round_trip(version: int, compression: str | None, encrypted: bool, closed: bool) -> None:
    data = encode_segment(
        SECTIONS,
        version=version,
        segment_id=5,
        compression=compression,
        encryption=KEY if encrypted else None,
        iv=IV,
        segment_size=64 * 1024,
        closed=closed,
    )
    items = _read(data, KEY)
    assert all(isinstance(i, RawEntry) for i in items)
    assert [i.data for i in items if isinstance(i, RawEntry)] == [e for s in SECTIONS for e in s]
    reader = SegmentReader(data, P, encryption=KEY)
    sections = reader.sections()
    assert len(sections) == len(SECTIONS) + (1 if closed else 0)
    for section, entries in zip(sections, SECTIONS, strict=False):
        assert reader.section_payload(section) == b"".join(encode_entry(e) for e in entries)
    if compression is None and not encrypted:
        assert len(data) == 64 * 1024
        if closed:
            assert sections[-1].file_end == 64 * 1024
    # Entry positions are the same whatever the compression: logical space only.
    ends = [i.end for i in items if isinstance(i, RawEntry)]
    plain = encode_segment(SECTIONS, version=version, segment_id=5, segment_size=64 * 1024)
    header_delta = reader.descriptor.header_size - SegmentReader(plain, P).descriptor.header_size  # type: ignore[union-attr]
    assert ends == [i.end + header_delta for i in _read(plain) if isinstance(i, RawEntry)]


def test_segment_writer_live_append(tmp_path: Path) -> None:
    writer = SegmentWriter.create(tmp_path, 42, version=7, segment_size=8192)
    path = tmp_path / "CommitLog-7-42.log"
    assert writer.path == path and path.stat().st_size == 8192
    assert list(read_segment(path)) == []
    end1 = writer.append_section([b"a" * 30, b"b" * 30])
    assert end1 == 20 + 8 + 2 * 42 and writer.entry_positions == [70, 112]
    assert [i.end for i in read_segment(path) if isinstance(i, RawEntry)] == [70, 112]
    end2 = writer.append_section([b"c" * 30])
    assert end2 == end1 + 8 + 42
    assert [i.end for i in read_segment(path, start=end1) if isinstance(i, RawEntry)] == [end2]
    assert [i.end for i in read_segment(path, end=end1) if isinstance(i, RawEntry)] == [70, 112]
    writer.close()
    reader = SegmentReader.open(path)
    assert reader.sections()[-1].file_end == 8192  # closing sync points at the segment end
    assert [i.end for i in read_segment(path) if isinstance(i, RawEntry)] == [70, 112, end2]


def test_segment_writer_live_compressed(tmp_path: Path) -> None:
    with SegmentWriter.create(tmp_path, 7, version=6, compression="LZ4Compressor") as writer:
        end = writer.append_section([b"q" * 100])
        assert [i.end for i in read_segment(writer.path)] == [end]  # type: ignore[arg-type]
    path = tmp_path / "CommitLog-6-7.log"
    assert SegmentReader.open(path).sections()[-1].data_end == SegmentReader.open(path).sections()[-1].data_start


def test_segment_full() -> None:
    import io

    writer = SegmentWriter(io.BytesIO(), segment_id=1, segment_size=100)
    with pytest.raises(SegmentFullError):
        writer.append_section([b"x" * 80])
    writer.append_section([b"x" * 20])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.binary(min_size=10, max_size=200), max_size=4), min_size=1, max_size=5),
    st.sampled_from([None, "LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor", "AES"]),
)
def test_round_trip_property(sections: list[list[bytes]], kind: str | None) -> None:
    enc = KEY if kind == "AES" else None
    data = encode_segment(
        sections,
        segment_id=99,
        compression=None if kind == "AES" else kind,
        encryption=enc,
        iv=IV,
        segment_size=16 * 1024,
    )
    items = list(read_segment(Path("CommitLog-7-99.log"), data=data, encryption=enc))
    assert [i.data for i in items if isinstance(i, RawEntry)] == [e for s in sections for e in s]
    assert not [i for i in items if isinstance(i, EntryError)]


# -- real fixtures -----------------------------------------------------------------------------------

FIXTURES = [
    ("2.2-lz4/CommitLog-5-1438186885380.log", False),
    ("2.2-lz4/CommitLog-5-1438186885381.log", True),
    ("2.2-snappy/CommitLog-5-1438186915514.log", False),
    ("2.2-snappy/CommitLog-5-1438186915515.log", True),
    ("3.0.13-encrypted/CommitLog-6-1699284515156.log", True),
    ("3.0.13-encrypted/CommitLog-6-1699284515157.log", True),
    ("3.0.29-encrypted/CommitLog-6-1699279786262.log", True),
    ("3.4-encrypted/CommitLog-6-1480001790338.log", False),
    ("3.4-encrypted/CommitLog-6-1480001790339.log", True),
    ("4.0.11-encrypted/CommitLog-7-1699285478684.log", True),
]


@pytest.mark.fixtures
@pytest.mark.parametrize(("name", "byte_equal"), FIXTURES)
def test_rewrite_fixture(commitlog_fixtures: Path, name: str, byte_equal: bool) -> None:
    """Re-encoding a fixture's entries with its own section boundaries gives its bytes back.

    Uncompressed segments always match byte for byte. Compressed ones match in every section's
    uncompressed payload; their compressed bytes match only where the compressor output is
    identical (the empty closing sections do; Java's LZ4/Snappy of real data does not).
    """
    path = commitlog_fixtures / name
    key = EncryptionConfig.from_keystore(commitlog_fixtures / "keys" / "cassandra.keystore", "cassandra", "testing:1")
    reader = SegmentReader.open(path, encryption=key)
    desc = reader.descriptor
    assert desc is not None
    sections = reader.sections()
    payloads = [reader.section_payload(s) for s in sections]
    groups: list[list[bytes]] = [[] for _ in sections]
    index = {s.data_start: n for n, s in enumerate(sections)}
    current = -1
    for item in read_segment(path, data=reader.data, encryption=key):
        assert isinstance(item, RawEntry)
        current = index.get(item.start, current)
        groups[current].append(item.data)
    out = encode_segment(
        groups,
        version=desc.version,
        segment_id=desc.segment_id,
        parameters=desc.parameters,
        encryption=key if desc.encryption else None,
        segment_size=len(reader.data),
    )
    again = SegmentReader(out, path, encryption=key)
    assert [again.section_payload(s) for s in again.sections()] == payloads
    assert (out == reader.data) is byte_equal
