"""The _cdc.idx file: CommitLogSegment.writeCDCIndexFile's format, and reads during a rewrite."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cassandra_cdc.commitlog.cdc_index import (
    CdcIndex,
    IndexNotReady,
    format_cdc_index,
    parse_cdc_index,
    read_cdc_index,
    write_cdc_index,
)

# Worked out from writeCDCIndexFile: String.valueOf(offset), then "\nCOMPLETED" when the sync
# closed the segment; no trailing newline.
LIVE_BYTES = b"1048559"
COMPLETED_BYTES = b"1048559\nCOMPLETED"


def test_live_index() -> None:
    assert parse_cdc_index(LIVE_BYTES) == CdcIndex(1048559, completed=False)


def test_completed_index() -> None:
    assert parse_cdc_index(COMPLETED_BYTES) == CdcIndex(1048559, completed=True)


def test_format_matches_cassandra_bytes() -> None:
    assert format_cdc_index(1048559, False) == LIVE_BYTES
    assert format_cdc_index(1048559, True) == COMPLETED_BYTES
    assert format_cdc_index(0, False) == b"0"


@pytest.mark.parametrize(
    "content",
    [
        b"",  # FileWriter truncated the file, nothing written yet
        b"1048559\n",  # cut after the newline
        b"1048559\nC",
        b"1048559\nCOMPLETE",
        b"10485a9",
        b"-1",
        b"\n",
        b"1048559\nDONE",
        b"\xff\xfe",
        b"99999999999",  # beyond a Java int
    ],
)
def test_partial_or_malformed_is_not_ready(content: bytes) -> None:
    result = parse_cdc_index(content, "/x/CommitLog-7-1_cdc.idx")
    assert isinstance(result, IndexNotReady)
    assert result.path == Path("/x/CommitLog-7-1_cdc.idx")
    assert result.reason


def test_trailing_newline_after_completed_is_tolerated() -> None:
    assert parse_cdc_index(b"42\nCOMPLETED\n") == CdcIndex(42, completed=True)
    assert parse_cdc_index(b"42\r\nCOMPLETED\r\n") == CdcIndex(42, completed=True)


def test_read_missing_file_is_none(tmp_path: Path) -> None:
    assert read_cdc_index(tmp_path / "CommitLog-7-1_cdc.idx") is None


def test_write_then_read_and_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "CommitLog-7-1_cdc.idx"
    write_cdc_index(path, 100)
    assert path.read_bytes() == b"100"
    assert read_cdc_index(path) == CdcIndex(100, False)
    write_cdc_index(path, 5, completed=True)  # a rewrite replaces the whole content
    assert path.read_bytes() == b"5\nCOMPLETED"
    assert read_cdc_index(path) == CdcIndex(5, True)


def test_format_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="offset"):
        format_cdc_index(-1, False)
    with pytest.raises(ValueError, match="offset"):
        format_cdc_index(2**31, False)


@given(st.integers(0, 2**31 - 1), st.booleans())
def test_round_trip(offset: int, completed: bool) -> None:
    assert parse_cdc_index(format_cdc_index(offset, completed)) == CdcIndex(offset, completed)


@given(st.integers(0, 2**31 - 1), st.booleans(), st.data())
def test_any_prefix_never_claims_more(offset: int, completed: bool, data: st.DataObject) -> None:
    """A reader racing a rewrite sees a prefix: never a larger offset, never a false COMPLETED."""
    full = format_cdc_index(offset, completed)
    cut = data.draw(st.integers(0, len(full) - 1))
    result = parse_cdc_index(full[:cut])
    if isinstance(result, CdcIndex):
        assert not result.completed
        assert result.offset <= offset
