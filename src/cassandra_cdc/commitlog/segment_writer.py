"""Write commit-log segments the way Cassandra lays them out (for tests, demos and live-follower fixtures).

Follows CommitLog.add (entry framing), CommitLogSegment.writeSyncMarker, MemoryMappedSegment.write
(uncompressed: the file is allocated at the segment size, the marker after a synced section is
zeroed, and the section's own marker is written last), CompressedSegment.write and
EncryptedSegment.write (compressed/encrypted: each sync appends ``marker | int length | payload``
to the file), and CommitLogSegment.close (the closing sync: uncompressed segments point their last
marker at the end of the buffer; compressed ones append an empty section).

The caller decides the sync sections: ``append_section(entries)`` is one sync.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from cassandra_cdc.commitlog.compression import Compressor, get_compressor
from cassandra_cdc.commitlog.descriptor import (
    SUPPORTED_VERSIONS,
    VERSION_40,
    CommitLogDescriptor,
    EncryptionParams,
    build_parameters,
    encode_descriptor,
    id_crc,
    parse_descriptor,
    parse_segment_file_name,
    segment_file_name,
)
from cassandra_cdc.commitlog.encryption import SUPPORTED_CIPHER, EncryptionConfig, encrypt_section

SYNC_MARKER_SIZE = 8
ENTRY_OVERHEAD_SIZE = 12
# Cassandra test configuration's segment size (the real fixtures are this big); production uses 32 MiB.
DEFAULT_SEGMENT_SIZE = 1024 * 1024

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_ZERO_MARKER = bytes(SYNC_MARKER_SIZE)


class SegmentFullError(ValueError):
    """The section does not fit in what is left of an uncompressed segment."""


def encode_entry(data: bytes) -> bytes:
    """CommitLog.add: ``int size | int crc(size) | data | int crc(size, data)``."""
    size = len(data)
    size_bytes = _INT.pack(size)
    size_crc = zlib.crc32(size_bytes)
    return size_bytes + _UINT.pack(size_crc) + data + _UINT.pack(zlib.crc32(data, size_crc))


def encode_sync_marker(segment_id: int, file_position: int, next_marker: int) -> bytes:
    """CommitLogSegment.writeSyncMarker: the next marker's offset and a CRC of (id, this offset)."""
    crc = zlib.crc32(_UINT.pack(file_position & 0xFFFFFFFF), id_crc(segment_id))
    return _INT.pack(next_marker) + _UINT.pack(crc)


