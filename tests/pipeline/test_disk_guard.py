"""The cdc_raw disk guard: capacity and warning, detaching a sink that stays dead or too far behind,
re-sync markers across restarts, and gaps (segments deleted unread) marking the sinks they hit."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.commitlog.follower import GapDetected
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.config import load_config
from cassandra_cdc.config.model import PipelineConfig, SinkSettings
from cassandra_cdc.observability.metrics import PipelineMetrics
from cassandra_cdc.pipeline.disk_guard import (
    DiskGuard,
    ResyncMarker,
    ResyncMarkers,
    default_cdc_total_space,
)
from cassandra_cdc.pipeline.observe import MetricsObserver
from cassandra_cdc.pipeline.runner import Pipeline
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from cassandra_cdc.simulator.workload import WorkloadGenerator
from cassandra_cdc.sinks.base import ChangeBatch, Sink, SinkError
from tests.pipeline.support import changes_in, wait_for
from tests.pipeline.test_lane import RecordingSink

MIB = 1024 * 1024


# --- units -----------------------------------------------------------------------------------------


def test_default_capacity_is_cassandras_min_of_4096_mib_and_an_eighth_of_the_volume(tmp_path: Path) -> None:
    total = shutil.disk_usage(tmp_path).total
    expected = min(4096, (total // MIB) // 8) * MIB
    assert default_cdc_total_space(tmp_path) == expected
    # A cdc_raw that does not exist yet is measured on its nearest existing parent.
    assert default_cdc_total_space(tmp_path / "not" / "yet") == expected


def test_usage_warning_once_per_crossing(caplog: pytest.LogCaptureFixture) -> None:
    guard = DiskGuard({"n1": 1000, "n2": 1000}, ResyncMarkers(None), warn_fraction=0.8)
    with caplog.at_level(logging.WARNING, logger="cassandra_cdc.pipeline.disk_guard"):
        usage = guard.check_usage({"n1": 790, "n2": 10, "unknown": 5})
        assert [(u.node, u.used, u.capacity) for u in usage] == [("n1", 790, 1000), ("n2", 10, 1000)]
        assert not caplog.records
        guard.check_usage({"n1": 800, "n2": 10})
        guard.check_usage({"n1": 900, "n2": 10})  # still above: no second warning
        assert len(caplog.records) == 1 and "node n1" in caplog.text and "80%" in caplog.text
        guard.check_usage({"n1": 100, "n2": 10})  # back under (with hysteresis): re-armed
        guard.check_usage({"n1": 850, "n2": 10})
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_markers_persist_and_clear(tmp_path: Path) -> None:
    markers = ResyncMarkers(tmp_path / "state")
    marker = ResyncMarker("wh", "parked", "parked for 700s", True, 1700000000.0, {"n1": [5, 6]})
    markers.write(marker)
    path = tmp_path / "state" / "wh.needs-resync.json"
    assert json.loads(path.read_text())["reason"] == "parked for 700s"
    assert ResyncMarkers(tmp_path / "state").load() == {"wh": marker}
    (tmp_path / "state" / "broken.needs-resync.json").write_text("{not json")
    loaded = ResyncMarkers(tmp_path / "state").load()
    assert loaded["broken"].detached and "unreadable marker" in loaded["broken"].reason
    assert markers.clear("wh") and not path.exists()
    assert not markers.clear("wh")


def test_limits() -> None:
    now = [1000.0]
    seen: list[ResyncMarker] = []
    guard = DiskGuard(
        {"n1": 10_000},
        ResyncMarkers(None),
        max_sink_lag_bytes=5000,
        max_parked_seconds=60,
        on_marker=seen.append,
        clock=lambda: now[0],
    )
    assert guard.evaluate("a", None, {"n1": 5000}) is None  # at the limit, not over it
    assert guard.evaluate("a", 59.9, {"n1": 0}) is None
    lag = guard.evaluate("a", None, {"n1": 5001})
    assert lag is not None and lag.kind == "lag" and lag.detached and "5001 bytes behind on node n1" in lag.reason
    assert guard.evaluate("a", None, {"n1": 9000}) is None  # detached already
    parked = guard.evaluate("b", 60.0, {"n1": 0})
    assert parked is not None and parked.kind == "parked"
    assert [m.sink for m in seen] == ["a", "b"]
    gap = GapDetected("n1", "segment_removed_unread", (7,), "segment 7 removed", CommitLogPosition(7, 10))
    marked = guard.gap("c", gap)
    assert marked is not None and not marked.detached and marked.nodes == {"n1": [7]}
    assert guard.needs_resync("c") and not guard.detached("c")
    suspicious = GapDetected("n1", "missing_segment_id", (8,), "id 8 never seen", CommitLogPosition(9, 0))
    assert guard.gap("d", suspicious) is None  # not proof of loss: no marker


# --- in the runner ---------------------------------------------------------------------------------


def _setup(tmp_path: Path, extra: str) -> tuple[PipelineConfig, Schema, Path]:
    cql = BENCHMARK_CQL.replace("shop", "guard")
    (tmp_path / "schema.cql").write_text(cql)
    cdc_raw = tmp_path / "cdc_raw"
    cdc_raw.mkdir()
    (tmp_path / "pipeline.yaml").write_text(
        "sources: {n1: {cdc_raw: cdc_raw, cdc_total_space: 4000000}}\nschema: {cql: schema.cql}\n"
        "batching: {batch_size: 200, flush_interval: 0.02, poll_interval: 0.02}\n"
        "retention: {interval: 0.1}\nobservability: {http: {enabled: false}}\n"
        "shutdown: {grace_period: 5, supervise_interval: 0.05}\n"
        "sinks:\n"
        "  good: {type: clickhouse, url: 'http://unused'}\n"
        "  bad: {type: clickhouse, url: 'http://unused', retry: {attempts: 1, base: 0.1, cap: 0.2, jitter: 0}}\n"
        + extra
    )
    schema, _ = parse_cql_schema(cql, "guard test")
    return load_config(tmp_path / "pipeline.yaml", environ={}), schema, cdc_raw


def _write(
    cdc_raw: Path,
    schema: Schema,
    mutations: int,
    *,
    close: bool = True,
    first_id: int = 1_700_000_000_000,
    after_sync: Callable[[SimulatedNode], None] | None = None,
) -> SimulatedNode:
    node = SimulatedNode(cdc_raw, segment_size=64 * 1024, first_segment_id=first_id)
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=9, now=int(time.time()))
    for _ in range(mutations // 50):
        node.sync([encoder.encode(m, 12) for m in generator.mutations(50)])
        if after_sync is not None:
            after_sync(node)
    if close:
        node.close()
    return node


class _DeadSink(RecordingSink):
    """Its destination is gone: every write fails for good."""

    def write_batch(self, batch: ChangeBatch) -> None:
        raise SinkError("connection refused", retryable=False)


class _StuckSink(RecordingSink):
    """Hangs inside write_batch until released (a destination that stopped answering)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write_batch(self, batch: ChangeBatch) -> None:
        self.release.wait(30)
        super().write_batch(batch)


