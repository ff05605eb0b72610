"""Hint files: descriptor vectors from the real files, framing, damage."""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

import pytest

from cassandra_cdc.commitlog.entries import EntryError
from cassandra_cdc.commitlog.hints import (
    Hint,
    HintEntry,
    HintsDescriptor,
    HintsDescriptorError,
    check_crc32_file,
    encode_hint,
    encode_hints_descriptor,
    encode_hints_file,
    parse_hints_descriptor,
    parse_hints_file_name,
    read_hints,
    write_hints_file,
)

HOST = uuid.UUID("8d0a4af4-4c94-4cb5-915f-08c0f1c7ab85")
# First 42 bytes of hints/4.1.3/8d0a4af4-...-1700233917885-2.hints (xxd): version 2, timestamp,
# host id, params length 2, CRC, "{}", CRC.
HEADER_V2 = bytes.fromhex("000000020000018bddd6b5bd8d0a4af44c944cb5915f08c0f1c7ab85000000028a4350b77b7d63495c8b")
P = Path("8d0a4af4-4c94-4cb5-915f-08c0f1c7ab85-1700233917885-2.hints")


def test_descriptor_matches_real_header() -> None:
    assert encode_hints_descriptor(2, 1700233917885, HOST, {}) == HEADER_V2
    desc = parse_hints_descriptor(HEADER_V2)
    assert desc == HintsDescriptor(2, 1700233917885, HOST, {}, 42)
    assert desc.messaging_version == 12 and desc.file_name() == P.name
    assert desc.checksum_file_name() == P.name.replace(".hints", ".crc32")


def test_descriptor_crc_failure() -> None:
    bad = bytearray(HEADER_V2)
    bad[10] ^= 1
    with pytest.raises(HintsDescriptorError, match=r"x\.hints: bad hints descriptor: header CRC mismatch"):
        parse_hints_descriptor(bytes(bad), "x.hints")


def test_hint_frame_vector() -> None:
    # creation time 1 ms, gc grace 5 (one-byte vint), mutation b"MUT": body = 8 + 1 + 3 = 12 bytes.
    body = bytes.fromhex("000000000000000105") + b"MUT"
    size_crc = zlib.crc32(bytes.fromhex("0000000c"))
    expected = bytes.fromhex("0000000c") + struct.pack(">I", size_crc) + body
    expected += struct.pack(">I", zlib.crc32(body, size_crc))
    assert encode_hint(Hint(b"MUT", 1, 5)) == expected


def test_round_trip_and_crc32_file(tmp_path: Path) -> None:
    hints = [Hint(b"m" * 30, 1000 + i, 3600 * i) for i in range(5)]
    path = write_hints_file(tmp_path, HOST, 42, hints, version=1)
    assert path.name == f"{HOST}-42-1.hints"
    assert check_crc32_file(path) is True
    items = list(read_hints(path))
    assert [(i.creation_time, i.gc_grace_seconds, i.data) for i in items if isinstance(i, HintEntry)] == [
        (h.creation_time, h.gc_grace_seconds, h.mutation) for h in hints
    ]
    first = items[0]
    assert isinstance(first, HintEntry) and first.messaging_version == 10 and first.segment_id == 42
    path.write_bytes(path.read_bytes() + b"x")
    assert check_crc32_file(path) is False


def test_damaged_hint_is_skipped() -> None:
    data = bytearray(encode_hints_file(HOST, 7, [Hint(b"a" * 20, 1), Hint(b"b" * 20, 2)]))
    data[42 + 8 + 10] ^= 1
    items = list(read_hints(P, data=bytes(data)))
    assert isinstance(items[0], EntryError) and items[0].offset == 42 and "hint CRC" in items[0].reason
    assert [i.data for i in items[1:] if isinstance(i, HintEntry)] == [b"b" * 20]


def test_bad_size_crc_and_truncation_end_the_file() -> None:
    data = encode_hints_file(HOST, 7, [Hint(b"a" * 20, 1), Hint(b"b" * 20, 2)])
    broken = bytearray(data)
    broken[42 + 5] ^= 1
    items = list(read_hints(P, data=bytes(broken)))
    assert len(items) == 1 and isinstance(items[0], EntryError) and "size CRC" in items[0].reason
    items = list(read_hints(P, data=data[:-3]))
    assert isinstance(items[0], HintEntry) and isinstance(items[1], EntryError)
    assert "past the end" in items[1].reason
    # Zero padding after the last hint is the normal end; garbage after zeros is not.
    assert all(isinstance(i, HintEntry) for i in read_hints(P, data=data + bytes(64)))
    tail = list(read_hints(P, data=data + bytes(8) + b"\x01"))
    assert isinstance(tail[-1], EntryError) and "non-zero" in tail[-1].reason


def test_file_names() -> None:
    name = parse_hints_file_name("/x/23b9a46b-e21a-4a8d-b171-3f1886fa537d-1700232964563-1.hints")
    assert (str(name.host_id), name.timestamp, name.version) == (
        "23b9a46b-e21a-4a8d-b171-3f1886fa537d",
        1700232964563,
        1,
    )
    with pytest.raises(ValueError, match="not a hints file name"):
        parse_hints_file_name("foo-1-1.hints")


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("name", "count", "version", "messaging"),
    [
        ("3.0.29/23b9a46b-e21a-4a8d-b171-3f1886fa537d-1700232964563-1.hints", 2996, 1, 10),
        ("4.1.3/8d0a4af4-4c94-4cb5-915f-08c0f1c7ab85-1700233917885-2.hints", 3049, 2, 12),
    ],
)
def test_real_hints(commitlog_fixtures: Path, name: str, count: int, version: int, messaging: int) -> None:
    path = commitlog_fixtures / "hints" / name
    assert check_crc32_file(path) is True
    items = list(read_hints(path))
    assert all(isinstance(i, HintEntry) for i in items)
    hints = [i for i in items if isinstance(i, HintEntry)]
    assert len(hints) == count  # hash.txt: one cell per hint
    assert {h.hints_version for h in hints} == {version} and {h.messaging_version for h in hints} == {messaging}
    assert hints[-1].end == path.stat().st_size
    ts = parse_hints_file_name(path.name).timestamp
    assert all(ts <= h.creation_time < ts + 3_600_000 for h in hints)
    # Re-encoding every hint gives back the file byte for byte.
    desc = parse_hints_descriptor(path.read_bytes())
    rebuilt = encode_hints_file(
        desc.host_id,
        desc.timestamp,
        [Hint(h.data, h.creation_time, h.gc_grace_seconds) for h in hints],
        version=desc.version,
    )
    assert rebuilt == path.read_bytes()
