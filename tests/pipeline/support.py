"""Helpers shared by the pipeline tests: the changes a cdc_raw holds, and waiting on a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.schema.model import Schema


def changes_in(directories: list[Path], schema: Schema, node: str = "n1") -> list[RowChange]:
    """Every change the segments under ``directories`` hold, decoded independently of any lane."""
    decoder = MutationDecoder(schema)
    out: list[RowChange] = []
    segments = sorted(p for d in directories for p in d.glob("CommitLog-*.log"))
    for segment in segments:
        for entry in read_segment(segment):
            assert isinstance(entry, RawEntry)
            for update in decoder.decode(entry.data, entry.messaging_version).updates:
                table = schema.by_id(update.table_id)
                assert table is not None
                out.extend(update_changes(table, update, SourcePosition(node, entry.segment_id, entry.end)))
    return out


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
