"""Progress display for ``danaflow run``: a live Rich table on a terminal, plain lines otherwise.

It listens on the run's event bus like any other subscriber. On a TTY it shows the components
running now and the last ones finished (bounded, so a 10,000-node flow does not grow the screen);
elsewhere (CI logs, pipes) it prints one line per finished component. A failure shows as a
status here and nothing more: the CLI prints each failure's error once, when the run ends, rather
than once per composite it failed on its way up. With ``--stream`` the text models generate comes
in through ``token()``: on a terminal the last lines of each running node's text sit under the
table; elsewhere the text is written as it arrives, after its node's path. It is a model's text,
so control characters are shown escaped (``clean``), never sent to the terminal.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

from danaflow.flow.events import Event, EventType

from .cli_render import clean

if TYPE_CHECKING:
    from rich.live import Live

    from .context import RunContext

__all__ = ["ProgressDisplay"]

_MARKS = {"completed": "✓", "failed": "✗", "skipped": "-", "waiting_input": "⏸"}
_RECENT = 12
_STREAM_LINES = 6
"""Lines of each running node's streamed text the live display keeps under the table."""
_STREAM_CHARS = 4000


class ProgressDisplay:
    """Subscribes to a run's events; ``with ProgressDisplay(run_context):`` around the run."""

    def __init__(
        self,
        run_context: RunContext,
        *,
        out: TextIO | None = None,
        live: bool | None = None,
        components: bool = True,
    ):
        self.run_context = run_context
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.components = components
        """Whether finished components are shown (``--no-progress --stream`` shows only text)."""
        self._running: dict[str, float] = {}
        self._recent: deque[tuple[str, str, float]] = deque(maxlen=_RECENT)
        self._counts: dict[str, int] = {}
        self._live: Live | None = None
        self._streams: dict[str, str] = {}
        """The tail of each running node's streamed text (live display)."""
        self._open: str | None = None
        """The path whose streamed text the plain display is in the middle of."""
        self._at_line_start = True

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
        else:
            self._end_text()
            self.out.flush()

    def token(self, path: str, text: str) -> None:
        """Shows ``text``, the next piece of what a model is generating for the node at ``path``."""
        text = clean(text)
        if not text:
            return
        if self._live is not None:
            self._streams[path] = (self._streams.get(path, "") + text)[-_STREAM_CHARS:]
            self._live.update(self._render())
            return
        if self._open != path:
            self._end_text()
            self.out.write(f"{path}: ")
            self._open = path
        self.out.write(text)
        self._at_line_start = text.endswith("\n")
        self.out.flush()

    def _end_text(self) -> None:
        """Ends the plain display's line of streamed text, if one is open."""
        if self._open is not None and not self._at_line_start:
            self.out.write("\n")
        self._open, self._at_line_start = None, True

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
        self._streams.pop(event.path, None)
        if self._live is not None:
            self._live.update(self._render())
        elif event.path == self._open or self.components:
            self._end_text()
        if self._live is None and self.components:
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
        if not self._streams:
            return table
        from rich.console import Group
        from rich.text import Text

        parts: list[Any] = [table]
        for path, streamed in self._streams.items():
            tail = "\n".join(streamed.splitlines()[-_STREAM_LINES:])
            parts.append(Text(f"{path}:", style="bold"))
            parts.append(Text(tail))  # a Text is never read as markup
        return Group(*parts)
