"""`cassandra-cdc audit --config pipeline.yaml`: check the configured sinks for unmasked classified values.

Wires :func:`cassandra_cdc.transform.audit.audit` to a pipeline configuration: the raw values come
from the configured sources' segments (cdc_raw, plus the archive when retention archives), the
masker from the ``masking`` section, and each sink's final-state rows from small readers:
``SELECT * FROM "<schema>"."<table>"`` (the sink's view) over psycopg for PostgreSQL and
TimescaleDB, and the view ``ks.t`` over the ClickHouse client for ClickHouse.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.config.model import (
    ClickHouseSinkSettings,
    PipelineConfig,
    PostgresSinkSettings,
    SinkSettings,
    TimescaleSinkSettings,
)
from cassandra_cdc.pipeline.runner import PipelineSetupError, build_nodes, build_schema, table_selector
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.transform import Masker, MaskingConfigError, masker_from_config
from cassandra_cdc.transform.audit import AuditReport, RowSource, audit, read_raw_changes

log = logging.getLogger(__name__)

EXIT_PASSED = 0
EXIT_LEAK = 1
EXIT_CONFIG = 2


class SinkReader(Protocol):
    """Reads a sink's final state: what users query."""

    name: str

    def rows(self, table: TableSchema, limit: int | None = None) -> list[dict[str, Any]]: ...

    def count(self, table: TableSchema) -> int: ...

    def close(self) -> None: ...


