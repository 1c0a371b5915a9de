"""Runs: RunContext, the durable store and run directory, resume, IsolatedExecution.

The CLI commands live in ``cli_commands`` and are not imported here (they load Typer and Rich).
"""

from __future__ import annotations

from .artifacts import ArtifactManager, RunDirectory
from .context import RunContext
from .isolation import IsolatedExecution
from .resume import ResumePlan
from .store import ComponentRecord, MemoryRunStore, RunRecord, RunStore, SQLiteRunStore, open_store

__all__ = [
    "ArtifactManager",
    "ComponentRecord",
    "IsolatedExecution",
    "MemoryRunStore",
    "ResumePlan",
    "RunContext",
    "RunDirectory",
    "RunRecord",
    "RunStore",
    "SQLiteRunStore",
    "open_store",
]
