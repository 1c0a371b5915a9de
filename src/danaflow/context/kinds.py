"""The typed contexts of seed 001's hierarchy: one ExecutionContext subclass per kind of component.

They add no state and no behaviour: each fixes ``executable_type`` and takes the seed's keyword
shape (``FlowExecutionContext(component_id=..., component_definition=..., parent=...,
run_context=...)``). Defining them registers them with ExecutionContext, so the contexts the
runner makes have these types too (a node runs in a NodeExecutionContext). Conditionals, for_each
loops and their iterations keep the plain ExecutionContext.

    AgentExecutionContext
    ├── FlowExecutionContext
    │   ├── NodeExecutionContext
    │   └── SubflowExecutionContext (a FlowExecutionContext)
    └── SubagentExecutionContext (an AgentExecutionContext)
"""

from __future__ import annotations

from typing import Any

from .context import ExecutionContext
from .status import ExecutableTypeEnum

__all__ = [
    "AgentExecutionContext",
    "FlowExecutionContext",
    "NodeExecutionContext",
    "SubagentExecutionContext",
    "SubflowExecutionContext",
]


class _TypedContext(ExecutionContext):
    """The shared constructor: the seed's arguments, the kind taken from the class."""

    __slots__ = ()

    def __init__(
        self,
        component_id: str | None = None,
        component_definition: Any = None,
        parent: ExecutionContext | None = None,
        run_context: Any = None,
        **options: Any,
    ):
        kind = type(self).kind
        assert kind is not None
        super().__init__(
            kind,
            component_id if component_id is not None else kind.value,
            component_definition,
            parent,
            run_context,
            **options,
        )


class AgentExecutionContext(_TypedContext):
    """The context of an agent at the root of a run (``private:`` of its own)."""

    __slots__ = ()
    kind = ExecutableTypeEnum.agent
    nested = False


class SubagentExecutionContext(AgentExecutionContext):
    """The context of an agent inside another component (``private:`` of its own)."""

    __slots__ = ()
    nested = True


class FlowExecutionContext(_TypedContext):
    """The context of a flow: ``await flow.execute(FlowExecutionContext(...))`` runs it."""

    __slots__ = ()
    kind = ExecutableTypeEnum.flow
    nested = None


class SubflowExecutionContext(FlowExecutionContext):
    """The context of a flow nested in a flow or an agent (``.subflow()``, ``AgentDefinition.flow()``)."""

    __slots__ = ()
    kind = ExecutableTypeEnum.subflow
    nested = None


class NodeExecutionContext(_TypedContext):
    """The context a node executes in."""

    __slots__ = ()
    kind = ExecutableTypeEnum.node
    nested = None
