"""Terminal logging for the CLI: the ``danaflow`` logger's records on stderr, each failure once.

A run logs every failed component (``danaflow.runs``: "PATH failed: …") into its ``logs.jsonl``;
on a terminal the same records would repeat a node's error once per composite it failed on its
way up, and cut through the live progress table. The CLI prints each failure itself, once, at the
end of the run, so its stderr handler leaves those records to the run's own log.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["TerminalHandler", "configure_terminal_logging"]


class TerminalHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a live progress display redirects it, so
    log lines land above the table), without the runs layer's per-component records."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "danaflow.runs" and getattr(record, "path", None) is not None:
            return False
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_terminal_logging(debug: bool) -> None:
    """Routes the ``danaflow`` logger to stderr (``LEVEL name: message``); DEBUG with ``debug``."""
    handler = TerminalHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("danaflow")
    root.handlers[:] = [handler]
    root.propagate = False
    if debug:
        root.setLevel(logging.DEBUG)
