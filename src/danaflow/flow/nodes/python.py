"""PythonNode: a flow step that is a Python callable, sync or async.

The callable receives the node's ExecutionContext and its return value becomes the outcome's
``value`` (and ``structured``). Sync callables run in a worker thread, since they may block;
``in_thread=False`` runs them on the event loop for trivial, non-blocking work.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.errors import FlowDefinitionError
from danaflow.template.engine import to_text

from .base import Node

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["PythonNode"]


class PythonNode(Node):
    """Runs ``func(ctx)``; a NodeOutcome return value is used as the outcome as it is."""

    node_type = "python"

    def __init__(self, func: Callable[[ExecutionContext], Any], *, in_thread: bool = True, **kw: Any):
        super().__init__(**kw)
        if not callable(func):
            raise FlowDefinitionError(f"PythonNode: got {type(func).__name__}, want a callable")
        self.func = func
        self.in_thread = in_thread
        self._is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - async callable objects
        )

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        if self._is_async:
            value = await self.func(ctx)
        elif self.in_thread:
            value = await asyncio.to_thread(self.func, ctx)
        else:
            value = self.func(ctx)
            if inspect.isawaitable(value):
                value = await value
        if isinstance(value, NodeOutcome):
            return self.make_result(value, output=value)
        return self.make_result(NodeOutcome(text=to_text(value), structured=value, value=value), output=value)

    def __repr__(self) -> str:
        return f"PythonNode({getattr(self.func, '__qualname__', self.func)!r})"
