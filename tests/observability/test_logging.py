"""Structured logs: JSON lines carrying the batch and change correlation ids, stdlib loggers included."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cassandra_cdc.observability.logging import (
    bind_batch,
    bind_change,
    bound_context,
    configure_logging,
    get_logger,
    new_correlation_id,
)
from cassandra_cdc.observability.tracing import Tracer


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_json_lines_with_batch_and_change_ids(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    log = get_logger("cassandra_cdc.test")
    stdlib = logging.getLogger("cassandra_cdc.pipeline.lane")

    log.info("before")
    with bind_batch("batch-1", destination="pg") as batch_id:
        log.info("batch started", changes=12)
        with bind_change() as change_id:
            stdlib.warning("value out of range in %s", "ks.t")
        log.debug("hidden below INFO")
    log.info("after")

    records = lines(out)
    assert [r["event"] for r in records] == ["before", "batch started", "value out of range in ks.t", "after"]
    assert batch_id == "batch-1"
    assert "batch_id" not in records[0] and "batch_id" not in records[3]
    assert records[1]["batch_id"] == "batch-1" and records[1]["destination"] == "pg" and records[1]["changes"] == 12
    assert records[1]["level"] == "info" and records[1]["logger"] == "cassandra_cdc.test"
    assert records[1]["timestamp"].endswith("Z")
    # a stdlib logger's line carries the same context
    assert records[2]["batch_id"] == "batch-1"
    assert records[2]["correlation_id"] == change_id and len(change_id) == 32
    assert records[2]["level"] == "warning" and records[2]["logger"] == "cassandra_cdc.pipeline.lane"
    assert "correlation_id" not in records[1]


def test_ids_do_not_leak_between_threads(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    log = get_logger("lanes")
    ready = threading.Barrier(2)

    def lane(name: str) -> None:
        with bind_batch(f"{name}-batch"):
            ready.wait(5)
            log.info("written", lane=name)

    threads = [threading.Thread(target=lane, args=(n,)) for n in ("pg", "ch")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert {(r["lane"], r["batch_id"]) for r in lines(out)} == {("pg", "pg-batch"), ("ch", "ch-batch")}


def test_exceptions_and_trace_ids(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out)
    log = get_logger("x")
    tracer = Tracer(exporter=InMemorySpanExporter())
    with tracer.span("write", destination="pg") as span:
        try:
            raise ValueError("bad cell")
        except ValueError:
            log.exception("write failed")
    (record,) = lines(out)
    assert record["level"] == "error"
    assert "ValueError: bad cell" in record["exception"]
    context = span.get_span_context()
    assert record["trace_id"] == format(context.trace_id, "032x")
    assert record["span_id"] == format(context.span_id, "016x")


def test_console_format_and_reconfiguring(restore_logging: None) -> None:
    first = io.StringIO()
    configure_logging("INFO", "console", stream=first)
    with bind_batch("b-7"):
        get_logger("c").info("hello", rows=3)
    text = first.getvalue()
    assert "hello" in text and "batch_id=b-7" in text and "rows=3" in text
    assert "\x1b[" not in text  # no colours when not a terminal

    second = io.StringIO()
    configure_logging("WARNING", "json", stream=second)  # replaces the first handler, does not add one
    get_logger("c").info("dropped")
    get_logger("c").warning("kept")
    assert "dropped" not in first.getvalue() + second.getvalue()
    assert [r["event"] for r in lines(second)] == ["kept"]
    assert "kept" not in first.getvalue()


def test_bad_configuration_is_refused(restore_logging: None) -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log level"):
        configure_logging("LOUD", "json")


def test_correlation_ids() -> None:
    ids = {new_correlation_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    with bind_batch() as batch, bind_change("c-1"):
        assert bound_context() == {"batch_id": batch, "correlation_id": "c-1"}
    assert bound_context() == {}
