"""The dead-letter store contract, shared by the JSONL and PostgreSQL stores."""

from __future__ import annotations

from typing import Any, Protocol

from cassandra_cdc.deadletter.model import DeadLetter, LetterFilter, Raw, Status


class DeadLetterNotFoundError(KeyError):
    """No letter with that id in the store."""

    def __init__(self, letter_id: str) -> None:
        super().__init__(letter_id)
        self.letter_id = letter_id

    def __str__(self) -> str:
        return f"no dead letter with id {self.letter_id!r}"


class DeadLetterStoreError(OSError):
    """The store cannot be read or written (the message names the file or table)."""


class DeadLetterStore(Protocol):
    """Where dead letters are kept. ``put`` is durable when it returns (the pipeline commits the
    source position right after)."""

    def put(self, letter: DeadLetter) -> None: ...

    def list(self, where: LetterFilter | None = None) -> list[DeadLetter]:
        """Matching letters, oldest first."""
        ...

    def get(self, letter_id: str) -> DeadLetter:
        """The letter (DeadLetterNotFoundError if unknown)."""
        ...

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
        """Change a letter's replay state (and optionally its raw reference, e.g. after resealing)."""
        ...

    def close(self) -> None: ...


def mark_fields(
    status: Status,
    replay_attempts: int | None,
    last_replay_error: str | None,
    last_replay_time: float | None,
    raw: Raw | None,
) -> dict[str, Any]:
    """The fields a ``mark`` call changes, as stored (``raw`` serialised)."""
    fields: dict[str, Any] = {"status": status, "last_replay_error": last_replay_error}
    if replay_attempts is not None:
        fields["replay_attempts"] = replay_attempts
    if last_replay_time is not None:
        fields["last_replay_time"] = last_replay_time
    if raw is not None:
        fields["raw"] = raw.to_dict()
    return fields