def _run(pipeline: Pipeline) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=pipeline.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def _metrics_text(metrics: PipelineMetrics) -> str:
    return generate_latest(metrics.registry).decode()


@pytest.mark.timeout(60)
def test_a_sink_parked_too_long_is_detached_and_retention_goes_on(tmp_path: Path) -> None:
    config, schema, cdc_raw = _setup(tmp_path, "disk_guard: {max_parked_seconds: 1.0, state_dir: state}\n")
    node = _write(cdc_raw, schema, 1500)
    segments = sorted(cdc_raw.glob("*.log"))
    assert len(segments) >= 4
    expected = len(changes_in([cdc_raw], schema))
    good = RecordingSink()
    built: dict[str, int] = {"bad": 0}

    def factory(name: str, settings: SinkSettings) -> Sink:
        if name == "good":
            good.name = "good"
            return good
        built["bad"] += 1
        sink = _DeadSink()
        sink.name = "bad"
        return sink

    metrics = PipelineMetrics(process_metrics=False)
    pipeline = Pipeline(config, schema=schema, sink_factory=factory, observer=MetricsObserver(metrics))
    stop, thread = _run(pipeline)
    try:
        last = node.positions[-1]
        wait_for(
            lambda: good.positions.get("n1") == SourcePosition("n1", last.segment_id, last.position),
            20,
            "the good sink to reach the end",
        )
        # While the dead sink is only parked, retention keeps everything for it.
        state = {s.sink: s.state for s in pipeline.status()}["bad"]
        if state != "detached":
            assert sorted(cdc_raw.glob("*.log")) == segments
        wait_for(lambda: {s.sink: s.state for s in pipeline.status()}["bad"] == "detached", 10, "the detachment")
        # Detached: nothing waits for it any more; every COMPLETED segment goes.
        wait_for(lambda: not any(cdc_raw.glob("*.log")), 5, "retention without the detached sink")
        probes = built["bad"]
        time.sleep(0.5)
        assert built["bad"] == probes  # a detached sink is not probed again
    finally:
        stop.set()
        thread.join(20)
    marker = json.loads((tmp_path / "state" / "bad.needs-resync.json").read_text())
    assert marker["kind"] == "parked" and marker["detached"] and "parked for" in marker["reason"]
    text = _metrics_text(metrics)
    assert 'cdc_sink_needs_resync{destination="bad",kind="parked"} 1.0' in text
    assert 'cdc_raw_capacity_bytes{node="n1"} 4e+06' in text
    assert len(good.changes) == expected
    assert {s.sink: s.state for s in pipeline.status()} == {"good": "stopped", "bad": "detached"}

    # Restarted, the marker keeps the sink detached (not started) until an operator removes it.
    built["bad"] = 0
    again = Pipeline(config, schema=schema, sink_factory=factory)
    again.start()
    try:
        status = {s.sink: s for s in again.status()}
        assert status["bad"].state == "detached" and "needs re-sync" in (status["bad"].reason or "")
        assert not again.lanes["bad"].alive
    finally:
        again.shutdown(5)
    assert ResyncMarkers(tmp_path / "state").clear("bad")
    third = Pipeline(config, schema=schema, sink_factory=factory)
    third.start()
    try:
        assert {s.sink: s.state for s in third.status()}["bad"] in ("running", "parked")
    finally:
        third.shutdown(5)


