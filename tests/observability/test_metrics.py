"""PipelineMetrics: exact values after a known sequence of calls, checked in the registry and the snapshot."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cassandra_cdc.observability.metrics import (
    LATENCY_BUCKETS,
    PipelineMetrics,
    backlog_bytes,
    nearest_rank,
)
from tests.observability.conftest import T0, FakeClock

US = 1_000_000


def wt(offset_seconds: float) -> int:
    """A Cassandra writetime (µs) ``offset_seconds`` after T0, built in integers so no float rounding creeps in."""
    return int(T0) * US + round(offset_seconds * US)


def run_three_batches(clock: FakeClock) -> PipelineMetrics:
    """Batch 1 and 2 in pg, batch 3 in ch; latencies chosen away from bucket bounds."""
    m = PipelineMetrics(clock=clock, rate_window=60.0, process_metrics=False)
    clock.at(0)
    m.add_destination("pg")
    clock.at(5)
    m.backlog("pg", 500)  # pending since T0+5 (no oldest_visible_at given)
    # end to end 0.0005, 0.3, 2.0; pipeline 0.02, 0.02, 0.3
    m.batch_committed(
        "pg",
        {("ks.t", "insert"): 2, ("ks.t", "delete"): 1},
        [wt(9.9995), wt(9.7), wt(8.0)],
        [T0 + 9.98, T0 + 9.98, T0 + 9.7],
        committed_at=T0 + 10,
        positions={"n1": (1001, 4096)},
    )
    # end to end 0.2, 0.2, 0.2, 7.0; pipeline 0.004 x4
    m.batch_committed(
        "pg",
        {("ks.t", "insert"): 4},
        [wt(19.8), wt(19.8), wt(19.8), wt(13.0)],
        [T0 + 19.996] * 4,
        committed_at=T0 + 20,
        positions={"n1": (1001, 9000), "n2": (7, 100)},
    )
    clock.at(30)
    # end to end 100 s (past the last bucket); pipeline 1.2 x5
    m.batch_committed("ch", {("ks.u", "update"): 5}, [wt(-70.0)] * 5, [T0 + 28.8] * 5, committed_at=T0 + 30)
    return m


def sample(m: PipelineMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_counters_after_three_batches(clock: FakeClock) -> None:
    m = run_three_batches(clock)
    assert sample(m, "cdc_events_processed_total", destination="pg", table="ks.t", op="insert") == 6
    assert sample(m, "cdc_events_processed_total", destination="pg", table="ks.t", op="delete") == 1
    assert sample(m, "cdc_events_processed_total", destination="ch", table="ks.u", op="update") == 5
    assert sample(m, "cdc_events_processed_total", destination="ch", table="ks.t", op="insert") is None
    assert sample(m, "cdc_batches_committed_total", destination="pg") == 2
    assert sample(m, "cdc_batches_committed_total", destination="ch") == 1
    assert sample(m, "cdc_last_commit_timestamp_seconds", destination="pg") == T0 + 20
    assert sample(m, "cdc_newest_committed_writetime_seconds", destination="pg") == pytest.approx(T0 + 19.8)
    assert sample(m, "cdc_committed_segment_id", destination="pg", node="n1") == 1001
    assert sample(m, "cdc_committed_position", destination="pg", node="n1") == 9000
    assert sample(m, "cdc_committed_position", destination="pg", node="n2") == 100


def test_histograms_after_three_batches(clock: FakeClock) -> None:
    m = run_three_batches(clock)

    def buckets(name: str, dest: str) -> dict[str, float]:
        return {
            le: sample(m, f"{name}_bucket", destination=dest, le=le) or 0.0
            for le in [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]
        }

    e2e = buckets("cdc_end_to_end_latency_seconds", "pg")
    # cumulative: 0.0005 | 0.2 x3 | 0.3 | 2.0 | 7.0
    assert e2e["0.001"] == 1
    assert e2e["0.1"] == 1
    assert e2e["0.25"] == 4
    assert e2e["0.5"] == 5
    assert e2e["1.0"] == 5
    assert e2e["2.5"] == 6
    assert e2e["5.0"] == 6
    assert e2e["10.0"] == 7
    assert e2e["+Inf"] == 7
    assert sample(m, "cdc_end_to_end_latency_seconds_count", destination="pg") == 7
    assert sample(m, "cdc_end_to_end_latency_seconds_sum", destination="pg") == pytest.approx(9.9005, abs=1e-5)

    added = buckets("cdc_pipeline_latency_seconds", "pg")
    assert added["0.0025"] == 0
    assert added["0.005"] == 4
    assert added["0.01"] == 4
    assert added["0.025"] == 6
    assert added["0.25"] == 6
    assert added["0.5"] == 7
    assert added["+Inf"] == 7

    far = buckets("cdc_end_to_end_latency_seconds", "ch")
    assert far["60.0"] == 0 and far["+Inf"] == 5
    assert sample(m, "cdc_end_to_end_latency_seconds_sum", destination="ch") == pytest.approx(500.0, abs=1e-4)
    assert buckets("cdc_pipeline_latency_seconds", "ch")["1.0"] == 0
    assert buckets("cdc_pipeline_latency_seconds", "ch")["2.5"] == 5


def test_bucketing_agrees_with_prometheus_client_histogram(clock: FakeClock) -> None:
    """Our bulk histogram must put every value, bounds included, where prometheus_client's would."""
    values = [0.0, 0.001, 0.0010001, 0.0025, 0.02, 0.1, 0.99, 1.0, 15.0, 59.999, 60.0, 60.5, 1e6]
    m = PipelineMetrics(clock=clock, process_metrics=False)
    now = T0 + 100
    m.batch_committed("d", {("ks.t", "insert"): len(values)}, [], [now - v for v in values], committed_at=now)
    reference_registry = CollectorRegistry()
    reference = Histogram("ref", "", buckets=LATENCY_BUCKETS, registry=reference_registry)
    for v in values:
        reference.observe(now - (now - v))  # the same float arithmetic as the metrics class
    for le in [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]:
        ours = sample(m, "cdc_pipeline_latency_seconds_bucket", destination="d", le=le)
        theirs = reference_registry.get_sample_value("ref_bucket", {"le": le})
        assert ours == theirs, le


