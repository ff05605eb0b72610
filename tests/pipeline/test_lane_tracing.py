"""Each batch of a lane is traced read -> decode -> mask -> write, and its log lines carry correlation ids."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.observability.logging import configure_logging
from cassandra_cdc.observability.tracing import Tracer
from cassandra_cdc.pipeline.lane import SinkLane, SourceNode
from cassandra_cdc.simulator.schemas import benchmark_schema
from tests.pipeline.test_lane import RecordingSink, _write_workload


def test_batches_are_traced_stage_by_stage(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    _write_workload(cdc_raw, 200)
    exporter = InMemorySpanExporter()
    tracer = Tracer(exporter=exporter)

    def mask(change: RowChange) -> RowChange:
        return change

    lane = SinkLane(
        RecordingSink(),
        [SourceNode("n1", cdc_raw)],
        benchmark_schema(),
        batch_size=10_000,
        transform=mask,
        tracer=tracer,
    )
    lane.open()
    assert lane.step() > 0
    tracer.force_flush()
    finished = exporter.get_finished_spans()
    spans = {}
    for span in finished:  # the first of each name (a batch polls again once it has drained the log)
        spans.setdefault(span.name, span)
    assert {"batch", "read", "decode", "mask", "write"} <= set(spans)
    batch = spans["batch"]
    for stage in ("read", "decode", "mask", "write"):
        assert spans[stage].parent is not None and spans[stage].parent.span_id == batch.context.span_id
        assert spans[stage].attributes is not None and spans[stage].attributes["sink"] == "recording"
    # 200 entries and the segment's completion, polled at once.
    assert spans["decode"].attributes is not None and spans["decode"].attributes["items"] == 201
    assert spans["decode"].start_time >= spans["read"].end_time
    assert spans["write"].start_time >= spans["mask"].end_time


def test_problem_lines_carry_batch_and_change_ids(tmp_path: Path) -> None:
    cdc_raw = tmp_path / "cdc_raw"
    _write_workload(cdc_raw, 100)

    def refuse(change: RowChange) -> RowChange:
        raise ValueError("no")

    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        lane = SinkLane(RecordingSink(), [SourceNode("n1", cdc_raw)], benchmark_schema(), transform=refuse)
        lane.open()
        lane.step()
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if "transform failed" in line]
    assert lines
    assert all(line["batch_id"] and line["sink"] == "recording" for line in lines)
    assert all(line["correlation_id"].startswith("n1:") for line in lines)
    assert len({line["batch_id"] for line in lines}) == 1
