"""``await definition.execute(context)``: seed 001's way to run a flow in a context you made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from danaflow.context import (
    AgentExecutionContext,
    ExecutionContext,
    FlowExecutionContext,
    NodeExecutionContext,
)
from danaflow.context import ExecutionStatusEnum as S
from danaflow.errors import ComponentError, FlowDefinitionError
from danaflow.flow import AgentDefinition, FlowDefinition, InMemoryRun, PythonNode
from danaflow.runs import RunContext


def _flow() -> FlowDefinition:
    return (
        FlowDefinition("my_flow")
        .vars({"base": 40})
        .node("a", PythonNode(lambda ctx: ctx.get_context_variable("base") + 1))
        .node("b", PythonNode(lambda ctx: ctx.get_result("a").outcome.value + 1))
    )


async def test_execute_in_a_flow_context_under_a_parent():
    my_flow = _flow()
    run = InMemoryRun()
    events: list[str] = []
    run.event_bus.on("*", lambda e: events.append(f"{e.type.value} {e.path}"))
    parent = AgentExecutionContext(component_id="agent", run_context=run)
    flow_context = FlowExecutionContext(
        component_id="my_flow", component_definition=my_flow, parent=parent, run_context=run
    )
    result = await my_flow.execute(flow_context)
    assert result.execution_status is S.completed
    assert result.get_result("b").outcome.value == 42
    assert flow_context.execution_status is S.completed
    assert parent.get_result("my_flow") is result  # recorded in the parent, like any child
    assert events[0] == "component_started agent.my_flow" and events[-1] == "run_completed agent.my_flow"


async def test_execute_without_a_run_context_keeps_the_run_in_memory():
    my_flow = _flow()
    ctx = FlowExecutionContext(component_id="my_flow")
    result = await my_flow.execute(ctx)
    assert result.ok and isinstance(ctx.run_context, InMemoryRun)
    assert ctx.component_definition is my_flow


async def test_execute_with_a_run_context_writes_the_run(tmp_path: Path):
    run_context = RunContext(root_component_id="my_flow", project_root=tmp_path, run_root=tmp_path / "runs")
    run_context.setup_run(run_id_prefix="test")
    my_flow = _flow()
    try:
        result = await my_flow.execute(FlowExecutionContext(component_id="my_flow", run_context=run_context))
    finally:
        run_context.close()
    assert result.ok
    run_dir = tmp_path / "runs" / run_context.run_id
    stored = json.loads((run_dir / "run.json").read_text())
    assert stored["status"] == "completed"
    results = {
        json.loads(f.read_text())["path"]: json.loads(f.read_text()) for f in run_dir.rglob("result.json")
    }
    assert set(results) == {"my_flow", "my_flow.a", "my_flow.b"}
    assert results["my_flow.b"]["outcome"]["value"] == 42


async def test_a_flow_executed_from_a_running_node_is_one_more_component_of_the_run():
    inner = FlowDefinition("inner").node("x", PythonNode(lambda ctx: "from inner"))

    async def launch(ctx: ExecutionContext) -> str:
        sub = FlowExecutionContext(component_id="inner", component_definition=inner, parent=ctx)
        result = await inner.execute(sub)
        return result.get_result("x").outcome.value

    outer = FlowDefinition("outer").node("launch", PythonNode(launch))
    run = InMemoryRun()
    completed: list[str] = []
    run.event_bus.on("run_completed", lambda e: completed.append(e.path))
    ctx = FlowExecutionContext(component_id="outer", run_context=run)
    result = await outer.execute(ctx)
    assert result.get_result("launch").outcome.value == "from inner"
    assert ctx.get_context_by_path("launch.inner.x").result.outcome.value == "from inner"
    assert completed == ["outer"]  # the nested execution did not end the run


async def test_wrong_contexts_are_refused_with_the_shape_wanted():
    my_flow = _flow()
    with pytest.raises(ComponentError, match="got a node context, want a FlowExecutionContext"):
        await my_flow.execute(NodeExecutionContext(component_id="n"))
    with pytest.raises(ComponentError, match="got dict, want an ExecutionContext"):
        await my_flow.execute({"component_id": "my_flow"})
    with pytest.raises(ComponentError, match="want component_definition= the definition being executed"):
        await my_flow.execute(
            FlowExecutionContext(component_id="f", component_definition=FlowDefinition("other"))
        )
    with pytest.raises(ComponentError, match="got a flow context, want a AgentExecutionContext"):
        await AgentDefinition("a").execute(FlowExecutionContext())
    broken = FlowDefinition("b").node("a", PythonNode(lambda ctx: 1)).connect("a", "ghost")
    with pytest.raises(FlowDefinitionError, match="ghost"):
        await broken.execute(FlowExecutionContext(component_id="b"))


async def test_an_agent_definition_executes_in_an_agent_context():
    agent = AgentDefinition("agent").flow("main", _flow())
    ctx = AgentExecutionContext(component_id="agent")
    result = await agent.execute(ctx)
    assert result.ok and result.get_result("main.b").outcome.value == 42
