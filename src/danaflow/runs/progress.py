"""Progress display for ``danaflow run``: a live Rich table on a terminal, plain lines otherwise.

It listens on the run's event bus like any other subscriber. On a TTY it shows the components
running now and the last ones finished (bounded, so a 10,000-node flow does not grow the screen);
elsewhere (CI logs, pipes) it prints one line per finished component. A failure shows as a
status here and nothing more: the CLI prints each failure's error once, when the run ends, rather
than once per composite it failed on its way up.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

from danaflow.flow.events import Event, EventType

if TYPE_CHECKING:
    from rich.live import Live

    from .context import RunContext

__all__ = ["ProgressDisplay"]

_MARKS = {"completed": "✓", "failed": "✗", "skipped": "-", "waiting_input": "⏸"}
_RECENT = 12


class ProgressDisplay:
    """Subscribes to a run's events; ``with ProgressDisplay(run_context):`` around the run."""

    def __init__(self, run_context: RunContext, *, out: TextIO | None = None, live: bool | None = None):
        self.run_context = run_context
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self._running: dict[str, float] = {}
        self._recent: deque[tuple[str, str, float]] = deque(maxlen=_RECENT)
        self._counts: dict[str, int] = {}
        self._live: Live | None = None

    def __enter__(self) -> ProgressDisplay:
        bus = self.run_context.event_bus
        bus.on(EventType.component_started, self._started)
        for event_type in (EventType.component_completed, EventType.component_failed):
            bus.on(event_type, self._finished)
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(file=self.out), refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        bus = self.run_context.event_bus
        bus.off(EventType.component_started, self._started)
        for event_type in (EventType.component_completed, EventType.component_failed):
            bus.off(event_type, self._finished)
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None

    def _started(self, event: Event) -> None:
        self._running[event.path] = time.perf_counter()
        if self._live is not None:
            self._live.update(self._render())

    def _finished(self, event: Event) -> None:
        started = self._running.pop(event.path, None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        status = event.result.execution_status.value if event.result is not None else "completed"
        self._counts[status] = self._counts.get(status, 0) + 1
        self._recent.append((event.path, status, elapsed))
        if self._live is not None:
            self._live.update(self._render())
        else:
            line = f"{_MARKS.get(status, '?')} {event.path} ({elapsed:.3f}s)"
            if status != "completed":
                line += f" {status}"
            self.out.write(line + "\n")
            self.out.flush()

    def _render(self) -> Any:
        from rich.table import Table

        counts = ", ".join(f"{n} {s}" for s, n in sorted(self._counts.items())) or "starting"
        table = Table(title=f"run {self.run_context.run_id} — {counts}", expand=False)
        table.add_column("component")
        table.add_column("status")
        table.add_column("time", justify="right")
        for path, status, elapsed in self._recent:
            table.add_row(path, f"{_MARKS.get(status, '?')} {status}", f"{elapsed:.3f}s")
        now = time.perf_counter()
        for path, started in list(self._running.items())[-_RECENT:]:
            table.add_row(path, "… running", f"{now - started:.1f}s")
        return table