def test_lag_follows_backlog_and_commits(clock: FakeClock) -> None:
    m = PipelineMetrics(clock=clock, process_metrics=False)
    m.add_destination("pg")
    assert sample(m, "cdc_replication_lag_seconds", destination="pg") is None  # no backlog reported yet
    assert m.snapshot().destinations[0].lag_seconds is None

    clock.at(5)
    m.backlog("pg", 500)
    clock.at(8)
    assert sample(m, "cdc_replication_lag_seconds", destination="pg") == pytest.approx(3.0)
    # a commit whose newest entry became visible at T0+9.5: what is left became visible no earlier
    m.batch_committed("pg", {("ks.t", "insert"): 1}, [wt(9.0)], [T0 + 9.5], committed_at=T0 + 10)
    clock.at(12)
    m.backlog("pg", 200)
    assert sample(m, "cdc_replication_lag_seconds", destination="pg") == pytest.approx(2.5)
    clock.at(40)  # a stalled sink: the lag keeps growing at scrape time
    assert sample(m, "cdc_replication_lag_seconds", destination="pg") == pytest.approx(30.5)

    m.backlog("pg", 0)
    assert sample(m, "cdc_replication_lag_seconds", destination="pg") == 0.0
    assert sample(m, "cdc_backlog_depth", destination="pg") == 0

    clock.at(50)
    m.backlog("pg", 300, oldest_visible_at=T0 + 45)  # the runner knows when the oldest pending entry appeared
    clock.at(53)
    assert sample(m, "cdc_replication_lag_seconds", destination="pg") == pytest.approx(8.0)
    assert sample(m, "cdc_backlog_depth", destination="pg") == 300
    with pytest.raises(ValueError, match="pg"):
        m.backlog("pg", -1)


def test_events_per_second_over_sliding_window(clock: FakeClock) -> None:
    m = run_three_batches(clock)  # clock at T0+30
    # pg registered at T0: 7 events over the 30 s it has existed; ch appeared just now: 5 over 1 s minimum
    assert sample(m, "cdc_events_per_second", destination="pg") == pytest.approx(7 / 30)
    assert sample(m, "cdc_events_per_second", destination="ch") == pytest.approx(5.0)
    clock.at(75)  # window [15, 75]: only batch 2 (at 20) remains, over a full 60 s window
    assert sample(m, "cdc_events_per_second", destination="pg") == pytest.approx(4 / 60)
    clock.at(200)
    assert sample(m, "cdc_events_per_second", destination="pg") == 0.0


