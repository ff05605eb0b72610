"""Real database servers for the sink tests, started by the project on free loopback ports.

``PostgresServer`` (Debian's PostgreSQL 15), ``TimescaleServer`` (PGlite with TimescaleDB, served by
Node) and ``ClickHouseWorker`` (chdb behind ClickHouse's HTTP interface) share one lifecycle:
start, stop, kill, restart, close, and a DSN or URL that stays valid across restarts.
docs/servers.md says how a sink connects to each and what each cannot do.
"""

from cassandra_cdc.servers.clickhouse import ClickHouseWorker, open_chdb
from cassandra_cdc.servers.managed import ManagedServer
from cassandra_cdc.servers.ports import ServerError, free_port, wait_for_port
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.servers.timescale import TimescaleServer

__all__ = [
    "ClickHouseWorker",
    "ManagedServer",
    "PostgresServer",
    "ServerError",
    "TimescaleServer",
    "free_port",
    "open_chdb",
    "wait_for_port",
]
