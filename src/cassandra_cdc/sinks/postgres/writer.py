"""The PostgreSQL sink: folds each batch in Python, stages it, and upserts it with Cassandra's rules.

A batch is one transaction: for each table the folded rows are loaded into session-local staging
tables (COPY, or multi-row INSERT where COPY is unavailable), merged into the state tables by the
upserts of ddl.py, the covering range deletions of the touched rows are recomputed, and the source
positions are written; then it commits. A failure rolls everything back, positions included.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import errors as pg_errors

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.schema.model import TableSchema
from cassandra_cdc.sinks.background import DurablePositions, InFlight
from cassandra_cdc.sinks.base import ChangeBatch, ConflictRules, SinkError
from cassandra_cdc.sinks.failpoints import AFTER_DATA_BEFORE_POSITION, failpoint
from cassandra_cdc.sinks.postgres import positions as pos_sql
from cassandra_cdc.sinks.postgres.ddl import TableLayout, build_layout, q
from cassandra_cdc.sinks.postgres.merge import TableMerger, TablePlan, fold
from cassandra_cdc.sinks.postgres.purge import purge_statements

log = logging.getLogger(__name__)

_MAX_PARAMS = 65535


class Loader(Protocol):
    """Puts staged rows into a (temporary) staging table."""

    def load(
        self, cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None: ...


class CopyLoader:
    """COPY ... FROM STDIN (text format): the fast path on a real PostgreSQL server."""

    def load(self, cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        cols = ", ".join(q(c) for c in columns)
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class InsertLoader:
    """Multi-row INSERT ... VALUES: for servers without COPY FROM STDIN (PGlite)."""

    def __init__(self, max_rows: int = 500) -> None:
        self.max_rows = max_rows

    def load(self, cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        cols = ", ".join(q(c) for c in columns)
        per_stmt = max(1, min(self.max_rows, _MAX_PARAMS // max(1, len(columns))))
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        chunk: list[Any] = []
        count = 0
        for row in rows:
            chunk.extend(row)
            count += 1
            if count == per_stmt:
                cur.execute(f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * count), chunk)
                chunk, count = [], 0
        if count:
            cur.execute(f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * count), chunk)


@dataclass(slots=True)
class _Apply:
    """A folded batch and the positions it completes: one transaction."""

    mergers: dict[tuple[str, str], TableMerger]
    positions: dict[str, SourcePosition]


def _retryable(exc: BaseException) -> bool:
    return isinstance(
        exc,
        pg_errors.OperationalError
        | pg_errors.SerializationFailure
        | pg_errors.DeadlockDetected
        | pg_errors.LockNotAvailable
        | pg_errors.AdminShutdown
        | psycopg.InterfaceError,
    ) and not isinstance(exc, pg_errors.ProgramLimitExceeded)


class PostgresSink:
    """A sink into PostgreSQL; see docs/sinks-postgres.md.

    ``overrides`` maps ``"keyspace.table"`` to ``{column: PostgreSQL type}``. ``schema_names`` maps a
    keyspace to the PostgreSQL schema of its tables (default: the keyspace's name).
    ``grace_seconds`` overrides each table's gc_grace_seconds for purge().
    ``background``: each folded batch is written (staged, merged, positions, commit) on a thread of
    the sink's own while the caller folds the next one, so that Python and the server work at the
    same time; ``write_batch`` then returns before the batch is committed and
    :meth:`durable_positions` says what is (``sinks.<name>.background_commit``). Off by default:
    ``write_batch`` returns once its transaction has committed.
    """

    def __init__(
        self,
        dsn: str,
        *,
        name: str = "postgres",
        conflict_rules: ConflictRules = ConflictRules.CASSANDRA_4,
        overrides: dict[str, dict[str, str]] | None = None,
        schema_names: dict[str, str] | None = None,
        positions_schema: str = "public",
        grace_seconds: int | None = None,
        loader: Loader | None = None,
        connect_kwargs: dict[str, Any] | None = None,
        background: bool = False,
    ) -> None:
        self.name = name
        self.dsn = dsn
        self.conflict_rules = conflict_rules
        self.overrides = overrides or {}
        self.schema_names = schema_names or {}
        self.positions_schema = positions_schema
        self.grace_seconds = grace_seconds
        self.loader: Loader = loader or CopyLoader()
        self.connect_kwargs = connect_kwargs or {}
        self.layouts: dict[tuple[str, str], TableLayout] = {}
        self._conn: psycopg.Connection[Any] | None = None
        self._staging: dict[tuple[str, str], dict[str, str]] = {}
        # Staging names of this sink's own: PGlite serves every client one shared session, where
        # another sink's temporary tables (of other layouts) may already hold the plain names.
        self._stage_prefix = f"cdc_stage_{uuid.uuid4().hex[:8]}"
        self._plans: dict[tuple[str, str], TablePlan] = {}
        self._applies: InFlight[_Apply] = InFlight(name, self._apply, background=background)
        self._durable = DurablePositions()

    # --- hooks for the TimescaleDB sink ---

    def _state_key_extra(self, table: TableSchema) -> list[str]:
        return []

    def _after_create(self, cur: psycopg.Cursor[Any], layout: TableLayout) -> None:
        """Runs after a table's objects are created (TimescaleDB makes the hypertable here)."""

    # --- connection ---

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        try:
            conn = psycopg.connect(self.dsn, autocommit=False, **self.connect_kwargs)
        except psycopg.Error as exc:
            raise SinkError(f"{self.name}: cannot connect: {exc}", retryable=True) from exc
        self._conn = conn
        self._staging = {}
        return conn

    def _staging_tables(self, cur: psycopg.Cursor[Any], layout: TableLayout) -> dict[str, str]:
        key = (layout.table.keyspace, layout.table.name)
        found = self._staging.get(key)
        if found is not None:
            return found
        index = len(self._staging)
        names: dict[str, str] = {}
        sources = {"state": layout.state, "elements": layout.elements, "shards": layout.shards}
        sources |= {"pdel": layout.partition_deletions, "ranges": layout.ranges, "static": layout.static}
        for kind, source in sources.items():
            if kind == "static" and not layout.has_static:
                continue
            if kind == "elements" and not (layout.complex or layout.static_complex):
                continue
            if kind == "shards" and not layout.counters:
                continue
            if kind == "ranges" and not layout.clustering:
                continue
            name = f"pg_temp.{q(f'{self._stage_prefix}_{index}_{kind}')}"
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE {source}) ON COMMIT DELETE ROWS")
            names[kind] = name
        self._staging[key] = names
        return names

    # --- Sink protocol ---

    def start(self, tables: list[TableSchema]) -> None:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                for stmt in pos_sql.create_sql(self.positions_schema):
                    cur.execute(stmt)
                for table in tables:
                    layout = build_layout(
                        table,
                        schema_name=self.schema_names.get(table.keyspace),
                        overrides=self.overrides.get(table.qualified_name),
                        state_key_extra=self._state_key_extra(table),
                    )
                    for stmt in layout.create_statements():
                        cur.execute(stmt)
                    self._after_create(cur, layout)
                    for stmt in layout.view_statements():
                        cur.execute(stmt)
                    self.layouts[(table.keyspace, table.name)] = layout
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise SinkError(
                f"{self.name}: creating destination tables failed: {exc}", retryable=_retryable(exc)
            ) from exc

    def committed_positions(self) -> dict[str, SourcePosition]:
        self._applies.settle(wait=True)  # the connection is the writer's until then
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(pos_sql.select_sql(self.positions_schema), (self.name,))
                rows = cur.fetchall()
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise SinkError(f"{self.name}: reading positions failed: {exc}", retryable=_retryable(exc)) from exc
        committed = pos_sql.from_rows(rows)
        self._durable.advance(committed)
        return committed

    def durable_positions(self) -> dict[str, SourcePosition]:
        """Positions committed with their data (a batch written in the background counts once committed)."""
        return self._durable.snapshot()

    def flush_if_due(self) -> None:
        """Collect the batch written in the background if it has finished (retrying it if it failed)."""
        self._applies.settle(wait=False)

    def flush(self) -> None:
        """Return once every batch given is committed."""
        self._applies.settle(wait=True)

    def _fold(self, changes: list[RowChange]) -> dict[tuple[str, str], TableMerger]:
        plans = self._plans
        rules = self.conflict_rules
        mergers = {key: TableMerger(layout, rules, plans.get(key)) for key, layout in self.layouts.items()}
        for key, merger in mergers.items():
            plans.setdefault(key, merger.plan)

        def unknown(change: RowChange) -> None:
            raise SinkError(
                f"{self.name}: change for table {change.keyspace}.{change.table} not started", retryable=False
            )

        fold(mergers, changes, unknown)
        return mergers

    def write_batch(self, batch: ChangeBatch) -> None:
        self._applies.settle(wait=False)
        folded = self._fold(batch.changes)  # a refused value fails here, before anything is taken
        # Raises while an earlier batch still fails: this one is not taken, and the caller retries it.
        self._applies.submit(_Apply(folded, dict(batch.positions)))

    def _apply(self, work: _Apply) -> None:
        """One transaction: stage and merge every table's rows, then the positions; commit."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                statements = self._stage_all(cur, work.mergers)
                if statements:
                    self._run(cur, statements)
                # A crash here aborts the transaction: neither the data nor the position lands.
                failpoint(AFTER_DATA_BEFORE_POSITION)
                if work.positions:
                    cur.executemany(
                        pos_sql.upsert_sql(self.positions_schema), pos_sql.upsert_params(self.name, work.positions)
                    )
            conn.commit()
        except psycopg.Error as exc:
            self._rollback(conn)
            raise SinkError(f"{self.name}: batch failed: {exc}", retryable=_retryable(exc)) from exc
        except BaseException:
            self._rollback(conn)
            raise
        self._durable.advance(work.positions)

    def _run(self, cur: psycopg.Cursor[Any], statements: list[str]) -> None:
        if self.connect_kwargs.get("prepare_threshold", 5) is None:
            # Servers without prepared statements (PGlite): one statement at a time.
            for statement in statements:
                cur.execute(statement)
            return
        # Pipeline mode: every merge of the chunk sent at once and answered together (one wait for
        # the worker thread), each a prepared statement (the wide upserts are costly to plan).
        with cur.connection.pipeline():
            for statement in statements:
                cur.execute(statement, prepare=True)

    def _stage_all(self, cur: psycopg.Cursor[Any], mergers: dict[tuple[str, str], TableMerger]) -> list[str]:
        """Load every table's staged rows; returns the merge statements to run."""
        statements: list[str] = []
        for key, merger in mergers.items():
            self._stage(cur, self.layouts[key], merger, statements)
        return statements

    def _rollback(self, conn: psycopg.Connection[Any]) -> None:
        try:
            conn.rollback()
        except psycopg.Error:
            # E.g. a reset in the middle of a pipeline leaves a command pending: the session is unusable.
            log.warning("rollback failed; the connection will be reopened")
            conn.close()
            if self._conn is conn:
                self._conn = None

    def _stage(
        self,
        cur: psycopg.Cursor[Any],
        layout: TableLayout,
        merger: TableMerger,
        statements: list[str],
    ) -> None:
        """Load one table's staged rows and append, in order, the statements that merge them."""
        staged = merger.staged
        if not (
            staged.state
            or staged.static
            or staged.elements
            or staged.shards
            or staged.partition_deletions
            or staged.ranges
        ):
            return
        stage = self._staging_tables(cur, layout)
        min_expiry = self.conflict_rules is ConflictRules.CASSANDRA_3

        def load(kind: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
            self.loader.load(cur, stage[kind], columns, rows)
            return stage[kind]

        if staged.state:
            statements.append(
                layout.merge_state_sql(
                    load("state", layout.state_columns, staged.state.values()), min_expiry=min_expiry
                )
            )
        if staged.static:
            table = load("static", layout.static_columns, staged.static.values())
            statements.append(layout.merge_static_sql(table, min_expiry=min_expiry))
        if staged.elements:
            table = load("elements", [n for n, _ in layout.ELEMENT_DEFS], staged.elements.values())
            statements.append(layout.merge_elements_sql(table, min_expiry=min_expiry))
        if staged.shards:
            table = load("shards", [n for n, _ in layout.SHARD_DEFS], staged.shards.values())
            statements.append(layout.merge_shards_sql(table))
        if staged.partition_deletions:
            table = load("pdel", [n for n, _ in layout.partition_deletion_defs()], staged.partition_deletions.values())
            statements.append(layout.merge_partition_deletions_sql(table))
        if staged.ranges:
            table = load("ranges", [n for n, _ in layout.ranges_defs()], staged.ranges.values())
            statements.append(layout.merge_ranges_sql(table))
            statements.append(layout.refresh_ranges_for_partitions_sql(table))
        if staged.state and layout.clustering:
            statements.append(layout.refresh_ranges_for_rows_sql(stage["state"]))

    def purge(self, now: int) -> int:
        self._applies.settle(wait=True)  # the connection is the writer's until then
        conn = self._connect()
        total = 0
        try:
            with conn.cursor() as cur:
                for layout in self.layouts.values():
                    grace = self.grace_seconds if self.grace_seconds is not None else layout.table.gc_grace_seconds
                    for stmt in purge_statements(layout, now - grace):
                        cur.execute(stmt)
                        total += max(cur.rowcount, 0)
            conn.commit()
        except psycopg.Error as exc:
            self._rollback(conn)
            raise SinkError(f"{self.name}: purge failed: {exc}", retryable=_retryable(exc)) from exc
        return total

    def close(self) -> None:
        try:
            self._applies.close()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
