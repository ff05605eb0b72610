"""The ``dead_letter`` configuration section and building the store, keyring and recorder from it.

```yaml
dead_letter:
  directory: /var/lib/cassandra-cdc/dlq   # JSONL store (default store)
  max_bytes: 67108864                      # rotate past this size
  max_files: 20                            # keep at most this many files
  postgres:                                # optional: store in PostgreSQL instead
    dsn: "env:DLQ_DSN"
    table: cdc_dead_letters
  keys: {k2024: "env:DLQ_KEY_2024"}        # key id -> 32-byte key (hex/base64): seal raw entries
  active_key: k2024
  raw: encrypted                           # encrypted | reference | none (default: encrypted with keys, else reference)
  retained_segments: /var/lib/cassandra-cdc/dlq/segments   # where referenced segments are kept
```

``path`` (the older single-file setting) is read as ``directory``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.deadletter.crypto import Keyring
from cassandra_cdc.deadletter.jsonl_store import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, JsonlStore
from cassandra_cdc.deadletter.raw import SegmentRetainer, directory_locator
from cassandra_cdc.deadletter.recorder import DeadLetterRecorder, Transform
from cassandra_cdc.deadletter.store import DeadLetterStore
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.transform import Masker


class DeadLetterPostgresSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dsn: SecretStr
    table: str = "cdc_dead_letters"
    schema_name: str = Field(default="public", alias="schema")


class DeadLetterQueueSettings(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    directory: Path | None = None
    path: Path | None = Field(default=None, description="older name of directory")
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    max_files: int = Field(default=DEFAULT_MAX_FILES, ge=1)
    postgres: DeadLetterPostgresSettings | None = None
    keys: dict[str, SecretStr] = Field(default_factory=dict)
    active_key: str | None = None
    raw: Literal["encrypted", "reference", "none"] | None = None
    retained_segments: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> DeadLetterQueueSettings:
        if self.directory is None:
            self.directory = self.path
        if self.raw == "encrypted" and not self.keys:
            raise ValueError("raw: encrypted needs keys")
        if self.active_key is not None and self.active_key not in self.keys:
            raise ValueError(f"active_key {self.active_key!r} is not among the keys")
        if self.keys and self.active_key is None and len(self.keys) > 1:
            raise ValueError("several keys: say which is active_key")
        return self

    @property
    def enabled(self) -> bool:
        return self.directory is not None or self.postgres is not None

    @property
    def raw_mode(self) -> str:
        if self.raw is not None:
            return self.raw
        return "encrypted" if self.keys else "reference"


def settings_from(section: Any) -> DeadLetterQueueSettings:
    """Our settings from a PipelineConfig's ``dead_letter`` section (any model or mapping with these fields)."""
    if isinstance(section, DeadLetterQueueSettings):
        return section
    if isinstance(section, BaseModel):
        data: Mapping[str, Any] = {k: v for k, v in section.model_dump().items() if v is not None}
    else:
        data = section or {}
    return DeadLetterQueueSettings.model_validate(data)


def build_store(settings: DeadLetterQueueSettings) -> DeadLetterStore:
    if settings.postgres is not None:
        from cassandra_cdc.deadletter.postgres_store import PostgresStore

        pg = settings.postgres
        return PostgresStore(pg.dsn.get_secret_value(), pg.table, schema=pg.schema_name)
    if settings.directory is None:
        raise ValueError("dead_letter: give directory (JSONL store) or postgres")
    return JsonlStore(settings.directory, max_bytes=settings.max_bytes, max_files=settings.max_files)


def build_keyring(settings: DeadLetterQueueSettings, extra_keys: Mapping[str, str] | None = None) -> Keyring | None:
    """The keyring from the settings' keys plus ``extra_keys`` (e.g. from the command line)."""
    keys: dict[str, str | bytes] = {k: v.get_secret_value() for k, v in settings.keys.items()}
    keys.update(extra_keys or {})
    if not keys:
        return None
    active = settings.active_key
    if active is None and len(keys) > 1:
        active = next(iter(settings.keys), None) or next(iter(keys))
    return Keyring.from_config(keys, active)


def build_recorder(
    settings: DeadLetterQueueSettings,
    *,
    schema: Schema,
    store: DeadLetterStore | None = None,
    masker: Masker | None = None,
    transform: Transform | None = None,
    segment_dirs: Mapping[str, Sequence[Path]] | None = None,
    segment_encryption: Mapping[str, EncryptionConfig] | None = None,
) -> DeadLetterRecorder:
    """The recorder the pipeline's ``on_problem`` hook should call.

    ``segment_dirs``: per node, where its segments may be (cdc_raw, then the retention archive),
    to read back the entries of refused changes and to retain referenced segments.
    """
    store = store if store is not None else build_store(settings)
    mode = settings.raw_mode
    keyring = build_keyring(settings) if mode == "encrypted" else None
    retainer = None
    if mode == "reference":
        where = settings.retained_segments
        if where is None and settings.directory is not None:
            where = settings.directory / "segments"
        if where is not None:
            retainer = SegmentRetainer(where)
    locator = directory_locator(segment_dirs) if segment_dirs else None
    return DeadLetterRecorder(
        store,
        schema=schema,
        masker=masker,
        transform=transform,
        keyring=keyring,
        retainer=retainer,
        locator=locator,
        segment_encryption=segment_encryption,
    )
