"""Read the framed entries of one commit-log segment: sync sections, then size/CRC/data/CRC entries.

Follows db/commitlog/CommitLogSegmentReader (SegmentIterator, readSyncMarker, NoOpSegmenter,
CompressedSegmenter, EncryptedSegmenter) and CommitLogReader.readSection (3.0's
CommitLogReplayer.recover/replaySyncSection for version 5). Layout:

* the descriptor (see descriptor.py);
* sync sections, each starting with a marker ``int next_marker | int crc`` where the CRC covers
  the segment id (low int, high int) and the marker's own file offset. ``next_marker`` is the
  file offset of the next marker. A zeroed marker, or no room for one, ends the segment.
* uncompressed: entries follow the marker directly, up to ``next_marker``; compressed and
  encrypted: ``int uncompressed_length`` then the compressed (or encrypted) payload.
* an entry is ``int size | int crc(size) | data | int crc(size, data)`` (ENTRY_OVERHEAD_SIZE 12);
  a size of 0 is the zero padding after the last entry.

Offsets are in the segment's uncompressed ("logical") space, where each section counts as its
8-byte marker plus its uncompressed data (CompressedSegmenter.nextLogicalStart); for uncompressed
segments logical and file offsets are the same. An entry's position is where it ends.

Corrupt input never raises out of the iterators: it is reported as an EntryError and reading goes
on at the next entry when the entry's size was trustworthy (size CRC passed), else at the next
sync section. Every loop advances by at least one byte and every length is checked against what
is left, so reading always terminates.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cassandra_cdc.commitlog.compression import CompressionError, Compressor, get_compressor
from cassandra_cdc.commitlog.descriptor import (
    CommitLogDescriptor,
    DescriptorError,
    id_crc,
    parse_descriptor,
    parse_segment_file_name,
)
from cassandra_cdc.commitlog.encryption import (
    EncryptionConfig,
    EncryptionError,
    check_cipher,
    decrypt_section,
)
from cassandra_cdc.commitlog.entries import EntryError, RawEntry

SYNC_MARKER_SIZE = 8
ENTRY_OVERHEAD_SIZE = 12
# CommitLogReader: a mutation is at least 10 bytes, which keeps zeroed garbage from passing the CRC.
MIN_ENTRY_SIZE = 10

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_MARKER = struct.Struct(">iI")
_ENTRY_HEAD = struct.Struct(">iI")
_HEADER_PROBE = 64 * 1024 + 32  # enough for any descriptor (its parameters are at most 65535 bytes)


@dataclass(frozen=True, slots=True)
class SyncSection:
    """One sync section as found on disk.

    ``file_start``/``file_end``: the marker's file offset and the next marker's (clamped to the
    file). ``start``: the marker's logical offset; ``data_start``/``data_end``: the logical span
    of the section's entries (``data_start == start + 8``). ``compressed``: whether the payload
    was compressed or encrypted. ``truncated``: the marker pointed past the end of the file.
    """

    file_start: int
    file_end: int
    start: int
    data_start: int
    data_end: int
    compressed: bool
    truncated: bool = False


def _crc_int(crc: int, value: int) -> int:
    return zlib.crc32(_UINT.pack(value & 0xFFFFFFFF), crc)


def entry_size_crc(size: int) -> int:
    """CRC32 of an entry's size field (updateChecksumInt)."""
    return _crc_int(0, size)


