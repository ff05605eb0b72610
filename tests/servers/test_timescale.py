"""TimescaleDB (PGlite) test server: psycopg connections, hypertables, data kept across restarts and crashes."""

from __future__ import annotations

import psycopg
import pytest

from cassandra_cdc.servers.ports import port_is_open
from cassandra_cdc.servers.timescale import TimescaleServer


def _connect(server: TimescaleServer) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server.dsn, autocommit=True, **server.connect_kwargs())


def _count(server: TimescaleServer, table: str) -> int:
    with _connect(server) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(str(row[0]))


def test_hypertable_survives_stop_and_kill(timescale_server: TimescaleServer) -> None:
    server = timescale_server
    assert server.port != 5432
    with _connect(server) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        assert version is not None and str(version[0]).startswith("2.")
        conn.execute("CREATE TABLE readings (ts timestamptz NOT NULL, sensor text, value double precision)")
        created = conn.execute("SELECT * FROM create_hypertable('readings', by_range('ts'))").fetchone()
        assert created is not None and created[1] is True
        conn.execute(
            "INSERT INTO readings VALUES ('2024-01-01 00:00+00', 'a', 1.5), ('2024-03-01 00:00+00', 'b', %s)",
            (2.5,),
        )
        buckets = conn.execute(
            "SELECT time_bucket('30 days', ts) AS b, count(*) FROM readings GROUP BY b ORDER BY b"
        ).fetchall()
        assert [n for _, n in buckets] == [1, 1]
        chunks = conn.execute("SELECT count(*) FROM show_chunks('readings')").fetchone()
        assert chunks is not None and chunks[0] == 2
    try:
        server.stop()
        assert not port_is_open(server.port)
        server.start()
        # Inserting into a hypertable after a restart needs the library loaded at start (the script does).
        with _connect(server) as conn:
            conn.execute("INSERT INTO readings VALUES ('2024-03-02 00:00+00', 'c', 3.5)")
        server.kill()
        assert not server.is_running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.dsn, connect_timeout=2, prepare_threshold=None)
    finally:
        if not server.is_running:
            server.start()
    assert _count(server, "readings") == 3


def test_transactions_roll_back(timescale_server: TimescaleServer) -> None:
    with psycopg.connect(timescale_server.dsn, **timescale_server.connect_kwargs()) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS tx_probe (x int)")
        conn.commit()
        conn.execute("INSERT INTO tx_probe VALUES (1)")
        conn.rollback()
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM tx_probe").fetchone() == (0,)


def test_a_client_killed_mid_setup_leaves_the_extension_usable() -> None:
    # PGlite is one session: a rolled-back CREATE EXTENSION would leave the library loaded without the
    # extension, and every later CREATE EXTENSION would fail. The server creates it before any client.
    with TimescaleServer() as server:
        with _connect(server) as conn:
            found = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            assert found is not None and str(found[0]).startswith("2.")
        conn = psycopg.connect(server.dsn, **server.connect_kwargs())  # a sink starting up, in a transaction
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("CREATE TABLE r (ts timestamptz NOT NULL, v int)")
        conn.execute("SELECT create_hypertable('r', by_range('ts'))")
        conn.close()  # gone before COMMIT: the server rolls the transaction back
        with _connect(server) as again:  # the next start
            again.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            again.execute("CREATE TABLE r (ts timestamptz NOT NULL, v int)")
            created = again.execute("SELECT * FROM create_hypertable('r', by_range('ts'))").fetchone()
            assert created is not None and created[1] is True
