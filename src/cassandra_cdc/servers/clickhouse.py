"""ClickHouse for sink tests: the real engine (chdb) in a worker process speaking ClickHouse's HTTP interface.

chdb embeds ClickHouse in-process and one process owns a data path, so the engine runs in a
worker process of its own (``python -m cassandra_cdc.servers.clickhouse --path P --port N``)
that answers the subset of ClickHouse's HTTP interface clickhouse-connect uses: ``/ping``,
queries in the ``query`` URL parameter and/or the POST body, ``database``, ``default_format``,
``param_<name>`` query parameters, per-request settings, and ``INSERT ... FORMAT <fmt>`` with the
data in the body (gzip, deflate, zstd or lz4 encoded, or plain; chunked or not). A sink therefore
connects with the ordinary HTTP client (``clickhouse_connect.get_client(dsn=worker.url)``), and an
outage is the worker killed.

:class:`ClickHouseWorker` starts, stops, kills and restarts that worker; while it is stopped,
:func:`open_chdb` opens the same data path directly in the calling process.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from cassandra_cdc.servers.managed import ManagedServer
from cassandra_cdc.servers.ports import LOOPBACK, ServerError

# URL parameters of the HTTP interface that are not ClickHouse settings.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "compress",
        "decompress",
        "user",
        "password",
        "quota_key",
        "buffer_size",
        "wait_end_of_query",
        "enable_http_compression",
        "http_zlib_compression_level",
        "client_protocol_version",
        "role",
    }
)
# INSERT whose data follows in the body: "INSERT INTO t [(cols)] [SETTINGS ...] FORMAT Name".
_INSERT_WITH_DATA = re.compile(r"^\s*(INSERT\s+INTO\s.*?)\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
# The same statement at the head of a body whose data follows it (the first FORMAT ends it).
_INSERT_HEAD = re.compile(rb"^\s*(INSERT\s+INTO\s.*?\bFORMAT\s+\w+)[ \t]*(?:\r?\n)?", re.IGNORECASE | re.DOTALL)
_ERROR_CODE = re.compile(r"Code:\s*(\d+)")
_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ChdbSession(Protocol):
    """The part of chdb.session.Session the worker uses."""

    def query(self, sql: str, fmt: str = ..., udf_path: str = ..., params: Any = ...) -> Any: ...

    def close(self) -> None: ...


class QueryResult:
    """What one request produced: the formatted bytes and the statistics for X-ClickHouse-Summary."""

    __slots__ = ("body", "elapsed", "inserted", "read_bytes", "read_rows")

    def __init__(self, body: bytes, read_rows: int, read_bytes: int, elapsed: float, inserted: bool) -> None:
        self.body = body
        self.read_rows = read_rows
        self.read_bytes = read_bytes
        self.elapsed = elapsed
        # For INSERT ... FROM INFILE the rows read are the rows written.
        self.inserted = inserted


class ChdbEngine:
    """One chdb session behind a lock: requests from several HTTP threads run one at a time."""

    def __init__(self, path: Path) -> None:
        from chdb import session as chdb_session

        self._lock = threading.Lock()
        self._session: ChdbSession = chdb_session.Session(str(path))  # type: ignore[no-untyped-call]
        self._database = "default"
        self._spool = path / "http-spool"  # bodies of INSERTs, read back with FROM INFILE
        self._spool.mkdir(exist_ok=True)
        self.timezone = self._scalar("SELECT timezone()")
        self.version = self._scalar("SELECT version()")

    def _scalar(self, sql: str) -> str:
        return bytes(self._session.query(sql, "TabSeparatedRaw").bytes()).decode().strip()

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def execute(
        self,
        sql: str,
        *,
        data: bytes | None,
        fmt: str,
        database: str,
        settings: dict[str, str],
        params: dict[str, str],
    ) -> QueryResult:
        """Run one HTTP request's statement; chdb errors propagate with ClickHouse's message."""
        with self._lock:
            if database != self._database:
                self._session.query(f"USE {_quote_identifier(database)}", "TabSeparated")
                self._database = database
            saved = self._apply_settings(settings)
            spool: Path | None = None
            try:
                if data is not None:
                    match = _INSERT_WITH_DATA.match(sql)
                    if match is None:
                        sql = sql + "\n" + data.decode("utf-8")
                    else:
                        # chdb takes no data stream: the body goes through a file the INSERT reads.
                        spool = self._spool / f"{uuid.uuid4().hex}.data"
                        spool.write_bytes(data)
                        sql = f"{match.group(1)} FROM INFILE {_quote_string(str(spool))} FORMAT {match.group(2)}"
                started = time.perf_counter()
                result = self._session.query(sql, fmt, params=params or None)
                elapsed = time.perf_counter() - started
                return QueryResult(
                    bytes(result.bytes()) if result is not None else b"",
                    _stat(result, "rows_read"),
                    _stat(result, "bytes_read"),
                    elapsed,
                    inserted=spool is not None,
                )
            finally:
                if spool is not None:
                    spool.unlink(missing_ok=True)
                self._restore_settings(saved)

    def _apply_settings(self, settings: dict[str, str]) -> dict[str, str]:
        """SET each request setting; return the previous values so the shared session is restored after."""
        saved: dict[str, str] = {}
        for name, value in settings.items():
            if not _SAFE_NAME.match(name):
                raise ValueError(f"Code: 115. DB::Exception: Unknown setting {name!r}. (UNKNOWN_SETTING)")
            saved[name] = self._scalar(f"SELECT toString(getSetting({_quote_string(name)}))")
            self._session.query(f"SET {name} = {_quote_string(value)}", "TabSeparated")
        return saved

    def _restore_settings(self, saved: dict[str, str]) -> None:
        for name, value in saved.items():
            with contextlib.suppress(Exception):
                self._session.query(f"SET {name} = {_quote_string(value)}", "TabSeparated")


def _stat(result: Any, name: str) -> int:
    getter = getattr(result, name, None)
    if getter is None:
        return 0
    try:
        return int(getter())
    except (TypeError, ValueError):
        return 0


def _quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _decode_body(data: bytes, encoding: str) -> bytes:
    """Undo a request body's Content-Encoding (clickhouse-connect compresses inserts by default)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if encoding == "lz4":
        import lz4.frame

        return bytes(lz4.frame.decompress(data))
    raise ValueError(f"Code: 36. DB::Exception: Unsupported Content-Encoding {encoding!r}. (BAD_ARGUMENTS)")


