"""What the dead-letter queue keeps about one entry or change that failed permanently.

A :class:`DeadLetter` carries the full context (error, stack trace, where it was read, where it
was going) and a MASKED rendering of the change; never a raw classified value in clear. The raw
entry bytes, which may hold unmasked PII, are kept only as an :class:`EncryptedBlob` (AES-GCM) or
as a :class:`SegmentReference` to a segment retained for the purpose; their SHA-256 is always kept
so a replay can prove it re-reads exactly the bytes that failed.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# Kinds the pipeline produces; other strings are accepted (the store does not interpret them).
UNDECODABLE_ENTRY = "undecodable_entry"  # damaged framing, corrupt mutation bytes
UNKNOWN_TABLE = "unknown_table"  # a table id no schema knows
CONVERSION_FAILED = "conversion_failed"  # decoded, but the change events could not be built
TRANSFORM_FAILED = "transform_failed"  # masking (or another transform) refused the change
VALUE_REJECTED = "value_rejected"  # the sink refused a value (ValueOutOfRangeError)
BATCH_REJECTED = "batch_rejected"  # a change the sink refused for another non-retryable reason
SOURCE_SIDE_KINDS = frozenset({UNDECODABLE_ENTRY, UNKNOWN_TABLE, CONVERSION_FAILED, TRANSFORM_FAILED})

Status = Literal["pending", "replayed", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "replayed", "failed")


class DeadLetterFormatError(ValueError):
    """A stored record that does not describe a dead letter (names the field)."""


@dataclass(frozen=True, slots=True)
class EncryptedBlob:
    """Raw bytes sealed with AES-256-GCM; ``key_id`` names the key (rotation keeps old ids readable).

    ``ciphertext`` includes GCM's 16-byte tag.
    """

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "encrypted",
            "key_id": self.key_id,
            "nonce": base64.b64encode(self.nonce).decode("ascii"),
            "ciphertext": base64.b64encode(self.ciphertext).decode("ascii"),
        }


@dataclass(frozen=True, slots=True)
class SegmentReference:
    """Where the raw entry can be read back: a segment file and the entry's offsets in it.

    Offsets are in the segment's uncompressed space (as RawEntry's). ``start`` may be None when
    only the entry's end (the change's position) was known. ``encrypted_segment`` says whether the
    node's commit-log encryption key is needed to read it.
    """

    path: str
    node: str
    segment_id: int
    end: int
    start: int | None = None
    encrypted_segment: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "segment",
            "path": self.path,
            "node": self.node,
            "segment_id": self.segment_id,
            "start": self.start,
            "end": self.end,
            "encrypted_segment": self.encrypted_segment,
        }


Raw = EncryptedBlob | SegmentReference


def raw_from_dict(data: Mapping[str, Any] | None) -> Raw | None:
    if data is None:
        return None
    try:
        kind = data["type"]
        if kind == "encrypted":
            return EncryptedBlob(
                str(data["key_id"]), base64.b64decode(data["nonce"]), base64.b64decode(data["ciphertext"])
            )
        if kind == "segment":
            start = data.get("start")
            return SegmentReference(
                str(data["path"]),
                str(data["node"]),
                int(data["segment_id"]),
                int(data["end"]),
                None if start is None else int(start),
                bool(data.get("encrypted_segment", False)),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise DeadLetterFormatError(f"raw: malformed {data.get('type')!r} reference: {exc}") from None
    raise DeadLetterFormatError(f"raw: unknown type {kind!r}")


def new_letter_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True)
class DeadLetter:
    """One dead-lettered entry or change.

    ``position`` is the entry's end offset (the position Cassandra reports, and the change's
    SourcePosition.position); ``entry_start`` its start when known. ``destination`` is the sink
    that refused it, None for problems found before any sink (undecodable entry, unknown table).
    ``rendering`` is the change as :func:`cassandra_cdc.transform.redacted_dict` renders it (values
    of classified columns masked), or a value-free outline when no masker was configured; None for
    entries that never became a change. ``change_index`` picks the change among those the entry
    decodes to (replay re-applies only it); None replays every change of the entry.
    """

    kind: str
    error: str
    source_node: str
    segment_id: int
    position: int
    raw_sha256: str | None
    id: str = field(default_factory=new_letter_id)
    time: float = field(default_factory=time.time)
    stack_trace: str | None = None
    retry_count: int = 0
    destination: str | None = None
    entry_start: int | None = None
    table: str | None = None  # keyspace.table when known
    rendering: dict[str, Any] | None = None
    change_index: int | None = None
    raw: Raw | None = None
    status: Status = "pending"
    replay_attempts: int = 0
    last_replay_error: str | None = None
    last_replay_time: float | None = None
    messaging_version: int | None = None
    commitlog_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "kind": self.kind,
            "error": self.error,
            "stack_trace": self.stack_trace,
            "retry_count": self.retry_count,
            "destination": self.destination,
            "source_node": self.source_node,
            "segment_id": self.segment_id,
            "position": self.position,
            "entry_start": self.entry_start,
            "table": self.table,
            "raw_sha256": self.raw_sha256,
            "rendering": self.rendering,
            "change_index": self.change_index,
            "raw": None if self.raw is None else self.raw.to_dict(),
            "status": self.status,
            "replay_attempts": self.replay_attempts,
            "last_replay_error": self.last_replay_error,
            "last_replay_time": self.last_replay_time,
            "messaging_version": self.messaging_version,
            "commitlog_version": self.commitlog_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeadLetter:
        try:
            status = data.get("status", "pending")
            if status not in STATUSES:
                raise DeadLetterFormatError(f"status: {status!r} is not one of {STATUSES}")
            return cls(
                id=str(data["id"]),
                time=float(data["time"]),
                kind=str(data["kind"]),
                error=str(data["error"]),
                stack_trace=data.get("stack_trace"),
                retry_count=int(data.get("retry_count", 0)),
                destination=data.get("destination"),
                source_node=str(data["source_node"]),
                segment_id=int(data["segment_id"]),
                position=int(data["position"]),
                entry_start=_opt_int(data.get("entry_start")),
                table=data.get("table"),
                raw_sha256=data.get("raw_sha256"),
                rendering=data.get("rendering"),
                change_index=_opt_int(data.get("change_index")),
                raw=raw_from_dict(data.get("raw")),
                status=status,
                replay_attempts=int(data.get("replay_attempts", 0)),
                last_replay_error=data.get("last_replay_error"),
                last_replay_time=_opt_float(data.get("last_replay_time")),
                messaging_version=_opt_int(data.get("messaging_version")),
                commitlog_version=_opt_int(data.get("commitlog_version")),
            )
        except KeyError as exc:
            raise DeadLetterFormatError(f"dead letter without the {exc.args[0]!r} field") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DeadLetterFormatError):
                raise
            raise DeadLetterFormatError(f"dead letter {data.get('id')!r}: {exc}") from None


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """Which letters ``list`` returns (every given criterion must hold)."""

    status: Status | None = None
    destination: str | None = None
    kind: str | None = None
    source_node: str | None = None
    table: str | None = None

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.status is None or letter.status == self.status)
            and (self.destination is None or letter.destination == self.destination)
            and (self.kind is None or letter.kind == self.kind)
            and (self.source_node is None or letter.source_node == self.source_node)
            and (self.table is None or letter.table == self.table)
        )


# Fields ``mark`` may change after ``put`` (everything else is the immutable record of the failure).
MUTABLE_FIELDS = frozenset({"status", "replay_attempts", "last_replay_error", "last_replay_time", "raw"})
