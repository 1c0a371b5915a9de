"""EventJournal: a run's events, one JSON line each, in the run directory's ``events.jsonl``.

Events arrive from the bus on any thread and are buffered; the checkpointer flushes the buffer at
each checkpoint in one write, so after a ``kill -9`` the events of every finished component are on
disk and no line is torn.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TextIO

from danaflow.flow.events import ALL_EVENTS, Event, EventBus

__all__ = ["EventJournal"]


class EventJournal:
    """Buffers a run's events and appends them to ``events.jsonl`` at each ``flush()``."""

    FILE = "events.jsonl"

    def __init__(self, run_id: str, run_dir: Path, bus: EventBus):
        self.run_id = run_id
        self._file: TextIO | None = open(run_dir / self.FILE, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self._pending: list[str] = []
        bus.on(ALL_EVENTS, self.record)

    def record(self, event: Event) -> None:
        """The bus handler: buffers one event's line (cheap; never blocks on the disk)."""
        data = event.to_dict()
        data["run_id"] = self.run_id
        line = json.dumps(data, default=str) + "\n"
        with self._lock:
            if self._file is not None:
                self._pending.append(line)

    def flush(self) -> None:
        """Writes the buffered lines in one write."""
        with self._lock:
            if self._file is not None and self._pending:
                self._file.write("".join(self._pending))
                self._pending.clear()
                self._file.flush()

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
