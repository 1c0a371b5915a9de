"""The event bus of a run: who hears that a component started, finished, failed or needs input.

It stands apart from the runner so the runs layer (event log, resume with input) and user code
subscribe the same way. Handlers are sync or async and run in registration order. A handler that
raises is never swallowed: ``emit`` raises ``EventHandlerError`` and the runner fails the
component the event was about (DESIGN §5).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from danaflow.errors import ComponentError

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.context.result import NodeExecutionResult
    from danaflow.context.status import ExecutableTypeEnum

__all__ = ["ALL_EVENTS", "Event", "EventBus", "EventHandler", "EventHandlerError", "EventType"]


class EventType(StrEnum):
    """The events a run emits (DESIGN §5)."""

    node_input_required = "node_input_required"
    node_started = "node_started"
    node_completed = "node_completed"
    node_failed = "node_failed"
    node_retrying = "node_retrying"
    """A node's attempt failed and its RetryPolicy runs it again (payload: attempt, error, delay)."""
    node_cached = "node_cached"
    """A node's CachePolicy found its result stored by an earlier run (payload: cached_from, ...)."""
    component_started = "component_started"
    component_completed = "component_completed"
    component_failed = "component_failed"
    run_completed = "run_completed"
    tool_called = "tool_called"
    """A model's tool call finished (AIModelNode, ReAct; payload: id, tool, arguments, round,
    result or error, ran, duration_s)."""


ALL_EVENTS = "*"
"""Subscribe with this to hear every event (the runs layer's event log does)."""


@dataclass(slots=True, eq=False)
class Event:
    """One event. For ``node_input_required`` a handler answers by setting ``input`` and ``handled``."""

    type: EventType
    path: str
    """The dotted path of the component the event is about (for run_completed: the root)."""
    component_id: str
    executable_type: ExecutableTypeEnum | None = None
    context: ExecutionContext | None = None
    result: NodeExecutionResult | None = None
    """Set on *_completed, *_failed and run_completed."""
    input: Any = None
    """For ``node_input_required``: the handler's answer, a NodeInput (``AIModelNodeInput(
    prompt_variables={...})`` for an AIModelNode) or a mapping of template variables."""
    handled: bool = False
    """For ``node_input_required``: set True with ``input``; unhandled, the node waits."""
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    @property
    def node_id(self) -> str:
        """The seeds' name for ``component_id``."""
        return self.component_id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (no context object) for event logs."""
        return {
            "type": self.type.value,
            "path": self.path,
            "component_id": self.component_id,
            "executable_type": self.executable_type.value if self.executable_type else None,
            "status": self.result.execution_status.value if self.result is not None else None,
            "handled": self.handled,
            "payload": self.payload,
            "timestamp": self.timestamp,
        }


EventHandler = Callable[[Event], "Awaitable[None] | None"]


class EventHandlerError(ComponentError):
    """An event handler raised; the component the event was about fails with this error."""


class EventBus:
    """Dispatches events to handlers registered per event type (or for all, with ``"*"``)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[EventHandler]] = {}

    def on(self, event_type: EventType | str, handler: EventHandler) -> EventHandler:
        """Registers ``handler`` for ``event_type``; returns it so this works as a decorator body."""
        key = _key(event_type)
        self._handlers.setdefault(key, []).append(handler)
        return handler

    register = on

    def off(self, event_type: EventType | str, handler: EventHandler) -> None:
        handlers = self._handlers.get(_key(event_type), [])
        if handler in handlers:
            handlers.remove(handler)

    def register_node_input_handler(self, handler: EventHandler) -> EventHandler:
        """Registers a handler for ``node_input_required`` (the seeds' spelling)."""
        return self.on(EventType.node_input_required, handler)

    def has_handlers(self, event_type: EventType) -> bool:
        """Whether anyone listens; the runner skips building events nobody hears."""
        # EventType is a StrEnum, so a member finds its string key without the ``.value`` lookup.
        return bool(self._handlers.get(event_type) or self._handlers.get(ALL_EVENTS))

    async def emit(self, event: Event) -> Event:
        """Calls every handler for the event's type, then the catch-all ones, in order.

        Raises EventHandlerError (naming the handler, the event and the component path) when a
        handler raises; later handlers do not run.
        """
        for handler in (*self._handlers.get(event.type.value, ()), *self._handlers.get(ALL_EVENTS, ())):
            try:
                out = handler(event)
                if inspect.isawaitable(out):
                    await out
            except Exception as exc:
                name = getattr(handler, "__qualname__", repr(handler))
                raise EventHandlerError(
                    f"{event.type.value} handler {name} raised {type(exc).__name__}: {exc}",
                    path=event.path,
                ) from exc
        return event


def _key(event_type: EventType | str) -> str:
    if isinstance(event_type, EventType):
        return event_type.value
    if event_type == ALL_EVENTS:
        return ALL_EVENTS
    try:
        return EventType(event_type).value
    except ValueError:
        valid = ", ".join(e.value for e in EventType)
        raise ComponentError(f"unknown event type {event_type!r}: want one of {valid} or '*'") from None
