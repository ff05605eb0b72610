"""Freeing cdc_raw: deleting or archiving consumed segments, and measuring what the directory holds.

In Cassandra's CDC design the consumer owns cdc_raw: Cassandra only hard-links (4.0+) or moves
(3.x) segments there and stops accepting CDC writes (or, with cdc_block_writes: false in 4.1+,
deletes the oldest segments) when the directory exceeds cdc_total_space. Deleting a segment is
therefore this project's job, and the follower decides when it is safe.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class RetentionError(OSError):
    """A consumed segment could not be deleted or archived."""


def remove_segment_files(log_path: Path, index_path: Path, archive_dir: Path | None = None) -> int:
    """Delete (or move into ``archive_dir``) a segment and its ``_cdc.idx``; return the bytes freed.

    The segment goes first and its index second, the order CommitLogSegmentManagerCDC.deleteCDCFiles
    uses: an interrupted removal leaves an index without a segment, which readers ignore, never a
    segment without its COMPLETED index (which would look live). Files already gone are skipped.
    """
    freed = 0
    for path in (log_path, index_path):
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        try:
            if archive_dir is None:
                path.unlink()
            else:
                archive_dir.mkdir(parents=True, exist_ok=True)
                # os.replace is atomic within a file system; shutil.move copies across devices.
                shutil.move(os.fspath(path), os.fspath(archive_dir / path.name))
        except FileNotFoundError:
            continue
        except OSError as exc:
            action = "delete" if archive_dir is None else f"archive into {archive_dir}"
            raise RetentionError(f"cannot {action} {path}: {exc}") from exc
        freed += size
    return freed


def directory_usage_bytes(directory: Path) -> int:
    """Sum of the sizes of the regular files directly in ``directory`` (what cdc_raw holds).

    Like Cassandra's DirectorySizeCalculator it counts apparent file sizes, hard links included
    (a 4.0+ live segment is counted here and in the commitlog directory).
    """
    total = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue  # removed while we listed: nothing to count
    return total
