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
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from danaflow.errors import ComponentError

from .events import ALL_EVENTS, Event, EventType

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.context.result import NodeExecutionResult
    from danaflow.context.status import ExecutableTypeEnum

__all__ = ["MODES", "ComponentEvent", "NodeResult", "RunStream", "StreamItem", "TokenDelta"]

MODES = ("events", "results", "tokens")
"""What a stream can carry: every component event, each node's result, model text deltas."""


@dataclass(slots=True)
class ComponentEvent:
    """One event of the run's event bus (mode ``events``), as plain data: a snapshot taken when it
    was emitted, so reading it later shows that moment, not the component's current state.

    The stream's items are plain dataclasses, not frozen ones (a frozen one costs three times as
    much to make, once an item); nothing reads them back, so changing one changes nothing.
    """

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


@dataclass(slots=True)
class NodeResult:
    """A node that finished executing (mode ``results``): completed, failed, or waiting for input.
    A cache hit counts (``result.cached``); a node reused by a resume did not execute and is not
    streamed."""

    mode: ClassVar[str] = "results"
    path: str
    component_id: str
    result: NodeExecutionResult

    @property
    def status(self) -> str:
        return self.result.execution_status.value


@dataclass(slots=True)
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
    """Routes the deltas of a node's model calls to the stream: the runner calls ``listen(path)``
    as each node starts executing and ``unlisten`` with what it returned when the node is done.

    Listening costs one context-variable set and a ``partial`` a node; the numbering of a node's
    calls is kept here and done only when a call is made.
    """

    __slots__ = ("_calls", "_put", "listen_to", "unlisten")

    def __init__(self, put: Callable[[Any], None]):
        from danaflow.llm import streaming  # deferred: only token streams load the LLM layer

        self._put = put
        self._calls: dict[str, int] = {}
        self.listen_to = streaming.listen
        self.unlisten = streaming.unlisten

    def listen(self, path: str) -> Any:
        return self.listen_to(partial(self._open_call, path))

    def _open_call(self, path: str) -> Callable[[str], None]:
        with _CALLS_LOCK:  # a node may call from several threads (a tool turn's calls)
            n = self._calls.get(path, -1) + 1
            self._calls[path] = n
        put = self._put
        return lambda text: put(TokenDelta(path, text, n))


_CALLS_LOCK = threading.Lock()


class _Channel:
    """The stream's queue: a deque and the reader's wake-up future, filled on the loop's thread
    (``asyncio.Queue`` keeps task counts and wakes putters, which a stream never needs)."""

    __slots__ = ("items", "loop", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.items: deque[Any] = deque()
        self.loop = loop
        self.waiter: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Any:
        items = self.items
        while not items:
            waiter = self.waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self.waiter = None
        return items.popleft()


def _putter(channel: _Channel) -> Callable[[Any], None]:
    """``channel.put`` that is safe from any thread (model calls stream from worker threads);
    items from one thread keep their order."""
    loop, loop_thread, put_here = channel.loop, threading.get_ident(), channel.put

    def put(item: Any) -> None:
        if threading.get_ident() == loop_thread:
            put_here(item)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(put_here, item)

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
        self._channel: _Channel | None = None
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
        channel = _Channel(loop)
        put = _putter(channel)
        runner, modes = self._runner, self.modes
        bus = runner.run_context.event_bus
        subscriptions: list[tuple[Any, Any]] = []
        if "events" in modes:

            def on_event(event: Event) -> None:
                put(ComponentEvent.of(event))

            bus.on(ALL_EVENTS, on_event)
            subscriptions.append((ALL_EVENTS, on_event))
        # Results come from the runner itself, not the bus: an Event and its dispatch cost more
        # than the 10% a stream may add to a trivial node.
        results = _results(put) if "results" in modes else None
        tokens = _Tokens(put) if "tokens" in modes else None
        # The task holds the channel but not this object, so dropping the stream can cancel it.
        task = loop.create_task(_drive(runner, tokens, results, bus, subscriptions))
        task.add_done_callback(lambda _: channel.put(_END))
        self._channel, self._task = channel, task

    # ---- iterating --------------------------------------------------------------------------
    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> StreamItem:
        if self._task is None:
            self._start()
        if self._finished:
            raise StopAsyncIteration
        channel = self._channel
        assert channel is not None and self._task is not None
        if channel.items:
            item = channel.items.popleft()
        else:
            try:
                item = await channel.get()
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
    runner: Any,
    tokens: _Tokens | None,
    results: Callable[..., None] | None,
    bus: Any,
    subscriptions: list[tuple[Any, Any]],
) -> NodeExecutionResult:
    runner._tokens, runner._results = tokens, results
    try:
        return await runner.run()
    finally:
        runner._tokens = runner._results = None
        for kind, handler in subscriptions:
            bus.off(kind, handler)


def _results(put: Callable[[Any], None]) -> Callable[[ExecutionContext, NodeExecutionResult], None]:
    def finished(ctx: ExecutionContext, result: NodeExecutionResult) -> None:
        put(NodeResult(ctx.path, ctx.component_id, result))

    return finished