def test_errors_sources_and_cdc_raw(clock: FakeClock) -> None:
    m = PipelineMetrics(clock=clock, process_metrics=False)
    m.add_destination("pg")
    assert sample(m, "cdc_errors_total", destination="pg", error_type="decode") == 0  # exists before the first error
    m.error("pg", "decode")
    m.error("pg", "decode")
    m.error("pg", "sink_retryable", 3)
    m.error("pg", "custom")
    assert sample(m, "cdc_errors_total", destination="pg", error_type="decode") == 2
    assert sample(m, "cdc_errors_total", destination="pg", error_type="sink_retryable") == 3
    assert sample(m, "cdc_errors_total", destination="pg", error_type="custom") == 1
    m.source_position("n1", 1712345678901, 65536)
    m.cdc_raw_usage("n1", 3 * 2**20, 4096 * 2**20)
    m.cdc_raw_usage("n2", 10, None)
    assert sample(m, "cdc_source_segment_id", node="n1") == 1712345678901
    assert sample(m, "cdc_source_position", node="n1") == 65536
    assert sample(m, "cdc_raw_bytes", node="n1") == 3 * 2**20
    assert sample(m, "cdc_raw_capacity_bytes", node="n1") == 4096 * 2**20
    assert sample(m, "cdc_raw_capacity_bytes", node="n2") is None

    snap = m.snapshot()
    (pg,) = snap.destinations
    assert pg.errors_total == 6
    assert pg.errors_by_type == {"custom": 1, "decode": 2, "sink_retryable": 3}
    assert [(n.node, n.segment_id, n.position, n.cdc_raw_bytes, n.cdc_raw_capacity_bytes) for n in snap.nodes] == [
        ("n1", 1712345678901, 65536, 3 * 2**20, 4096 * 2**20),
        ("n2", None, None, 10, None),
    ]


def test_snapshot_per_destination(clock: FakeClock) -> None:
    m = run_three_batches(clock)
    clock.at(31)
    m.backlog("pg", 4096)
    snap = m.snapshot()
    assert snap.taken_at == T0 + 31
    assert [d.destination for d in snap.destinations] == ["ch", "pg"]
    ch, pg = snap.destinations
    assert pg.events_total == 7 and pg.batches_total == 2
    assert pg.backlog_depth == 4096
    # never back to 0 since T0+5: pending since the newest committed entry's visibility, T0+19.996
    assert pg.lag_seconds == pytest.approx(31 - 19.996, abs=1e-6)
    assert pg.last_commit_at == T0 + 20
    # e2e sorted: 0.0005 0.2 0.2 0.2 0.3 2.0 7.0 -> nearest rank p50 = 4th, p95 = p99 = 7th
    assert pg.end_to_end.samples == 7
    assert pg.end_to_end.p50 == pytest.approx(0.2, abs=1e-5)
    assert pg.end_to_end.p95 == pytest.approx(7.0, abs=1e-5)
    assert pg.end_to_end.p99 == pytest.approx(7.0, abs=1e-5)
    assert pg.pipeline.p50 == pytest.approx(0.004, abs=1e-5)
    assert {k: (v.segment_id, v.position) for k, v in pg.committed_positions.items()} == {
        "n1": (1001, 9000),
        "n2": (7, 100),
    }
    assert ch.lag_seconds is None and ch.backlog_depth is None
    assert ch.end_to_end.p50 == pytest.approx(100.0, abs=1e-4)
    as_json = snap.to_json()
    assert as_json["destinations"][1]["destination"] == "pg"
    assert as_json["destinations"][1]["end_to_end"]["samples"] == 7


def test_recent_percentiles_forget_old_samples(clock: FakeClock) -> None:
    m = PipelineMetrics(clock=clock, quantile_window=60.0, process_metrics=False)
    m.batch_committed("d", {("ks.t", "insert"): 1}, [], [T0 - 5.0], committed_at=T0)
    clock.at(30)
    m.batch_committed("d", {("ks.t", "insert"): 1}, [], [T0 + 29.9], committed_at=T0 + 30)
    assert m.snapshot().destinations[0].pipeline.samples == 2
    clock.at(70)  # the first sample (at T0) has left the 60 s window
    p = m.snapshot().destinations[0].pipeline
    assert p.samples == 1 and p.p99 == pytest.approx(0.1, abs=1e-6)
    clock.at(1000)
    assert m.snapshot().destinations[0].pipeline.p50 is None


def test_future_writetime_counts_as_zero_latency(clock: FakeClock) -> None:
    m = PipelineMetrics(clock=clock, process_metrics=False)
    m.batch_committed("d", {("ks.t", "insert"): 1}, [wt(50.0)], [T0], committed_at=T0 + 10)
    assert sample(m, "cdc_end_to_end_latency_seconds_bucket", destination="d", le="0.001") == 1
    assert sample(m, "cdc_end_to_end_latency_seconds_sum", destination="d") == 0.0


