"""Live updates: one poller per viewer process turns store changes into server-sent events.

The store has no change feed (SQLite is written by other processes; PostgreSQL will be written by
other machines), so the hub polls it through the RunStore API, and only while somebody listens:
the newest runs for the runs page, and each watched run's components until the run is final.
A change becomes one small event (``update`` with what changed); the page then re-fetches the
fragment it shows. One poll serves every browser tab, and events are coalesced per poll, so a run
finishing a thousand components a second costs each tab a few refreshes a second, not a thousand.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from danaflow.errors import DanaflowError

from .reader import RunReader, is_final

__all__ = ["Hub", "sse_stream"]

_log = logging.getLogger("danaflow.ui")

RUNS_TOPIC = "runs"
_RUN_TOPIC = re.compile(r"^run:([A-Za-z0-9_][A-Za-z0-9_.\-]{0,199})$")
RUNS_WATCHED = 100
"""The runs page watches this many newest runs (new runs always appear at the top)."""
HEARTBEAT_S = 15.0


@dataclass(slots=True)
class _Topic:
    queues: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)
    digest: Any = None
    final: bool = False


class Hub:
    """Subscribers by topic (``runs`` or ``run:<id>``) and the task that polls for them."""

    def __init__(self, reader: RunReader, *, interval: float = 0.1):
        self.reader = reader
        self.interval = interval
        self._topics: dict[str, _Topic] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @staticmethod
    def valid_topic(topic: str) -> bool:
        return topic == RUNS_TOPIC or (_RUN_TOPIC.match(topic) is not None and ".." not in topic)

    def subscribe(self, topic: str) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=64)
        entry = self._topics.setdefault(topic, _Topic())
        entry.queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll_forever())
        return queue

    def unsubscribe(self, topic: str, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        entry = self._topics.get(topic)
        if entry is None:
            return
        entry.queues.discard(queue)
        if not entry.queues:
            del self._topics[topic]

    async def prime(self, topic: str) -> None:
        """Takes the topic's baseline now, if it has none: a stream says ``ready`` only after it,
        so the page's refresh on ``ready`` sees at least the state every later event differs from."""
        entry = self._topics.get(topic)
        if entry is not None and entry.digest is None:
            digest, message = await asyncio.to_thread(self._check, topic)
            if entry.digest is None:
                entry.digest = digest
                entry.final = bool(message.get("final"))

    async def close(self) -> None:
        """Ends every stream (each gets ``None``) and stops polling."""
        self._closed = True
        for entry in self._topics.values():
            for queue in entry.queues:
                _offer(queue, None)
        if self._task is not None:
            self._task.cancel()

    async def _poll_forever(self) -> None:
        while self._topics and not self._closed:
            try:
                await self.poll_once()
            except (DanaflowError, OSError, sqlite3.Error) as exc:
                # A store that is briefly locked or unreachable must not end live updates for good.
                _log.warning("live updates: reading the run store failed: %s (retrying)", exc)
            await asyncio.sleep(self.interval)

    async def poll_once(self) -> None:
        """Checks every topic with listeners once and publishes what changed."""
        for topic, entry in list(self._topics.items()):
            if entry.final:
                continue
            digest, message = await asyncio.to_thread(self._check, topic)
            if entry.digest is not None and digest != entry.digest:
                for queue in list(entry.queues):
                    _offer(queue, message)
            entry.digest = digest
            entry.final = bool(message.get("final"))

    def _check(self, topic: str) -> tuple[Any, dict[str, Any]]:
        if topic == RUNS_TOPIC:
            records = self.reader.store.list_runs(limit=RUNS_WATCHED)
            rows = tuple((r.run_id, r.status, r.updated_at) for r in records)
            return rows, {"topic": topic}
        run_id = topic.split(":", 1)[1]
        record = self.reader.store.get_run(run_id)
        if record is None:
            return None, {"topic": topic, "status": "gone", "final": True}
        components = self.reader.store.list_components(run_id)
        rows = tuple((c.path, c.status, c.finished_at, c.attempt) for c in components)
        running = [c.path for c in components if c.status == "running"][:20]
        status = record.status
        return (status, record.updated_at, rows), {
            "topic": topic,
            "status": status,
            "running": running,
            "final": is_final(status),
        }


def _offer(queue: asyncio.Queue[dict[str, Any] | None], message: dict[str, Any] | None) -> None:
    """Puts without waiting; a tab too slow to drain 64 events gets the newest instead."""
    try:
        queue.put_nowait(message)
    except asyncio.QueueFull:
        queue.get_nowait()
        queue.put_nowait(message)


async def sse_stream(hub: Hub, topic: str) -> AsyncIterator[bytes]:
    """The ``text/event-stream`` body for one subscriber; ends when the hub closes."""
    queue = hub.subscribe(topic)
    try:
        await hub.prime(topic)
        yield b"retry: 2000\nevent: ready\ndata: {}\n\n"
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            if message is None:
                return
            yield f"event: update\ndata: {json.dumps(message)}\n\n".encode()
    finally:
        hub.unsubscribe(topic, queue)
