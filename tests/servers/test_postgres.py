"""PostgreSQL test server: real connections, restarts that keep data, crashes that lose no commit."""

from __future__ import annotations

import psycopg
import pytest

from cassandra_cdc.servers.ports import ServerError, port_is_open
from cassandra_cdc.servers.postgres import PostgresServer


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def test_session_server_answers_over_psycopg(postgres_server: PostgresServer) -> None:
    assert postgres_server.port != 5432  # never the machine's own server
    assert postgres_server.dsn == f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres"
    with psycopg.connect(postgres_server.dsn) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int, inet_server_port()").fetchone()
    assert row is not None
    assert row[0] // 10000 == 15
    assert row[1] == postgres_server.port


def test_stop_start_kill_restart_keep_committed_rows() -> None:
    with PostgresServer() as pg:
        assert pg.is_running
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int PRIMARY KEY)")
            conn.execute("INSERT INTO t VALUES (1)")
        pg.stop()
        assert not pg.is_running
        assert not port_is_open(pg.port)
        pg.start()
        assert _count(pg.dsn, "t") == 1

        # A crash (SIGKILL of the whole server) loses no acknowledged commit.
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO t VALUES (2)")
        pg.kill()
        assert not pg.is_running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.dsn, connect_timeout=2)
        pg.start()
        assert _count(pg.dsn, "t") == 2

        port = pg.port
        pg.restart(mode="immediate")
        assert pg.port == port
        assert _count(pg.dsn, "t") == 2
        data_dir = pg.data_dir
    assert not data_dir.exists()  # a temporary cluster is deleted on close


def test_password_and_database() -> None:
    with PostgresServer(password="s3cret", database="cdc") as pg:
        assert pg.dsn.endswith(f":{pg.port}/cdc")
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("cdc",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(pg.dsn.replace("s3cret", "wrong"))


def test_start_twice_and_bad_stop_mode_are_errors() -> None:
    with PostgresServer() as pg:
        with pytest.raises(ServerError, match="already running"):
            pg.start()
        with pytest.raises(ValueError, match="unknown stop mode"):
            pg.stop("gentle")
        assert pg.is_running
