"""``await definition.execute(context)``: runs a flow or agent definition in a context the caller made.

Seed 001 builds the context itself (``FlowExecutionContext(component_id=..., component_definition=
..., parent=..., run_context=...)``) and asks the definition to execute in it; FlowRunner is the
other door, which makes the root context for you. Both end in the same scheduler. A context whose
root is already running (a PythonNode executing a flow of its own) runs as one more component of
that run; otherwise this call is the run, and starts and finishes it on the run context.
"""

from __future__ import annotations

from danaflow.context.context import ExecutionContext
from danaflow.context.result import NodeExecutionResult
from danaflow.context.status import ExecutableTypeEnum, ExecutionStatusEnum
from danaflow.errors import ComponentError

from .definition import AgentDefinition, FlowDefinition
from .runner import _Execution
from .seam import InMemoryRun, check_environment

__all__ = ["execute_in"]

_FLOW_KINDS = (ExecutableTypeEnum.flow, ExecutableTypeEnum.subflow)
_AGENT_KINDS = (ExecutableTypeEnum.agent,)


async def execute_in(
    definition: FlowDefinition | AgentDefinition, context: ExecutionContext
) -> NodeExecutionResult:
    """Validates ``definition``, executes it in ``context`` and returns its record.

    ``context.run_context`` supplies the run (a RunContext, an InMemoryRun or another
    RunEnvironment; None makes an InMemoryRun). Definition problems raise FlowDefinitionError
    before anything executes; component failures are in the record, as with ``FlowRunner.run()``.
    """
    kind_name = type(definition).__name__
    if not isinstance(context, ExecutionContext):
        raise ComponentError(
            f"{kind_name}.execute: got {type(context).__name__}, want an ExecutionContext "
            "(FlowExecutionContext(component_id=..., component_definition=..., run_context=...))"
        )
    is_flow = isinstance(definition, FlowDefinition)
    if context.executable_type not in (_FLOW_KINDS if is_flow else _AGENT_KINDS):
        wanted = "FlowExecutionContext" if is_flow else "AgentExecutionContext"
        raise ComponentError(
            f"{kind_name}.execute: got a {context.executable_type.value} context, want a {wanted}",
            path=context.path,
        )
    if context.component_definition is None:
        context.component_definition = definition
    elif context.component_definition is not definition:
        raise ComponentError(
            f"{kind_name}.execute: the context was made for {context.component_definition!r}, "
            f"want component_definition= the definition being executed",
            path=context.path,
        )
    env = context.run_context
    if env is None:
        env = context.run_context = InMemoryRun()
    else:
        check_environment(env, f"{kind_name}.execute")
    inside_run = context.root.execution_status is ExecutionStatusEnum.running
    # $hier{} may name components the enclosing run already has.
    definition.validate({c.component_id for c in context.root.walk()})
    definition.compile()  # the whole tree, before anything runs
    context.variables = {**definition.variables, **context.variables}
    execution = _Execution(env)
    if inside_run:
        return await execution.execute(context, definition)
    return await execution.run(context, definition)
