"""The observability HTTP endpoint: /metrics, /health, /ready, /status and /api/status.

A stdlib ThreadingHTTPServer in a daemon thread; it binds to loopback unless told otherwise, since
the status page and the metrics are unauthenticated.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.exposition import choose_encoder

from cassandra_cdc.observability.metrics import PipelineMetrics
from cassandra_cdc.observability.readiness import ReadinessCheck, ReadinessReport, run_checks
from cassandra_cdc.observability.status_page import StatusThresholds, render_status_page

log = logging.getLogger(__name__)


class ObservabilityServer:
    """Serves the metrics registry, the probes and the status page of one pipeline process.

    ``port=0`` picks a free port; read it from :attr:`port` after :meth:`start`.
    """

    def __init__(
        self,
        metrics: PipelineMetrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        checks: Mapping[str, ReadinessCheck] | None = None,
        check_timeout: float = 2.0,
        title: str = "cassandra-cdc",
        refresh_seconds: int = 5,
        thresholds: StatusThresholds | None = None,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self._requested_port = port
        self.check_timeout = check_timeout
        self.title = title
        self.refresh_seconds = refresh_seconds
        self.thresholds = thresholds or StatusThresholds()
        self._checks: dict[str, ReadinessCheck] = dict(checks or {})
        self._checks_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    # -- readiness checks --------------------------------------------------------------------------
    def add_check(self, name: str, check: ReadinessCheck) -> None:
        with self._checks_lock:
            self._checks[name] = check

    def remove_check(self, name: str) -> None:
        with self._checks_lock:
            self._checks.pop(name, None)

    def readiness(self) -> ReadinessReport:
        with self._checks_lock:
            checks = dict(self._checks)
        return run_checks(checks, self.check_timeout)

    # -- lifecycle ------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the observability server is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ObservabilityServer:
        if self._server is not None:
            return self
        handler = _make_handler(self)
        server_class = _ServerV6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self._requested_port), handler)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot bind {self.host}:{self._requested_port}: {exc}") from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="observability-http", daemon=True
        )
        self._thread.start()
        log.info("observability endpoint at %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> ObservabilityServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- responses (status, content type, body) ------------------------------------------------------
    def respond(self, path: str, accept: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of ``path``; a redirect's "content type" is its Location."""
        if path in ("", "/"):
            return HTTPStatus.FOUND, "/status", b""
        if path == "/metrics":
            encoder, content_type = choose_encoder(accept)
            return HTTPStatus.OK, content_type, encoder(self.metrics.registry)
        if path == "/health":
            body = {"status": "ok", "uptime_seconds": round(time.monotonic() - self._started, 3)}
            return HTTPStatus.OK, "application/json", _json(body)
        if path == "/ready":
            report = self.readiness()
            status = HTTPStatus.OK if report.ready else HTTPStatus.SERVICE_UNAVAILABLE
            return status, "application/json", _json(report.to_json())
        if path == "/status":
            page = render_status_page(
                self.metrics.snapshot(),
                self.readiness(),
                title=self.title,
                refresh_seconds=self.refresh_seconds,
                thresholds=self.thresholds,
            )
            return HTTPStatus.OK, "text/html; charset=utf-8", page.encode("utf-8")
        if path == "/api/status":
            body = self.metrics.snapshot().to_json()
            body["readiness"] = self.readiness().to_json()
            return HTTPStatus.OK, "application/json", _json(body)
        return HTTPStatus.NOT_FOUND, "application/json", _json({"error": f"no such endpoint: {path}"})


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, indent=2, sort_keys=False).encode("utf-8") + b"\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow client must not keep the process alive


class _ServerV6(_Server):
    address_family = socket.AF_INET6


def _make_handler(owner: ObservabilityServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "cassandra-cdc"

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _serve(self, *, body: bool) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            try:
                status, content_type, payload = owner.respond(path, self.headers.get("Accept", ""))
            except Exception as exc:  # report it to the client and the log; the server keeps serving
                log.exception("observability endpoint %s failed", path)
                status, content_type = HTTPStatus.INTERNAL_SERVER_ERROR, "application/json"
                payload = _json({"error": f"{type(exc).__name__}: {exc}"})
            self.send_response(status)
            if status == HTTPStatus.FOUND:
                self.send_header("Location", content_type)
                payload = b""
                content_type = "text/plain"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("observability http: " + format, *args)

    return Handler
