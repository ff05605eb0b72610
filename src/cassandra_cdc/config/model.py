"""The pipeline configuration: what a ``pipeline.yaml`` may say, validated (docs/configuration.md).

``PipelineConfig`` is a pydantic-settings model; ``config.loader.load_config`` fills it from the YAML
file, a ``.env`` file and ``CDC_*`` environment variables (nested with ``__``), with secret
references resolved. Relative paths are taken relative to the configuration file's directory
(``resolve_relative_paths`` does it after validation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cassandra_cdc.commitlog.encryption import EncryptionConfig

ENV_PREFIX = "CDC_"
ENV_NESTED_DELIMITER = "__"


def _expand_user(path: Path) -> Path:
    return path.expanduser()


# A file or directory path; relative ones are relative to the configuration file.
ConfigPath = Annotated[Path, AfterValidator(_expand_user)]
# Sink names are addressed by environment variables (CDC_SINKS__<NAME>__...): identifiers only.
SinkName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)]
NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$", max_length=255)]
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --- sources ---------------------------------------------------------------------------------------


class EncryptionSettings(_Section):
    """The key of encrypted commit-log segments: a JCEKS keystore entry, or a raw AES key."""

    keystore: ConfigPath | None = None
    keystore_password: SecretStr | None = None
    key_alias: str | None = None
    key_password: SecretStr | None = None
    key: SecretStr | None = Field(default=None, description="raw AES key, hex or base64")

    @model_validator(mode="after")
    def _one_key(self) -> EncryptionSettings:
        if (self.keystore is None) == (self.key is None):
            raise ValueError("give either keystore (with keystore_password and key_alias) or key, not both or none")
        if self.keystore is not None and (self.keystore_password is None or self.key_alias is None):
            raise ValueError("keystore needs keystore_password and key_alias")
        return self

    def build(self) -> EncryptionConfig:
        """Load the key (reads the keystore); raises EncryptionError/OSError naming the file."""
        if self.key is not None:
            return EncryptionConfig.from_raw_key(self.key.get_secret_value())
        assert self.keystore is not None and self.keystore_password is not None and self.key_alias is not None
        key_password = self.key_password.get_secret_value() if self.key_password is not None else None
        return EncryptionConfig.from_keystore(
            self.keystore, self.keystore_password.get_secret_value(), self.key_alias, key_password
        )


class SourceSettings(_Section):
    """One Cassandra node: its cdc_raw directory (as this process sees it)."""

    cdc_raw: ConfigPath
    encryption: EncryptionSettings | None = None
    mode: Literal["auto", "indexed", "legacy"] = "auto"
    stale_index_timeout: PositiveFloat = 60.0
    cdc_total_space: PositiveInt | None = Field(
        default=None,
        description="bytes: the node's cdc_total_space (default, as Cassandra: min(4096 MiB, 1/8 of the volume))",
    )


# --- schema and tables -----------------------------------------------------------------------------


class ClusterSchemaSettings(_Section):
    contact_points: list[str] = Field(min_length=1)
    port: int = Field(default=9042, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    keyspaces: list[str] | None = None
    connect_timeout: PositiveFloat = 10.0


class SchemaSettings(_Section):
    """Where table definitions come from: exactly one of ``cql``, ``rows``, ``cluster``."""

    cql: ConfigPath | None = Field(default=None, description="a .cql file, or a directory of them")
    rows: ConfigPath | None = Field(default=None, description="recorded system_schema rows (.json)")
    cluster: ClusterSchemaSettings | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SchemaSettings:
        given = [name for name in ("cql", "rows", "cluster") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of cql, rows, cluster (got {', '.join(given) or 'none'})")
        return self


class TableSelection(_Section):
    """``keyspace.table`` glob patterns; with no ``include``, every table with ``cdc = true``."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if "." not in pattern:
                raise ValueError(f"pattern {pattern!r} must be keyspace.table (globs allowed: 'shop.*')")
        return patterns


# --- retry, batching ------------------------------------------------------------------------------


class RetrySettings(_Section):
    """Exponential backoff with jitter: wait min(cap, base * multiplier**n) + uniform(0, jitter)."""

    attempts: int = Field(default=10, ge=0, description="tries of a batch before the sink is parked (0: forever)")
    base: PositiveFloat = 0.5
    cap: PositiveFloat = 30.0
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.5, ge=0.0)

    @model_validator(mode="after")
    def _cap_at_least_base(self) -> RetrySettings:
        if self.cap < self.base:
            raise ValueError(f"cap ({self.cap}) must be >= base ({self.base})")
        return self


