"""Running the planning layer's coroutines from synchronous code, notebooks included.

``ExecutionContext.execute_plan(plan)`` is synchronous in the seed, which is a notebook: there an
event loop already runs in the calling thread and ``asyncio.run`` refuses to start. In that case
the coroutine runs on a fresh loop in a worker thread, and the caller blocks until it is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """The result of ``coro``, run to completion on a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="danaflow-plan") as pool:
        return pool.submit(asyncio.run, coro).result()
