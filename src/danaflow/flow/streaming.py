"""Streaming a run: ``async for item in FlowRunner(flow, run_context).stream(mode=...)``.

The run executes in a task of its own, exactly as ``run()`` would (same records, same result), and
the stream hands its caller what it asked for, in the order it happened: component events
(``events``), the results of nodes as they finish (``results``), and the text of model calls as
it is generated (``tokens``, through llm/streaming.py's listener). The stream is also the run's
handle: leaving the loop or cancelling the task that reads it cancels the run, whose unfinished
components are recorded as interrupted (``danaflow resume`` runs them again).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from danaflow.errors import ComponentError

from .events import ALL_EVENTS, Event, EventType

if TYPE_CHECKING:
    from danaflow.context.result import NodeExecutionResult
    from danaflow.context.status import ExecutableTypeEnum

__all__ = ["MODES", "ComponentEvent", "NodeResult", "RunStream", "StreamItem", "TokenDelta"]

MODES = ("events", "results", "tokens")
"""What a stream can carry: every component event, each node's result, model text deltas."""
_NODE_FINISHED = (EventType.node_completed, EventType.node_failed)


@dataclass(frozen=True, slots=True)
class ComponentEvent:
    """One event of the run's event bus (mode ``events``), as plain data: a snapshot taken when it
    was emitted, so reading it later shows that moment, not the component's current state."""

    mode: ClassVar[str] = "events"
    type: EventType
    path: str
    component_id: str
    executable_type: ExecutableTypeEnum | None
    status: str | None
    """The component's status once it finished (``*_completed``, ``*_failed``, run_completed)."""
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float = 0.0

    @classmethod
    def of(cls, event: Event) -> ComponentEvent:
        result = event.result
        return cls(
            event.type,
            event.path,
            event.component_id,
            event.executable_type,
            result.execution_status.value if result is not None else None,
            dict(event.payload),
            event.timestamp,
        )


@dataclass(frozen=True, slots=True)
class NodeResult:
    """A node that finished executing, completed or failed (mode ``results``). A cache hit counts
    (``result.cached``); a component reused by a resume did not execute and is not streamed."""

    mode: ClassVar[str] = "results"
    path: str
    component_id: str
    result: NodeExecutionResult

    @property
    def status(self) -> str:
        return self.result.execution_status.value


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """A piece of text a model produced for the component at ``path`` (mode ``tokens``).

    ``call`` numbers the component's model calls from 0 (a re-asked typed answer, several
    ``reason()`` calls, tool rounds): the deltas of one call, joined, are that call's answer.
    """

    mode: ClassVar[str] = "tokens"
    path: str
    text: str
    call: int = 0


StreamItem = ComponentEvent | NodeResult | TokenDelta

_END = object()


def _modes(mode: str | Iterable[str]) -> frozenset[str]:
    wanted = [mode] if isinstance(mode, str) else list(mode)
    for m in wanted:
        if m not in MODES:
            raise ComponentError(f"unknown stream mode {m!r}: want one of {', '.join(MODES)}")
    if not wanted:
        raise ComponentError(f"stream(mode=()) streams nothing: want one or more of {', '.join(MODES)}")
    return frozenset(wanted)


class _Tokens:
    """Routes the deltas of a node's model calls to the stream, numbered per node; the runner
    enters ``node(path)`` around each node it executes while the stream listens for tokens."""

    __slots__ = ("_listening", "_put")

    def __init__(self, put: Callable[[Any], None]):
        from danaflow.llm.streaming import listening  # deferred: only token streams load the LLM layer

        self._listening = listening
        self._put = put

    def node(self, path: str) -> AbstractContextManager[None]:
        calls = itertools.count()
        put = self._put

        def open_call() -> Callable[[str], None]:
            n = next(calls)
            return lambda text: put(TokenDelta(path, text, n))

        return self._listening(open_call)


def _putter(queue: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop) -> Callable[[Any], None]:
    """``queue.put_nowait`` that is safe from any thread (model calls stream from worker threads);
    items from one thread keep their order."""
    loop_thread = threading.get_ident()

    def put(item: Any) -> None:
        if threading.get_ident() == loop_thread:
            queue.put_nowait(item)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, item)

    return put


class RunStream:
    """What ``runner.stream(mode=...)`` returns: an async iterator of stream items, and an async
    context manager that, on exit, cancels the run if it is still going and waits until it stopped.

    The run starts at the first ``__anext__`` (or ``__aenter__``). Once the iteration ends,
    ``result`` is the root's record, the one ``run()`` returns; an exception ``run()`` would raise
    (a FlowDefinitionError) comes out of the loop instead. Breaking out of a bare ``async for``
    cancels the run as soon as the stream is dropped; ``async with`` also waits for it to stop.
    """

    def __init__(self, runner: Any, mode: str | Iterable[str] = "results"):
        self.modes = _modes(mode)
        self._runner = runner
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[NodeExecutionResult] | None = None
        self._finished = False

    @property
    def result(self) -> NodeExecutionResult | None:
        """The root's record once the run finished, else None."""
        task = self._task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    # ---- starting ---------------------------------------------------------------------------
    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        put = _putter(queue, loop)
        runner, modes = self._runner, self.modes
        bus = runner.run_context.event_bus
        subscriptions: list[tuple[Any, Any]] = []
        if "events" in modes or "results" in modes:
            handler = _event_handler(put, "events" in modes, "results" in modes)
            kinds: tuple[Any, ...] = (ALL_EVENTS,) if "events" in modes else _NODE_FINISHED
            for kind in kinds:
                bus.on(kind, handler)
                subscriptions.append((kind, handler))
        tokens = _Tokens(put) if "tokens" in modes else None
        # The task holds the queue but not this object, so dropping the stream can cancel it.
        task = loop.create_task(_drive(runner, tokens, bus, subscriptions))
        task.add_done_callback(lambda _: queue.put_nowait(_END))
        self._queue, self._task = queue, task

    # ---- iterating --------------------------------------------------------------------------
    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> StreamItem:
        if self._task is None:
            self._start()
        if self._finished:
            raise StopAsyncIteration
        assert self._queue is not None and self._task is not None
        try:
            item = await self._queue.get()
        except asyncio.CancelledError:
            await self._stop()
            raise
        if item is _END:
            self._finished = True
            task = self._task
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> RunStream:
        if self._task is None:
            self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def aclose(self) -> None:
        """Cancels the run if it is still going and waits until it stopped (records final)."""
        await self._stop()

    async def _stop(self) -> None:
        task = self._task
        if task is None:
            return
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: it is raised by the loop, or was never wanted

    def __del__(self) -> None:
        task = getattr(self, "_task", None)  # None too when __init__ refused the mode
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()


async def _drive(
    runner: Any, tokens: _Tokens | None, bus: Any, subscriptions: list[tuple[Any, Any]]
) -> NodeExecutionResult:
    runner._tokens = tokens
    try:
        return await runner.run()
    finally:
        runner._tokens = None
        for kind, handler in subscriptions:
            bus.off(kind, handler)


def _event_handler(put: Callable[[Any], None], events: bool, results: bool) -> Callable[[Event], None]:
    def on_event(event: Event) -> None:
        if events:
            put(ComponentEvent.of(event))
        if results and event.type in _NODE_FINISHED and event.result is not None:
            put(NodeResult(event.path, event.component_id, event.result))

    return on_event
