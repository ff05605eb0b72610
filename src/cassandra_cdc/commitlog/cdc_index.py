"""The ``<segment>_cdc.idx`` file Cassandra 4.0+ keeps next to each CDC segment in cdc_raw.

Follows CommitLogSegment.writeCDCIndexFile (4.0+; 3.x has no index file). On every sync of a
segment holding CDC data, Cassandra rewrites the file with the decimal offset, in the segment's
uncompressed space, up to which the segment is durable; when the sync also closes the segment it
appends ``"\\nCOMPLETED"``. There is no trailing newline. The rewrite is not atomic (a
java.io.FileWriter truncates the file on open and writes on flush), so a reader can momentarily
see an empty or cut-off file: that is reported as :class:`IndexNotReady`, to be retried, and is
never taken for a smaller offset.

After a crash, CommitLogReplayer.handleCDCReplayCompletion rewrites the index of each replayed
segment with the segment's file length and COMPLETED: with COMPLETED the offset is not a bound in
uncompressed space (for a compressed segment it is the compressed size) and readers go to the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

COMPLETED_MARKER = "COMPLETED"
# A Java int: CommitLogSegment offsets never exceed it.
_MAX_OFFSET = 2**31 - 1


@dataclass(frozen=True, slots=True)
class CdcIndex:
    """A complete ``_cdc.idx``: durable up to ``offset``; ``completed`` once the segment is closed."""

    offset: int
    completed: bool


@dataclass(frozen=True, slots=True)
class IndexNotReady:
    """An index file that is empty, cut off or otherwise unparsable right now (retry on the next poll)."""

    path: Path
    reason: str


def parse_cdc_index(content: bytes, path: Path | str = "<cdc index>") -> CdcIndex | IndexNotReady:
    """Parse the bytes of an index file as CommitLogSegment.writeCDCIndexFile writes them.

    Accepts ``<digits>`` or ``<digits>\\nCOMPLETED`` (a trailing newline or ``\\r\\n`` is tolerated,
    for files written by other tools). Anything else, including ``<digits>\\n`` and a prefix of
    ``COMPLETED`` (what a reader sees halfway through a rewrite), is IndexNotReady.
    """
    p = Path(path)
    if not content:
        return IndexNotReady(p, "empty (being rewritten?)")
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError:
        return IndexNotReady(p, f"not ASCII: {content[:40]!r}")
    first, sep, rest = text.partition("\n")
    first = first.rstrip("\r")
    if not first.isdigit():
        return IndexNotReady(p, f"offset {first[:40]!r} is not a decimal number")
    offset = int(first)
    if offset > _MAX_OFFSET:
        return IndexNotReady(p, f"offset {offset} exceeds a Java int")
    if not sep:
        return CdcIndex(offset, completed=False)
    marker = rest.rstrip("\r\n")
    if marker == COMPLETED_MARKER:
        return CdcIndex(offset, completed=True)
    if COMPLETED_MARKER.startswith(marker):
        return IndexNotReady(p, f"cut off after the offset ({rest!r})")
    return IndexNotReady(p, f"unexpected second line {rest[:40]!r}")


def read_cdc_index(path: Path | str) -> CdcIndex | IndexNotReady | None:
    """Read ``path``: None when it does not exist, IndexNotReady while it is empty or partial."""
    p = Path(path)
    try:
        content = p.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return IndexNotReady(p, f"cannot read: {exc}")
    return parse_cdc_index(content, p)


def format_cdc_index(offset: int, completed: bool) -> bytes:
    """The bytes CommitLogSegment.writeCDCIndexFile writes."""
    if not 0 <= offset <= _MAX_OFFSET:
        raise ValueError(f"CDC index offset {offset} is not in 0..2^31-1")
    text = str(offset) + (f"\n{COMPLETED_MARKER}" if completed else "")
    return text.encode("ascii")


def write_cdc_index(path: Path | str, offset: int, completed: bool = False) -> None:
    """Write an index file the way Cassandra does: truncate, then write, not atomically.

    Follows CommitLogSegment.writeCDCIndexFile; used by the segment encoder and tests standing in
    for Cassandra. Like Cassandra it does not fsync: the index is a hint for readers.
    """
    data = format_cdc_index(offset, completed)
    with open(path, "wb") as fh:  # truncates first, as FileWriter does: readers may see it empty
        fh.write(data)
