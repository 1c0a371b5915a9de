"""Telemetry: one run's tracer, metrics and log handler, and the module-level ``span()`` helper.

A RunContext owns one Telemetry. While a run executes, ``activate()`` makes it current in a context
variable, so code in lower layers (an LLM call in ``llm/``) can call ``observability.span("llm")``
without knowing about runs; with no current run, or tracing off, that returns a shared no-op span.
Nothing here is global: two runs in one process each have their own provider and files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from .logs import JsonlLogHandler, MemoryLogHandler, _current_run_id
from .metrics import RunMetrics
from .records import SpanRecord
from .settings import ObservabilitySettings
from .tracing import NOOP_SPAN, NoopSpan, RunTracer, Span, current_path

__all__ = ["Telemetry", "current_telemetry", "log", "span"]

_current: ContextVar[Telemetry | None] = ContextVar("danaflow_current_telemetry", default=None)
_logger = logging.getLogger("danaflow")


def current_telemetry() -> Telemetry | None:
    """The Telemetry of the run executing in this task or thread, if any."""
    return _current.get()


def span(
    kind: str, path: str | None = None, name: str | None = None, **attrs: Any
) -> AbstractContextManager[Span | NoopSpan]:
    """A span in the current run (a no-op when there is none or its tracing is off).

    ``path`` defaults to the innermost open component span's path, so an LLM call made inside a
    node becomes that node's child without being told where it is.
    """
    telemetry = _current.get()
    if telemetry is None:
        return NOOP_SPAN
    if kind == "llm":
        # Counted whether or not tracing is on: metrics.jsonl's llm_calls comes from here.
        telemetry.metrics.record_llm_call(path or current_path())
    if telemetry.tracer is None:
        return NOOP_SPAN
    return telemetry.tracer.span(kind, path, name, **attrs)


def log(level: str | int, message: str, *, path: str | None = None, **fields: Any) -> None:
    """Logs on the ``danaflow`` logger with structured fields; the current run's handler keeps it."""
    lvl = level if isinstance(level, int) else logging.getLevelName(level.upper())
    extra = dict(fields)
    if path is not None:
        extra["path"] = path
    _logger.log(lvl if isinstance(lvl, int) else logging.INFO, message, extra=extra)


class Telemetry:
    """The observability of one run: spans, metrics and logs, started and shut down together."""

    def __init__(
        self,
        run_id: str,
        run_dir: Path | None,
        settings: ObservabilitySettings | None = None,
    ):
        self.run_id = run_id
        self.run_dir = run_dir
        self.settings = settings or ObservabilitySettings()
        self.tracer: RunTracer | None = None
        self.metrics = RunMetrics(run_id)
        self.log_handler: JsonlLogHandler | MemoryLogHandler | None = None
        self._started = False
        self._previous_logger_level: int | None = None

    def start(self) -> Telemetry:
        """Creates the tracer and the log handler; OpenTelemetry is imported here, not before."""
        if self._started:
            return self
        s = self.settings
        if s.tracing:
            self.tracer = RunTracer(s, self.run_id, self.run_dir)
        if s.logs:
            level = logging.getLevelName(s.log_level.upper())
            level = level if isinstance(level, int) else logging.INFO
            if self.run_dir is not None:
                self.log_handler = JsonlLogHandler(self.run_dir / "logs.jsonl", self.run_id, level)
            else:
                self.log_handler = MemoryLogHandler(self.run_id, level)
            _logger.addHandler(self.log_handler)
            # The logger's own level gates records before any handler sees them; open it to the
            # run's level (only ever wider), and put it back at shutdown.
            if _logger.getEffectiveLevel() > level:
                self._previous_logger_level = _logger.level
                _logger.setLevel(level)
        self._started = True
        return self

    @contextmanager
    def activate(self) -> Iterator[Telemetry]:
        """Makes this the current run's telemetry for the code (and tasks) run inside the block."""
        token = _current.set(self)
        run_token = _current_run_id.set(self.run_id)
        try:
            yield self
        finally:
            _current_run_id.reset(run_token)
            _current.reset(token)

    def bind(self) -> tuple[Any, Any]:
        """Makes this telemetry current in the calling context; returns what ``unbind`` restores.

        For hooks that start and end a run in two calls (``run_started`` / ``run_finished``) where a
        ``with activate():`` block cannot span both; tasks created in between inherit it.
        """
        previous = (_current.get(), _current_run_id.get())
        _current.set(self)
        _current_run_id.set(self.run_id)
        return previous

    @staticmethod
    def unbind(previous: tuple[Any, Any]) -> None:
        _current.set(previous[0])
        _current_run_id.set(previous[1])

    def span(
        self, kind: str, path: str | None = None, name: str | None = None, **attrs: Any
    ) -> AbstractContextManager[Span | NoopSpan]:
        if self.tracer is None:
            return NOOP_SPAN
        return self.tracer.span(kind, path, name, **attrs)

    def spans(self) -> list[SpanRecord]:
        """Finished spans from the ``memory`` exporter (tests)."""
        return self.tracer.spans() if self.tracer is not None else []

    def flush(self) -> None:
        """Pushes buffered spans out and rewrites ``metrics.jsonl``; safe to call repeatedly."""
        if self.tracer is not None:
            self.tracer.flush()
        if self.settings.metrics and self.run_dir is not None and self.run_dir.exists():
            self.metrics.write(self.run_dir / "metrics.jsonl")

    def shutdown(self) -> None:
        """Flushes and releases files and exporters; the Telemetry is done afterwards."""
        if not self._started:
            return
        self.flush()
        if self.tracer is not None:
            self.tracer.shutdown()
        if self.log_handler is not None:
            _logger.removeHandler(self.log_handler)
            self.log_handler.close()
        if self._previous_logger_level is not None:
            _logger.setLevel(self._previous_logger_level)
        self._started = False
