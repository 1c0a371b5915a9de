"""StoreResultCache: the flow runner's result cache (``ResultCache``) kept in a run store.

The runner sees the flow layer's small protocol; the store keeps entries in its ``cache`` table
(``RunStore.cache_get/cache_put/cache_clear``). This adapter stands between them, so the flow layer
never imports the runs layer and every backend (memory, SQLite, PostgreSQL) serves as a cache:
runs that share a store share their cached results.
"""

from __future__ import annotations

from danaflow.flow.policies import CachedResult

from .store_base import CacheEntry, RunStore

__all__ = ["StoreResultCache"]


class StoreResultCache:
    """A ``danaflow.flow.policies.ResultCache`` over ``store``'s cache table.

    ``RunContext`` gives one to the runner (``result_cache``) unless the run was started with
    ``use_cache=False`` (``danaflow run --no-cache``); an in-memory run can have one too:
    ``InMemoryRun(result_cache=StoreResultCache(MemoryRunStore()))``.
    """

    __slots__ = ("store",)

    def __init__(self, store: RunStore):
        self.store = store

    def lookup(self, key: str) -> CachedResult | None:
        entry = self.store.cache_get(key)
        if entry is None:
            return None
        return CachedResult(
            entry.key, entry.path, entry.run_id, entry.result, entry.created_at, entry.effects
        )

    def save(self, entry: CachedResult) -> None:
        self.store.cache_put(
            CacheEntry(entry.key, entry.path, entry.run_id, entry.result, entry.created_at, entry.effects)
        )

    def __repr__(self) -> str:
        return f"StoreResultCache({self.store!r})"
