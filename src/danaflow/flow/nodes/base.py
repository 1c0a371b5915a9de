"""The Node base class: what the runner needs from every node type, and nothing more.

A node is a definition (its settings); executing it takes the node's ExecutionContext and returns a
NodeExecutionResult carrying the outcome. The runner owns status, timing, events and checkpoints,
so a node only says what it produced, or raises. ``NodeFailedError`` lets a node fail while still
reporting what it produced (a command's output, say).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from danaflow.context.result import NodeExecutionResult, NodeOutcome, Usage
from danaflow.context.status import ExecutableTypeEnum
from danaflow.errors import ComponentError, Location

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["Node", "NodeFailedError"]


class NodeFailedError(ComponentError):
    """A node failed; ``outcome``/``output`` keep what it produced before failing."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        outcome: NodeOutcome | None = None,
        output: Any = None,
        location: Location | None = None,
        error_type: str | None = None,
    ):
        super().__init__(message, path=path, location=location)
        self.outcome = outcome
        self.output = output
        self.error_type = error_type or type(self).__name__
        """The name users see, e.g. the Dana error (``ZeroDivisionError``) that failed the node."""


class Node:
    """A unit of work in a flow. Subclasses set ``node_type`` and implement ``execute``."""

    node_type: ClassVar[str] = "node"

    def __init__(self, *, input_required: bool = False, description: str | None = None):
        self.input_required = input_required
        """When true the runner emits ``node_input_required`` before executing and waits for input."""
        self.description = description

    def templates(self) -> Iterable[tuple[str, str]]:
        """The (field, template text) pairs of this node, so definitions can check ``$hier{}`` refs."""
        return ()

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        raise NotImplementedError(f"{type(self).__name__}.execute")

    def make_result(
        self,
        outcome: NodeOutcome | None = None,
        *,
        output: Any = None,
        usage: Usage | None = None,
        input: Any = None,
    ) -> NodeExecutionResult:
        """A result for the runner to complete (status, path and timing are the runner's)."""
        return NodeExecutionResult(
            executable_type=ExecutableTypeEnum.node,
            node_type=self.node_type,
            outcome=outcome,
            output=output,
            usage=usage,
            input=input,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
