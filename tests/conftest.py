"""Shared test fixtures: where the real Cassandra segments live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "cassandra-commitlogs"


def fixtures_root() -> Path:
    return Path(os.environ.get("CASSANDRA_CDC_FIXTURES", str(_DEFAULT)))


@pytest.fixture(scope="session")
def commitlog_fixtures() -> Path:
    """The real segments; missing fixtures fail under CI and skip elsewhere."""
    root = fixtures_root()
    if not (root / "MANIFEST.txt").is_file():
        message = f"real Cassandra commit-log fixtures not found at {root} (set CASSANDRA_CDC_FIXTURES)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


# --- Real servers for the sink tests (cassandra_cdc.servers) -----------------------------------------
# Each starts once per session on a free loopback port; when one cannot start, its tests skip locally
# and fail under CI (CI set), with the reason. Tests that stop or kill a server must start it again.

from collections.abc import Iterator  # noqa: E402
from typing import TYPE_CHECKING, NoReturn  # noqa: E402

if TYPE_CHECKING:
    from cassandra_cdc.servers.clickhouse import ClickHouseWorker
    from cassandra_cdc.servers.postgres import PostgresServer
    from cassandra_cdc.servers.timescale import TimescaleServer


def _server_unavailable(what: str, exc: BaseException) -> NoReturn:
    message = f"{what} unavailable: {exc} (run scripts/install-servers)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL 15 cluster (trust auth); connect with psycopg.connect(server.dsn)."""
    try:
        from cassandra_cdc.servers.postgres import PostgresServer as Server

        server = Server().start()
    except Exception as exc:
        _server_unavailable("PostgreSQL test server", exc)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def timescale_server() -> Iterator[TimescaleServer]:
    """PGlite + TimescaleDB; connect with psycopg.connect(server.dsn, **server.connect_kwargs())."""
    try:
        from cassandra_cdc.servers.timescale import TimescaleServer as Server

        server = Server().start()
    except Exception as exc:
        _server_unavailable("TimescaleDB (PGlite) test server", exc)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[ClickHouseWorker]:
    """ClickHouse (chdb) behind its HTTP interface; connect with clickhouse_connect.get_client(dsn=server.url)."""
    try:
        from cassandra_cdc.servers.clickhouse import ClickHouseWorker as Server

        server = Server().start()
    except Exception as exc:
        _server_unavailable("ClickHouse (chdb) test server", exc)
    try:
        yield server
    finally:
        server.close()
