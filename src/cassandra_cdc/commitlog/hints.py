"""Hint files: ``<hostId>-<timestamp>-<version>.hints`` and their ``.crc32`` companions.

Follows hints/HintsDescriptor (serialize/deserialize, messagingVersion), hints/HintsReader
(HintsIterator.computeNextInternal/readHint), hints/HintsWriter (Session.append, writeChecksum)
and hints/Hint.Serializer. The file is::

    descriptor: int version | long timestamp | long host-id msb | long host-id lsb |
                int params_length | int crc | params (JSON) | int crc
    hints:      int size | int crc(size) | hint | int crc(size, hint)   (repeated; zeros may follow)
    hint:       long creation time (ms) | unsigned vint gc grace seconds | mutation

Descriptor CRCs feed longs as two ints, low word first. The same hint layout holds for hints
versions 1 (3.0), 2 (4.x) and 3 (5.0). The ``.crc32`` file holds the whole file's CRC32 as
lower-case hex without padding (Integer.toHexString). Compressed and encrypted hint files are
reported as unsupported.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cassandra_cdc.commitlog.descriptor import encode_parameters
from cassandra_cdc.commitlog.entries import EntryError
from cassandra_cdc.wire.vint import decode_unsigned_vint, encode_unsigned_vint

HINTS_VERSION_30 = 1
HINTS_VERSION_40 = 2
HINTS_VERSION_50 = 3
# HintsDescriptor.messagingVersion
HINTS_MESSAGING_VERSIONS: Mapping[int, int] = {
    HINTS_VERSION_30: 10,
    HINTS_VERSION_40: 12,
    HINTS_VERSION_50: 13,
}

_HEAD = struct.Struct(">iqqqi")
_UINT = struct.Struct(">I")
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_FILE_NAME = re.compile(
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})-(\d+)-(\d+)\.hints"
)
_ENTRY_OVERHEAD = 12
_MAX_PARAMS = 1 << 20


class HintsDescriptorError(ValueError):
    """A hints file header that cannot be used; names the file and the reason."""

    def __init__(self, path: Path | str | None, reason: str) -> None:
        super().__init__(f"{path if path is not None else '<hints>'}: bad hints descriptor: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HintsDescriptor:
    """A parsed hints-file header; ``header_size`` is where the first hint starts."""

    version: int
    timestamp: int
    host_id: uuid.UUID
    parameters: Mapping[str, Any] = field(default_factory=dict)
    header_size: int = 0

    @property
    def messaging_version(self) -> int:
        try:
            return HINTS_MESSAGING_VERSIONS[self.version]
        except KeyError:
            raise ValueError(f"unknown hints version {self.version}") from None

    def file_name(self) -> str:
        return f"{self.host_id}-{self.timestamp}-{self.version}.hints"

    def checksum_file_name(self) -> str:
        return f"{self.host_id}-{self.timestamp}-{self.version}.crc32"


@dataclass(frozen=True, slots=True)
class HintEntry:
    """One hint whose size and CRCs checked out: its mutation bytes plus the hint's own fields.

    Shaped like RawEntry for the mutation decoder (``data``, ``messaging_version``, ``path``,
    ``start``, ``end``); ``segment_id`` is the hints file's timestamp.
    """

    path: Path
    host_id: uuid.UUID
    hints_version: int
    messaging_version: int
    start: int
    end: int
    creation_time: int
    gc_grace_seconds: int
    data: bytes
    segment_id: int = 0


def _crc_int(crc: int, value: int) -> int:
    return zlib.crc32(_UINT.pack(value & 0xFFFFFFFF), crc)


def _crc_long(crc: int, value: int) -> int:
    return _crc_int(_crc_int(crc, value & 0xFFFFFFFF), (value >> 32) & 0xFFFFFFFF)


def _descriptor_crcs(version: int, timestamp: int, host_id: uuid.UUID, params: bytes) -> tuple[int, int]:
    msb, lsb = _uuid_longs(host_id)
    crc = _crc_int(0, version)
    crc = _crc_long(crc, timestamp)
    crc = _crc_long(crc, msb)
    crc = _crc_long(crc, lsb)
    crc = _crc_int(crc, len(params))
    return crc, zlib.crc32(params, crc)


def _uuid_longs(host_id: uuid.UUID) -> tuple[int, int]:
    value = host_id.int
    msb, lsb = value >> 64, value & 0xFFFFFFFFFFFFFFFF
    return (msb - (1 << 64) if msb >= 1 << 63 else msb), (lsb - (1 << 64) if lsb >= 1 << 63 else lsb)


def encode_hints_descriptor(
    version: int, timestamp: int, host_id: uuid.UUID, parameters: Mapping[str, Any] | None = None
) -> bytes:
    """HintsDescriptor.serialize."""
    # 3.0 wrote the parameters with json-simple, 4.0+ with Jackson (encode_parameters' versions 6/7).
    params = encode_parameters(parameters or {}, version=6 if version == HINTS_VERSION_30 else 7)
    crc1, crc2 = _descriptor_crcs(version, timestamp, host_id, params)
    msb, lsb = _uuid_longs(host_id)
    return _HEAD.pack(version, timestamp, msb, lsb, len(params)) + _UINT.pack(crc1) + params + _UINT.pack(crc2)


def parse_hints_descriptor(data: bytes | memoryview, path: Path | str | None = None) -> HintsDescriptor:
    """HintsDescriptor.deserialize; raises HintsDescriptorError naming ``path``."""
    if len(data) < _HEAD.size + 8:
        raise HintsDescriptorError(path, f"file is {len(data)} bytes, shorter than a header")
    version, timestamp, msb, lsb, params_len = _HEAD.unpack_from(data, 0)
    if version not in HINTS_MESSAGING_VERSIONS:
        raise HintsDescriptorError(path, f"unsupported hints version {version}")
    if params_len < 0 or params_len > _MAX_PARAMS or _HEAD.size + 8 + params_len > len(data):
        raise HintsDescriptorError(path, f"implausible parameters length {params_len}")
    host_id = uuid.UUID(int=((msb & 0xFFFFFFFFFFFFFFFF) << 64) | (lsb & 0xFFFFFFFFFFFFFFFF))
    params = bytes(data[_HEAD.size + 4 : _HEAD.size + 4 + params_len])
    crc1, crc2 = _descriptor_crcs(version, timestamp, host_id, params)
    (stored1,) = _UINT.unpack_from(data, _HEAD.size)
    (stored2,) = _UINT.unpack_from(data, _HEAD.size + 4 + params_len)
    if stored1 != crc1 or stored2 != crc2:
        raise HintsDescriptorError(path, "header CRC mismatch")
    try:
        decoded = json.loads(params.decode("utf-8")) if params else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise HintsDescriptorError(path, f"parameters are not JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise HintsDescriptorError(path, "parameters are not a JSON object")
    return HintsDescriptor(version, timestamp, host_id, decoded, _HEAD.size + 8 + params_len)


@dataclass(frozen=True, slots=True)
class HintsFileName:
    host_id: uuid.UUID
    timestamp: int
    version: int


def parse_hints_file_name(name: str) -> HintsFileName:
    """HintsDescriptor.isHintFileName's pattern."""
    match = _FILE_NAME.fullmatch(Path(name).name)
    if match is None:
        raise ValueError(f"{name!r} is not a hints file name (<hostId>-<timestamp>-<version>.hints)")
    return HintsFileName(uuid.UUID(match.group(1)), int(match.group(2)), int(match.group(3)))


