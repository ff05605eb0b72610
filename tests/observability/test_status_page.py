"""The status page: rendering rules, and the real page in headless Chromium (DOM values and a screenshot)."""

from __future__ import annotations

import os
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cassandra_cdc.observability.http import ObservabilityServer
from cassandra_cdc.observability.metrics import (
    DestinationSnapshot,
    Percentiles,
    PipelineMetrics,
    PipelineSnapshot,
)
from cassandra_cdc.observability.readiness import CheckResult
from cassandra_cdc.observability.status_page import (
    StatusThresholds,
    destination_state,
    format_bytes,
    format_duration,
    render_status_page,
)
from tests.observability.conftest import T0, FakeClock

US = 1_000_000


class Cells(HTMLParser):
    """Collects the text of every ``<td data-field=...>`` by its row's data-destination/-node/-check."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.fields: dict[str, str] = {}  # cells outside the tables (overall state, time)
        self._row: str | None = None
        self._field: str | None = None
        self._text: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr":
            key = a.get("data-destination") or a.get("data-node") or a.get("data-check")
            self._row = key
            if key is not None:
                self.rows[key] = {}
        if self._field is not None:
            self._depth += 1
        elif a.get("data-field"):
            self._field, self._text, self._depth = a["data-field"], [], 0

    def handle_endtag(self, tag: str) -> None:
        if self._field is None:
            return
        if self._depth:
            self._depth -= 1
            return
        text = " ".join("".join(self._text).split())
        if self._row is not None and tag == "td":
            self.rows[self._row][self._field] = text
        else:
            self.fields[self._field] = text
        self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self._text.append(data)


def parse(html: str) -> Cells:
    cells = Cells()
    cells.feed(html)
    return cells


def known_metrics(clock: FakeClock) -> PipelineMetrics:
    """Three destinations (ok, erroring, stalled) and two nodes, all values fixed by the fake clock."""
    m = PipelineMetrics(clock=clock, process_metrics=False)
    clock.at(0)
    for name in ("postgres", "clickhouse", "timescale"):
        m.add_destination(name)
    base = int(T0) * US
    # postgres: 1500 changes at T0+59; end to end 0.5 s for 1000 and 1.5 s for 500 -> p50 0.5, p95 = p99 1.5
    m.batch_committed(
        "postgres",
        {("shop.orders", "insert"): 1200, ("shop.orders", "update"): 300},
        [base + 58_500_000] * 1000 + [base + 57_500_000] * 500,
        [T0 + 58.96] * 1500,
        committed_at=T0 + 59,
        positions={"node1": (1712345678901, 1048576)},
    )
    clock.at(60)
    m.backlog("postgres", 12_345, oldest_visible_at=T0 + 57.5)  # lag 2.5 s
    m.batch_committed("clickhouse", {("shop.orders", "insert"): 900}, [base + 58_000_000] * 900, [T0 + 59.7] * 900)
    m.backlog("clickhouse", 0)
    m.error("clickhouse", "sink_retryable", 2)
    m.backlog("timescale", 52_428_800, oldest_visible_at=T0 - 125)  # lag 185 s, no commit ever: stalled
    m.source_position("node1", 1712345678901, 2097152)
    m.source_position("node2", 1712345678955, 524288)
    m.cdc_raw_usage("node1", 900 * 2**20, 4096 * 2**20)
    m.cdc_raw_usage("node2", 3500 * 2**20, 4096 * 2**20)
    return m


EXPECTED_ROWS = {
    "postgres": {
        "state": "ok",
        "lag": "2.50 s",
        "events_per_second": "25.0/s",  # 1500 in the 60 s window
        "events_total": "1,500",
        "errors": "0",
        "backlog": "12.1 KiB",
        "end_to_end": "500 ms / 1.50 s / 1.50 s",
        "pipeline": "40 ms / 40 ms / 40 ms",
        "last_commit": "1.00 s ago",
    },
    "clickhouse": {
        "state": "ok",
        "lag": "0 s",
        "events_per_second": "15.0/s",
        "events_total": "900",
        "errors": "2 (sink_retryable 2)",
        "backlog": "0 B",
        "end_to_end": "2.00 s / 2.00 s / 2.00 s",
        "pipeline": "300 ms / 300 ms / 300 ms",
        "last_commit": "0 s ago",
    },
    "timescale": {
        "state": "stalled",
        "lag": "3m 05s",
        "events_per_second": "0.0/s",
        "events_total": "0",
        "errors": "0",
        "backlog": "50.0 MiB",
        "end_to_end": "—",
        "last_commit": "never",
    },
}


def assert_page_values(cells: Cells) -> None:
    for destination, expected in EXPECTED_ROWS.items():
        row = cells.rows[destination]
        for field, value in expected.items():
            assert row[field] == value, (destination, field, row[field])
    assert cells.rows["node1"]["segment_id"] == "1712345678901"
    assert cells.rows["node1"]["position"] == "2,097,152"
    assert cells.rows["node1"]["cdc_raw_bytes"] == "900.0 MiB"
    assert cells.rows["node1"]["usage"] == "22.0%"
    assert cells.rows["node2"]["cdc_raw_capacity_bytes"] == "4.0 GiB"
    assert cells.rows["node2"]["usage"] == "85.4%"
    assert cells.rows["sinks"]["status"] == "ready"
    assert cells.rows["timescale-db"]["status"] == "not ready"
    assert cells.rows["timescale-db"]["detail"] == "connection refused"
    assert cells.fields["overall"] == "stalled"
    assert cells.fields["taken_at"] == "2023-11-14 22:14:20 UTC"  # T0 + 60


def checks() -> dict[str, object]:
    return {"sinks": lambda: None, "timescale-db": lambda: CheckResult(False, "connection refused")}


def test_rendered_values(clock: FakeClock) -> None:
    m = known_metrics(clock)
    with ObservabilityServer(m, checks=checks()) as server:  # type: ignore[arg-type]
        html = server.respond("/status", "")[2].decode()
    assert '<meta http-equiv="refresh" content="5">' in html
    assert_page_values(parse(html))


def test_refresh_never_below_five_seconds() -> None:
    snapshot = PipelineSnapshot(T0, (), ())
    assert 'content="5"' in render_status_page(snapshot, refresh_seconds=1)
    assert 'content="10"' in render_status_page(snapshot, refresh_seconds=10)
    assert "no destinations yet" in render_status_page(snapshot)


def test_names_are_escaped(clock: FakeClock) -> None:
    m = PipelineMetrics(clock=clock, process_metrics=False)
    m.error("<script>alert(1)</script>", "decode")
    html = render_status_page(m.snapshot(), title="a & b")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<title>a &amp; b</title>" in html


def test_states_and_formats() -> None:
    def dest(lag: float | None, backlog: int | None, last: float | None) -> DestinationSnapshot:
        return DestinationSnapshot("d", lag, 0.0, 0, 0, 0, {}, backlog, last, None, Percentiles(), Percentiles(), {})

    limits = StatusThresholds(lag_warning=30, stall_after=60)
    assert destination_state(dest(None, None, None), 1000, limits) == "idle"
    assert destination_state(dest(5, 10, 999), 1000, limits) == "ok"
    assert destination_state(dest(45, 10, 999), 1000, limits) == "lagging"
    assert destination_state(dest(120, 10, 999), 1000, limits) == "lagging"  # committing, just behind
    assert destination_state(dest(120, 10, 900), 1000, limits) == "stalled"
    assert format_duration(0.0004) == "0.4 ms"
    assert format_duration(0.25) == "250 ms"
    assert format_duration(59.5) == "59.50 s"
    assert format_duration(3725) == "1h 02m"
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(5 * 2**40) == "5.0 TiB"


def chromium_run(chromium: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,800",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_status_page_in_headless_chromium(chromium: Path, clock: FakeClock, tmp_path: Path) -> None:
    m = known_metrics(clock)
    shots = Path(os.environ.get("CASSANDRA_CDC_SCREENSHOT_DIR", str(tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    screenshot = shots / "status.png"
    with ObservabilityServer(m, checks=checks()) as server:  # type: ignore[arg-type]
        url = server.url + "/status"
        dom = chromium_run(chromium, tmp_path / "profile-dom", "--dump-dom", url)
        assert dom.returncode == 0, dom.stderr[-2000:]
        shot = chromium_run(chromium, tmp_path / "profile-shot", f"--screenshot={screenshot}", url)
        assert shot.returncode == 0, shot.stderr[-2000:]

    cells = parse(dom.stdout)
    assert_page_values(cells)

    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1280, 800)
    assert len(data) > 20_000  # a blank page compresses to a couple of KB; tables and text do not


@pytest.mark.parametrize("path", ["/status", "/api/status"])
def test_pages_answer_fast(clock: FakeClock, path: str) -> None:
    m = known_metrics(clock)
    with ObservabilityServer(m) as server:
        status, _, body = server.respond(path, "")
    assert status == 200 and body
