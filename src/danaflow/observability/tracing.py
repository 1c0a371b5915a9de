"""Spans: one per run, agent, flow, node and LLM call, parented by component path.

A span's parent is the open span of the nearest enclosing component path (``a.b`` for ``a.b.c``;
the component itself for an LLM call made inside it), falling back to the run span. Parenting by
path rather than only by the ambient context keeps the span tree equal to the component tree even
when the scheduler starts a child from a task that did not open its parent's span.
Every attribute we set is named ``danaflow.*`` (a bare keyword ``root=`` becomes ``danaflow.root``),
except names another convention owns: ``gen_ai.*`` on model calls (genai.py) and ``error.type``.
When tracing is off every span is one shared no-op object.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danaflow.errors import DanaflowSignal

from .records import SpanRecord
from .settings import ObservabilitySettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["NOOP_SPAN", "NoopSpan", "RunTracer", "Span", "current_path"]

_current_span: ContextVar[Span | None] = ContextVar("danaflow_current_span", default=None)


def current_path() -> str | None:
    """The component path of the innermost open span in this task or thread, if any."""
    span = _current_span.get()
    return span.path if span is not None else None


def _attr_name(key: str) -> str:
    """``danaflow.<key>`` for a bare name; a dotted name (``gen_ai.usage.input_tokens``) is kept."""
    return key if "." in key else f"danaflow.{key}"


def _attr_value(value: Any) -> Any:
    """Coerces a value to what OpenTelemetry accepts (scalars and lists of scalars)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str | bool | int | float) for v in value):
        return list(value)
    return str(value)


class NoopSpan:
    """The span you get when tracing is off: every method accepts its arguments and does nothing."""

    path: str | None = None
    span_id: str | None = None
    trace_id: str | None = None

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def set_status(self, status: str, description: str | None = None) -> None:
        pass

    def record_exception(self, exc: BaseException) -> None:
        pass

    def add_event(self, name: str, **attributes: Any) -> None:
        pass

    def add_tokens(self, prompt: int = 0, completion: int = 0, cost: float | None = None) -> None:
        pass

    @property
    def capture_content(self) -> bool:
        return False

    def __enter__(self) -> NoopSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


NOOP_SPAN = NoopSpan()


class Span:
    """A live span; a thin wrapper over the SDK span that knows its component path and tracer."""

    __slots__ = ("_otel", "_status_set", "_tokens", "path", "tracer")

    def __init__(self, otel_span: Any, path: str | None, tracer: RunTracer):
        self._otel = otel_span
        self.path = path
        self.tracer = tracer
        self._status_set = False
        self._tokens = [0, 0]

    @property
    def span_id(self) -> str:
        return format(self._otel.get_span_context().span_id, "016x")

    @property
    def trace_id(self) -> str:
        return format(self._otel.get_span_context().trace_id, "032x")

    def set_attribute(self, key: str, value: Any) -> None:
        value = _attr_value(value)
        if value is not None:
            self._otel.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_status(self, status: str, description: str | None = None) -> None:
        """Sets ``ok`` or ``error`` (anything else is recorded as ``danaflow.status`` only)."""
        from opentelemetry.trace import Status, StatusCode

        self._otel.set_attribute("danaflow.status", status)
        if status == "ok":
            self._otel.set_status(Status(StatusCode.OK))
        elif status in ("error", "failed"):
            self._otel.set_status(Status(StatusCode.ERROR, description))
        self._status_set = True

    def record_exception(self, exc: BaseException) -> None:
        self._otel.record_exception(exc)

    def add_event(self, name: str, **attributes: Any) -> None:
        self._otel.add_event(name, {k: _attr_value(v) for k, v in attributes.items() if v is not None})

    def add_tokens(self, prompt: int = 0, completion: int = 0, cost: float | None = None) -> None:
        """Adds to this span's token counts (``gen_ai.usage.input_tokens`` / ``output_tokens``) and
        sets its ``danaflow.cost``."""
        self._tokens[0] += prompt
        self._tokens[1] += completion
        self._otel.set_attribute("gen_ai.usage.input_tokens", self._tokens[0])
        self._otel.set_attribute("gen_ai.usage.output_tokens", self._tokens[1])
        if cost is not None:
            self._otel.set_attribute("danaflow.cost", cost)

    @property
    def capture_content(self) -> bool:
        """Whether this run records prompts and answers on its spans (an explicit opt-in)."""
        return self.tracer.settings.capture_content

    def _finish(self, exc: BaseException | None) -> None:
        if exc is not None and isinstance(exc, DanaflowSignal):
            self._otel.set_attribute("danaflow.signal", type(exc).__name__)
            if not self._status_set:
                self._otel.set_attribute("danaflow.status", "waiting_input")
        elif exc is not None:
            self.record_exception(exc)
            self._otel.set_attribute("error.type", type(exc).__qualname__)
            self.set_status("error", f"{type(exc).__name__}: {exc}")
        elif not self._status_set:
            self.set_status("ok")
        self._otel.end()


