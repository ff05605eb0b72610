"""Segment framing: hand-assembled bytes, the real fixtures, damage and resumption."""

from __future__ import annotations

import itertools
import random
import struct
import time
import zlib
from pathlib import Path

import pytest

from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.segment_reader import SegmentReader, SyncSection, read_segment
from cassandra_cdc.commitlog.segment_writer import encode_segment

P = Path("CommitLog-7-1.log")


def _crc_ints(*values: int, start: int = 0) -> int:
    crc = start
    for v in values:
        crc = zlib.crc32(struct.pack(">I", v & 0xFFFFFFFF), crc)
    return crc


def _hand_segment() -> bytes:
    """Version 7, id 1, two sync sections, assembled straight from the Java layout (not our writer)."""
    header = struct.pack(">iqH", 7, 1, 2) + b"{}"
    header += struct.pack(">I", zlib.crc32(b"{}", _crc_ints(7, 1, 0, 2)))
    assert len(header) == 20
    # Entry for b"0123456789": size, crc(size), data, crc(size+data) -- CRCs worked out with zlib.
    entry = bytes.fromhex("0000000ac1913602") + b"0123456789" + bytes.fromhex("761a8ef3")
    # Section 1 at 20: marker -> 20 + 8 + 22 = 50; section 2 at 50: marker -> 50 + 8 + 22 = 80.
    m1 = struct.pack(">iI", 50, _crc_ints(1, 0, 20))
    m2 = struct.pack(">iI", 80, _crc_ints(1, 0, 50))
    return header + m1 + entry + m2 + entry + bytes(8) + bytes(100)


def _items(data: bytes, **kw: int) -> list[RawEntry | EntryError]:
    return list(read_segment(P, data=data, **kw))  # type: ignore[arg-type]


def test_hand_assembled_segment() -> None:
    items = _items(_hand_segment())
    assert all(isinstance(i, RawEntry) for i in items)
    entries = [i for i in items if isinstance(i, RawEntry)]
    assert [(e.start, e.end, e.data) for e in entries] == [(28, 50, b"0123456789"), (58, 80, b"0123456789")]
    assert entries[0].segment_id == 1 and entries[0].commitlog_version == 7 and entries[0].messaging_version == 12
    assert str(entries[1].position) == "1:80"
    sections = SegmentReader(_hand_segment(), P).sections()
    assert sections == [SyncSection(20, 50, 20, 28, 50, False), SyncSection(50, 80, 50, 58, 80, False)]


def test_writer_matches_hand_assembly() -> None:
    out = encode_segment([[b"0123456789"], [b"0123456789"]], version=7, segment_id=1, segment_size=188)
    assert out == _hand_segment()


def test_start_and_end_bounds() -> None:
    data = _hand_segment()
    assert [e.end for e in _items(data, start=50) if isinstance(e, RawEntry)] == [80]
    assert [e.end for e in _items(data, start=49) if isinstance(e, RawEntry)] == [50, 80]
    assert [e.end for e in _items(data, start=80)] == []
    assert [e.end for e in _items(data, end=50) if isinstance(e, RawEntry)] == [50]
    assert [e.end for e in _items(data, end=79) if isinstance(e, RawEntry)] == [50]
    assert _items(data, end=20) == []


def test_data_crc_failure_skips_one_entry() -> None:
    data = bytearray(encode_segment([[b"a" * 20, b"b" * 20, b"c" * 20]], segment_id=1, segment_size=4096))
    first_data = 20 + 8 + 8
    data[first_data + 3] ^= 0x40
    items = _items(bytes(data))
    assert isinstance(items[0], EntryError)
    assert items[0].offset == 28 and "data CRC" in items[0].reason
    assert items[0].raw[3:4] == bytes([ord("a") ^ 0x40]) and items[0].resumed_at == 60
    assert [i.data for i in items[1:] if isinstance(i, RawEntry)] == [b"b" * 20, b"c" * 20]