def file_crc32(data: bytes) -> str:
    """What HintsWriter.writeChecksum puts in the ``.crc32`` file."""
    return format(zlib.crc32(data), "x")


def check_crc32_file(path: Path | str) -> bool | None:
    """Whether a hints file matches its ``.crc32`` companion (None when there is none)."""
    hints = Path(path)
    companion = hints.with_suffix(".crc32")
    if not companion.exists():
        return None
    stored = companion.read_text(encoding="ascii").strip().lower()
    return stored == file_crc32(hints.read_bytes())


def read_hints(path: Path | str, *, data: bytes | None = None) -> Iterator[HintEntry | EntryError]:
    """Every hint in the file, with errors in between; never raises for damaged input.

    Follows HintsReader: a zero size ends the file (the rest must be zeros); a bad size CRC
    ends it too (no way to find the next hint); a bad hint CRC skips just that hint.
    """
    p = Path(path)
    if data is None:
        try:
            data = p.read_bytes()
        except OSError as exc:
            yield EntryError(p, -1, 0, f"cannot read hints file: {exc}")
            return
    try:
        desc = parse_hints_descriptor(data, p)
    except HintsDescriptorError as exc:
        yield EntryError(p, -1, 0, str(exc))
        return
    if "compression" in desc.parameters or "encryption" in desc.parameters:
        yield EntryError(p, desc.timestamp, desc.header_size, "compressed or encrypted hints are not supported")
        return
    messaging = desc.messaging_version
    off = desc.header_size
    size_total = len(data)
    while off < size_total:
        if size_total - off < 4:
            yield EntryError(p, desc.timestamp, off, "hints file ends inside a hint's size")
            return
        (size,) = _INT.unpack_from(data, off)
        if size == 0:
            if data[off:].count(0) != size_total - off:
                yield EntryError(p, desc.timestamp, off, "non-zero bytes after the end-of-hints zeros")
            return
        if size_total - off < 8:
            yield EntryError(p, desc.timestamp, off, "hints file ends inside a hint's size CRC")
            return
        (stored_size_crc,) = _UINT.unpack_from(data, off + 4)
        if stored_size_crc != _crc_int(0, size):
            yield EntryError(p, desc.timestamp, off, f"hint size CRC mismatch (size field {size})", data[off : off + 8])
            return
        if size < 9 or off + _ENTRY_OVERHEAD + size > size_total:
            reason = f"hint of {size} bytes runs past the end of the file" if size >= 9 else f"invalid size {size}"
            yield EntryError(p, desc.timestamp, off, reason, bytes(data[off : off + _ENTRY_OVERHEAD + size]))
            return
        body = bytes(data[off + 8 : off + 8 + size])
        end = off + _ENTRY_OVERHEAD + size
        (stored_crc,) = _UINT.unpack_from(data, off + 8 + size)
        if stored_crc != zlib.crc32(body, stored_size_crc):
            yield EntryError(p, desc.timestamp, off, "hint CRC mismatch", body, end)
            off = end
            continue
        (creation_time,) = _LONG.unpack_from(body, 0)
        try:
            gcgs, mutation_at = decode_unsigned_vint(body, 8)
        except IndexError:
            yield EntryError(p, desc.timestamp, off, "hint ends inside its gc grace vint", body, end)
            off = end
            continue
        yield HintEntry(
            p,
            desc.host_id,
            desc.version,
            messaging,
            off,
            end,
            creation_time,
            gcgs,
            body[mutation_at:],
            desc.timestamp,
        )
        off = end