class SegmentReader:
    """A segment's bytes, parsed lazily. Build with ``SegmentReader.open(path)`` or from bytes.

    ``descriptor`` is None when the header could not be read (``descriptor_error`` says why).
    """

    def __init__(
        self,
        data: bytes,
        path: Path,
        *,
        encryption: EncryptionConfig | None = None,
    ) -> None:
        self.data = data
        self.path = path
        self.encryption = encryption
        self.descriptor: CommitLogDescriptor | None = None
        self.descriptor_error: str | None = None
        try:
            self.descriptor = parse_descriptor(data, path)
        except DescriptorError as exc:
            self.descriptor_error = str(exc)

    @classmethod
    def open(cls, path: Path | str, *, encryption: EncryptionConfig | None = None) -> SegmentReader:
        p = Path(path)
        return cls(p.read_bytes(), p, encryption=encryption)

    # -- identity -----------------------------------------------------------------------------

    def _segment_id_guess(self) -> int:
        if self.descriptor is not None:
            return self.descriptor.segment_id
        try:
            return parse_segment_file_name(self.path.name).segment_id
        except ValueError:
            return -1

    def _error(self, offset: int, reason: str, raw: bytes = b"", resumed_at: int | None = None) -> EntryError:
        return EntryError(self.path, self._segment_id_guess(), offset, reason, raw, resumed_at)

    # -- sections -----------------------------------------------------------------------------

    def _find_marker(self, after: int, crc_prefix: int) -> int | None:
        """The first offset past ``after`` holding a sync marker whose CRC is right (resync after damage)."""
        data = self.data
        # A marker's CRC is (all but always) non-zero, so none lies in the zeroed tail of a segment.
        last_nonzero = len(data.rstrip(b"\0")) - 1
        limit = min(len(data) - SYNC_MARKER_SIZE, last_nonzero - 4)
        pack = _UINT.pack
        crc32 = zlib.crc32
        for pos in range(after + 1, limit + 1):
            if data[pos + 4 : pos + 8] == pack(crc32(pack(pos), crc_prefix)):
                (next_marker,) = _INT.unpack_from(data, pos)
                if next_marker >= pos + SYNC_MARKER_SIZE:
                    return pos
        return None

    def iter_sections(self) -> Iterator[SyncSection | EntryError]:
        """Follows CommitLogSegmentReader.SegmentIterator and readSyncMarker (file layout only)."""
        desc = self.descriptor
        if desc is None:
            yield self._error(0, self.descriptor_error or "bad descriptor")
            return
        data = self.data
        size = len(data)
        compressed = desc.compression_class is not None or desc.encryption is not None
        crc_prefix = id_crc(desc.segment_id)
        pos = desc.header_size
        logical = desc.header_size
        while pos <= size - SYNC_MARKER_SIZE:
            next_marker, stored = _MARKER.unpack_from(data, pos)
            if stored != _crc_int(crc_prefix, pos):
                if next_marker == 0 and stored == 0:
                    return  # zeroed marker: the normal end of a segment still being (or never) filled
                reason = f"sync marker at {pos} has a bad CRC (next={next_marker}, crc={stored:#010x})"
                if compressed:
                    # Logical offsets past a lost compressed section cannot be known: stop here.
                    yield self._error(logical, reason, bytes(data[pos : pos + SYNC_MARKER_SIZE]))
                    return
                found = self._find_marker(pos, crc_prefix)
                yield self._error(pos, reason, bytes(data[pos : pos + SYNC_MARKER_SIZE]), found)
                if found is None:
                    return
                pos = logical = found
                continue
            minimum = pos + SYNC_MARKER_SIZE + (4 if compressed else 0)
            if next_marker < minimum:
                reason = f"sync marker at {pos} points back to {next_marker} (valid CRC)"
                found = None if compressed else self._find_marker(pos, crc_prefix)
                yield self._error(logical, reason, bytes(data[pos : pos + SYNC_MARKER_SIZE]), found)
                if found is None:
                    return
                pos = logical = found
                continue
            truncated = next_marker > size
            file_end = min(next_marker, size)
            if not compressed:
                yield SyncSection(pos, file_end, pos, pos + SYNC_MARKER_SIZE, file_end, False, truncated)
                logical = pos = next_marker
                continue
            if pos + SYNC_MARKER_SIZE + 4 > size:
                yield self._error(logical, f"section at {pos} is cut off before its length")
                return
            (plain_len,) = _INT.unpack_from(data, pos + SYNC_MARKER_SIZE)
            if plain_len < 0:
                yield self._error(logical, f"section at {pos} claims a negative length {plain_len}")
                return
            data_start = logical + SYNC_MARKER_SIZE
            yield SyncSection(pos, file_end, logical, data_start, data_start + plain_len, True, truncated)
            logical = data_start + plain_len
            pos = next_marker
        if pos < size and any(data[pos:]):
            # Fewer than 8 bytes left, not all zero: a sync marker cut off by truncation.
            yield self._error(logical, f"segment ends inside the sync marker at {pos}", bytes(data[pos:]))

    def sections(self) -> list[SyncSection]:
        """The sections only (errors dropped): handy for tests and tools."""
        return [s for s in self.iter_sections() if isinstance(s, SyncSection)]

    def _compressor(self) -> Compressor | None:
        desc = self.descriptor
        if desc is None or desc.compression_class is None:
            return None
        return get_compressor(desc.compression_class, desc.compression_parameters)

    def section_payload(self, section: SyncSection) -> bytes:
        """The section's uncompressed entry bytes; raises CompressionError/EncryptionError when damaged."""
        data = self.data
        if not section.compressed:
            return bytes(data[section.data_start : section.data_end])
        desc = self.descriptor
        assert desc is not None
        body = data[section.file_start + SYNC_MARKER_SIZE + 4 : section.file_end]
        expected = section.data_end - section.data_start
        enc = desc.encryption
        if enc is not None:
            if self.encryption is None:
                raise EncryptionError(f"segment is encrypted ({enc.cipher}, key {enc.key_alias!r}) but no key given")
            check_cipher(enc.cipher)
            if not enc.iv:
                raise EncryptionError("encrypted segment header has no IV")
            return decrypt_section(body, self.encryption.key, enc.iv, expected)
        compressor = self._compressor()
        assert compressor is not None
        out = compressor.uncompress(bytes(body), expected)
        if len(out) != expected:
            raise CompressionError(f"section decompressed to {len(out)} bytes, its header says {expected}")
        return out

    # -- entries ------------------------------------------------------------------------------

    def entries(self, *, start: int = 0, end: int | None = None) -> Iterator[RawEntry | EntryError]:
        """Every entry (or error) of the segment; see read_segment."""
        desc = self.descriptor
        if desc is None:
            yield self._error(0, self.descriptor_error or "bad descriptor")
            return
        try:
            messaging = desc.messaging_version
        except ValueError as exc:
            yield self._error(0, str(exc))
            return
        try:
            name = parse_segment_file_name(self.path.name)
        except ValueError:
            name = None
        if name is not None and name.segment_id != desc.segment_id:
            # CommitLogReader reports this as recoverable; the descriptor's id is the one the CRCs use.
            yield self._error(0, f"segment id {name.segment_id} in the file name differs from {desc.segment_id}")
        if desc.compression_class is not None:
            try:
                self._compressor()
            except CompressionError as exc:
                yield self._error(desc.header_size, str(exc))
                return
        for item in self.iter_sections():
            if isinstance(item, EntryError):
                if end is None or item.offset < end:
                    yield item
                continue
            section = item
            if end is not None and section.start >= end:
                return
            if section.data_end <= start:
                continue  # all of it was read before
            try:
                payload = self.section_payload(section)
            except (CompressionError, EncryptionError) as exc:
                if end is None or section.start < end:
                    raw = bytes(self.data[section.file_start : section.file_end])
                    last = section.truncated or section.file_end >= len(self.data)
                    nxt = None if last else section.data_end
                    yield self._error(section.start, f"section at file offset {section.file_start}: {exc}", raw, nxt)
                continue
            yield from self._section_entries(section, payload, messaging, start, end)

    def _section_entries(
        self, section: SyncSection, payload: bytes, messaging: int, start: int, end: int | None
    ) -> Iterator[RawEntry | EntryError]:
        """Follows CommitLogReader.readSection over one section's uncompressed bytes."""
        desc = self.descriptor
        assert desc is not None
        base = section.data_start
        limit = len(payload)
        off = 0
        # Resuming inside this section: if damage hides the entry boundaries, jump to `start`,
        # which (as CommitLogReader.readSection's seek does) is trusted to be an entry boundary.
        resume_off = start - base if base < start < base + limit else None
        while off < limit:
            here = base + off
            if end is not None and here >= end:
                return
            remaining = limit - off
            if remaining < 4:
                return  # not enough room for a size: the padding at the section end
            (size,) = _INT.unpack_from(payload, off)
            if size == 0:
                return  # zero padding after the last entry (LEGACY_END_OF_SEGMENT_MARKER)
            problem: str | None = None
            if remaining < 8:
                problem = "entry cut off inside its size CRC"
            else:
                stored_size_crc = _ENTRY_HEAD.unpack_from(payload, off)[1]
                if stored_size_crc != entry_size_crc(size):
                    problem = f"entry size CRC mismatch (size field {size})"
                elif size < MIN_ENTRY_SIZE:
                    problem = f"invalid entry size {size}"
                elif size > remaining - ENTRY_OVERHEAD_SIZE:
                    if end is not None and here + ENTRY_OVERHEAD_SIZE + size > end:
                        return  # not durable yet (beyond the CDC index offset): not an error
                    cut = "the end of the file" if section.truncated else "the end of its sync section"
                    problem = f"entry of {size} bytes runs past {cut} ({remaining - ENTRY_OVERHEAD_SIZE} left)"
            if problem is not None:
                if here >= start:
                    resume: int | None
                    if resume_off is not None and off < resume_off:
                        resume = base + resume_off
                    else:
                        resume = section.data_end if section.data_end > here else None
                    raw = bytes(payload[off : off + min(remaining, ENTRY_OVERHEAD_SIZE + max(size, 0))])
                    yield self._error(here, problem, raw, resume)
                if resume_off is not None and off < resume_off:
                    off = resume_off
                    continue
                return  # the size cannot be trusted: go on at the next sync section
            entry_end = off + ENTRY_OVERHEAD_SIZE + size
            if end is not None and base + entry_end > end:
                return
            body = payload[off + 8 : off + 8 + size]
            (stored_crc,) = _UINT.unpack_from(payload, off + 8 + size)
            if stored_crc != zlib.crc32(body, stored_size_crc):
                if base + entry_end > start:
                    yield self._error(here, "entry data CRC mismatch", bytes(body), base + entry_end)
            elif base + entry_end > start:
                yield RawEntry(self.path, desc.segment_id, desc.version, messaging, here, base + entry_end, bytes(body))
            off = entry_end


def _read_file(path: Path, end: int | None) -> bytes:
    """The segment's bytes; with a durable bound on an uncompressed segment, only what lies below it
    (plus the marker at it), since a live segment is allocated at full size."""
    with open(path, "rb") as fh:
        if end is None:
            return fh.read()
        head = fh.read(_HEADER_PROBE)
        try:
            desc = parse_descriptor(head, path)
        except DescriptorError:
            return head + fh.read()
        if desc.compression_class is not None or desc.encryption is not None:
            return head + fh.read()
        wanted = max(end + SYNC_MARKER_SIZE, desc.header_size + SYNC_MARKER_SIZE)
        if wanted <= len(head):
            return head[:wanted]
        return head + fh.read(wanted - len(head))


def read_segment(
    path: Path | str,
    *,
    encryption: EncryptionConfig | None = None,
    start: int = 0,
    end: int | None = None,
    data: bytes | None = None,
) -> Iterator[RawEntry | EntryError]:
    """Every entry of the segment at ``path``, in order, with errors in between.

    ``start``: skip entries ending at or before this logical offset (a stored CommitLogPosition's
    offset: reading resumes just after that entry). ``end``: a durable bound such as a _cdc.idx
    offset; entries not wholly below it are not read, and damage at or past it is not reported.
    ``data``: the segment's bytes if already in memory (``path`` is then only used in reports).
    ``encryption``: the key for encrypted segments.

    A bad descriptor, unreadable file or damaged bytes are yielded as EntryError; the iterator
    itself does not raise for them.
    """
    p = Path(path)
    if data is None:
        try:
            data = _read_file(p, end)
        except OSError as exc:
            yield EntryError(p, -1, 0, f"cannot read segment: {exc}")
            return
    yield from SegmentReader(data, p, encryption=encryption).entries(start=start, end=end)