def _quote_pg(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_ch(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class PostgresReader:
    """Rows of the PostgreSQL/TimescaleDB sink's view ``"<schema>"."<table>"`` as dicts (psycopg types)."""

    def __init__(
        self, name: str, dsn: str, *, schema_names: Mapping[str, str] | None = None, pglite: bool = False
    ) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.name = name
        self.schema_names = dict(schema_names or {})
        # PGlite serves one session to every connection: no server-side prepared statements there.
        extra: dict[str, Any] = {"prepare_threshold": None} if pglite else {}
        self._conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row, **extra)

    def relation(self, table: TableSchema) -> str:
        return f"{_quote_pg(self.schema_names.get(table.keyspace, table.keyspace))}.{_quote_pg(table.name)}"

    def rows(self, table: TableSchema, limit: int | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM {self.relation(table)}" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return list(self._conn.execute(sql).fetchall())

    def count(self, table: TableSchema) -> int:
        row = self._conn.execute(f"SELECT count(*) AS n FROM {self.relation(table)}").fetchone()
        return int(row["n"]) if row is not None else 0

    def close(self) -> None:
        self._conn.close()


class ClickHouseReader:
    """Rows of the ClickHouse sink's view ``ks.t`` as dicts (metadata column ``__writetime`` left out)."""

    def __init__(self, name: str, url: str) -> None:
        from cassandra_cdc.sinks.clickhouse.client import connect

        self.name = name
        self._client = connect(url)

    @staticmethod
    def relation(table: TableSchema) -> str:
        return f"{_quote_ch(table.keyspace)}.{_quote_ch(table.name)}"

    def rows(self, table: TableSchema, limit: int | None = None) -> list[dict[str, Any]]:
        names = [c.name for c in table.columns]
        columns = ", ".join(_quote_ch(n) for n in names)
        sql = f"SELECT {columns} FROM {self.relation(table)}" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [dict(zip(names, row, strict=True)) for row in self._client.query(sql)]

    def count(self, table: TableSchema) -> int:
        return int(self._client.query(f"SELECT count() FROM {self.relation(table)}")[0][0])

    def close(self) -> None:
        self._client.close()


def open_reader(name: str, settings: SinkSettings) -> SinkReader:
    """A reader of sink ``name``'s final state (connects now; raises on an unreachable sink)."""
    if isinstance(settings, TimescaleSinkSettings):
        return PostgresReader(name, settings.dsn.get_secret_value(), schema_names=settings.schema_names, pglite=True)
    if isinstance(settings, PostgresSinkSettings):
        return PostgresReader(name, settings.dsn.get_secret_value(), schema_names=settings.schema_names)
    if isinstance(settings, ClickHouseSinkSettings):
        return ClickHouseReader(name, settings.url.get_secret_value())
    raise PipelineSetupError(f"sinks.{name}.type: no reader for this sink type")


def masker_for(config: PipelineConfig, schema: Schema) -> Masker:
    """The masker the pipeline runs with (MaskingConfigError when the section does not compile)."""
    secrets = {name: value.get_secret_value() for name, value in config.secrets.items()}
    return masker_from_config(config.masking, schema, secrets)


def source_segments(config: PipelineConfig, node_id: str) -> list[Path]:
    """Every segment of one source: in its cdc_raw, and in the archive when retention archives.

    A segment found in both (retention moved it between the two listings) is read once.
    """
    source = config.sources[node_id]
    directories = [source.cdc_raw]
    retention = config.retention
    if retention.mode == "archive" and retention.archive_dir is not None:
        directories.append(retention.archive_dir / node_id)
    by_name: dict[str, Path] = {}
    for directory in directories:
        if directory.is_dir():
            for path in sorted(directory.glob("CommitLog-*.log")):
                by_name.setdefault(path.name, path)
    return [by_name[name] for name in sorted(by_name, key=_segment_order)]


def _segment_order(name: str) -> tuple[int, str]:
    # CommitLog-<version>-<id>.log: by id, so changes are read in the order they were written.
    stem = name.removesuffix(".log").split("-")
    return (int(stem[-1]) if stem[-1].isdigit() else 0, name)


def raw_changes(config: PipelineConfig, schema: Schema, errors: list[str]) -> Iterator[RowChange]:
    """Every raw (unmasked) change in the configured sources' segments, for the selected tables."""
    selected = table_selector(config.tables)
    for node in build_nodes(config):
        segments = source_segments(config, node.node_id)
        for change in read_raw_changes(segments, schema, encryption=node.encryption, node=node.node_id, errors=errors):
            table = schema.by_name(change.keyspace, change.table)
            if table is not None and selected(table):
                yield change


@dataclass(slots=True)
class AuditRun:
    report: AuditReport
    notes: list[str] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No leak, and every sink was read (an unread sink is not proven clean)."""
        return self.report.ok and not self.unreachable

    @property
    def exit_code(self) -> int:
        return EXIT_PASSED if self.ok else EXIT_LEAK


def run_audit(
    config: PipelineConfig,
    *,
    schema: Schema | None = None,
    sinks: Sequence[str] | None = None,
    changes: Iterable[RowChange] | None = None,
    readers: Mapping[str, SinkReader] | None = None,
) -> AuditRun:
    """Audit the configured (enabled) sinks, or those named in ``sinks``.

    ``changes`` (raw changes) replaces reading the sources' segments; ``readers`` replaces
    connecting to the sinks. Raises PipelineSetupError for an unknown sink name or a masking
    section that does not compile; a sink that cannot be reached is listed in ``unreachable``
    (and makes the audit fail: it was not checked).
    """
    if schema is None:
        schema, load_report = build_schema(config.schema_)
        load_report.log(log)
    try:
        masker = masker_for(config, schema)
    except MaskingConfigError as exc:
        raise PipelineSetupError(str(exc)) from exc
    names = list(sinks) if sinks else [n for n, s in config.sinks.items() if s.enabled]
    for name in names:
        if name not in config.sinks:
            raise PipelineSetupError(f"sinks.{name}: no such sink (configured: {', '.join(config.sinks)})")
    notes: list[str] = []
    if not any(masker.has_classified(ks, t) for ks, t in masker.state.tables):
        notes.append("masking: no column is classified (pii/phi): nothing to audit")
    if changes is None and config.retention.mode == "delete":
        notes.append(
            "retention.mode is delete: only segments still in cdc_raw are read, so values from segments "
            "already deleted are not checked (use mode archive, or keep)"
        )
    errors: list[str] = []
    source = changes if changes is not None else raw_changes(config, schema, errors)
    unreachable: dict[str, str] = {}
    with ExitStack() as stack:
        opened: dict[str, SinkReader] = {}
        for name in names:
            if readers is not None and name in readers:
                opened[name] = readers[name]
                continue
            try:
                reader = open_reader(name, config.sinks[name])
            except PipelineSetupError:
                raise
            except Exception as exc:  # any driver error: the sink is reported, the others still checked
                unreachable[name] = first_line(exc)
                continue
            stack.callback(reader.close)
            opened[name] = reader
        report = audit(schema, masker, {name: _all_rows(reader) for name, reader in opened.items()}, changes=source)
    report.read_errors.extend(errors)
    return AuditRun(report, notes, unreachable)


def _all_rows(reader: SinkReader) -> RowSource:
    def rows(table: TableSchema) -> list[dict[str, Any]]:
        return reader.rows(table)

    return rows


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``: one line for a report."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def render(run: AuditRun) -> str:
    lines = [f"note: {note}" for note in run.notes]
    lines.append(run.report.render())
    for name, reason in run.unreachable.items():
        lines.append(f"audit FAILED: sink {name} could not be read: {reason}")
    return "\n".join(lines)
