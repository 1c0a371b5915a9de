"""Running the planning layer's coroutines from synchronous code, notebooks included.

``ExecutionContext.execute_plan(plan)`` is synchronous in the seed, which is a notebook: there an
event loop already runs in the calling thread and ``asyncio.run`` refuses to start. So blocking
calls submit their coroutine to one long-lived loop in a daemon thread and wait for it. One loop
for every call, rather than a fresh ``asyncio.run`` each time, also keeps async HTTP clients
(which bind their connection pools to the loop that first used them) valid from call to call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="danaflow-plan-loop", daemon=True).start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """The result of ``coro``, run to completion on the planning layer's background loop."""
    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        # Called from code already on the background loop: waiting on it would deadlock.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="danaflow-plan") as pool:
            return pool.submit(asyncio.run, coro).result()
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise
