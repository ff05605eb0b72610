"""Metric values after a known workload: the pipeline runs on real segments into a real PostgreSQL,
then the Prometheus endpoint must report exactly what was delivered (values, not just presence)."""

from __future__ import annotations

import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.config.model import ObservabilitySettings
from cassandra_cdc.pipeline.observe import register_pipeline, start_observability
from cassandra_cdc.pipeline.runner import Pipeline
from cassandra_cdc.servers.postgres import PostgresServer
from tests.pipeline.support import changes_in, wait_for
from tests.pipeline.test_runner import _at, _run_in_thread, _setup, _write_live

SINK = "wh_metrics"


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.timeout(120)
def test_metrics_report_exactly_the_delivered_workload(tmp_path: Path, postgres_server: PostgresServer) -> None:
    sinks = f"  {SINK}: {{type: postgres, dsn: '{postgres_server.dsn}'}}\n"
    config, schema, cdc_raw = _setup(tmp_path, "metrics_e2e", sinks)
    # The known workload, written before the run (retention deletes segments once delivered).
    node = _write_live(cdc_raw, schema, 600, seed=17)
    last = node.positions[-1]
    expected = Counter((f"{c.keyspace}.{c.table}", c.op.value) for c in changes_in([cdc_raw], schema))
    observability = start_observability(ObservabilitySettings.model_validate({"http": {"port": 0}}))
    assert observability.server is not None
    try:
        pipeline = Pipeline(config, observer=observability.observer)
        register_pipeline(observability, pipeline)
        stop, thread, result = _run_in_thread(pipeline)
        try:
            end = SourcePosition("n1", last.segment_id, last.position)
            wait_for(lambda: _at(pipeline, SINK, end), 60, "the end of the log")
            url = observability.server.url
            # The backlog is sampled by the retention pass: it reaches 0 within a pass of the last commit.
            wait_for(lambda: _samples(url).get(("cdc_backlog_depth", (("destination", SINK),))) == 0, 10, "no backlog")
            metrics = _samples(url)
        finally:
            stop.set()
            thread.join(30)
        assert result == [True]
    finally:
        observability.stop()

    processed = {
        (labels["table"], labels["op"]): value
        for (name, label_items), value in metrics.items()
        if name == "cdc_events_processed_total" and (labels := dict(label_items))["destination"] == SINK
    }
    assert processed == {key: float(count) for key, count in expected.items()}
    total = sum(expected.values())
    dest = (("destination", SINK),)
    assert metrics[("cdc_end_to_end_latency_seconds_count", dest)] == total
    assert metrics[("cdc_pipeline_latency_seconds_count", dest)] == total
    assert metrics[("cdc_backlog_depth", dest)] == 0
    assert metrics[("cdc_errors_total", (("destination", SINK), ("error_type", "sink_fatal")))] == 0
    position = (("destination", SINK), ("node", "n1"))
    assert metrics[("cdc_committed_segment_id", position)] == last.segment_id
    assert metrics[("cdc_committed_position", position)] == last.position