@dataclass(frozen=True, slots=True)
class Hint:
    """What a test writes: a mutation's bytes and the hint's creation time (ms) and gc grace."""

    mutation: bytes
    creation_time: int
    gc_grace_seconds: int = 10 * 24 * 3600


def encode_hint(hint: Hint) -> bytes:
    """Hint.Serializer.serialize framed as HintsWriter.Session.append does."""
    body = _LONG.pack(hint.creation_time) + encode_unsigned_vint(hint.gc_grace_seconds) + hint.mutation
    size_bytes = _INT.pack(len(body))
    size_crc = zlib.crc32(size_bytes)
    return size_bytes + _UINT.pack(size_crc) + body + _UINT.pack(zlib.crc32(body, size_crc))


def encode_hints_file(
    host_id: uuid.UUID, timestamp: int, hints: Sequence[Hint], *, version: int = HINTS_VERSION_40
) -> bytes:
    return encode_hints_descriptor(version, timestamp, host_id) + b"".join(encode_hint(h) for h in hints)


def write_hints_file(
    directory: Path | str,
    host_id: uuid.UUID,
    timestamp: int,
    hints: Sequence[Hint],
    *,
    version: int = HINTS_VERSION_40,
) -> Path:
    """Write ``<hostId>-<timestamp>-<version>.hints`` and its ``.crc32``; returns the hints path."""
    data = encode_hints_file(host_id, timestamp, hints, version=version)
    path = Path(directory) / f"{host_id}-{timestamp}-{version}.hints"
    path.write_bytes(data)
    path.with_suffix(".crc32").write_text(file_crc32(data), encoding="ascii")
    return path
