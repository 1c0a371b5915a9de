"""SpanRecord: a finished span as plain data, what readers of ``trace.jsonl`` get back.

Tests, the UI and ``danaflow runs show`` read spans through this type (``otlp_json.read_trace``
decodes the file's OTLP JSON into it), so none depends on OpenTelemetry's SDK objects, which change
between releases and need the SDK loaded. ``to_json``/``from_json`` are the older line format,
still read from run dirs written before trace.jsonl became OTLP JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SpanRecord"]


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span. Ids are lowercase hex, as OTLP and most trace viewers print them."""

    name: str
    kind: str
    """``run``, ``agent``, ``flow``, ``subflow``, ``node``, ``llm``, … (the ``danaflow.kind`` attribute)."""
    path: str | None
    """The component path (``agent.flow.node``); for an LLM call, the path of the calling component."""
    trace_id: str
    span_id: str
    parent_id: str | None
    start_ns: int
    end_ns: int
    status: str
    """``ok``, ``error`` or ``unset`` (e.g. a node that paused for input)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "status": self.status,
            "attributes": self.attributes,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpanRecord:
        return cls(
            name=data["name"],
            kind=data["kind"],
            path=data.get("path"),
            trace_id=data["trace_id"],
            span_id=data["span_id"],
            parent_id=data.get("parent_id"),
            start_ns=data["start_ns"],
            end_ns=data["end_ns"],
            status=data["status"],
            attributes=dict(data.get("attributes") or {}),
            error=data.get("error"),
        )
