"""Re-applying dead letters once their cause is fixed (a schema that now knows the table, a type
override that now accepts the value...).

The raw entry is read back (unsealed with the keyring, or re-read from the retained segment with
its SHA-256 checked), decoded with the CURRENT schema, turned into changes, passed through the same
transform as the live path (masking), and written through the sink's ordinary, idempotent
``write_batch`` with NO positions: a replay never moves a sink's position, and replaying twice
changes nothing. Each letter is then marked ``replayed`` or ``failed`` (attempts counted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.to_changes import ChangeConversionError, update_changes
from cassandra_cdc.deadletter.crypto import DeadLetterKeyError, Keyring
from cassandra_cdc.deadletter.model import DeadLetter, EncryptedBlob, LetterFilter, SegmentReference
from cassandra_cdc.deadletter.raw import RawEntryError, read_reference, sha256_hex
from cassandra_cdc.deadletter.store import DeadLetterStore
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.sinks.base import ChangeBatch, Sink, SinkError

Transform = Callable[[RowChange], RowChange | None]


class ReplayError(ValueError):
    """Why a letter could not be replayed (stored as its ``last_replay_error``)."""


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """One letter's replay: ``status`` is "replayed", "failed" or "skipped" (already replayed)."""

    letter_id: str
    status: str
    changes: int = 0
    sinks: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RawBytes:
    data: bytes
    messaging_version: int | None


def raw_bytes(
    letter: DeadLetter,
    *,
    keyring: Keyring | None = None,
    segment_encryption: Mapping[str, EncryptionConfig] | None = None,
) -> RawBytes:
    """The letter's raw entry, checked against its SHA-256 (ReplayError naming what is missing)."""
    raw = letter.raw
    if raw is None:
        raise ReplayError(f"dead letter {letter.id}: no raw entry was kept (nothing to replay)")
    if isinstance(raw, EncryptedBlob):
        if keyring is None:
            raise ReplayError(
                f"dead letter {letter.id}: the raw entry is sealed with key {raw.key_id!r}; no keys given"
            )
        try:
            data = keyring.open(raw, letter.id)
        except DeadLetterKeyError as exc:
            raise ReplayError(str(exc)) from None
        if letter.raw_sha256 is not None and sha256_hex(data) != letter.raw_sha256:
            raise ReplayError(f"dead letter {letter.id}: the unsealed entry does not match its recorded SHA-256")
        return RawBytes(data, letter.messaging_version)
    assert isinstance(raw, SegmentReference)
    encryption = (segment_encryption or {}).get(raw.node)
    try:
        entry = read_reference(raw, letter.raw_sha256, encryption=encryption)
    except (RawEntryError, OSError) as exc:
        raise ReplayError(f"dead letter {letter.id}: {exc}") from None
    return RawBytes(entry.data, letter.messaging_version or entry.messaging_version)


def letter_changes(
    letter: DeadLetter,
    raw: RawBytes,
    schema: Schema,
    transform: Transform | None = None,
) -> list[RowChange]:
    """The changes to re-apply: the entry decoded with ``schema``, only the refused change when the
    letter names one, through ``transform``."""
    if raw.messaging_version is None:
        raise ReplayError(f"dead letter {letter.id}: the entry's messaging version is unknown")
    result = MutationDecoder(schema).decode(raw.data, raw.messaging_version)
    if result.error is not None:
        raise ReplayError(f"dead letter {letter.id}: still undecodable: {result.error}")
    source = SourcePosition(letter.source_node, letter.segment_id, letter.position)
    changes: list[RowChange] = []
    for update in result.updates:
        table = schema.by_id(update.table_id)
        if table is None:
            continue
        try:
            changes.extend(update_changes(table, update, source))
        except ChangeConversionError as exc:
            raise ReplayError(f"dead letter {letter.id}: {exc}") from None
    if letter.change_index is not None:
        if letter.change_index >= len(changes):
            raise ReplayError(
                f"dead letter {letter.id}: the entry now decodes to {len(changes)} changes, "
                f"change #{letter.change_index} is gone (schema changed?)"
            )
        changes = [changes[letter.change_index]]
    out = []
    for change in changes:
        shown = transform(change) if transform is not None else change
        if shown is not None:
            out.append(shown)
    return out


def replay(
    store: DeadLetterStore,
    letters: Iterable[str] | LetterFilter | None = None,
    *,
    schema: Schema,
    sinks: Mapping[str, Sink],
    keyring: Keyring | None = None,
    masker: Transform | None = None,
    segment_encryption: Mapping[str, EncryptionConfig] | None = None,
    include_replayed: bool = False,
    clock: Callable[[], float] = time.time,
) -> list[ReplayOutcome]:
    """Replay letters given by id (even if already replayed), by filter, or (None) every pending or
    failed one.

    ``sinks`` must be started (``start(tables)``). A letter with a destination goes to that sink;
    one without (a source-side problem) goes to every sink in ``sinks``. ``masker`` is the live
    path's transform. Letters selected by filter that are already replayed are skipped unless
    ``include_replayed``. Letters given by id that do not exist raise DeadLetterNotFoundError
    before anything is replayed.
    """
    if letters is None or isinstance(letters, LetterFilter):
        chosen = [letter for letter in store.list(letters) if include_replayed or letter.status != "replayed"]
    else:
        chosen = [store.get(letter_id) for letter_id in letters]
        include_replayed = True  # asked for by id: replayed again (it changes nothing)
    outcomes = []
    for letter in chosen:
        if letter.status == "replayed" and not include_replayed:
            outcomes.append(ReplayOutcome(letter.id, "skipped"))
            continue
        outcomes.append(_replay_one(store, letter, schema, sinks, keyring, masker, segment_encryption, clock))
    return outcomes


def _replay_one(
    store: DeadLetterStore,
    letter: DeadLetter,
    schema: Schema,
    sinks: Mapping[str, Sink],
    keyring: Keyring | None,
    masker: Transform | None,
    segment_encryption: Mapping[str, EncryptionConfig] | None,
    clock: Callable[[], float],
) -> ReplayOutcome:
    attempts = letter.replay_attempts + 1
    targets: list[str] = []
    try:
        if letter.destination is not None:
            if letter.destination not in sinks:
                raise ReplayError(f"dead letter {letter.id}: sink {letter.destination!r} is not configured")
            targets = [letter.destination]
        else:
            targets = list(sinks)
            if not targets:
                raise ReplayError(f"dead letter {letter.id}: no sinks to replay into")
        raw = raw_bytes(letter, keyring=keyring, segment_encryption=segment_encryption)
        changes = letter_changes(letter, raw, schema, masker)
        for name in targets:
            sinks[name].write_batch(ChangeBatch(list(changes), {}))  # no positions: replays never move them
    except (ReplayError, SinkError) as exc:
        message = str(exc)
        store.mark(letter.id, "failed", replay_attempts=attempts, last_replay_error=message, last_replay_time=clock())
        return ReplayOutcome(letter.id, "failed", 0, tuple(targets), message)
    store.mark(letter.id, "replayed", replay_attempts=attempts, last_replay_error=None, last_replay_time=clock())
    return ReplayOutcome(letter.id, "replayed", len(changes), tuple(targets))