def _split_request(query: str | None, body: bytes) -> tuple[str, bytes | None]:
    """The statement and its inline data, as ClickHouse reads them from the URL's query and the body.

    With a ``query`` parameter the body is the data (or the rest of the statement); without one, the
    body holds the statement, and for ``INSERT ... FORMAT <fmt>`` the data follows it after one line break.
    """
    if query is not None:
        return query, (body or None)
    match = _INSERT_HEAD.match(body)
    if match is None:
        return body.decode("utf-8"), None
    return match.group(1).decode("utf-8"), body[match.end() :] or None


class ClickHouseHttpHandler(BaseHTTPRequestHandler):
    """Answers one HTTP request the way ClickHouse's HTTP interface would, for the subset above."""

    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools its connections
    server: ChdbHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._guarded(post=False)

    def do_POST(self) -> None:
        self._guarded(post=True)

    def _guarded(self, *, post: bool) -> None:
        """Handle the request; a failure becomes a ClickHouse-style error reply, never a dropped connection."""
        try:
            body = self._read_body() if post else b""
        except Exception as exc:
            self.close_connection = True  # the rest of the body may still be unread
            self._error(HTTPStatus.BAD_REQUEST, f"Code: 1001. DB::Exception: cannot read request body: {exc}")
            return
        try:
            self._handle(body)
        except Exception as exc:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"Code: 1001. DB::Exception: worker error: {exc!r}")

    def do_HEAD(self) -> None:
        self._reply(HTTPStatus.OK, b"", {})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(parts)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return _decode_body(raw, self.headers.get("Content-Encoding", ""))

    def _handle(self, body: bytes) -> None:
        url = urlsplit(self.path)
        if url.path in ("/ping", "/replicas_status"):
            self._reply(HTTPStatus.OK, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        if url.path not in ("/", ""):
            self._error(HTTPStatus.NOT_FOUND, f"Code: 0. DB::Exception: No handler for {url.path}. (UNKNOWN)")
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            sql, data = _split_request(params.get("query"), body)
        except UnicodeDecodeError as exc:
            self._error(
                HTTPStatus.BAD_REQUEST, f"Code: 27. DB::Exception: query is not UTF-8: {exc}. (CANNOT_PARSE_INPUT)"
            )
            return
        if not sql.strip():
            if self.command == "GET":
                self._reply(HTTPStatus.OK, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            else:
                self._error(HTTPStatus.BAD_REQUEST, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
            return
        fmt = params.get("default_format") or "TabSeparated"
        settings = {k: v for k, v in params.items() if k not in _TRANSPORT_PARAMS and not k.startswith("param_")}
        bound = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
        query_id = params.get("query_id") or str(uuid.uuid4())
        engine = self.server.engine
        try:
            result = engine.execute(
                sql,
                data=data,
                fmt=fmt,
                database=params.get("database") or self.headers.get("X-ClickHouse-Database") or "default",
                settings=settings,
                params=bound,
            )
        except Exception as exc:  # chdb raises RuntimeError-like errors carrying ClickHouse's text
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc), query_id)
            return
        summary = {
            "read_rows": str(result.read_rows),
            "read_bytes": str(result.read_bytes),
            "written_rows": str(result.read_rows if result.inserted else 0),
            "written_bytes": str(result.read_bytes if result.inserted else 0),
            "total_rows_to_read": str(result.read_rows),
            "result_rows": "0",
            "result_bytes": str(len(result.body)),
            "elapsed_ns": str(int(result.elapsed * 1e9)),
        }
        self._reply(
            HTTPStatus.OK,
            result.body,
            {
                "Content-Type": "application/octet-stream"
                if fmt.startswith(("Native", "RowBinary", "Arrow", "Parquet"))
                else "text/plain; charset=UTF-8",
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Timezone": engine.timezone,
                "X-ClickHouse-Server-Display-Name": "chdb-worker",
                "X-ClickHouse-Summary": json.dumps(summary),
            },
        )

    def _error(self, status: HTTPStatus, message: str, query_id: str = "") -> None:
        match = _ERROR_CODE.search(message)
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": match.group(1) if match else "1001",
        }
        if query_id:
            headers["X-ClickHouse-Query-Id"] = query_id
        self._reply(status, (message.rstrip() + "\n").encode("utf-8"), headers)

    def _reply(self, status: HTTPStatus, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class ChdbHttpServer(ThreadingHTTPServer):
    """The worker's HTTP server: threads for connections, one chdb engine shared under its lock."""

    daemon_threads = True

    def __init__(self, engine: ChdbEngine, port: int, host: str = LOOPBACK, verbose: bool = False) -> None:
        super().__init__((host, port), ClickHouseHttpHandler)
        self.engine = engine
        self.verbose = verbose


def serve(path: Path, port: int, host: str = LOOPBACK, verbose: bool = False) -> None:
    """Worker process entry point: open chdb on ``path``, serve HTTP on ``host:port`` until SIGTERM/SIGINT."""
    path.mkdir(parents=True, exist_ok=True)
    engine = ChdbEngine(path)
    server = ChdbHttpServer(engine, port, host, verbose)

    def shut_down(signum: int, frame: object) -> None:
        # shutdown() blocks until serve_forever returns, so it must run on another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    print(f"READY {host}:{port} chdb {engine.version}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        engine.close()


class ClickHouseWorker(ManagedServer):
    """A ClickHouse (chdb) worker process on a loopback port: ``with ClickHouseWorker() as ch: ch.url``.

    The chdb data lives in ``<data_dir>/chdb``; :meth:`open_direct` opens it in this process while
    the worker is stopped.
    """

    name = "clickhouse"
    start_timeout = 60.0

    def __init__(self, data_dir: str | Path | None = None, port: int | None = None) -> None:
        super().__init__(data_dir, port)

    @property
    def chdb_path(self) -> Path:
        return self.data_dir / "chdb"

    @property
    def url(self) -> str:
        """The HTTP URL: ``clickhouse_connect.get_client(dsn=url)``, or any ClickHouse HTTP client."""
        return f"http://{self.host}:{self.port}"

    dsn = url

    def _prepare(self) -> None:
        self.chdb_path.mkdir(parents=True, exist_ok=True)

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "cassandra_cdc.servers.clickhouse",
            "--path",
            str(self.chdb_path),
            "--port",
            str(self.port),
        ]

    def _popen_kwargs(self) -> dict[str, Any]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        return {"env": env}

    def _is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, sql: str, fmt: str = "TabSeparated") -> str:
        """Run ``sql`` on the running worker over HTTP (no client library needed); returns the text."""
        request = urllib.request.Request(f"{self.url}/?default_format={fmt}", data=sql.encode("utf-8"), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return bytes(response.read()).decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise ServerError(f"clickhouse worker on port {self.port}: {exc.read().decode().strip()}") from exc
        except OSError as exc:
            raise ServerError(f"clickhouse worker on port {self.port} unreachable: {exc}") from exc

    @contextlib.contextmanager
    def open_direct(self) -> Iterator[ChdbSession]:
        """The worker's data opened in this process with chdb (the worker must be stopped)."""
        if self.is_running:
            raise ServerError("stop the clickhouse worker before opening its data path directly")
        with open_chdb(self.chdb_path) as session:
            yield session


@contextlib.contextmanager
def open_chdb(path: str | Path) -> Iterator[ChdbSession]:
    """A chdb session on ``path`` in this process, closed on exit; no other process may hold the path."""
    from chdb import session as chdb_session

    session: ChdbSession = chdb_session.Session(str(path))  # type: ignore[no-untyped-call]
    try:
        yield session
    finally:
        session.close()


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a chdb data path over ClickHouse's HTTP interface.")
    parser.add_argument("--path", type=Path, required=True, help="chdb data directory")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    serve(args.path, args.port, args.host, args.verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