def test_size_crc_failure_skips_to_next_section() -> None:
    data = bytearray(encode_segment([[b"a" * 20, b"b" * 20], [b"c" * 20]], segment_id=1, segment_size=4096))
    data[28 + 5] ^= 1  # the first entry's size CRC
    items = _items(bytes(data))
    assert isinstance(items[0], EntryError) and "size CRC" in items[0].reason
    assert items[0].offset == 28 and items[0].resumed_at == 92
    assert [i.data for i in items[1:] if isinstance(i, RawEntry)] == [b"c" * 20]


def test_damage_before_start_resumes_at_start() -> None:
    data = bytearray(encode_segment([[b"a" * 20, b"b" * 20, b"c" * 20]], segment_id=1, segment_size=4096))
    data[28 + 2] ^= 0x10  # first entry's size: untrustworthy
    items = _items(bytes(data), start=60)
    assert [i.data for i in items if isinstance(i, RawEntry)] == [b"b" * 20, b"c" * 20]
    assert not any(isinstance(i, EntryError) for i in items)


def test_bad_sync_marker_resyncs_on_next_marker() -> None:
    data = bytearray(encode_segment([[b"a" * 20], [b"b" * 20], [b"c" * 20]], segment_id=1, segment_size=4096))
    data[20 + 6] ^= 0xFF  # CRC of the first marker
    items = _items(bytes(data))
    assert isinstance(items[0], EntryError) and "sync marker at 20" in items[0].reason
    assert items[0].resumed_at == 60
    assert [i.data for i in items[1:] if isinstance(i, RawEntry)] == [b"b" * 20, b"c" * 20]


def test_truncated_entry_is_reported() -> None:
    data = encode_segment([[b"a" * 20, b"b" * 20]], segment_id=1, segment_size=4096)
    marker_end = 20 + 8 + 64
    items = _items(data[: marker_end - 5])
    assert [i.data for i in items if isinstance(i, RawEntry)] == [b"a" * 20]
    errors = [i for i in items if isinstance(i, EntryError)]
    assert len(errors) == 1 and errors[0].offset == 60 and "end of the file" in errors[0].reason
    # With a durable bound below the cut, the partial entry is simply not there yet.
    assert not any(isinstance(i, EntryError) for i in _items(data[: marker_end - 5], end=60))


def test_bad_descriptor_is_one_error() -> None:
    data = bytearray(_hand_segment())
    data[17] ^= 1
    items = _items(bytes(data))
    assert len(items) == 1 and isinstance(items[0], EntryError)
    assert items[0].offset == 0 and "CommitLog-7-1.log: bad commit-log descriptor" in items[0].reason
    assert _items(b"") and isinstance(_items(b"")[0], EntryError)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    items = list(read_segment(tmp_path / "CommitLog-7-9.log"))
    assert len(items) == 1 and isinstance(items[0], EntryError) and "cannot read" in items[0].reason


def test_encrypted_without_key_is_reported() -> None:
    enc = EncryptionConfig(bytes(range(16)))
    data = encode_segment([[b"x" * 30]], segment_id=1, encryption=enc, iv=bytes(16))
    items = _items(data)
    assert len(items) == 1 and isinstance(items[0], EntryError) and "no key given" in items[0].reason
    good = list(read_segment(P, data=data, encryption=enc))
    assert [i.data for i in good if isinstance(i, RawEntry)] == [b"x" * 30]


# -- real fixtures ---------------------------------------------------------------------------------

GOOD = {
    "2.2-lz4/CommitLog-5-1438186885380.log": (6134, 464),
    "2.2-lz4/CommitLog-5-1438186885381.log": (0, 1),
    "2.2-snappy/CommitLog-5-1438186915514.log": (6133, 468),
    "2.2-snappy/CommitLog-5-1438186915515.log": (0, 1),
    "3.0.13-encrypted/CommitLog-6-1699284515156.log": (1480, 2),
    "3.0.13-encrypted/CommitLog-6-1699284515157.log": (0, 1),
    "3.0.29-encrypted/CommitLog-6-1699279786262.log": (176, 15),
    "3.4-encrypted/CommitLog-6-1480001790338.log": (14562, 2),
    "3.4-encrypted/CommitLog-6-1480001790339.log": (0, 1),
    "4.0.11-encrypted/CommitLog-7-1699285478684.log": (358, 4),
}


@pytest.fixture(scope="module")
def keystore_key(commitlog_fixtures: Path) -> EncryptionConfig:
    return EncryptionConfig.from_keystore(commitlog_fixtures / "keys" / "cassandra.keystore", "cassandra", "testing:1")


@pytest.mark.fixtures
@pytest.mark.parametrize(("name", "expected"), sorted(GOOD.items()))
def test_good_fixtures(
    commitlog_fixtures: Path, keystore_key: EncryptionConfig, name: str, expected: tuple[int, int]
) -> None:
    path = commitlog_fixtures / name
    items = list(read_segment(path, encryption=keystore_key))
    assert not [i for i in items if isinstance(i, EntryError)]
    entries = [i for i in items if isinstance(i, RawEntry)]
    reader = SegmentReader.open(path, encryption=keystore_key)
    sections = reader.sections()
    assert (len(entries), len(sections)) == expected
    # Entries tile their sections exactly: each starts where the previous ended or after a marker.
    starts = {s.data_start for s in sections}
    for before, after in itertools.pairwise(entries):
        assert after.start == before.end or (after.start in starts and after.start == before.end + 8)
    for e in entries:
        assert len(e.data) == e.end - e.start - 12 and e.path == path
    if entries:
        assert entries[-1].end <= sections[-1].data_end


@pytest.mark.fixtures
def test_fixture_section_boundaries(commitlog_fixtures: Path) -> None:
    sections = SegmentReader.open(commitlog_fixtures / "3.0.29-encrypted" / "CommitLog-6-1699279786262.log").sections()
    assert [(s.file_start, s.file_end) for s in sections[:3]] == [(20, 13985), (13985, 14081), (14081, 19410)]
    assert sections[-1].file_end == 66716
    lz4 = SegmentReader.open(commitlog_fixtures / "2.2-lz4" / "CommitLog-5-1438186885380.log").sections()
    # Compressed: logical offsets advance by marker + uncompressed length, file offsets by what was written.
    assert (lz4[0].file_start, lz4[0].file_end, lz4[0].start, lz4[0].data_end) == (
        83,
        16960,
        83,
        83 + 8 + 103737,
    )
    assert lz4[1].start == lz4[0].data_end and lz4[1].file_start == 16960
    assert lz4[-1].data_end == lz4[-1].data_start  # the closing sync: an empty section


@pytest.mark.fixtures
def test_encrypted_fixture_positions(commitlog_fixtures: Path, keystore_key: EncryptionConfig) -> None:
    path = commitlog_fixtures / "3.4-encrypted" / "CommitLog-6-1480001790338.log"
    entries = [i for i in read_segment(path, encryption=keystore_key) if isinstance(i, RawEntry)]
    assert entries[0].start == 125 + 8
    assert entries[-1].end == 125 + 8 + 2949446
    resumed = [i for i in read_segment(path, encryption=keystore_key, start=entries[99].end)]
    assert resumed[0] == entries[100] and len(resumed) == len(entries) - 100


@pytest.mark.fixtures
def test_resume_and_bound_on_fixture(commitlog_fixtures: Path) -> None:
    path = commitlog_fixtures / "3.0.29-encrypted" / "CommitLog-6-1699279786262.log"
    entries = [i for i in read_segment(path) if isinstance(i, RawEntry)]
    mid = entries[50]
    assert list(read_segment(path, start=mid.end)) == entries[51:]
    bounded = list(read_segment(path, end=mid.end))
    assert bounded == entries[:51]
    assert list(read_segment(path, start=entries[10].end, end=mid.end)) == entries[11:51]


@pytest.mark.fixtures
def test_lz4_bitrot_is_reported(commitlog_fixtures: Path) -> None:
    items = list(read_segment(commitlog_fixtures / "2.2-lz4-bitrot" / "CommitLog-5-1438186885380.log"))
    errors = [i for i in items if isinstance(i, EntryError)]
    assert len(errors) == 1
    assert (errors[0].offset, errors[0].resumed_at) == (251295, 251616)
    assert "data CRC" in errors[0].reason and len(errors[0].raw) == 251616 - 251295 - 12
    assert sum(isinstance(i, RawEntry) for i in items) == 6133  # 2.2-lz4 has 6134


