"""The dead-letter queue: what failed permanently, kept with full context, masked, and replayable
(docs/dead-letter-queue.md)."""

from cassandra_cdc.deadletter.bisect import BisectResult, TooManyPoisonedError, is_poison_error, write_with_bisect
from cassandra_cdc.deadletter.crypto import DeadLetterKeyError, Keyring
from cassandra_cdc.deadletter.jsonl_store import JsonlStore
from cassandra_cdc.deadletter.model import DeadLetter, EncryptedBlob, LetterFilter, SegmentReference
from cassandra_cdc.deadletter.raw import RawEntryError, SegmentRetainer, directory_locator
from cassandra_cdc.deadletter.recorder import DeadLetterRecorder
from cassandra_cdc.deadletter.replay import ReplayError, ReplayOutcome, replay
from cassandra_cdc.deadletter.settings import (
    DeadLetterQueueSettings,
    build_keyring,
    build_recorder,
    build_store,
    settings_from,
)
from cassandra_cdc.deadletter.store import DeadLetterNotFoundError, DeadLetterStore, DeadLetterStoreError

__all__ = [
    "BisectResult",
    "DeadLetter",
    "DeadLetterKeyError",
    "DeadLetterNotFoundError",
    "DeadLetterQueueSettings",
    "DeadLetterRecorder",
    "DeadLetterStore",
    "DeadLetterStoreError",
    "EncryptedBlob",
    "JsonlStore",
    "Keyring",
    "LetterFilter",
    "RawEntryError",
    "ReplayError",
    "ReplayOutcome",
    "SegmentReference",
    "SegmentRetainer",
    "TooManyPoisonedError",
    "build_keyring",
    "build_recorder",
    "build_store",
    "directory_locator",
    "is_poison_error",
    "replay",
    "settings_from",
    "write_with_bisect",
]
