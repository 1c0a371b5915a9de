"""MemoryRunStore: the run store in dicts, for tests and runs that keep nothing.

Same semantics as the SQL stores, under one lock; nothing survives the process, so its leases only
matter between threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .store_base import (
    CacheEntry,
    ComponentRecord,
    Lease,
    RunRecord,
    RunStore,
    check_attempt,
    check_lease_args,
    duplicate_run,
    keeps_final_row,
    missing_run,
    under_path,
)

__all__ = ["MemoryRunStore"]


class MemoryRunStore(RunStore):
    """A store in dicts, for tests and runs that keep nothing; same semantics as SQLite."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._components: dict[str, dict[str, ComponentRecord]] = {}
        self._leases: dict[str, dict[str, Lease]] = {}
        self._cache: dict[str, CacheEntry] = {}

    def create_run(self, record: RunRecord) -> None:
        with self._lock:
            if record.run_id in self._runs:
                raise duplicate_run(record.run_id)
            self._runs[record.run_id] = replace(record, meta=dict(record.meta))
            self._components[record.run_id] = {}
            self._leases[record.run_id] = {}

    def update_run(self, run_id: str, *, status: str | None = None, **fields: Any) -> None:
        with self._lock:
            current = self._runs.get(run_id)
            if current is None:
                raise missing_run(run_id)
            if status is not None:
                fields["status"] = status
            fields.setdefault("updated_at", time.time())
            self._runs[run_id] = replace(current, **fields)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: (r.created_at, r.run_id), reverse=True)
        return runs[:limit] if limit is not None else runs

    def delete_run(self, run_id: str) -> bool:
        with self._lock:
            self._components.pop(run_id, None)
            self._leases.pop(run_id, None)
            return self._runs.pop(run_id, None) is not None

    def start_component(
        self,
        run_id: str,
        path: str,
        *,
        seq: int,
        kind: str | None = None,
        component_id: str | None = None,
        started_at: float | None = None,
        attempt: int | None = None,
    ) -> int:
        if attempt is not None:
            check_attempt(path, attempt)
        with self._lock:
            rows = self._components.get(run_id)
            if rows is None:
                raise missing_run(run_id)
            previous = rows.get(path)
            if attempt is None:
                attempt = previous.attempt + 1 if previous is not None else 1
            elif keeps_final_row(previous, attempt):
                return attempt
            rows[path] = ComponentRecord(
                run_id=run_id,
                path=path,
                status="running",
                seq=seq,
                kind=kind,
                component_id=component_id,
                started_at=started_at if started_at is not None else time.time(),
                attempt=attempt,
            )
            return attempt

    def finish_component(self, record: ComponentRecord) -> None:
        self.put_components([record])

    def put_components(self, records: Sequence[ComponentRecord]) -> None:
        with self._lock:
            for record in records:
                rows = self._components.get(record.run_id)
                if rows is None:
                    raise missing_run(record.run_id)
            for record in records:
                self._components[record.run_id][record.path] = record

    def get_component(self, run_id: str, path: str) -> ComponentRecord | None:
        with self._lock:
            return self._components.get(run_id, {}).get(path)

    def list_components(self, run_id: str) -> list[ComponentRecord]:
        with self._lock:
            rows = list(self._components.get(run_id, {}).values())
        return sorted(rows, key=lambda r: (r.seq, r.path))

    # ---- leases ----------------------------------------------------------------------------------
    def claim_component(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        check_lease_args(path, owner, ttl_s)
        with self._lock:
            leases = self._leases.get(run_id)
            if leases is None:
                raise missing_run(run_id)
            row = self._components[run_id].get(path)
            if row is not None and row.status != "running":
                return False
            now = time.time()
            held = leases.get(path)
            if held is not None and held.owner != owner and held.expires_at > now:
                return False
            leases[path] = Lease(run_id, path, owner, now + ttl_s)
            return True

    def renew_lease(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        check_lease_args(path, owner, ttl_s)
        with self._lock:
            leases = self._leases.get(run_id, {})
            held = leases.get(path)
            if held is None or held.owner != owner:
                return False
            leases[path] = replace(held, expires_at=time.time() + ttl_s)
            return True

    def release(self, run_id: str, path: str, owner: str) -> bool:
        check_lease_args(path, owner)
        with self._lock:
            leases = self._leases.get(run_id, {})
            held = leases.get(path)
            if held is None or held.owner != owner:
                return False
            del leases[path]
            return True

    def get_lease(self, run_id: str, path: str) -> Lease | None:
        with self._lock:
            return self._leases.get(run_id, {}).get(path)

    # ---- result cache ----------------------------------------------------------------------------
    def cache_get(self, key: str) -> CacheEntry | None:
        with self._lock:
            return self._cache.get(key)

    def cache_put(self, entry: CacheEntry) -> None:
        with self._lock:
            self._cache[entry.key] = entry

    def cache_clear(self, path: str | None = None) -> int:
        with self._lock:
            gone = [k for k, e in self._cache.items() if under_path(e.path, path)]
            for key in gone:
                del self._cache[key]
            return len(gone)
