"""The OpenTelemetry SDK side: a private TracerProvider per run and where its spans go.

This is the only module that imports the SDK at its top; ``tracing.py`` imports it when a run turns
tracing on, so ``import danaflow`` and runs without tracing never load OpenTelemetry. Each run gets
its own provider (never the global one), so two runs in one process export to their own files.
Tests read spans from the SDK's own ``InMemorySpanExporter``; the OTLP exporter is a separate
package (the ``otlp`` extra), imported only when a run asks for it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from danaflow.errors import DanaflowError

from .otlp_json import encode_line, encode_spans, records_from_json
from .records import SpanRecord

__all__ = ["OTLP_TRACES_PATH", "JsonlSpanExporter", "build_provider", "otlp_traces_url", "to_records"]

OTLP_TRACES_PATH = "/v1/traces"


def to_records(spans: Sequence[ReadableSpan]) -> list[SpanRecord]:
    """SDK spans as SpanRecords, through the same encoding ``trace.jsonl`` gets (one code path)."""
    return records_from_json(encode_spans(spans))


class JsonlSpanExporter(SpanExporter):
    """Appends each export to a file (``runs/<id>/trace.jsonl``) as one OTLP JSON ``TracesData`` line.

    Behind a SimpleSpanProcessor an export is one finished span, written and flushed at once, so
    after a ``kill -9`` the spans of every finished component are on disk; a torn last line is
    possible only for the span being written then.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._around: dict[tuple[int, int], tuple[str, str]] = {}
        self._file: TextIO | None = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = encode_line(spans, self._around)
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            self._file.write(line)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            if self._file is not None:
                self._file.flush()
        return True


def otlp_traces_url(endpoint: str) -> str:
    """The traces URL for an OTLP/HTTP ``endpoint`` given as ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes
    it (a base URL): ``/v1/traces`` is appended unless the URL already ends so."""
    base = endpoint.rstrip("/")
    return base if base.endswith(OTLP_TRACES_PATH) else base + OTLP_TRACES_PATH


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise DanaflowError(
            "the 'otlp' span exporter needs the OpenTelemetry OTLP/HTTP exporter, which danaflow does "
            "not install by default: want `pip install 'danaflow[otlp]'` "
            "(or `pip install opentelemetry-exporter-otlp-proto-http`)"
        ) from None
    # With no endpoint the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself.
    return OTLPSpanExporter(endpoint=otlp_traces_url(endpoint)) if endpoint else OTLPSpanExporter()


def build_provider(
    *,
    exporters: Sequence[str],
    service_name: str,
    run_id: str,
    trace_file: Path | None,
    otlp_endpoint: str | None,
    resource_attributes: Mapping[str, str],
    console_out: TextIO | None = None,
) -> tuple[TracerProvider, InMemorySpanExporter | None]:
    """A TracerProvider for one run with the named exporters attached, plus the memory exporter.

    The OTLP exporter is batched (it talks to the network); the file, console and memory exporters
    are synchronous so a span is on disk when its component is.
    """
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create(
        {"service.name": service_name, "danaflow.run_id": run_id, **dict(resource_attributes)}
    )
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    memory: InMemorySpanExporter | None = None
    for name in exporters:
        if name == "jsonl":
            if trace_file is not None:
                provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(trace_file)))
        elif name == "console":
            out = console_out or sys.stderr
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
        elif name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(otlp_endpoint)))
        elif name == "memory":
            memory = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory
