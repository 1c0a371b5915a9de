"""Observability: spans, metrics and structured logs of a run, written into its run directory.

Spans follow OpenTelemetry's conventions (GenAI ones on model calls) and ``trace.jsonl`` is OTLP
JSON, so trace tools load it; ``read_trace`` reads it back as SpanRecords.

OpenTelemetry is imported only when a run starts tracing; importing this package is cheap.
"""

from __future__ import annotations

from .genai import chat_span, record_chat_response
from .logs import current_run_id
from .metrics import ComponentMetric, RunMetrics
from .otlp_json import read_trace, records_from_json
from .records import SpanRecord
from .settings import EXPORTERS, ObservabilitySettings
from .telemetry import Telemetry, current_telemetry, log, span
from .tracing import NOOP_SPAN, NoopSpan, current_path

__all__ = [
    "EXPORTERS",
    "NOOP_SPAN",
    "ComponentMetric",
    "NoopSpan",
    "ObservabilitySettings",
    "RunMetrics",
    "SpanRecord",
    "Telemetry",
    "chat_span",
    "current_path",
    "current_run_id",
    "current_telemetry",
    "log",
    "read_trace",
    "record_chat_response",
    "records_from_json",
    "span",
]
