"""ObservabilitySettings: what a run records about itself and where it sends it.

Kept apart from the tracer so that a RunContext can carry (and persist) its settings without
loading OpenTelemetry. Defaults write everything into the run dir and nothing leaves the machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from danaflow.errors import DanaflowError

__all__ = ["EXPORTERS", "ObservabilitySettings"]

EXPORTERS = ("jsonl", "console", "otlp", "memory")
"""Span exporters a run can use: ``jsonl`` (``trace.jsonl`` in the run dir, OTLP JSON), ``console``
(stderr), ``otlp`` (OTLP/HTTP; needs the ``otlp`` extra) and ``memory`` (tests)."""
_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ObservabilitySettings:
    """How a run traces, measures and logs.

    Tracing off makes every ``span(...)`` a shared no-op object: the runner's instrumentation
    then costs one attribute check per component.
    """

    tracing: bool = True
    exporters: tuple[str, ...] = ("jsonl",)
    """Where finished spans go; see ``EXPORTERS``."""
    otlp_endpoint: str | None = None
    """An OTLP/HTTP base URL (``http://127.0.0.1:4318``; ``/v1/traces`` is appended as for
    ``OTEL_EXPORTER_OTLP_ENDPOINT``). Setting it turns the ``otlp`` exporter on; with ``otlp``
    and no endpoint the exporter reads the ``OTEL_EXPORTER_OTLP_*`` variables itself."""
    capture_content: bool = False
    """Record prompts and answers on LLM spans (``gen_ai.input.messages`` /
    ``gen_ai.output.messages``). Off by default: they may hold secrets and personal data."""
    service_name: str = "danaflow"
    metrics: bool = True
    """Write ``metrics.jsonl`` (durations, tokens, node counts) when the run ends."""
    logs: bool = True
    """Write the ``danaflow`` logger's records for this run to ``logs.jsonl``."""
    log_level: str = "INFO"
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    """Extra OpenTelemetry resource attributes (``deployment.environment`` and the like)."""

    def __post_init__(self) -> None:
        unknown = [e for e in self.exporters if e not in EXPORTERS]
        if unknown:
            raise DanaflowError(f"unknown span exporter {unknown[0]!r}: want one of {', '.join(EXPORTERS)}")
        if self.otlp_endpoint is not None:
            if not self.otlp_endpoint.startswith(("http://", "https://")):
                raise DanaflowError(
                    f"ObservabilitySettings.otlp_endpoint: got {self.otlp_endpoint[:200]!r}, "
                    "want an http:// or https:// URL (an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318)"
                )
            if "otlp" not in self.exporters:
                object.__setattr__(self, "exporters", (*self.exporters, "otlp"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ObservabilitySettings:
        """Settings from ``DANAFLOW_TRACING`` (0/1), ``DANAFLOW_TRACE_EXPORTERS`` (comma list),
        ``DANAFLOW_LOG_LEVEL``, ``DANAFLOW_CAPTURE_CONTENT`` (0/1) and ``OTEL_EXPORTER_OTLP_ENDPOINT``;
        unset variables keep defaults."""
        env = os.environ if environ is None else environ
        settings = cls()
        if (flag := env.get("DANAFLOW_TRACING")) is not None:
            settings = replace(settings, tracing=flag.strip().lower() not in _FALSE)
        if exporters := env.get("DANAFLOW_TRACE_EXPORTERS"):
            names = tuple(e.strip() for e in exporters.split(",") if e.strip())
            settings = replace(settings, exporters=names)
        if level := env.get("DANAFLOW_LOG_LEVEL"):
            settings = replace(settings, log_level=level.upper())
        if (flag := env.get("DANAFLOW_CAPTURE_CONTENT")) is not None:
            settings = replace(settings, capture_content=flag.strip().lower() in _TRUE)
        if endpoint := env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
            if not endpoint.startswith(("http://", "https://")):
                raise DanaflowError(
                    f"OTEL_EXPORTER_OTLP_ENDPOINT={endpoint[:200]!r}: want an http:// or https:// URL "
                    "of an OTLP/HTTP receiver (e.g. http://127.0.0.1:4318)"
                )
            settings = replace(settings, otlp_endpoint=endpoint)
        return settings

    def to_json(self) -> dict[str, object]:
        return {
            "tracing": self.tracing,
            "exporters": list(self.exporters),
            "otlp_endpoint": self.otlp_endpoint,
            "capture_content": self.capture_content,
            "service_name": self.service_name,
            "metrics": self.metrics,
            "logs": self.logs,
            "log_level": self.log_level,
        }
