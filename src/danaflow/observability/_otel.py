"""The OpenTelemetry SDK side: a private TracerProvider per run and our span exporters.

This is the only module that imports the SDK at its top; ``tracing.py`` imports it when a run turns
tracing on, so ``import danaflow`` and runs without tracing never load OpenTelemetry. Each run gets
its own provider (never the global one), so two runs in one process export to their own files.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import StatusCode

from danaflow.errors import DanaflowError

from .records import SpanRecord

__all__ = ["JsonlSpanExporter", "MemorySpanExporter", "build_provider", "to_record"]


def to_record(span: ReadableSpan) -> SpanRecord:
    """Converts an SDK span to a SpanRecord (ids as hex, our attributes lifted out)."""
    ctx = span.get_span_context()
    attrs: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        attrs[key] = list(value) if isinstance(value, tuple) else value
    status = span.status.status_code
    return SpanRecord(
        name=span.name,
        kind=str(attrs.pop("danaflow.kind", "custom")),
        path=attrs.pop("danaflow.path", None),
        trace_id=format(ctx.trace_id, "032x"),
        span_id=format(ctx.span_id, "016x"),
        parent_id=format(span.parent.span_id, "016x") if span.parent is not None else None,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        status={StatusCode.OK: "ok", StatusCode.ERROR: "error"}.get(status, "unset"),
        attributes=attrs,
        error=span.status.description if status == StatusCode.ERROR else None,
    )


class JsonlSpanExporter(SpanExporter):
    """Appends one JSON line per finished span to a file (``runs/<id>/trace.jsonl``).

    Each export is written and flushed at once, so after a ``kill -9`` the spans of every finished
    component are on disk; a torn last line is possible only for the span being written then.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._file: TextIO | None = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(to_record(s).to_json(), default=str) + "\n" for s in spans)
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            self._file.write(lines)
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


class MemorySpanExporter(SpanExporter):
    """Keeps finished spans as SpanRecords in a list, for tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[SpanRecord] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        converted = [to_record(s) for s in spans]
        with self._lock:
            self.records.extend(converted)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def spans(self) -> list[SpanRecord]:
        with self._lock:
            return list(self.records)


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise DanaflowError(
                "the 'otlp' span exporter needs the OpenTelemetry OTLP exporter, which danaflow does "
                "not install: want `pip install opentelemetry-exporter-otlp-proto-http`"
            ) from None
    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()


def build_provider(
    *,
    exporters: Sequence[str],
    service_name: str,
    run_id: str,
    trace_file: Path | None,
    otlp_endpoint: str | None,
    resource_attributes: Mapping[str, str],
    console_out: TextIO | None = None,
) -> tuple[TracerProvider, MemorySpanExporter | None]:
    """A TracerProvider for one run with the named exporters attached, plus the memory exporter.

    The OTLP exporter is batched (it talks to the network); the file, console and memory exporters
    are synchronous so a span is on disk when its component is.
    """
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create(
        {"service.name": service_name, "danaflow.run_id": run_id, **dict(resource_attributes)}
    )
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    memory: MemorySpanExporter | None = None
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
            memory = MemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory
