"""The tools a node or strategy offers a model, and the ``tool_called`` event each call becomes.

AIModelNode and the ReAct strategy both hand tools to the native tool loop (llm/tools.py). How a
``tools=[...]`` list names them, and what a call leaves in the run's event journal, is decided
here once. A list may hold ToolResources, MCPResources (meaning all of their tools), or the
registered names of either. The loop itself knows nothing of flows. It reports each finished
call, and this module turns the report into an event on the run's bus.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from danaflow.context.mcp import MCPResource
from danaflow.context.resources import ToolResource
from danaflow.errors import ComponentError

from .events import Event, EventType

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.llm.tools import ToolCallRecord

__all__ = ["EVENT_RESULT_CHARS", "resolve_tools", "tool_event_recorder"]

EVENT_RESULT_CHARS = 4000
"""A call's result text in its event is clipped to this (the model saw up to the loop's limit)."""


def resolve_tools(ctx: ExecutionContext, tools: Sequence[Any], where: str) -> list[ToolResource]:
    """The ToolResources ``tools`` names, in order. An MCPResource stands for its tools (its server
    is started here, on first use). A name that is not registered, or names something other than
    a tool, is a ComponentError at ``ctx.path``. So is a tool with no implementation."""
    found: list[ToolResource] = []
    for item in tools:
        resource = item
        if isinstance(item, str):
            resource = ctx.get_resource(item, None)
            if resource is None:
                known = ", ".join(sorted(ctx.resource_names())) or "none"
                raise ComponentError(
                    f"{where}: no resource named {item!r} to offer as a tool (registered: {known})",
                    path=ctx.path,
                )
        if isinstance(resource, MCPResource):
            found.extend(resource.tools)
        elif isinstance(resource, ToolResource):
            if not resource.is_callable:
                raise ComponentError(
                    f"{where}: tool {resource.name!r} has no implementation: want func= or command=",
                    path=ctx.path,
                )
            found.append(resource)
        else:
            raise ComponentError(
                f"{where}: got {type(resource).__name__} {str(item)[:80]!r} as a tool, "
                "want a ToolResource, an MCPResource or the name of one",
                path=ctx.path,
            )
    return found


def tool_event_recorder(ctx: ExecutionContext) -> Callable[[ToolCallRecord], Awaitable[None]]:
    """The ``on_call`` of a tool loop run by the component at ``ctx``: it emits each call as a
    ``tool_called`` event (the run's journal keeps it in events.jsonl). A handler that raises
    fails the component, like any event handler."""
    bus = getattr(ctx.run_context, "event_bus", None)

    async def record(call: ToolCallRecord) -> None:
        if bus is None or not bus.has_handlers(EventType.tool_called):
            return
        payload = call.to_dict()
        text = payload.get("result")
        if isinstance(text, str) and len(text) > EVENT_RESULT_CHARS:
            payload["result"] = text[:EVENT_RESULT_CHARS] + f"... ({len(text) - EVENT_RESULT_CHARS} more)"
        await bus.emit(
            Event(
                EventType.tool_called,
                ctx.path,
                ctx.component_id,
                ctx.executable_type,
                ctx,
                payload=payload,
            )
        )

    return record
