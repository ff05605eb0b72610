"""cdc_raw bookkeeping: how much the directory holds, and removing a consumed segment with its index."""

from __future__ import annotations

from pathlib import Path

from cassandra_cdc.commitlog.segment_retention import directory_usage_bytes, remove_segment_files


def test_directory_usage_counts_files_directly_inside(tmp_path: Path) -> None:
    (tmp_path / "CommitLog-7-1.log").write_bytes(b"x" * 1234)
    (tmp_path / "CommitLog-7-1_cdc.idx").write_bytes(b"1234\nCOMPLETED")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ignored.log").write_bytes(b"y" * 99)
    assert directory_usage_bytes(tmp_path) == 1234 + 14
    assert directory_usage_bytes(tmp_path / "missing") == 0


def test_remove_segment_files_deletes_or_archives_both(tmp_path: Path) -> None:
    log, index = tmp_path / "CommitLog-7-2.log", tmp_path / "CommitLog-7-2_cdc.idx"
    log.write_bytes(b"z" * 10)
    index.write_bytes(b"10\nCOMPLETED")
    archive = tmp_path / "archive"
    assert remove_segment_files(log, index, archive) == 10 + 12
    assert not log.exists() and not index.exists()
    assert (archive / log.name).read_bytes() == b"z" * 10
