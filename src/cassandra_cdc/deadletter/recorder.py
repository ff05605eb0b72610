"""Turning what the pipeline could not deliver into dead letters.

The recorder builds a :class:`DeadLetter` with its context, keeps the raw entry only sealed (with
a :class:`Keyring`) or by reference (segment kept by a :class:`SegmentRetainer`), renders the change
masked, and puts it in the store (durably: the caller commits positions after).

Entry points: ``record_problem`` (the lane's ``on_problem`` hook; the recorder is callable with a
Problem), ``record_entry`` (an entry that failed before becoming changes), ``record_change`` (a
change a sink refused; ``poison_handler`` gives the ``on_poison`` of ``write_with_bisect``).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import EntryError, RawEntry
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.to_changes import ChangeConversionError, update_changes
from cassandra_cdc.deadletter import model as m
from cassandra_cdc.deadletter.crypto import Keyring
from cassandra_cdc.deadletter.raw import (
    RawEntryError,
    SegmentLocator,
    SegmentRetainer,
    read_entry_at,
    segment_versions,
    sha256_hex,
)
from cassandra_cdc.deadletter.render import render_change, scrub_error_text
from cassandra_cdc.deadletter.store import DeadLetterStore
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.sinks.base import ValueOutOfRangeError
from cassandra_cdc.transform import Masker

log = logging.getLogger(__name__)

Transform = Callable[[RowChange], RowChange | None]


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    start: int | None
    end: int
    messaging_version: int | None
    commitlog_version: int | None
    path: Path | None


class DeadLetterRecorder:
    """Writes dead letters to ``store``; thread-safe (every lane may call it).

    ``masker`` renders changes (without it: value-free outlines). ``transform`` is the live path's
    transform (defaults to the masker): used to find which of an entry's changes was refused.
    ``keyring``: raw bytes are sealed with it; else, with ``retainer`` and ``locator``, they are
    kept by reference to the retained segment; else not kept (the letter cannot be replayed).
    ``segment_encryption``: each node's commit-log key, to read encrypted segments.
    """

    def __init__(
        self,
        store: DeadLetterStore,
        *,
        schema: Schema,
        masker: Masker | None = None,
        transform: Transform | None = None,
        keyring: Keyring | None = None,
        retainer: SegmentRetainer | None = None,
        locator: SegmentLocator | None = None,
        segment_encryption: Mapping[str, EncryptionConfig] | None = None,
        seen_limit: int = 50_000,
    ) -> None:
        self.store = store
        self.schema = schema
        self.masker = masker
        self.transform: Transform | None = transform if transform is not None else masker
        self.keyring = keyring
        self.retainer = retainer
        self.locator = locator
        self.segment_encryption = dict(segment_encryption or {})
        self._decoder = MutationDecoder(schema)
        self._lock = threading.Lock()
        # Problems already recorded (each lane decodes the same entries and meets the same problems):
        # the newest ``seen_limit`` are remembered, so a long run does not grow without bound.
        self._seen: OrderedDict[tuple[str, str, int, int, str | None], None] = OrderedDict()
        self.seen_limit = seen_limit
        self.count = 0

    # -- hooks ----------------------------------------------------------------------------------
    def __call__(self, problem: Any) -> None:
        self.record_problem(problem)

    def record_problem(
        self, problem: Any, *, error: BaseException | None = None, retry_count: int = 0
    ) -> m.DeadLetter | None:
        """A lane Problem (``sink``, ``node``, ``position``, ``reason``, ``raw``, ``change``; optional
        ``kind``, ``error``, ``entry``, ``retry_count``). Returns None for a duplicate source-side
        problem (every lane reports the same undecodable entry: it is kept once)."""
        error = error if error is not None else getattr(problem, "error", None)
        retry_count = getattr(problem, "retry_count", retry_count) or retry_count
        change: RowChange | None = problem.change
        if change is not None:
            kind = getattr(problem, "kind", None) or (
                m.VALUE_REJECTED if error is None or isinstance(error, ValueOutOfRangeError) else m.BATCH_REJECTED
            )
            return self._change_letter(
                change, kind, problem.reason, error, destination=problem.sink, retry_count=retry_count
            )
        entry = getattr(problem, "entry", None)
        kind = getattr(problem, "kind", None) or _kind_from_reason(problem.reason, bool(problem.raw))
        if isinstance(entry, RawEntry | EntryError):
            return self.record_entry(problem.node, entry, kind=kind, error=error or problem.reason)
        return self._entry_letter(
            problem.node,
            problem.position.segment_id,
            problem.position.position,
            bytes(problem.raw),
            kind=kind,
            error_text=problem.reason,
            error=error,
            destination=None,
            start=None,
        )

    def record_entry(
        self,
        node: str,
        entry: RawEntry | EntryError,
        *,
        kind: str,
        error: str | BaseException,
        destination: str | None = None,
    ) -> m.DeadLetter | None:
        """An entry that failed before becoming changes (undecodable, unknown table...)."""
        text = error if isinstance(error, str) else str(error)
        exc = error if isinstance(error, BaseException) else None
        if isinstance(entry, RawEntry):
            return self._entry_letter(
                node, entry.segment_id, entry.end, entry.data, kind=kind, error_text=text, error=exc,
                destination=destination, start=entry.start, path=entry.path,
                versions=(entry.commitlog_version, entry.messaging_version),
            )  # fmt: skip
        end = entry.resumed_at if entry.resumed_at is not None else entry.offset
        return self._entry_letter(
            node, entry.segment_id, end, entry.raw, kind=kind, error_text=text, error=exc,
            destination=destination, start=entry.offset, path=entry.path,
        )  # fmt: skip

    def record_change(
        self,
        change: RowChange,
        error: BaseException,
        *,
        destination: str,
        retry_count: int = 0,
        kind: str | None = None,
    ) -> m.DeadLetter:
        """A change ``destination`` refused (after the transform, as the sink saw it)."""
        kind = kind or (m.VALUE_REJECTED if isinstance(error, ValueOutOfRangeError) else m.BATCH_REJECTED)
        letter = self._change_letter(change, kind, str(error), error, destination=destination, retry_count=retry_count)
        assert letter is not None
        return letter

    def poison_handler(self, destination: str, *, retry_count: int = 0) -> Callable[[RowChange, Exception], None]:
        """``on_poison`` for :func:`~cassandra_cdc.deadletter.bisect.write_with_bisect`."""

        def on_poison(change: RowChange, error: Exception) -> None:
            self.record_change(change, error, destination=destination, retry_count=retry_count)

        return on_poison

    # -- building letters -----------------------------------------------------------------------------
    def _change_letter(
        self,
        change: RowChange,
        kind: str,
        text: str,
        error: BaseException | None,
        *,
        destination: str,
        retry_count: int,
    ) -> m.DeadLetter:
        source = change.source
        entry = self._entry_of(source.node, source.segment_id, source.position)
        letter = m.DeadLetter(
            kind=kind,
            error=scrub_error_text(text, error, change, self.masker),
            stack_trace=_stack(error, change, self.masker),
            retry_count=retry_count,
            destination=destination,
            source_node=source.node,
            segment_id=source.segment_id,
            position=source.position,
            raw_sha256=sha256_hex(entry.data) if entry is not None else None,
            table=f"{change.keyspace}.{change.table}",
            rendering=render_change(change, self.masker),
        )
        if entry is not None:
            letter.entry_start = entry.start
            letter.messaging_version = entry.messaging_version
            letter.commitlog_version = entry.commitlog_version
            letter.change_index = self._change_index(entry, source, change)
            letter.raw = self._keep_raw(letter.id, source.node, entry)
        else:
            log.warning(
                "dead letter %s: the raw entry of %s segment %d position %d was not found; it cannot be replayed",
                letter.id, source.node, source.segment_id, source.position,
            )  # fmt: skip
        self._put(letter)
        return letter

    def _entry_letter(
        self,
        node: str,
        segment_id: int,
        end: int,
        data: bytes,
        *,
        kind: str,
        error_text: str,
        error: BaseException | None,
        destination: str | None,
        start: int | None,
        path: Path | None = None,
        versions: tuple[int | None, int | None] = (None, None),
    ) -> m.DeadLetter | None:
        digest = sha256_hex(data) if data else None
        key = (kind, node, segment_id, end, digest)
        with self._lock:
            if destination is None and key in self._seen:
                return None
            self._seen[key] = None
            if len(self._seen) > self.seen_limit:
                self._seen.popitem(last=False)
        commitlog_version, messaging_version = versions
        if path is None and self.locator is not None:
            path = self.locator(node, segment_id)
        if path is not None and messaging_version is None:
            commitlog_version, messaging_version = segment_versions(path)
        if path is not None and data and start is None:
            found = self._read_entry(node, path, end)
            if found is not None and found.data == data:
                start = found.start
        table = None
        if data:
            result = self._decoder.decode(data, messaging_version) if messaging_version is not None else None
            if result is not None and result.error is not None and result.error.table is not None:
                table = result.error.table
        letter = m.DeadLetter(
            kind=kind,
            error=error_text,
            stack_trace=_stack(error, None, None),
            destination=destination,
            source_node=node,
            segment_id=segment_id,
            position=end,
            entry_start=start,
            raw_sha256=digest,
            table=table,
            messaging_version=messaging_version,
            commitlog_version=commitlog_version,
        )
        if data:
            entry = _Entry(data, start, end, messaging_version, commitlog_version, path)
            letter.raw = self._keep_raw(letter.id, node, entry)
        self._put(letter)
        return letter

    def _put(self, letter: m.DeadLetter) -> None:
        self.store.put(letter)
        with self._lock:
            self.count += 1
        log.error(
            "dead letter %s: %s from %s segment %d position %d%s: %s",
            letter.id, letter.kind, letter.source_node, letter.segment_id, letter.position,
            f" for {letter.destination}" if letter.destination else "", letter.error,
        )  # fmt: skip

    # -- raw bytes ------------------------------------------------------------------------------
    def _read_entry(self, node: str, path: Path, end: int) -> RawEntry | None:
        try:
            return read_entry_at(path, end, encryption=self.segment_encryption.get(node))
        except OSError as exc:
            log.warning("dead-letter: cannot read %s: %s", path, exc)
            return None

    def _entry_of(self, node: str, segment_id: int, end: int) -> _Entry | None:
        """The raw entry a change came from, read back from its segment (the lane does not keep it)."""
        if self.locator is None:
            return None
        path = self.locator(node, segment_id)
        if path is None:
            return None
        found = self._read_entry(node, path, end)
        if found is None:
            return None
        return _Entry(found.data, found.start, found.end, found.messaging_version, found.commitlog_version, path)

    def _change_index(self, entry: _Entry, source: SourcePosition, change: RowChange) -> int | None:
        """Which of the entry's changes (after the transform) is ``change``; None if not found."""
        if entry.messaging_version is None:
            return None
        result = self._decoder.decode(entry.data, entry.messaging_version)
        index = 0
        for update in result.updates:
            table = self.schema.by_id(update.table_id)
            if table is None:
                continue
            try:
                changes = list(update_changes(table, update, source))
            except ChangeConversionError:
                return None
            for candidate in changes:
                try:
                    shown = self.transform(candidate) if self.transform is not None else candidate
                except Exception:
                    shown = None
                if shown == change:
                    return index
                index += 1
        return None

    def _keep_raw(self, letter_id: str, node: str, entry: _Entry) -> m.Raw | None:
        if self.keyring is not None:
            return self.keyring.seal(entry.data, letter_id)
        if self.retainer is not None and entry.path is not None:
            try:
                kept = self.retainer.retain(node, entry.path)
            except OSError as exc:
                log.warning("dead letter %s: cannot retain segment %s: %s", letter_id, entry.path, exc)
                return None
            encrypted = node in self.segment_encryption
            segment_id = _segment_id(entry.path)
            return m.SegmentReference(str(kept), node, segment_id, entry.end, entry.start, encrypted)
        return None


def _segment_id(path: Path) -> int:
    from cassandra_cdc.commitlog.descriptor import parse_segment_file_name

    try:
        return parse_segment_file_name(path.name).segment_id
    except ValueError:
        return -1


def _kind_from_reason(reason: str, has_raw: bool) -> str:
    if "no schema knows this table id" in reason:
        return m.UNKNOWN_TABLE
    if "transform failed" in reason:
        return m.TRANSFORM_FAILED
    return m.UNDECODABLE_ENTRY if has_raw else m.CONVERSION_FAILED


def _stack(error: BaseException | None, change: RowChange | None, masker: Masker | None) -> str | None:
    if error is None:
        return None
    text = "".join(traceback.format_exception(error))
    return scrub_error_text(text, error, change, masker)


__all__ = ["DeadLetterRecorder", "RawEntryError"]
