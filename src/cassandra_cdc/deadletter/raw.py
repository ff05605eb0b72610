"""Getting at a dead letter's raw entry bytes: finding segments, retaining them, reading them back.

A reference names a segment file and the entry's offsets; reading it back re-frames the segment
with the ordinary reader and checks the entry's SHA-256 against the one recorded when the letter
was written, so a segment that was altered or replaced is refused rather than replayed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cassandra_cdc.commitlog.descriptor import DescriptorError, parse_descriptor
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.deadletter.model import DeadLetter, SegmentReference

# (node, segment id) -> the segment's file, if it can still be found.
SegmentLocator = Callable[[str, int], Path | None]


class RawEntryError(ValueError):
    """The raw entry cannot be obtained or does not match its recorded SHA-256."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def directory_locator(directories: Mapping[str, Sequence[Path]]) -> SegmentLocator:
    """Looks for ``CommitLog-*-<id>.log`` in each node's directories (cdc_raw, the archive...), in order."""

    def locate(node: str, segment_id: int) -> Path | None:
        for directory in directories.get(node, ()):
            for path in sorted(Path(directory).glob(f"CommitLog-*-{segment_id}.log")):
                return path
        return None

    return locate


@dataclass(frozen=True, slots=True)
class EntryBytes:
    """Raw entry bytes read from a segment, with what the segment header says about them."""

    data: bytes
    start: int | None
    end: int | None
    messaging_version: int | None
    commitlog_version: int | None


def segment_versions(path: Path) -> tuple[int | None, int | None]:
    """(commit-log version, messaging version) from the segment's header; Nones if unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
        descriptor = parse_descriptor(head, path)
        return descriptor.version, descriptor.messaging_version
    except (OSError, DescriptorError, ValueError):
        return None, None


def read_entry_at(path: Path, end: int, *, encryption: EncryptionConfig | None = None) -> RawEntry | None:
    """The entry of the segment at ``path`` that ends at ``end`` (None if there is none)."""
    for item in read_segment(path, encryption=encryption, start=max(0, end - 1), end=end):
        if isinstance(item, RawEntry) and item.end == end:
            return item
    return None


def read_reference(
    ref: SegmentReference, expected_sha256: str | None, *, encryption: EncryptionConfig | None = None
) -> EntryBytes:
    """The referenced entry's bytes, checked against ``expected_sha256`` (RawEntryError if they differ)."""
    path = Path(ref.path)
    if not path.is_file():
        raise RawEntryError(f"segment {path} (node {ref.node}, id {ref.segment_id}) is no longer there")
    if ref.encrypted_segment and encryption is None:
        raise RawEntryError(f"segment {path} is encrypted: the commit-log key of node {ref.node} is needed")
    version, messaging = segment_versions(path)
    found: bytes | None = None
    start: int | None = ref.start
    items: Iterable[RawEntry | EntryError] = read_segment(path, encryption=encryption)
    candidates: list[tuple[bytes, int | None, int | None]] = []
    for item in items:
        if isinstance(item, RawEntry):
            if item.end == ref.end or (ref.start is not None and item.start == ref.start):
                found, start = item.data, item.start
                break
            candidates.append((item.data, item.start, item.end))
        else:
            if ref.start is not None and item.offset == ref.start:
                found = item.raw
                break
            candidates.append((item.raw, item.offset, item.resumed_at))
    if found is not None:
        if expected_sha256 is not None and sha256_hex(found) != expected_sha256:
            raise RawEntryError(
                f"segment {path}: the entry ending at {ref.end} does not match its recorded SHA-256 "
                f"{expected_sha256[:16]}... (the segment was altered or replaced): refused"
            )
        return EntryBytes(found, start, ref.end, messaging, version)
    # Entries whose offsets were not recorded (damaged framing): found by their hash alone.
    if expected_sha256 is not None:
        for data, item_start, _ in candidates:
            if sha256_hex(data) == expected_sha256:
                return EntryBytes(data, item_start, ref.end, messaging, version)
    raise RawEntryError(
        f"segment {path}: no entry ending at {ref.end} with the recorded SHA-256 "
        "(the segment was altered or replaced): refused"
    )


class SegmentRetainer:
    """Keeps segments that dead letters refer to, under ``directory/<node>/``, after retention
    removes them from cdc_raw: a hard link when possible (no copy, same bytes), else a copy."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def retain(self, node: str, path: Path) -> Path:
        target_dir = self.directory / _safe_component(node)
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        if target.exists() and os.path.samefile(target, path):
            return target
        try:
            if not target.exists():
                os.link(path, target)
                return target
        except OSError:
            pass  # another file system: copy
        # A live segment only grows, so a fresh copy holds every entry an older copy held.
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        os.replace(partial, target)
        return target

    def release_unreferenced(self, letters: Iterable[DeadLetter]) -> list[Path]:
        """Remove retained segments no open (pending or failed) letter refers to; returns them."""
        wanted = {
            Path(letter.raw.path).resolve()
            for letter in letters
            if isinstance(letter.raw, SegmentReference) and letter.status != "replayed"
        }
        removed: list[Path] = []
        if not self.directory.is_dir():
            return removed
        for path in self.directory.glob("*/CommitLog-*.log"):
            if path.resolve() not in wanted:
                path.unlink()
                removed.append(path)
        return removed


def _safe_component(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return cleaned if cleaned not in ("", ".", "..") else "_"
