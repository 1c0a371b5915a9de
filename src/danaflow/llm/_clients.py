"""Lazily built SDK clients: one sync client per provider, one async client per event loop.

An async SDK client holds an HTTP connection pool bound to the event loop it first ran on; reused
from another loop (``asyncio.run`` twice, or a sync call through a background loop) its pooled
connections fail and every first call there is retried. Keying the async client by loop avoids that.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["LazyClients"]


class LazyClients:
    """Builds clients on first use; ``make(kind)`` gets "sync" or "async"."""

    def __init__(self, make: Callable[[str], Any]):
        self._make = make
        self._lock = threading.Lock()
        self._sync: Any = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def sync(self) -> Any:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    self._sync = self._make("sync")
        return self._sync

    def async_(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            with self._lock:
                client = self._async.get(loop)
                if client is None:
                    client = self._async[loop] = self._make("async")
        return client