class RunTracer:
    """The tracer of one run: its own TracerProvider, exporters and table of open component spans."""

    def __init__(self, settings: ObservabilitySettings, run_id: str, run_dir: Path | None):
        from ._otel import build_provider

        self.settings = settings
        self.run_id = run_id
        self._provider, self.memory = build_provider(
            exporters=settings.exporters,
            service_name=settings.service_name,
            run_id=run_id,
            trace_file=run_dir / "trace.jsonl" if run_dir is not None else None,
            otlp_endpoint=settings.otlp_endpoint,
            resource_attributes=settings.resource_attributes,
        )
        self._tracer = self._provider.get_tracer("danaflow")
        self._open: dict[str, Span] = {}
        self._lock = threading.Lock()
        self.run_span: Span | None = None

    def _parent_for(self, path: str | None) -> tuple[Span | None, bool]:
        """The parent span for a new span at ``path`` and whether the new span owns the path."""
        current = _current_span.get()
        if path is None:
            if current is not None and current.tracer is self:
                return current, False
            return self.run_span, False
        with self._lock:
            if path in self._open:
                return self._open[path], False
            prefix = path
            while "." in prefix:
                prefix = prefix.rsplit(".", 1)[0]
                if prefix in self._open:
                    return self._open[prefix], True
        return self.run_span, True

    @contextmanager
    def span(
        self, kind: str, path: str | None = None, name: str | None = None, **attrs: Any
    ) -> Iterator[Span]:
        """Opens a span for ``kind`` at component ``path`` (None: the current component's path)."""
        from opentelemetry import trace

        if path is None and kind != "run":
            path = current_path()
        parent, owns = self._parent_for(path) if kind != "run" else (None, False)
        context = trace.set_span_in_context(parent._otel) if parent is not None else None
        attributes = {"danaflow.kind": kind, "danaflow.run_id": self.run_id}
        if path is not None:
            attributes["danaflow.path"] = path
        for key, value in attrs.items():
            if (value := _attr_value(value)) is not None:
                attributes[_attr_name(key)] = value
        otel_span = self._tracer.start_span(
            name or (f"{kind} {path}" if path else kind),
            context=context,
            # A model call is a request to a service: CLIENT, as the GenAI conventions say.
            kind=trace.SpanKind.CLIENT if kind == "llm" else trace.SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        span = Span(otel_span, path, self)
        if kind == "run":
            self.run_span = span
        elif owns and path is not None:
            with self._lock:
                self._open[path] = span
        token = _current_span.set(span)
        try:
            yield span
        except BaseException as exc:
            span._finish(exc)
            raise
        else:
            span._finish(None)
        finally:
            _current_span.reset(token)
            if owns and path is not None:
                with self._lock:
                    if self._open.get(path) is span:
                        del self._open[path]

    def start_run_span(self, name: str | None = None, **attrs: Any) -> Span:
        """Opens the run's root span without a ``with`` block (a run starts and ends in two hooks).

        It is the fallback parent of every span that has no open ancestor path; it never becomes
        the ambient current span, so nothing has to be reset in the task that started it.
        """
        attributes = {"danaflow.kind": "run", "danaflow.run_id": self.run_id}
        attributes.update(
            {_attr_name(k): v for k, v in ((k, _attr_value(v)) for k, v in attrs.items()) if v is not None}
        )
        otel_span = self._tracer.start_span(
            name or f"run {self.run_id}", attributes=attributes, record_exception=False
        )
        self.run_span = Span(otel_span, None, self)
        return self.run_span

    def end_run_span(self, status: str, error: BaseException | None = None) -> None:
        """Ends the run span with the run's final status (``completed`` is ok, ``failed`` an error)."""
        span, self.run_span = self.run_span, None
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
        span.set_status({"completed": "ok", "failed": "error"}.get(status, status))
        span._otel.end()

    def spans(self) -> list[SpanRecord]:
        """Finished spans held by the ``memory`` exporter (empty when it is not configured)."""
        memory: InMemorySpanExporter | None = self.memory
        if memory is None:
            return []
        from ._otel import to_records

        return to_records(memory.get_finished_spans())

    def flush(self) -> None:
        self._provider.force_flush()

    def shutdown(self) -> None:
        self._provider.shutdown()
