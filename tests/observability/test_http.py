"""The observability HTTP endpoint, over real sockets on loopback."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cassandra_cdc.observability.http import ObservabilityServer
from cassandra_cdc.observability.metrics import PipelineMetrics
from cassandra_cdc.observability.readiness import CheckResult, run_checks
from tests.observability.conftest import T0, FakeClock


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture
def metrics(clock: FakeClock) -> PipelineMetrics:
    m = PipelineMetrics(clock=clock, process_metrics=False)
    clock.at(0)
    m.add_destination("pg")
    m.batch_committed(
        "pg",
        {("ks.t", "insert"): 3},
        [int(T0) * 1_000_000 + 9_500_000] * 3,
        [T0 + 9.9] * 3,
        committed_at=T0 + 10,
    )
    m.error("pg", "decode")
    clock.at(12)
    m.backlog("pg", 2048, oldest_visible_at=T0 + 10.5)
    return m


@pytest.fixture
def server(metrics: PipelineMetrics) -> Iterator[ObservabilityServer]:
    with ObservabilityServer(metrics, port=0) as s:
        yield s


def test_binds_loopback_on_a_free_port(server: ObservabilityServer) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_metrics_endpoint_parses(server: ObservabilityServer) -> None:
    status, headers, body = get(server.url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("cdc_events_processed_total", (("destination", "pg"), ("op", "insert"), ("table", "ks.t")))] == 3
    assert samples[("cdc_errors_total", (("destination", "pg"), ("error_type", "decode")))] == 1
    assert samples[("cdc_backlog_depth", (("destination", "pg"),))] == 2048
    assert samples[("cdc_replication_lag_seconds", (("destination", "pg"),))] == pytest.approx(1.5)
    assert samples[("cdc_end_to_end_latency_seconds_count", (("destination", "pg"),))] == 3
    # 0.5 s end to end: in the 0.5 bucket, not in 0.25
    assert samples[("cdc_end_to_end_latency_seconds_bucket", (("destination", "pg"), ("le", "0.5")))] == 3
    assert samples[("cdc_end_to_end_latency_seconds_bucket", (("destination", "pg"), ("le", "0.25")))] == 0


def test_metrics_openmetrics_when_asked(server: ObservabilityServer) -> None:
    request = urllib.request.Request(server.url + "/metrics", headers={"Accept": "application/openmetrics-text"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.read().rstrip().endswith(b"# EOF")


def test_health(server: ObservabilityServer) -> None:
    status, headers, body = get(server.url + "/health")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == "ok"


def test_ready_without_checks_is_ready(server: ObservabilityServer) -> None:
    status, _, body = get(server.url + "/ready")
    assert status == 200
    assert json.loads(body) == {"ready": True, "checks": {}}


def test_ready_with_a_failing_check(server: ObservabilityServer) -> None:
    def postgres() -> None:
        raise ConnectionRefusedError("connection refused on 127.0.0.1:5432")

    server.add_check("postgres", postgres)
    server.add_check("clickhouse", lambda: None)
    server.add_check("lanes", lambda: CheckResult(True, "2 lanes running"))
    status, _, body = get(server.url + "/ready")
    assert status == 503
    report = json.loads(body)
    assert report["ready"] is False
    assert report["checks"]["postgres"]["status"] == "error"
    assert report["checks"]["postgres"]["detail"] == "ConnectionRefusedError: connection refused on 127.0.0.1:5432"
    assert report["checks"]["clickhouse"]["status"] == "ok"
    assert (report["checks"]["lanes"]["status"], report["checks"]["lanes"]["detail"]) == ("ok", "2 lanes running")
    assert all(isinstance(c["latency_ms"], float) and c["latency_ms"] >= 0 for c in report["checks"].values())

    server.remove_check("postgres")
    status, _, body = get(server.url + "/ready")
    assert status == 200 and json.loads(body)["ready"] is True


def test_ready_does_not_hang_on_a_hung_check(metrics: PipelineMetrics) -> None:
    release = threading.Event()
    with ObservabilityServer(metrics, checks={"stuck": lambda: release.wait(30) and None}, check_timeout=0.3) as s:
        started = time.monotonic()
        status, _, body = get(s.url + "/ready")
        elapsed = time.monotonic() - started
    release.set()
    assert status == 503
    assert elapsed < 3
    assert json.loads(body)["checks"]["stuck"]["detail"] == "no answer within 0.3 s"


def test_check_latency_is_measured() -> None:
    report = run_checks({"slow": lambda: time.sleep(0.05), "no": lambda: False})
    assert report.checks["slow"].ok and report.checks["slow"].latency_seconds is not None
    assert report.checks["slow"].latency_seconds >= 0.05
    assert not report.checks["no"].ok and not report.ready


def test_api_status_json(server: ObservabilityServer) -> None:
    status, headers, body = get(server.url + "/api/status")
    assert status == 200 and headers["Content-Type"] == "application/json"
    data = json.loads(body)
    (pg,) = data["destinations"]
    assert pg["destination"] == "pg"
    assert pg["events_total"] == 3
    assert pg["errors_by_type"] == {"decode": 1}
    assert pg["backlog_depth"] == 2048
    assert pg["lag_seconds"] == pytest.approx(1.5)
    assert pg["end_to_end"]["p99"] == pytest.approx(0.5, abs=1e-5)
    assert data["readiness"]["ready"] is True


def test_status_page_and_redirect_and_404(server: ObservabilityServer) -> None:
    status, headers, body = get(server.url + "/status")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<meta http-equiv="refresh" content="5">' in body
    assert b'data-destination="pg"' in body
    status, headers, _ = get(server.url + "/")
    assert status == 302 and headers["Location"] == "/status"
    status, _, body = get(server.url + "/nope")
    assert status == 404 and "no such endpoint" in json.loads(body)["error"]


def test_a_failing_endpoint_answers_500_and_keeps_serving(metrics: PipelineMetrics) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    with ObservabilityServer(metrics) as s:
        s.metrics.snapshot = broken  # type: ignore[method-assign,assignment]
        status, _, body = get(s.url + "/api/status")
        assert status == 500 and "boom" in json.loads(body)["error"]
        assert get(s.url + "/health")[0] == 200


def test_stop_releases_the_port(metrics: PipelineMetrics) -> None:
    s = ObservabilityServer(metrics).start()
    port = s.port
    s.stop()
    with pytest.raises(RuntimeError):
        _ = s.port
    again = ObservabilityServer(metrics, port=port).start()  # the same port binds again
    try:
        assert again.port == port
    finally:
        again.stop()
