"""The TimescaleDB sink: the PostgreSQL sink's core, with the state table as a hypertable.

Differences from PostgresSink (docs/sinks-postgres.md, "TimescaleDB"):

- staging uses multi-row INSERT (InsertLoader): the PGlite server has no COPY FROM STDIN, and one
  session only (psycopg must not prepare statements: ``prepare_threshold=None``);
- the state table ``t__state`` of a table with a configured time column becomes a hypertable on
  it. The time column must be a primary-key column of type timestamp (never null); it joins the
  state table's primary key. Any other table stays a plain table, with a warning;
- chunk interval, compression and retention settings are passed to TimescaleDB as given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.sinks.base import ConflictRules, SinkError
from cassandra_cdc.sinks.postgres.ddl import TableLayout, lit, q
from cassandra_cdc.sinks.postgres.writer import InsertLoader, Loader, PostgresSink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HypertableOptions:
    """How one table's state becomes a hypertable."""

    time_column: str
    chunk_interval: str | None = None  # e.g. "1 day"
    compress_after: str | None = None  # e.g. "7 days": add_compression_policy
    retention: str | None = None  # e.g. "90 days": add_retention_policy


class TimescaleSink(PostgresSink):
    """A sink into TimescaleDB. ``hypertables`` maps ``"keyspace.table"`` to its options."""

    def __init__(
        self,
        dsn: str,
        *,
        name: str = "timescale",
        hypertables: dict[str, HypertableOptions] | None = None,
        conflict_rules: ConflictRules = ConflictRules.CASSANDRA_4,
        overrides: dict[str, dict[str, str]] | None = None,
        schema_names: dict[str, str] | None = None,
        positions_schema: str = "public",
        grace_seconds: int | None = None,
        loader: Loader | None = None,
        connect_kwargs: dict[str, Any] | None = None,
        background: bool = False,
    ) -> None:
        super().__init__(
            dsn,
            name=name,
            conflict_rules=conflict_rules,
            overrides=overrides,
            schema_names=schema_names,
            positions_schema=positions_schema,
            grace_seconds=grace_seconds,
            loader=loader or InsertLoader(),
            connect_kwargs={"prepare_threshold": None, **(connect_kwargs or {})},
            background=background,
        )
        self.hypertables = hypertables or {}
        self.plain_tables: list[str] = []  # tables left plain (no valid time column), for reports

    def _options(self, table: TableSchema) -> HypertableOptions | None:
        options = self.hypertables.get(table.qualified_name)
        if options is None:
            return None
        col = table.column(options.time_column)
        if col is None or not col.is_primary_key or col.type != T.TIMESTAMP:
            log.warning(
                "%s: time column %r is not a timestamp primary-key column; the state table stays a plain table",
                table.qualified_name,
                options.time_column,
            )
            return None
        return options

    def _state_key_extra(self, table: TableSchema) -> list[str]:
        options = self._options(table)
        return [] if options is None else [options.time_column]

    def _after_create(self, cur: psycopg.Cursor[Any], layout: TableLayout) -> None:
        options = self._options(layout.table)
        if options is None:
            self.plain_tables.append(layout.table.qualified_name)
            return
        cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        state = layout.state
        column = q(options.time_column)
        cur.execute(f"ALTER TABLE {state} ALTER COLUMN {column} SET NOT NULL")
        args = f"{lit(state)}, {lit(options.time_column)}, if_not_exists => TRUE"
        if options.chunk_interval:
            args += f", chunk_time_interval => INTERVAL {lit(options.chunk_interval)}"
        try:
            cur.execute(f"SELECT create_hypertable({args})")
            if options.compress_after:
                cur.execute(f"ALTER TABLE {state} SET (timescaledb.compress)")
                after = lit(options.compress_after)
                cur.execute(f"SELECT add_compression_policy({lit(state)}, INTERVAL {after}, if_not_exists => TRUE)")
            if options.retention:
                keep = lit(options.retention)
                cur.execute(f"SELECT add_retention_policy({lit(state)}, INTERVAL {keep}, if_not_exists => TRUE)")
        except psycopg.Error as exc:
            raise SinkError(f"{self.name}: making {state} a hypertable failed: {exc}", retryable=False) from exc

    def is_hypertable(self, keyspace: str, table: str) -> bool:
        """Whether TimescaleDB lists the state table of ``keyspace.table`` as a hypertable."""
        layout = self.layouts[(keyspace, table)]
        conn = self._connect()
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_schema = %s "
                "AND hypertable_name = %s",
                (layout.schema_name, layout.table.name + "__state"),
            )
            row = cur.fetchone()
        conn.commit()
        return bool(row and row[0])
