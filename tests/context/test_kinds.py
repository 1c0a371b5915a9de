"""The typed contexts of seed 001: the seed's constructor shape, and the runner's contexts have them."""

from __future__ import annotations

import pytest

from danaflow.context import (
    AgentExecutionContext,
    ExecutableTypeEnum,
    ExecutionContext,
    FlowExecutionContext,
    NodeExecutionContext,
    SubagentExecutionContext,
    SubflowExecutionContext,
)
from danaflow.flow import AgentDefinition, AgentRunner, FlowDefinition, FlowRunner, InMemoryRun, PythonNode

K = ExecutableTypeEnum


def test_the_seed_constructor_shape():
    run = InMemoryRun()
    definition = FlowDefinition("my_flow")
    parent = AgentExecutionContext(component_id="agent", run_context=run)
    flow_context = FlowExecutionContext(
        component_id="my_flow", component_definition=definition, parent=parent, run_context=run
    )
    assert flow_context.executable_type is K.flow
    assert flow_context.path == "agent.my_flow" and flow_context.component_definition is definition
    assert parent.children["my_flow"] is flow_context  # a context made with a parent is its child
    assert isinstance(flow_context, ExecutionContext)
    assert repr(flow_context).startswith("FlowExecutionContext(flow 'agent.my_flow'")


def test_each_kind_defaults_its_id_and_fixes_its_type():
    assert AgentExecutionContext().component_id == "agent"
    assert NodeExecutionContext().executable_type is K.node
    sub = SubflowExecutionContext(component_id="s", parent=FlowExecutionContext())
    assert sub.executable_type is K.subflow and isinstance(sub, FlowExecutionContext)
    helper = SubagentExecutionContext(component_id="helper", parent=AgentExecutionContext())
    assert isinstance(helper, AgentExecutionContext) and helper.executable_type is K.agent
    with pytest.raises(TypeError, match="executable_type"):
        FlowExecutionContext(component_id="f", executable_type=K.node)


def test_the_one_constructor_builds_the_typed_context_of_its_kind():
    root = ExecutionContext()  # seed 000's shape: an agent at the root
    assert type(root) is AgentExecutionContext
    flow = root.create_child(K.flow, "f")
    assert type(flow) is FlowExecutionContext
    assert type(flow.create_child(K.node, "n")) is NodeExecutionContext
    assert type(flow.create_child(K.subflow, "s")) is SubflowExecutionContext
    assert type(flow.create_child(K.agent, "helper")) is SubagentExecutionContext
    assert type(flow.create_child(K.for_each, "loop")) is ExecutionContext  # no seed type: stays plain


async def test_the_runner_makes_typed_contexts():
    seen: dict[str, str] = {}

    def record(ctx: ExecutionContext) -> None:
        chain = list(ctx.ancestry())
        seen[ctx.path] = " < ".join(type(c).__name__ for c in chain)

    inner = FlowDefinition("inner").node("leaf", PythonNode(record))
    flow = FlowDefinition("main").node("n", PythonNode(record)).subflow("sub", inner)
    agent = (
        AgentDefinition("agent")
        .flow("main", flow)
        .subagent("helper", AgentDefinition().node("h", PythonNode(record)))
    )
    result = await AgentRunner(agent, InMemoryRun()).run()
    assert result.ok, result.error
    assert seen == {
        "agent.main.n": "NodeExecutionContext < SubflowExecutionContext < AgentExecutionContext",
        "agent.main.sub.leaf": (
            "NodeExecutionContext < SubflowExecutionContext < SubflowExecutionContext < AgentExecutionContext"
        ),
        "agent.helper.h": "NodeExecutionContext < SubagentExecutionContext < AgentExecutionContext",
    }
    flow_result = await FlowRunner(inner, InMemoryRun()).run()
    assert flow_result.ok
