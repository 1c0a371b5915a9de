"""ExecutionContext: hierarchy, results, variables, paths, resources and scopes."""

from __future__ import annotations

import pytest

from danaflow.context import (
    AgentState,
    ExecutableTypeEnum,
    ExecutionContext,
    ExecutionState,
    ExecutionStatusEnum,
    NodeExecutionResult,
    NodeOutcome,
    WorldState,
)
from danaflow.errors import ComponentError
from danaflow.flow import AgentDefinition, AgentRunner, FlowDefinition, PythonNode
from danaflow.flow.seam import InMemoryRun
from danaflow.lang.api import run
from danaflow.planning import Plan, PlanStep


def _tree() -> tuple[ExecutionContext, ExecutionContext, ExecutionContext, ExecutionContext]:
    agent = ExecutionContext(ExecutableTypeEnum.agent, "agent", variables={"who": "agent"})
    flow = agent.create_child(ExecutableTypeEnum.flow, "flow1", variables={"task": "t1"})
    node = flow.create_child(ExecutableTypeEnum.node, "node3")
    sub = flow.create_child(ExecutableTypeEnum.subflow, "sub")
    return agent, flow, node, sub


def _done(cid: str, text: str) -> NodeExecutionResult:
    return NodeExecutionResult(
        component_id=cid, execution_status=ExecutionStatusEnum.completed, outcome=NodeOutcome(text=text)
    )


def test_paths_ids_and_initial_status():
    agent, flow, node, _ = _tree()
    assert node.path == "agent.flow1.node3"
    assert node.parent is flow and flow.parent is agent
    assert node.execution_status is ExecutionStatusEnum.pending
    assert node.context_id != flow.context_id
    assert flow.children["node3"] is node


def test_results_are_found_among_siblings_then_ancestors():
    agent, flow, node, sub = _tree()
    flow.set_result("node1", _done("node1", "one"))
    agent.set_result("early", _done("early", "from agent"))
    assert node.get_result("node1").outcome.text == "one"
    assert node.has_result("node1")
    assert node.get_result("early").outcome.text == "from agent"
    assert node.get_result("missing") is None
    assert not node.has_result("missing")
    sub_node = sub.create_child(ExecutableTypeEnum.node, "inner")
    sub.set_result("inner", _done("inner", "deep"))
    sub_node.result = sub.get_result("inner")
    assert node.get_result("sub.inner").outcome.text == "deep"


def test_get_context_variable_walks_parents_inner_wins():
    _agent, flow, node, _ = _tree()
    assert node.get_context_variable("task") == "t1"
    assert node.get_context_variable("who") == "agent"
    flow.variables["who"] = "flow"
    assert node.get_context_variable("who") == "flow"
    assert node.get_context_variable("nope", default=7) == 7
    with pytest.raises(ComponentError) as exc:
        node.get_context_variable("nope")
    assert "agent.flow1.node3" in str(exc.value) and "task" in str(exc.value)


def test_global_context_is_searched_last():
    ctx = ExecutionContext(global_context={"tenant": "acme"})
    child = ctx.create_child(ExecutableTypeEnum.flow, "f", variables={"x": 1})
    assert child.get_context_variable("tenant") == "acme"


def test_get_context_by_path_relative_and_absolute():
    _agent, _flow, node, sub = _tree()
    assert node.get_context_by_path("flow1.node3") is node
    assert node.get_context_by_path("agent.flow1.node3") is node
    assert node.get_context_by_path("sub") is sub
    with pytest.raises(ComponentError) as exc:
        node.get_context_by_path("flow1.nothing")
    assert "agent.flow1.node3" in str(exc.value)  # the known paths are listed


def test_find_component_splits_component_path_from_attribute_path():
    _agent, flow, node, _ = _tree()
    flow.set_result("code_generator", _done("code_generator", "x"))
    found = node.find_component(["code_generator", "outcome", "structured", "files"])
    assert found is not None
    result, used = found
    assert used == 1 and result.component_id == "code_generator"
    assert node.find_component(["ghost"]) is None


def test_scopes_private_per_agent_public_and_system_shared():
    run = InMemoryRun()
    agent = ExecutionContext(ExecutableTypeEnum.agent, "a", run_context=run)
    flow = agent.create_child(ExecutableTypeEnum.flow, "f")
    node = flow.create_child(ExecutableTypeEnum.node, "n")
    sub_agent = flow.create_child(ExecutableTypeEnum.agent, "helper")
    node.sandbox.set("private:step", 1)
    node.sandbox.set("public:topic", "rust")
    node.sandbox.set("local:tmp", 3)
    assert agent.agent_state.step == 1  # private belongs to the nearest agent
    assert "step" not in sub_agent.sandbox.private  # a subagent has its own
    assert sub_agent.world_state["topic"] == "rust"  # public is shared per run
    assert run.public_state["topic"] == "rust"
    assert "tmp" not in flow.sandbox.local  # local is per component
    assert isinstance(agent.agent_state, AgentState)


def test_state_views_are_the_scope_dicts():
    state = AgentState(current_step=0)
    world = WorldState()
    ctx = ExecutionContext(agent_state=state, world_state=world)
    assert ctx.sandbox.private is state and ctx.sandbox.public is world
    ctx.sandbox.set("private:current_step", 2)
    assert ctx.agent_state.current_step == 2
    state.update(current_step=3, plan="p")
    assert ctx.sandbox.get("private:plan") == "p"


