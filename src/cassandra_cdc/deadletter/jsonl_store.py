"""Dead letters in rotated JSON-lines files: append-only, folded on read, safe across crashes.

Each line is one record: ``{"op": "put", "letter": {...}}`` or ``{"op": "mark", "id": ..., "fields":
{...}}``. A letter's state is its put followed by every later mark, in file order. Nothing is
rewritten in place, so a crash can at worst leave a torn last line, which is skipped on read (and
cut off by a newline before the next append). Every append is fsynced before returning: the
pipeline commits the source position right after a put.

Files are ``deadletters-<n>.jsonl``; when the newest exceeds ``max_bytes`` a new one is started, and
when there are more than ``max_files`` the oldest is dropped after its still-open letters
(pending or failed) are carried forward into the newest file (replayed letters age out).

Several processes may use one directory (the pipeline puts, ``cassandra-cdc dlq replay`` marks):
appends and rotation hold an exclusive ``flock`` on ``.lock``.
"""

from __future__ import annotations

import builtins
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cassandra_cdc.deadletter.model import MUTABLE_FIELDS, DeadLetter, DeadLetterFormatError, LetterFilter, Raw, Status
from cassandra_cdc.deadletter.store import DeadLetterNotFoundError, DeadLetterStoreError, mark_fields

log = logging.getLogger(__name__)

_NAME = re.compile(r"deadletters-(\d{6,})\.jsonl")
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_FILES = 20


def _file_name(index: int) -> str:
    return f"deadletters-{index:06d}.jsonl"


class JsonlStore:
    """See the module docstring. ``damaged_lines`` counts unreadable lines met by the last fold."""

    def __init__(
        self, directory: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES
    ) -> None:
        if max_bytes <= 0 or max_files < 1:
            raise ValueError("dead-letter store: max_bytes must be > 0 and max_files >= 1")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.damaged_lines = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeadLetterStoreError(f"dead-letter store {self.directory}: {exc}") from exc

    # -- files --------------------------------------------------------------------------------
    def files(self) -> builtins.list[Path]:
        """The store's files, oldest first."""
        found = []
        for path in self.directory.iterdir():
            match = _NAME.fullmatch(path.name)
            if match is not None:
                found.append((int(match.group(1)), path))
        return [path for _, path in sorted(found)]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _append(self, records: builtins.list[dict[str, Any]]) -> None:
        lines = b"".join(
            json.dumps(r, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8") + b"\n"
            for r in records
        )
        try:
            with self._locked():
                files = self.files()
                current = files[-1] if files else self.directory / _file_name(1)
                if files and current.stat().st_size >= self.max_bytes:
                    current = self._rotate(files)
                fd = os.open(current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    size = os.fstat(fd).st_size
                    if size and _last_byte(current) != b"\n":
                        lines = b"\n" + lines  # end the torn line a crash left, so ours parses
                    os.write(fd, lines)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise DeadLetterStoreError(f"dead-letter store {self.directory}: cannot append: {exc}") from exc

    def _rotate(self, files: builtins.list[Path]) -> Path:
        """Start the next file; drop the oldest beyond ``max_files``, carrying its open letters forward."""
        last = _NAME.fullmatch(files[-1].name)
        assert last is not None
        new = self.directory / _file_name(int(last.group(1)) + 1)
        keep = self.max_files - 1  # the new file counts
        doomed = files[: max(0, len(files) - keep)]
        if doomed:
            letters = self._fold(files)
            doomed_ids = set()
            for path in doomed:
                doomed_ids.update(self._ids_in(path))
            carried = [
                {"op": "put", "letter": letter.to_dict()}
                for letter_id, letter in letters.items()
                if letter_id in doomed_ids and letter.status != "replayed"
            ]
            if carried:
                data = b"".join(json.dumps(r, separators=(",", ":")).encode("utf-8") + b"\n" for r in carried)
                fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            for path in doomed:
                path.unlink()
            _fsync_dir(self.directory)
        return new

    def _ids_in(self, path: Path) -> set[str]:
        ids = set()
        for record in self._records(path):
            if record.get("op") == "put":
                letter = record.get("letter")
                if isinstance(letter, dict) and "id" in letter:
                    ids.add(str(letter["id"]))
        return ids

    def _records(self, path: Path) -> Iterator[dict[str, Any]]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return  # dropped by a rotation in another process
        except OSError as exc:
            raise DeadLetterStoreError(f"dead-letter store {path}: {exc}") from exc
        for number, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                self.damaged_lines += 1
                log.warning("dead-letter store %s:%d: unreadable line skipped (torn write?)", path, number)
                continue
            if isinstance(record, dict):
                yield record

    def _fold(self, files: builtins.list[Path]) -> dict[str, DeadLetter]:
        self.damaged_lines = 0
        letters: dict[str, DeadLetter] = {}
        for path in files:
            for record in self._records(path):
                op = record.get("op")
                try:
                    if op == "put":
                        letter = DeadLetter.from_dict(record["letter"])
                        letters[letter.id] = letter
                    elif op == "mark":
                        target = letters.get(str(record["id"]))
                        if target is not None:
                            merged = target.to_dict()
                            merged.update({k: v for k, v in record["fields"].items() if k in MUTABLE_FIELDS})
                            letters[target.id] = DeadLetter.from_dict(merged)
                except (KeyError, TypeError, AttributeError, DeadLetterFormatError) as exc:
                    self.damaged_lines += 1
                    log.warning("dead-letter store %s: record skipped: %s", path, exc)
        return letters

    # -- the store contract ---------------------------------------------------------------------
    def put(self, letter: DeadLetter) -> None:
        self._append([{"op": "put", "letter": letter.to_dict()}])

    def list(self, where: LetterFilter | None = None) -> builtins.list[DeadLetter]:
        letters = self._fold(self.files()).values()
        chosen = [letter for letter in letters if where is None or where.matches(letter)]
        return sorted(chosen, key=lambda letter: (letter.time, letter.id))

    def get(self, letter_id: str) -> DeadLetter:
        letter = self._fold(self.files()).get(letter_id)
        if letter is None:
            raise DeadLetterNotFoundError(letter_id)
        return letter

    def mark(
        self,
        letter_id: str,
        status: Status,
        *,
        replay_attempts: int | None = None,
        last_replay_error: str | None = None,
        last_replay_time: float | None = None,
        raw: Raw | None = None,
    ) -> DeadLetter:
        letter = self.get(letter_id)
        fields = mark_fields(status, replay_attempts, last_replay_error, last_replay_time, raw)
        self._append([{"op": "mark", "id": letter_id, "fields": fields}])
        merged = letter.to_dict()
        merged.update(fields)
        return DeadLetter.from_dict(merged)

    def close(self) -> None:
        """Nothing is held open between calls."""


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
