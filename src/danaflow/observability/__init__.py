"""Observability: spans, metrics and structured logs of a run, written into its run directory.

OpenTelemetry is imported only when a run starts tracing; importing this package is cheap.
"""

from __future__ import annotations

from .logs import current_run_id
from .metrics import ComponentMetric, RunMetrics
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
    "current_path",
    "current_run_id",
    "current_telemetry",
    "log",
    "span",
]