class SegmentWriter:
    """Writes one segment to ``target`` (a path, or a seekable binary stream) sync section by sync section.

    ``segment_id`` defaults to the id in the file name. ``parameters`` overrides the header's JSON
    map entirely (e.g. to reproduce a real header); otherwise it is built from ``compression`` and
    ``encryption``. Encrypted segments need ``encryption`` (the key) and use ``iv`` (random if None).
    ``segment_size`` is the allocated size of uncompressed segments (ignored otherwise).
    ``fsync``: fsync after every section (off by default: tests only need the OS to see the bytes).
    """

    def __init__(
        self,
        target: Path | str | BinaryIO,
        *,
        version: int = VERSION_40,
        segment_id: int | None = None,
        compression: str | None = None,
        compression_parameters: Mapping[str, str] | None = None,
        encryption: EncryptionConfig | None = None,
        iv: bytes | None = None,
        parameters: Mapping[str, Any] | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        fsync: bool = False,
    ) -> None:
        if version not in SUPPORTED_VERSIONS:
            raise ValueError(f"unsupported commit-log version {version}")
        if isinstance(target, (str, Path)):
            self.path: Path | None = Path(target)
            if segment_id is None:
                segment_id = parse_segment_file_name(self.path.name).segment_id
            self._fh: BinaryIO = open(self.path, "w+b")  # noqa: SIM115 - owned until close()
            self._owns = True
        else:
            self.path = None
            self._fh = target
            self._owns = False
        if segment_id is None:
            raise ValueError("segment_id is required when writing to a stream")
        self.segment_id = segment_id
        self.version = version
        self.fsync = fsync
        self._encryption = encryption
        if parameters is None:
            enc_params = None
            if encryption is not None:
                iv = iv if iv is not None else os.urandom(16)
                enc_params = EncryptionParams(SUPPORTED_CIPHER, encryption.key_alias, iv)
            parameters = build_parameters(
                compression=compression, compression_parameters=compression_parameters, encryption=enc_params
            )
        header = encode_descriptor(version, segment_id, parameters)
        self.descriptor: CommitLogDescriptor = parse_descriptor(header)
        enc = self.descriptor.encryption
        if enc is not None:
            if encryption is None or not enc.iv:
                raise ValueError("an encrypted segment needs the key (encryption=) and an IV in its header")
            self._iv = enc.iv
        self._compressor: Compressor | None = None
        if self.descriptor.compression_class is not None:
            self._compressor = get_compressor(self.descriptor.compression_class, self.descriptor.compression_parameters)
        self._transformed = enc is not None or self._compressor is not None
        self.segment_size = segment_size
        self._closed = False
        # Next marker's offsets in the file and in the uncompressed space (equal when uncompressed).
        self._file_pos = len(header)
        self.position = len(header)
        self.entry_positions: list[int] = []
        self._fh.seek(0)
        self._fh.write(header)
        if not self._transformed:
            if segment_size < len(header) + SYNC_MARKER_SIZE:
                raise ValueError(f"segment size {segment_size} is smaller than the header")
            # MemoryMappedSegment: the file is allocated at full size, first marker zeroed.
            self._fh.write(_ZERO_MARKER)
            self._fh.seek(segment_size - 1)
            self._fh.write(b"\0")
        self._sync()

    @classmethod
    def create(
        cls, directory: Path | str, segment_id: int, *, version: int = VERSION_40, **kwargs: Any
    ) -> SegmentWriter:
        """A writer for ``<directory>/CommitLog-<version>-<segment_id>.log``."""
        path = Path(directory) / segment_file_name(version, segment_id)
        return cls(path, version=version, segment_id=segment_id, **kwargs)

    def _sync(self) -> None:
        self._fh.flush()
        if self.fsync and self.path is not None:
            os.fsync(self._fh.fileno())

    def append_section(self, entries: Sequence[bytes]) -> int:
        """Write one sync section holding ``entries`` (serialised mutations) and flush.

        Returns the section's end in the uncompressed space: where the next marker starts, which
        is also the offset a _cdc.idx would hold after this sync. ``entry_positions`` gets the
        position (end offset) of each entry appended.
        """
        if self._closed:
            raise ValueError("segment writer is closed")
        body = b"".join(encode_entry(bytes(e)) for e in entries)
        start = self.position
        data_start = start + SYNC_MARKER_SIZE
        positions = []
        cursor = data_start
        for e in entries:
            cursor += ENTRY_OVERHEAD_SIZE + len(e)
            positions.append(cursor)
        if not self._transformed:
            next_marker = data_start + len(body)
            # CommitLogSegment.allocate: an allocation must end strictly before the buffer end.
            if len(body) and next_marker >= self.segment_size:
                raise SegmentFullError(
                    f"section of {len(body)} bytes does not fit: segment ends at {self.segment_size}"
                )
            self._fh.seek(data_start)
            self._fh.write(body)
            if next_marker <= self.segment_size - SYNC_MARKER_SIZE:
                self._fh.write(_ZERO_MARKER)
            self._fh.seek(start)
            self._fh.write(encode_sync_marker(self.segment_id, start, next_marker))
            self._file_pos = self.position = next_marker
        else:
            self._write_transformed(body)
        self.entry_positions.extend(positions)
        self._sync()
        return self.position

    def _write_transformed(self, body: bytes) -> None:
        if self.descriptor.encryption is not None:
            assert self._encryption is not None
            payload = encrypt_section(body, self._encryption.key, self._iv, self._encryption.chunk_length)
        else:
            assert self._compressor is not None
            payload = self._compressor.compress(body)
        file_start = self._file_pos
        next_marker = file_start + SYNC_MARKER_SIZE + 4 + len(payload)
        self._fh.seek(file_start)
        self._fh.write(encode_sync_marker(self.segment_id, file_start, next_marker))
        self._fh.write(_INT.pack(len(body)))
        self._fh.write(payload)
        self._file_pos = next_marker
        self.position += SYNC_MARKER_SIZE + len(body)

    def close(self, *, finish: bool = True) -> None:
        """Close the segment; with ``finish``, write the closing sync as Cassandra does when a
        segment is full or the node drains (uncompressed: the last marker points at the segment
        end; compressed/encrypted: an empty section)."""
        if self._closed:
            return
        if finish:
            if self._transformed:
                self._write_transformed(b"")
            elif self.position <= self.segment_size - SYNC_MARKER_SIZE:
                self._fh.seek(self.position)
                self._fh.write(encode_sync_marker(self.segment_id, self.position, self.segment_size))
            self._sync()
        self._closed = True
        if self._owns:
            self._fh.close()

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(finish=exc[0] is None)


def encode_segment(
    sections: Sequence[Sequence[bytes]],
    *,
    version: int = VERSION_40,
    segment_id: int,
    compression: str | None = None,
    compression_parameters: Mapping[str, str] | None = None,
    encryption: EncryptionConfig | None = None,
    iv: bytes | None = None,
    parameters: Mapping[str, Any] | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    closed: bool = False,
) -> bytes:
    """A whole segment's bytes: one sync section per element of ``sections``.

    ``closed`` adds Cassandra's closing sync (see SegmentWriter.close); without it the segment
    looks like one still in use or left by a node that stopped.
    """
    buffer = io.BytesIO()
    writer = SegmentWriter(
        buffer,
        version=version,
        segment_id=segment_id,
        compression=compression,
        compression_parameters=compression_parameters,
        encryption=encryption,
        iv=iv,
        parameters=parameters,
        segment_size=segment_size,
    )
    for entries in sections:
        writer.append_section(entries)
    writer.close(finish=closed)
    return buffer.getvalue()
