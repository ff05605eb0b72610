"""The PostgreSQL query watchdog: a command with no reply is cut off; connect arguments respect the DSN."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from cassandra_cdc.pipeline.pg_watchdog import QueryWatchdog, postgres_connect_kwargs
from cassandra_cdc.servers.postgres import PostgresServer
from tests.chaos.proxy import FaultProxy


def test_connect_kwargs_leave_what_the_dsn_sets() -> None:
    options = {"connect_timeout": "10", "keepalives": "1"}
    kwargs = postgres_connect_kwargs("postgresql://u@h:5/db?connect_timeout=3", options, 0, name="x")
    assert kwargs == {"keepalives": "1"}
    with_watchdog = postgres_connect_kwargs("host=h dbname=db", options, 5, name="x")
    assert set(with_watchdog) == {"connect_timeout", "keepalives", "cursor_factory"}
    assert issubclass(with_watchdog["cursor_factory"], psycopg.Cursor)


@pytest.mark.timeout(60)
def test_a_command_without_reply_is_cut_off(tmp_path: Path, postgres_server: PostgresServer) -> None:
    watchdog = QueryWatchdog(1.0, name="test", interval=0.1)
    with FaultProxy((postgres_server.host, postgres_server.port)) as proxy:
        dsn = f"postgresql://{postgres_server.user}@127.0.0.1:{proxy.port}/{postgres_server.database}"
        with psycopg.connect(dsn, **watchdog.connect_kwargs()) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                # A slow command that answers is not cut off: the time between commands never counts.
                cur.execute("SELECT pg_sleep(0.5)")
                time.sleep(1.5)
                proxy.blackhole(drop=True)
                started = time.monotonic()
                with pytest.raises(psycopg.OperationalError):
                    cur.execute("SELECT 2")
                assert 0.9 <= time.monotonic() - started < 5
            assert conn.broken
        assert watchdog.interrupted == 1
        proxy.heal()
        # A new connection works.
        with psycopg.connect(dsn, **watchdog.connect_kwargs()) as conn:
            assert conn.execute("SELECT 3").fetchone() == (3,)