def test_resources_walk_parents_then_the_run():
    run = InMemoryRun(resources={"db": "run-db"})
    root = ExecutionContext(run_context=run)
    child = root.create_child(ExecutableTypeEnum.flow, "f")
    root.register_resource("llm", "root-llm")
    assert child.get_resource("llm") == "root-llm"
    assert child.get_resource("db") == "run-db"
    child.register_resource("llm", "child-llm")
    assert child.get_resource("llm") == "child-llm" and root.get_resource("llm") == "root-llm"
    assert child.sandbox.resources["db"] == "run-db"  # what Dana's use() reads
    with pytest.raises(ComponentError, match="registered: db, llm"):
        child.get_resource("nope")


def test_planning_constructor_shape():
    llm = object()
    ctx = ExecutionContext(
        planning_llm=llm, reasoning_llm=llm, agent_state=AgentState(), global_context={"k": 1}
    )
    assert ctx.planning_llm is llm and ctx.llm is llm
    assert ctx.sandbox.reasoner is llm
    assert ctx.execution_state is ctx.sandbox.system


def test_global_context_reads_as_read_only_system_keys_from_dana():
    ctx = ExecutionContext(
        execution_state=ExecutionState(status="idle"), global_context={"version": "1.0", "_own": 1, "a b": 2}
    )
    read = run('print(system:version + " " + system:status)', ctx.sandbox, print_sink=lambda s: None)
    assert read.error is None and read.output == "1.0 idle\n"
    write = run('system:version = "2.0"', ctx.sandbox)
    assert "system:version" in str(write.error) and "read-only" in str(write.error)
    assert ctx.execution_state["version"] == "1.0"
    assert run('system:status = "busy"', ctx.sandbox).error is None  # the state's own keys stay writable
    assert "_own" not in ctx.execution_state and "a b" not in ctx.execution_state  # not Dana names
    assert ctx.get_context_variable("_own") == 1


def test_a_plan_program_step_sees_global_context_read_only():
    ctx = ExecutionContext(execution_state=ExecutionState(), global_context={"version": "1.0"})
    plan = Plan(name="p", description="d", objective="o")
    plan.add_step(PlanStep(name="read", description="d", program="print(system:version)"))
    plan.add_step(PlanStep(name="write", description="d", program='system:version = "3"'))
    result = ctx.execute_plan(plan, run_context=InMemoryRun())
    assert result["read"].text == "1.0\n"
    assert result.failed_step == "write" and "read-only" in str(result.error)


def test_a_global_key_that_the_execution_state_holds_is_an_error():
    with pytest.raises(ComponentError, match=r"global_context keys status are already in execution_state"):
        ExecutionContext(execution_state=ExecutionState(status="x"), global_context={"status": "y"})


def test_a_bare_name_finds_a_unique_component_anywhere_in_the_run():
    agent, _flow, _node, sub = _tree()
    other = agent.create_child(ExecutableTypeEnum.flow, "flow2")
    asker = other.create_child(ExecutableTypeEnum.node, "asker")
    sub.set_result("inner", _done("inner", "deep"))
    assert asker.get_result("inner").outcome.text == "deep"  # in another flow's subflow
    assert asker.get_result("sub.inner").outcome.text == "deep"
    assert asker.get_result("ghost") is None


def test_an_ambiguous_bare_name_lists_the_candidates():
    agent = ExecutionContext(ExecutableTypeEnum.agent, "agent")
    for flow_id in ("flow1", "flow2"):
        agent.create_child(ExecutableTypeEnum.flow, flow_id).set_result("summary", _done("summary", flow_id))
    asker = agent.create_child(ExecutableTypeEnum.flow, "flow3").create_child(ExecutableTypeEnum.node, "n")
    with pytest.raises(ComponentError) as info:
        asker.get_result("summary")
    assert "agent.flow1.summary, agent.flow2.summary" in str(info.value)
    assert info.value.path == "agent.flow3.n"
    assert asker.get_result("flow2.summary").outcome.text == "flow2"  # the dotted path is exact


async def test_a_node_reads_a_node_of_another_flow_by_its_bare_name():
    first = FlowDefinition().node("analysis", PythonNode(lambda ctx: "3 files"))
    second = FlowDefinition().node("report", PythonNode(lambda ctx: ctx.get_result("analysis").outcome.value))
    agent = AgentDefinition("agent").flow("first", first).flow("second", second)
    result = await AgentRunner(agent, InMemoryRun()).run()
    assert result.get_result("second.report").outcome.value == "3 files"
    assert result.get_result("report").outcome.value == "3 files"  # the record finds it too
    both = (
        AgentDefinition("agent")
        .flow("a", first)
        .flow("b", FlowDefinition().node("analysis", PythonNode(lambda c: 1)))
    )
    ran = await AgentRunner(both, InMemoryRun()).run()
    with pytest.raises(
        ComponentError, match=r"'analysis' names 2 components under agent \(a.analysis, b.analysis\)"
    ):
        ran.get_result("analysis")
