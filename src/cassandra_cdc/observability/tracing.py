"""OpenTelemetry spans around the pipeline's stages: read -> decode -> mask -> write, per sink.

A :class:`Tracer` owns its own TracerProvider (none is installed globally). With neither an exporter
nor an OTLP endpoint it is a no-op tracer, so spans cost next to nothing when tracing is off.
The OTLP exporter (package ``opentelemetry-exporter-otlp``, extra ``otlp``) is imported only when an
endpoint is configured.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.util.types import AttributeValue

# The stage spans' names, one per pipeline stage.
READ = "read"
DECODE = "decode"
MASK = "mask"
WRITE = "write"

OtlpProtocol = Literal["http/protobuf", "grpc"]


def _otlp_exporter(endpoint: str, protocol: OtlpProtocol) -> SpanExporter:
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter as GrpcExporter,
            )

            grpc: SpanExporter = GrpcExporter(endpoint=endpoint)
            return grpc
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter as HttpExporter,
        )

        http: SpanExporter = HttpExporter(endpoint=endpoint)
        return http
    except ImportError as exc:
        raise RuntimeError(
            f"tracing endpoint {endpoint!r} is configured but the OTLP exporter is not installed "
            f"({exc}); install it with: pip install 'cassandra-cdc[otlp]'"
        ) from exc


def _attribute(value: object) -> AttributeValue | None:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = list(value)
        for kind in (str, bool, int, float):
            if items and all(type(v) is kind for v in items):
                return items  # a homogeneous list OpenTelemetry can hold
        return [str(v) for v in items]
    return str(value)  # enums, paths, positions: their readable form


def _attributes(values: Mapping[str, object]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for key, value in values.items():
        converted = _attribute(value)
        if converted is not None:
            out[key] = converted
    return out


class Tracer:
    """``with tracer.span("decode", destination="pg", node="n1", entries=12): ...``

    ``exporter``: spans are exported synchronously to it (tests pass an InMemorySpanExporter).
    ``otlp_endpoint``: spans are batched to an OpenTelemetry collector.
    """

    def __init__(
        self,
        *,
        exporter: SpanExporter | None = None,
        otlp_endpoint: str | None = None,
        otlp_protocol: OtlpProtocol = "http/protobuf",
        service_name: str = "cassandra-cdc",
    ) -> None:
        processors: list[SpanProcessor] = []
        if exporter is not None:
            processors.append(SimpleSpanProcessor(exporter))
        if otlp_endpoint:
            processors.append(BatchSpanProcessor(_otlp_exporter(otlp_endpoint, otlp_protocol)))
        self._provider: TracerProvider | None = None
        self._tracer: trace.Tracer
        if processors:
            self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            for processor in processors:
                self._provider.add_span_processor(processor)
            self._tracer = self._provider.get_tracer("cassandra_cdc")
        else:
            self._tracer = trace.NoOpTracer()

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    @contextmanager
    def span(self, name: str, **attributes: object) -> Iterator[trace.Span]:
        """A span, child of the current one; an exception escaping it is recorded and sets its status to error.

        Attribute values that OpenTelemetry cannot hold are stored as their ``str``; None is dropped.
        """
        with self._tracer.start_as_current_span(name, attributes=_attributes(attributes)) as span:
            yield span

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        return self._provider.force_flush(timeout_millis) if self._provider is not None else True

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