@pytest.mark.fixtures
def test_lz4_bitrot2_is_reported(commitlog_fixtures: Path) -> None:
    items = list(read_segment(commitlog_fixtures / "2.2-lz4-bitrot2" / "CommitLog-5-1438186885380.log"))
    errors = [i for i in items if isinstance(i, EntryError)]
    assert len(errors) == 1 and errors[0].offset == 212686 and "file offset 54776" in errors[0].reason
    assert errors[0].resumed_at == 216317 and errors[0].raw
    entries = [i for i in items if isinstance(i, RawEntry)]
    assert len(entries) == 6119 and entries[-1].end == 1523961


@pytest.mark.fixtures
def test_lz4_truncated_is_reported(commitlog_fixtures: Path) -> None:
    items = list(read_segment(commitlog_fixtures / "2.2-lz4-truncated" / "CommitLog-5-1438186885380.log"))
    errors = [i for i in items if isinstance(i, EntryError)]
    assert len(errors) == 1 and errors[0].offset == 1520677 and errors[0].resumed_at is None
    assert sum(isinstance(i, RawEntry) for i in items) == 6119


# -- robustness --------------------------------------------------------------------------------------


def _check_entry_frames(data: bytes, items: list[RawEntry | EntryError]) -> None:
    for item in items:
        if isinstance(item, RawEntry):
            frame = data[item.start : item.end]
            size, size_crc = struct.unpack_from(">iI", frame)
            assert size == len(item.data) and size_crc == zlib.crc32(frame[:4])
            assert frame[8:-4] == item.data
            assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(item.data, size_crc)


@pytest.mark.fixtures
@pytest.mark.parametrize(
    "name",
    ["3.0.29-encrypted/CommitLog-6-1699279786262.log", "4.0.11-encrypted/CommitLog-7-1699285478684.log"],
)
def test_random_damage_never_raises(commitlog_fixtures: Path, name: str) -> None:
    original = (commitlog_fixtures / name).read_bytes()
    sections = SegmentReader(original, Path(name)).sections()
    used = sections[-1].file_end + 8
    rng = random.Random(20240607)
    began = time.monotonic()
    for case in range(40):
        data = bytearray(original)
        if case % 4 == 3:
            data = data[: rng.randrange(0, used)]
        else:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(0, used)] ^= 1 << rng.randrange(8)
        items = list(read_segment(Path(name), data=bytes(data)))
        _check_entry_frames(bytes(data), items)
        for item in items:
            if isinstance(item, EntryError):
                assert item.offset >= 0 and item.reason
    assert time.monotonic() - began < 30


@pytest.mark.parametrize("kind", ["LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor", "AES"])
def test_random_damage_compressed_never_raises(kind: str) -> None:
    key = EncryptionConfig(bytes(range(16)), chunk_length=512)
    sections = [[bytes([n]) * (20 + 7 * n) for n in range(s, s + 4)] for s in range(0, 40, 4)]
    original = encode_segment(
        sections,
        segment_id=1,
        compression=None if kind == "AES" else kind,
        encryption=key if kind == "AES" else None,
        iv=bytes(16),
    )
    expected = [e for s in sections for e in s]
    rng = random.Random(kind)
    for case in range(25):
        data = bytearray(original)
        if case % 5 == 4:
            data = data[: rng.randrange(0, len(data))]
        else:
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(0, len(data))] ^= 1 << rng.randrange(8)
        items = list(read_segment(P, data=bytes(data), encryption=key))
        # Whatever survives is a subsequence of what was written, and every loss is reported.
        got = [i.data for i in items if isinstance(i, RawEntry)]
        it = iter(expected)
        assert all(any(g == e for e in it) for g in got)
        if len(got) < len(expected) and bytes(data[:20]) == original[:20]:
            assert any(isinstance(i, EntryError) for i in items)
