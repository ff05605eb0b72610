"""Tracing: the stage spans, checked with an in-memory exporter."""

from __future__ import annotations

import enum
import importlib.util

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from cassandra_cdc.observability.tracing import DECODE, MASK, READ, WRITE, Tracer


class Op(enum.Enum):
    INSERT = "insert"


def test_stage_spans_nest_under_the_batch() -> None:
    exporter = InMemorySpanExporter()
    tracer = Tracer(exporter=exporter, service_name="cdc-test")
    assert tracer.enabled
    with tracer.span("batch", destination="pg", batch_id="b-1"):
        with tracer.span(READ, node="n1", entries=3, segment_id=1712345678901):
            pass
        with tracer.span(DECODE, tables=["ks.t", "ks.u"], op=Op.INSERT, skipped=None):
            pass
        with tracer.span(MASK, rules=0):
            pass
        with tracer.span(WRITE, destination="pg", changes=12, ratio=0.5, retried=False, positions=[1, 2]):
            pass
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [READ, DECODE, MASK, WRITE, "batch"]
    batch = spans[-1]
    assert batch.parent is None
    for s in spans[:-1]:
        assert s.parent is not None and s.parent.span_id == batch.context.span_id
        assert s.context.trace_id == batch.context.trace_id
    attrs = {s.name: dict(s.attributes or {}) for s in spans}
    assert attrs[READ] == {"node": "n1", "entries": 3, "segment_id": 1712345678901}
    assert attrs[DECODE] == {"tables": ("ks.t", "ks.u"), "op": "Op.INSERT"}  # None dropped, enum as str
    assert attrs[WRITE] == {"destination": "pg", "changes": 12, "ratio": 0.5, "retried": False, "positions": (1, 2)}
    assert batch.resource.attributes["service.name"] == "cdc-test"


def test_an_exception_marks_the_span() -> None:
    exporter = InMemorySpanExporter()
    tracer = Tracer(exporter=exporter)
    with pytest.raises(RuntimeError), tracer.span(WRITE, destination="ch"):
        raise RuntimeError("server gone")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert any(e.name == "exception" and "server gone" in str(e.attributes) for e in span.events)


def test_no_exporter_means_no_op() -> None:
    tracer = Tracer()
    assert not tracer.enabled
    with tracer.span(READ, node="n1") as span:
        assert not span.get_span_context().is_valid
    assert tracer.force_flush()
    tracer.shutdown()


def test_tracers_are_independent() -> None:
    a, b = InMemorySpanExporter(), InMemorySpanExporter()
    with Tracer(exporter=a).span("one"):
        pass
    with Tracer(exporter=b).span("two"):
        pass
    assert [s.name for s in a.get_finished_spans()] == ["one"]
    assert [s.name for s in b.get_finished_spans()] == ["two"]


def _otlp_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(_otlp_installed(), reason="the OTLP exporter is installed")
def test_otlp_endpoint_without_the_exporter_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"cassandra-cdc\[otlp\]"):
        Tracer(otlp_endpoint="http://127.0.0.1:4318/v1/traces")