class BatchingSettings(_Section):
    batch_size: PositiveInt = 5000
    flush_interval: PositiveFloat = 0.5
    poll_interval: PositiveFloat = 0.05


# --- sinks -----------------------------------------------------------------------------------------


class _SinkBase(_Section):
    enabled: bool = True
    batch_size: PositiveInt | None = Field(default=None, description="default: batching.batch_size")
    flush_interval: PositiveFloat | None = Field(default=None, description="default: batching.flush_interval")
    conflict_rules: Literal["3.x", "4.0+"] = "4.0+"
    tombstone_grace: int | None = Field(default=None, ge=0, description="seconds; default: each table's gc_grace")
    purge_interval: float = Field(default=3600.0, ge=0, description="seconds between purges (0: never)")
    # {"keyspace.table": {"column": "destination type"}}
    type_overrides: dict[str, dict[str, str]] = Field(default_factory=dict)
    retry: RetrySettings | None = None

    @field_validator("type_overrides")
    @classmethod
    def _override_keys(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for table in value:
            if table.count(".") != 1:
                raise ValueError(f"key {table!r} must be keyspace.table")
        return value


class PostgresSinkSettings(_SinkBase):
    type: Literal["postgres"]
    dsn: SecretStr
    schema_names: dict[str, str] = Field(default_factory=dict, description="keyspace -> PostgreSQL schema")
    positions_schema: str = "public"
    loader: Literal["copy", "insert"] | None = Field(default=None, description="default: copy (timescaledb: insert)")
    # Overlaps the database's work with folding the next batch; pays off when the database is remote
    # (network waits release the GIL). Against a local server on 2 cores it measured ~10% slower.
    background_commit: bool = Field(default=False, description="commit each batch on a thread of the sink's own")
    # libpq parameters added to the DSN's (it wins): timeouts so a partition cannot hang the lane.
    connect_options: dict[str, str] = Field(
        default_factory=lambda: {
            "connect_timeout": "10",
            "keepalives": "1",
            "keepalives_idle": "30",
            "keepalives_interval": "10",
            "keepalives_count": "3",
            "tcp_user_timeout": "60000",
        },
        description="libpq parameters added unless the DSN sets them",
    )
    query_timeout: float = Field(
        default=300.0, ge=0, description="seconds one command may wait for the server before the connection is dropped"
    )


class HypertableSettings(_Section):
    time_column: str
    chunk_interval: str = "7 days"
    compress_after: str | None = None
    retention: str | None = Field(default=None, description="drop chunks older than this interval")


class TimescaleSinkSettings(PostgresSinkSettings):
    type: Literal["timescaledb"]  # type: ignore[assignment]
    hypertables: dict[str, HypertableSettings] = Field(default_factory=dict, description="keyspace.table -> settings")


class ClickHouseSinkSettings(_SinkBase):
    type: Literal["clickhouse"]
    url: SecretStr = Field(description="http(s)://user:password@host:port, or chdb:///path")
    metadata_database: str = "cassandra_cdc"
    # ClickHouse wants few, large inserts: batches are buffered into one block per table.
    insert_interval: PositiveFloat = Field(default=1.0, description="seconds a buffered change waits at most")
    insert_changes: PositiveInt = Field(default=20_000, description="changes that start an insert at once")


SinkSettings = Annotated[
    PostgresSinkSettings | TimescaleSinkSettings | ClickHouseSinkSettings, Field(discriminator="type")
]
SINK_TYPES = ("postgres", "timescaledb", "clickhouse")


# --- operations ------------------------------------------------------------------------------------


class HttpSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535, description="0: any free port")


