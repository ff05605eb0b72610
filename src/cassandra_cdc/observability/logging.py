"""Structured logs (structlog): JSON or console lines carrying the batch and change correlation ids.

Correlation ids live in context variables, so they follow the lane thread that bound them and show
up on every line logged meanwhile, including lines from stdlib ``logging`` loggers, which are routed
through the same processors. When a tracing span is active its trace and span ids are added too.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our root handler, told apart from others so configuring again replaces it instead of adding one."""


def _add_trace_ids(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    try:
        from opentelemetry import trace
    except ImportError:  # tracing is optional
        return event
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r} (expected DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    return value


def configure_logging(level: str | int = "INFO", fmt: LogFormat = "json", stream: TextIO | None = None) -> None:
    """Sends structlog and stdlib logging to ``stream`` (default stderr) as ``fmt`` lines at ``level``.

    Logging is process-wide by nature; call this once at start-up (calling again reconfigures).
    """
    if fmt not in ("json", "console"):
        raise ValueError(f"unknown log format {fmt!r} (expected 'json' or 'console')")
    numeric = _level(level)
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if fmt == "json":
        shared.append(structlog.processors.format_exc_info)
        shared.append(structlog.processors.UnicodeDecoder())
        renderer = structlog.processors.JSONRenderer(default=str)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=bool(getattr(out, "isatty", lambda: False)()))
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = _Handler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger (``log.info("event", key=value)``); ``initial`` values go on every line."""
    return structlog.stdlib.get_logger(name, **initial)


def new_correlation_id() -> str:
    """A fresh random id (32 hex digits) for a batch or a change."""
    return uuid.uuid4().hex


@contextmanager
def bind_batch(batch_id: str | None = None, **extra: Any) -> Iterator[str]:
    """Tags every line logged in this context (this thread, or this task) with ``batch_id``; yields the id."""
    value = batch_id or new_correlation_id()
    with structlog.contextvars.bound_contextvars(batch_id=value, **extra):
        yield value


@contextmanager
def bind_change(correlation_id: str | None = None, **extra: Any) -> Iterator[str]:
    """Tags every line logged in this context with a change's ``correlation_id``; yields the id."""
    value = correlation_id or new_correlation_id()
    with structlog.contextvars.bound_contextvars(correlation_id=value, **extra):
        yield value


def bound_context() -> MutableMapping[str, Any]:
    """The correlation values currently bound (e.g. to copy into a dead-letter record)."""
    return dict(structlog.contextvars.get_contextvars())