def test_exposition_parses(clock: FakeClock) -> None:
    m = run_three_batches(clock)
    m.backlog("pg", 10)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(m.registry).decode())}
    assert families["cdc_end_to_end_latency_seconds"].type == "histogram"
    assert families["cdc_events_processed"].type == "counter"
    assert families["cdc_replication_lag_seconds"].type == "gauge"
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    key = ("cdc_events_processed_total", (("destination", "pg"), ("op", "insert"), ("table", "ks.t")))
    assert values[key] == 6


def test_registries_are_independent(clock: FakeClock) -> None:
    a = PipelineMetrics(clock=clock, process_metrics=False)
    b = PipelineMetrics(clock=clock)  # with process metrics: no name clashes
    a.error("pg", "decode")
    assert b.registry.get_sample_value("cdc_errors_total", {"destination": "pg", "error_type": "decode"}) is None
    assert b.registry.get_sample_value("process_cpu_seconds_total") is not None


def test_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 0.5) == 50.0
    assert nearest_rank(values, 0.95) == 95.0
    assert nearest_rank(values, 0.99) == 99.0
    assert nearest_rank([3.0], 0.99) == 3.0
    with pytest.raises(ValueError):
        nearest_rank([], 0.5)


def test_backlog_bytes_by_hand() -> None:
    durable = {
        "n1": {10: 1000, 11: 500, 12: 64},  # committed at 11:200 -> 300 of 11 plus all 64 of 12
        "n2": {3: 700},  # no committed position: everything
        "n3": {5: 100},  # committed beyond the durable offset (replayed) -> 0, never negative
    }
    committed = {"n1": (11, 200), "n3": (5, 150)}
    assert backlog_bytes(durable, committed) == 300 + 64 + 700
    assert backlog_bytes({}, committed) == 0


def test_invalid_windows() -> None:
    with pytest.raises(ValueError):
        PipelineMetrics(rate_window=0)
    assert math.isfinite(LATENCY_BUCKETS[-1]) and LATENCY_BUCKETS[0] == 0.001 and LATENCY_BUCKETS[-1] == 60.0


def test_recent_samples_are_bounded(clock: FakeClock) -> None:
    m = PipelineMetrics(clock=clock, max_samples=100, process_metrics=False)
    for i in range(10):  # 10 batches of 30: only the newest batches, up to 100 samples, are kept
        m.batch_committed("d", {("ks.t", "insert"): 30}, [], [T0 - i] * 30, committed_at=T0)
    p = m.snapshot().destinations[0].pipeline
    assert p.samples == 90 and p.p99 == 9.0 and p.p50 == 8.0
    m.batch_committed("d", {("ks.t", "insert"): 1000}, [], [T0 - k / 1000 for k in range(1000)], committed_at=T0)
    p = m.snapshot().destinations[0].pipeline
    assert p.samples == 100  # one huge batch: an evenly spread tenth of it
    assert p.p50 == pytest.approx(0.49, abs=0.011)
    assert sample(m, "cdc_pipeline_latency_seconds_count", destination="d") == 1300  # the histogram keeps all


def test_concurrent_lanes_and_scrapes(clock: FakeClock) -> None:
    import threading

    m = PipelineMetrics(clock=clock, process_metrics=False)
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            generate_latest(m.registry)
            m.snapshot()

    def lane(name: str) -> None:
        for _ in range(200):
            m.batch_committed(name, {("ks.t", "insert"): 5}, [wt(0.0)] * 5, [T0] * 5, committed_at=T0 + 1)
            m.backlog(name, 10)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    lanes = [threading.Thread(target=lane, args=(f"d{i}",)) for i in range(4)]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join(30)
    stop.set()
    scraper.join(30)
    for i in range(4):
        assert sample(m, "cdc_events_processed_total", destination=f"d{i}", table="ks.t", op="insert") == 1000
        assert sample(m, "cdc_end_to_end_latency_seconds_count", destination=f"d{i}") == 1000


def test_rate_window_is_pruned_without_scrapes(clock: FakeClock) -> None:
    m = PipelineMetrics(clock=clock, rate_window=60.0, process_metrics=False)
    for second in range(1000):  # a batch a second for 1000 s, and nobody scrapes (HTTP endpoint off)
        clock.at(second)
        m.batch_committed("d", {("ks.t", "insert"): 1}, [], [], committed_at=T0 + second)
    # Only the batches inside the rate window are kept, not one per batch forever.
    assert len(m._destinations["d"].recent_events) <= 61
    assert sample(m, "cdc_events_per_second", destination="d") == pytest.approx(61 / 60)
