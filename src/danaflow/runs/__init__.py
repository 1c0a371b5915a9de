"""Runs: RunContext, the durable store and run directory, resume, IsolatedExecution.

Names resolve lazily (as in ``danaflow/__init__``): the CLI imports ``danaflow.runs.cli_commands``
for every command, ``danaflow --help`` included, and must not pay for pydantic, the context layer
and the flow layer that ``RunContext`` pulls in. The CLI commands themselves are not exported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the module (relative to this package) that defines it.
_EXPORTS: dict[str, str] = {
    "ArtifactManager": ".artifacts",
    "ComponentRecord": ".store",
    "IsolatedExecution": ".isolation",
    "MemoryRunStore": ".store",
    "ResumePlan": ".resume",
    "RunContext": ".context",
    "RunDirectory": ".artifacts",
    "RunRecord": ".store",
    "RunStore": ".store",
    "SQLiteRunStore": ".store",
    "open_store": ".store",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'danaflow.runs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from .artifacts import ArtifactManager, RunDirectory
    from .context import RunContext
    from .isolation import IsolatedExecution
    from .resume import ResumePlan
    from .store import ComponentRecord, MemoryRunStore, RunRecord, RunStore, SQLiteRunStore, open_store
