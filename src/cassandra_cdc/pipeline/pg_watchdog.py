"""Network timeouts for the PostgreSQL/TimescaleDB sinks' connections (passed as psycopg connect arguments).

libpq's own options cover a real network partition: ``connect_timeout`` bounds connecting, TCP
keepalives find a dead peer of an idle connection, and ``tcp_user_timeout`` drops a connection
whose sent data stays unacknowledged. None of them helps when the peer's TCP stack is alive but the
server never answers (a proxy or load balancer that lost its upstream, a half-dead connection):
the client then waits for a reply forever, in the middle of ``write_batch``, and the lane hangs.

:class:`QueryWatchdog` is the client-side guard for that case: a cursor class (psycopg's
``cursor_factory``) registers its connection with the watchdog and counts the commands sent; a
thread checks the watched connections and, when one has had the same command in flight
(``PQtransactionStatus`` ACTIVE) for longer than ``timeout`` seconds, shuts its socket down. psycopg
then raises OperationalError ("server closed the connection"), which the sink reports as a
retryable SinkError: the lane retries on a new connection, and the server rolls the half-done
transaction back. Time spent in Python between commands is never counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Watched:
    commands: int = 0
    seen_command: int = -1
    active_since: float | None = None


class QueryWatchdog:
    """Breaks a connection whose command has waited more than ``timeout`` seconds; see the module docstring."""

    def __init__(self, timeout: float, *, name: str = "postgres", interval: float | None = None) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self.name = name
        self.interval = interval if interval is not None else min(1.0, timeout / 4)
        self.interrupted = 0
        self._lock = threading.Lock()
        self._watched: weakref.WeakKeyDictionary[psycopg.Connection[Any], _Watched] = weakref.WeakKeyDictionary()
        self._thread: threading.Thread | None = None
        self.cursor_factory = self._make_cursor_class()

    def _make_cursor_class(self) -> type[psycopg.Cursor[Any]]:
        watchdog = self

        class WatchedCursor(psycopg.Cursor[Any]):
            """A psycopg cursor that tells the watchdog about each command it sends."""

            def __init__(self, connection: psycopg.Connection[Any], **kwargs: Any) -> None:
                super().__init__(connection, **kwargs)
                watchdog.command_sent(connection)

            def execute(self, *args: Any, **kwargs: Any) -> Any:
                watchdog.command_sent(self.connection)
                return super().execute(*args, **kwargs)

            def executemany(self, *args: Any, **kwargs: Any) -> None:
                watchdog.command_sent(self.connection)
                super().executemany(*args, **kwargs)

            def copy(self, *args: Any, **kwargs: Any) -> Any:
                watchdog.command_sent(self.connection)
                return super().copy(*args, **kwargs)

        return WatchedCursor

    def connect_kwargs(self) -> dict[str, Any]:
        return {"cursor_factory": self.cursor_factory}

    def command_sent(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            state = self._watched.get(conn)
            if state is None:
                state = self._watched[conn] = _Watched()
            state.commands += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"{self.name}-watchdog", daemon=True)
                self._thread.start()

    def check(self, now: float | None = None) -> int:
        """One pass over the watched connections; returns how many it broke."""
        now = time.monotonic() if now is None else now
        broken = 0
        with self._lock:
            items = list(self._watched.items())
        for conn, state in items:
            if conn.closed:
                with self._lock:
                    self._watched.pop(conn, None)
                continue
            if conn.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
                state.active_since = None
                continue
            if state.active_since is None or state.seen_command != state.commands:
                state.active_since, state.seen_command = now, state.commands
                continue
            if now - state.active_since >= self.timeout:
                state.active_since = None
                # Counted before the shutdown: the blocked client wakes the moment it happens and may
                # look at the count before this thread runs again.
                self.interrupted += 1
                if not _shutdown_socket(conn):
                    self.interrupted -= 1
                else:
                    broken += 1
                    log.warning(
                        "sink %s: no reply from PostgreSQL for %.0fs; connection dropped (it will be retried)",
                        self.name,
                        self.timeout,
                    )
        return broken

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.check()
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return


def _shutdown_socket(conn: psycopg.Connection[Any]) -> bool:
    """Shut the connection's socket down (both ways) without closing the libpq descriptor under it."""
    if conn.closed:
        return False
    try:
        fd = conn.pgconn.socket
    except psycopg.OperationalError:
        return False
    # shutdown() acts on the socket, not the descriptor: the dup sees the same socket, and libpq's
    # blocked read returns at once.
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    return True


def postgres_connect_kwargs(
    dsn: str,
    options: Mapping[str, str],
    query_timeout: float,
    *,
    name: str,
) -> dict[str, Any]:
    """psycopg.connect keyword arguments for a sink: libpq timeouts and the watchdog's cursor class.

    ``options`` (libpq parameters) are added only where the DSN does not set them itself (keyword
    arguments override the DSN in psycopg). ``query_timeout`` 0 disables the watchdog.
    """
    try:
        in_dsn = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        in_dsn = {}
    kwargs: dict[str, Any] = {k: v for k, v in options.items() if k not in in_dsn}
    if query_timeout > 0:
        kwargs.update(QueryWatchdog(query_timeout, name=name).connect_kwargs())
    return kwargs
