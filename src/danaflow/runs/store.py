"""RunStore: the durable index of runs and of each component's result, and where a run keeps it.

The store is the source of truth for resume: a component counts as done when its row says so, and
each row is written in one transaction, so a ``kill -9`` leaves either the old row or the new one.
A checkpoint is one component's result (a delta); nothing ever rewrites a run's whole state.
Files in the run dir (``runs/artifacts.py``) are for people and tools, written before the row.

This module picks a backend from a URL (``open_store``) and re-exports them all: the interface
and records (``store_base``), memory, SQLite and PostgreSQL (loaded on first use: psycopg is
heavy and optional).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danaflow.errors import RunError

from .store_base import CacheEntry, ComponentRecord, Lease, RunRecord, RunStore, lease_owner, redact_url
from .store_memory import MemoryRunStore
from .store_sqlite import SQLiteRunStore

if TYPE_CHECKING:
    from .store_postgres import PostgresRunStore

__all__ = [
    "STORE_ENV",
    "CacheEntry",
    "ComponentRecord",
    "Lease",
    "MemoryRunStore",
    "PostgresRunStore",
    "RunRecord",
    "RunStore",
    "SQLiteRunStore",
    "configured_store",
    "lease_owner",
    "open_store",
]

STORE_ENV = "DANAFLOW_STORE"
"""The environment variable that names the store when none is given (a URL as ``open_store`` takes)."""

_WANT = "want postgresql://user@host/db, sqlite:///path.db, a .db path or memory:"


def open_store(spec: str | Path | None, *, synchronous: str | None = None) -> RunStore:
    """Opens the store that ``spec`` names.

    - ``postgresql://user@host:5432/db`` or ``postgres://…`` (libpq URL; danaflow also reads
      ``?schema=NAME`` and ``?synchronous=FULL``): a PostgresRunStore;
    - ``sqlite:///relative.db``, ``sqlite:////absolute.db``, or a plain path: a SQLiteRunStore on
      that file (an existing directory means its ``danaflow.db``);
    - ``memory:`` (or ``memory``, or None): a MemoryRunStore.

    ``synchronous`` is ``"NORMAL"`` (default) or ``"FULL"``; see the backends for what each keeps.
    """
    if spec is None:
        return MemoryRunStore()
    if isinstance(spec, Path):
        return _sqlite(spec, synchronous)
    if not isinstance(spec, str) or not spec.strip():
        raise RunError(f"bad store {spec!r}: {_WANT}")
    text = spec.strip()
    if text in ("memory", "memory:"):
        return MemoryRunStore()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme in ("postgresql", "postgres"):
            from .store_postgres import PostgresRunStore

            return PostgresRunStore(text, synchronous=synchronous)
        if scheme == "sqlite":
            if not rest.startswith("/") or rest == "/":
                raise RunError(f"bad store {text!r}: want sqlite:///relative.db or sqlite:////absolute.db")
            return _sqlite(Path(rest[1:]), synchronous)
        raise RunError(f"unknown store {redact_url(text)!r}: {_WANT}")
    return _sqlite(Path(text), synchronous)


def _sqlite(path: Path, synchronous: str | None) -> SQLiteRunStore:
    if path.is_dir():
        path = path / "danaflow.db"
    return SQLiteRunStore(path, synchronous=synchronous or "NORMAL")


def configured_store(run_root: Path | str) -> str | Path:
    """The store a run uses when none is given: ``$DANAFLOW_STORE``, else ``run_root/danaflow.db``."""
    return os.environ.get(STORE_ENV) or Path(run_root) / "danaflow.db"


def __getattr__(name: str) -> Any:
    if name == "PostgresRunStore":
        from .store_postgres import PostgresRunStore

        globals()[name] = PostgresRunStore
        return PostgresRunStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