class ObservabilitySettings(_Section):
    http: HttpSettings = Field(default_factory=HttpSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    otlp_endpoint: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class RetentionSettings(_Section):
    """What happens to a segment once every sink has committed past it and it is COMPLETED."""

    mode: Literal["delete", "archive", "keep"] = "delete"
    archive_dir: ConfigPath | None = None
    interval: PositiveFloat = 5.0

    @model_validator(mode="after")
    def _archive_dir(self) -> RetentionSettings:
        if self.mode == "archive" and self.archive_dir is None:
            raise ValueError("mode 'archive' needs archive_dir")
        return self


class DiskGuardSettings(_Section):
    """Keeping cdc_raw from filling up (docs/resilience.md).

    A sink parked longer than ``max_parked_seconds``, or more than ``max_sink_lag_bytes`` behind on
    a node, is detached: it stops, is marked as needing a re-sync (a marker file in ``state_dir``)
    and retention no longer waits for it. None disables that trigger.
    """

    warn_fraction: float = Field(default=0.8, gt=0, le=1, description="warn when cdc_raw is this full")
    max_sink_lag_bytes: PositiveInt | None = None
    max_parked_seconds: PositiveFloat | None = None
    state_dir: ConfigPath | None = Field(default=None, description="where re-sync markers live (default: no marker)")


class ParallelismSettings(_Section):
    max_active_lanes: PositiveInt | None = Field(
        default=None, description="sink lanes decoding/writing at once (default: all; each lane is a thread)"
    )


class DeadLetterPostgresSettings(_Section):
    dsn: SecretStr
    table: str = "cdc_dead_letters"
    schema_name: str = Field(default="public", alias="schema")


class DeadLetterSettings(_Section):
    """The dead-letter queue (docs/dead-letter-queue.md): a rotated JSONL store, or a PostgreSQL table."""

    directory: ConfigPath | None = Field(default=None, description="JSONL store directory")
    path: ConfigPath | None = Field(default=None, description="older name of directory")
    max_bytes: PositiveInt = 64 * 1024 * 1024
    max_files: PositiveInt = 20
    postgres: DeadLetterPostgresSettings | None = None
    keys: dict[str, SecretStr] = Field(default_factory=dict, description="key id -> AES key sealing raw entries")
    active_key: str | None = None
    raw: Literal["encrypted", "reference", "none"] | None = Field(
        default=None, description="how raw entries are kept (default: encrypted with keys, else reference)"
    )
    retained_segments: ConfigPath | None = None


class ShutdownSettings(_Section):
    grace_period: PositiveFloat = 30.0
    supervise_interval: PositiveFloat = 0.2


class VaultSettings(_Section):
    """HashiCorp Vault / OpenBao for ``vault:`` secret references (defaults: VAULT_ADDR, VAULT_TOKEN)."""

    address: str | None = None
    token: SecretStr | None = None
    token_file: ConfigPath | None = None
    namespace: str | None = None
    verify: bool | str = True
    timeout: PositiveFloat = 10.0


# --- the whole file --------------------------------------------------------------------------------


class PipelineConfig(BaseSettings):
    """A pipeline: source nodes, schema, table selection, sinks and how to run them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
        extra="forbid",
        populate_by_name=True,
        validate_default=True,
    )

    sources: dict[NodeId, SourceSettings] = Field(min_length=1)
    # "schema" would shadow BaseModel.schema: the attribute is schema_, the key in files "schema".
    schema_: SchemaSettings = Field(validation_alias=AliasChoices("schema", "schema_"))
    tables: TableSelection = Field(default_factory=TableSelection)
    sinks: dict[SinkName, SinkSettings] = Field(min_length=1)
    masking: dict[str, Any] = Field(default_factory=dict, description="passed to cassandra_cdc.transform")
    # Named secrets for sections that refer to them by name (masking: "secret:NAME").
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    parallelism: ParallelismSettings = Field(default_factory=ParallelismSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    disk_guard: DiskGuardSettings = Field(default_factory=DiskGuardSettings)
    dead_letter: DeadLetterSettings = Field(default_factory=DeadLetterSettings)
    shutdown: ShutdownSettings = Field(default_factory=ShutdownSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_config merges file, .env and environment itself (case-insensitive names, secret
        # references, provenance for error messages) and passes the result in.
        return (init_settings,)

    @model_validator(mode="after")
    def _unique_names(self) -> PipelineConfig:
        for what, names in (("sinks", list(self.sinks)), ("sources", list(self.sources))):
            seen: dict[str, str] = {}
            for name in names:
                other = seen.setdefault(name.lower(), name)
                if other != name:
                    raise ValueError(f"{what}: names {other!r} and {name!r} differ only in case")
        return self

    def sink_batch_size(self, name: str) -> int:
        return self.sinks[name].batch_size or self.batching.batch_size

    def sink_flush_interval(self, name: str) -> float:
        return self.sinks[name].flush_interval or self.batching.flush_interval

    def sink_retry(self, name: str) -> RetrySettings:
        return self.sinks[name].retry or self.retry


def resolve_relative_paths(settings: BaseModel, base_dir: Path) -> None:
    """Make every relative path in ``settings`` (recursively) relative to ``base_dir``, in place."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(settings, name, base_dir / value)
        elif isinstance(value, BaseModel):
            resolve_relative_paths(value, base_dir)
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, BaseModel):
                    resolve_relative_paths(item, base_dir)
