"""Structured logs: the ``danaflow`` logger's records for one run, as JSON lines in ``logs.jsonl``.

A handler per run is attached to the ``danaflow`` logger and keeps only the records emitted while
that run is current (a context variable, inherited by its asyncio tasks and worker threads), so two
runs in one process write separate files. Each line carries the run id and the component path.
"""

from __future__ import annotations

import json
import logging
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .tracing import current_path

__all__ = ["JsonlLogHandler", "MemoryLogHandler", "current_run_id", "log_record_to_json"]

_current_run_id: ContextVar[str | None] = ContextVar("danaflow_current_run_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is kept.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def current_run_id() -> str | None:
    """The id of the run whose code is executing in this task or thread, if any."""
    return _current_run_id.get()


def log_record_to_json(record: logging.LogRecord, run_id: str | None) -> dict[str, Any]:
    """The JSON object of one log line: time, level, logger, message, run id, path, extras."""
    data: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
        "run_id": getattr(record, "run_id", None) or run_id,
        "path": getattr(record, "path", None) or current_path(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD and key not in data:
            data[key] = value
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        data["error"] = f"{type(exc).__name__}: {exc}"
    return data


class _RunFilteredHandler(logging.Handler):
    def __init__(self, run_id: str, level: int | str):
        super().__init__(level)
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        owner = getattr(record, "run_id", None) or _current_run_id.get()
        return owner == self.run_id and super().filter(record)


class JsonlLogHandler(_RunFilteredHandler):
    """Appends this run's records to ``logs.jsonl``, one flushed line each."""

    def __init__(self, path: Path, run_id: str, level: int | str = logging.INFO):
        super().__init__(run_id, level)
        self.path = path
        self._file: TextIO | None = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = json.dumps(log_record_to_json(record, self.run_id), default=str) + "\n"
        except Exception:
            self.handleError(record)
            return
        with self._write_lock:
            if self._file is not None:
                self._file.write(line)
                self._file.flush()

    def close(self) -> None:
        with self._write_lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        super().close()


class MemoryLogHandler(_RunFilteredHandler):
    """Keeps this run's records as JSON objects in a list, for tests."""

    def __init__(self, run_id: str, level: int | str = logging.INFO):
        super().__init__(run_id, level)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(log_record_to_json(record, self.run_id))
