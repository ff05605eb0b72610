"""Dead letters in a PostgreSQL table (optional; the JSONL files are the default).

One row per letter: the columns people filter on, plus the whole letter as jsonb. ``mark``
updates the row in place (PostgreSQL's transaction makes it crash safe). The table is created
if missing.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cassandra_cdc.deadletter.model import DeadLetter, DeadLetterFormatError, LetterFilter, Raw, Status
from cassandra_cdc.deadletter.store import DeadLetterNotFoundError, DeadLetterStoreError, mark_fields

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_FILTER_COLUMNS = ("status", "destination", "kind", "source_node", "table_name")


def _ident(name: str, what: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ValueError(f"dead-letter store: {what} {name!r} is not a plain identifier")
    return f'"{name}"'


class PostgresStore:
    """``PostgresStore(dsn, table="cdc_dead_letters", schema="public")``; one connection, autocommit."""

    def __init__(self, dsn: str, table: str = "cdc_dead_letters", *, schema: str = "public") -> None:
        self.qualified = f"{_ident(schema, 'schema')}.{_ident(table, 'table')}"
        self.where = f"{schema}.{table}"
        try:
            self._conn: psycopg.Connection[Any] = psycopg.connect(dsn, autocommit=True)
            self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema, 'schema')}")
            self._conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {self.qualified} (
                    id text PRIMARY KEY,
                    created_at double precision NOT NULL,
                    kind text NOT NULL,
                    status text NOT NULL,
                    destination text,
                    source_node text NOT NULL,
                    segment_id bigint NOT NULL,
                    position bigint NOT NULL,
                    table_name text,
                    raw_sha256 text,
                    replay_attempts integer NOT NULL DEFAULT 0,
                    letter jsonb NOT NULL)"""
            )
        except psycopg.Error as exc:
            raise DeadLetterStoreError(f"dead-letter store {self.where}: {exc}") from exc

    def put(self, letter: DeadLetter) -> None:
        try:
            self._conn.execute(
                f"""INSERT INTO {self.qualified} (id, created_at, kind, status, destination, source_node,
                        segment_id, position, table_name, raw_sha256, replay_attempts, letter)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                        replay_attempts = EXCLUDED.replay_attempts, letter = EXCLUDED.letter""",
                (
                    letter.id, letter.time, letter.kind, letter.status, letter.destination, letter.source_node,
                    letter.segment_id, letter.position, letter.table, letter.raw_sha256, letter.replay_attempts,
                    Jsonb(letter.to_dict()),
                ),
            )  # fmt: skip
        except psycopg.Error as exc:
            raise DeadLetterStoreError(f"dead-letter store {self.where}: cannot insert {letter.id}: {exc}") from exc

    def list(self, where: LetterFilter | None = None) -> builtins.list[DeadLetter]:
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if where is not None:
            for column, value in zip(
                _FILTER_COLUMNS,
                (where.status, where.destination, where.kind, where.source_node, where.table),
                strict=True,
            ):
                if value is not None:
                    clauses.append(f"{column} = %s")
                    params.append(value)
        sql = f"SELECT letter FROM {self.qualified}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_at, id"
        return [self._letter(row[0]) for row in self._fetch(sql, params)]

    def get(self, letter_id: str) -> DeadLetter:
        rows = self._fetch(f"SELECT letter FROM {self.qualified} WHERE id = %s", [letter_id])
        if not rows:
            raise DeadLetterNotFoundError(letter_id)
        return self._letter(rows[0][0])

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
        fields = mark_fields(status, replay_attempts, last_replay_error, last_replay_time, raw)
        rows = self._fetch(
            f"""UPDATE {self.qualified} SET status = %s,
                    replay_attempts = COALESCE(%s, replay_attempts), letter = letter || %s
                WHERE id = %s RETURNING letter""",
            [status, replay_attempts, Jsonb(fields), letter_id],
        )
        if not rows:
            raise DeadLetterNotFoundError(letter_id)
        return self._letter(rows[0][0])

    def close(self) -> None:
        self._conn.close()

    def _fetch(self, sql: str, params: builtins.list[Any]) -> builtins.list[tuple[Any, ...]]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)  # built from fixed fragments above
                return cur.fetchall()
        except psycopg.Error as exc:
            raise DeadLetterStoreError(f"dead-letter store {self.where}: {exc}") from exc

    def _letter(self, data: Any) -> DeadLetter:
        try:
            return DeadLetter.from_dict(data)
        except DeadLetterFormatError as exc:
            raise DeadLetterStoreError(f"dead-letter store {self.where}: {exc}") from exc