@pytest.mark.timeout(60)
def test_a_sink_too_far_behind_is_detached_even_while_stuck_in_a_write(tmp_path: Path) -> None:
    config, schema, cdc_raw = _setup(tmp_path, "disk_guard: {max_sink_lag_bytes: 100000}\n")
    stuck = _StuckSink()
    stuck.name = "bad"
    good = RecordingSink()
    good.name = "good"
    pipeline = Pipeline(config, schema=schema, sink_factory=lambda name, _: good if name == "good" else stuck)
    stop, thread = _run(pipeline)

    def good_catches_up(node: SimulatedNode) -> None:
        # Paced so that the healthy sink is never near the lag limit itself, however slow the machine.
        last = node.positions[-1]
        wait_for(lambda: good.positions.get("n1") == SourcePosition("n1", last.segment_id, last.position), 20, "good")

    try:
        _write(cdc_raw, schema, 2000, after_sync=good_catches_up)
        wait_for(lambda: {s.sink: s.state for s in pipeline.status()}["bad"] == "detached", 10, "the detachment")
        assert "bytes behind on node n1" in ({s.sink: s for s in pipeline.status()}["bad"].reason or "")
        wait_for(lambda: not any(cdc_raw.glob("*.log")), 5, "retention without the detached sink")
        assert pipeline.disk_guard.marker("bad") is not None  # in memory: no state_dir configured
    finally:
        stuck.release.set()  # the write in flight returns; the aborted lane then stops
        stop.set()
        thread.join(20)
    assert not pipeline.lanes["bad"].alive


@pytest.mark.timeout(60)
def test_a_segment_deleted_unread_marks_the_sink_and_raises_the_gap_metric(tmp_path: Path) -> None:
    config, schema, cdc_raw = _setup(tmp_path, "disk_guard: {state_dir: state}\n")
    node = _write(cdc_raw, schema, 50, close=False)  # one live segment, partly durable
    sinks = {"good": RecordingSink(), "bad": RecordingSink()}
    for name, sink in sinks.items():
        sink.name = name
    metrics = PipelineMetrics(process_metrics=False)
    pipeline = Pipeline(
        config, schema=schema, sink_factory=lambda name, _: sinks[name], observer=MetricsObserver(metrics)
    )
    lanes = pipeline.lanes
    for lane in lanes.values():
        lane.open()
    assert len(list(cdc_raw.glob("*.log"))) == 1
    for lane in lanes.values():
        while lane.step():
            pass
    assert sinks["bad"].changes
    # More is written; then the segment disappears before the sinks read it (Cassandra 4.1+ with
    # cdc_block_writes: false deleting over cdc_total_space).
    encoder = MutationEncoder(schema)
    generator = WorkloadGenerator(list(schema.tables.values()), seed=99, now=int(time.time()))
    node.sync([encoder.encode(m, 12) for m in generator.mutations(50)])
    live = node.segment_id
    node.close()
    assert live is not None
    for path in cdc_raw.glob(f"*{live}*"):
        path.unlink()
    _write(cdc_raw, schema, 100, first_id=live + 1)  # the node goes on in the next segment
    lanes["bad"].step()
    lanes["bad"].step()
    marker = pipeline.disk_guard.marker("bad")
    assert marker is not None and marker.kind == "gap" and not marker.detached
    assert marker.nodes == {"n1": [live]}
    assert pipeline.disk_guard.marker("good") is None  # its follower has not looked yet
    saved = json.loads((tmp_path / "state" / "bad.needs-resync.json").read_text())
    assert saved["nodes"] == {"n1": [live]} and "before it was read to its end" in saved["reason"]
    text = _metrics_text(metrics)
    assert 'cdc_source_gaps_total{destination="bad",kind="segment_removed_unread",node="n1"} 1.0' in text
    assert 'cdc_sink_needs_resync{destination="bad",kind="gap"} 1.0' in text
    assert 'cdc_errors_total{destination="bad",error_type="gap"} 1.0' in text
