"""The columns and row mapping the two SQL stores (SQLite, PostgreSQL) share.

Both keep the same tables with the same column order, so a row reads back into a record the
same way; only the placeholders, types and locking differ, and those stay in each backend.
"""

from __future__ import annotations

import json
from typing import Any

from .store_base import CacheEntry, ComponentRecord, RunRecord

__all__ = [
    "CACHE_COLUMNS",
    "COMPONENT_COLUMNS",
    "RUN_COLUMNS",
    "START_AT_ATTEMPT",
    "UPDATABLE_RUN_FIELDS",
    "cache_from_row",
    "cache_params",
    "component_from_row",
    "component_params",
    "run_from_row",
    "run_params",
]

RUN_COLUMNS = (
    "run_id, root_component_id, status, created_at, updated_at, code_fingerprint, inputs_hash, "
    "previous_run_id, start_path, run_dir, pid, host, meta"
)
COMPONENT_COLUMNS = (
    "run_id, path, status, seq, kind, component_id, result, error, started_at, finished_at, "
    "attempt, reused, prompt_tokens, completion_tokens"
)
CACHE_COLUMNS = "key, path, run_id, result, created_at, effects"
START_AT_ATTEMPT = (
    "ON CONFLICT (run_id, path) DO UPDATE SET status = 'running', seq = excluded.seq, "
    "started_at = excluded.started_at, finished_at = NULL, result = NULL, error = NULL, "
    "attempt = excluded.attempt, reused = FALSE "
    "WHERE components.status = 'running' OR components.attempt < excluded.attempt"
)
"""How ``start_component(attempt=…)`` upserts: never over a row final at that attempt or later
(the values list ends with the attempt; both stores spell booleans FALSE)."""
UPDATABLE_RUN_FIELDS = frozenset(
    {"status", "updated_at", "code_fingerprint", "inputs_hash", "run_dir", "pid", "host", "meta"}
)


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(*row[:12], meta=json.loads(row[12] or "{}"))


def component_from_row(row: tuple[Any, ...]) -> ComponentRecord:
    values = list(row)
    values[11] = bool(values[11])
    return ComponentRecord(*values)


def run_params(r: RunRecord) -> tuple[Any, ...]:
    return (
        r.run_id, r.root_component_id, r.status, r.created_at, r.updated_at, r.code_fingerprint,
        r.inputs_hash, r.previous_run_id, r.start_path, r.run_dir, r.pid, r.host,
        json.dumps(r.meta, default=str),
    )  # fmt: skip


def component_params(r: ComponentRecord) -> tuple[Any, ...]:
    return (
        r.run_id, r.path, r.status, r.seq, r.kind, r.component_id, r.result, r.error,
        r.started_at, r.finished_at, r.attempt, int(r.reused), r.prompt_tokens, r.completion_tokens,
    )  # fmt: skip


def cache_from_row(row: tuple[Any, ...]) -> CacheEntry:
    return CacheEntry(*row)


def cache_params(e: CacheEntry) -> tuple[Any, ...]:
    return (e.key, e.path, e.run_id, e.result, e.created_at, e.effects)
