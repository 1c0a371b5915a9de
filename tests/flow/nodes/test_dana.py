"""DanaNode: programs run in the node's context; their scopes reach later nodes."""

from __future__ import annotations

from danaflow.context import AgentState
from danaflow.context import ExecutionStatusEnum as S
from danaflow.flow import (
    AgentDefinition,
    AgentRunner,
    DanaNode,
    FlowDefinition,
    FlowRunner,
    InMemoryRun,
    PythonNode,
)


async def test_value_and_printed_text():
    flow = FlowDefinition("f").node("prog", DanaNode(program='print("hello")\nx = 6 * 7\nx\n'))
    result = await FlowRunner(flow).run()
    out = result.get_result("prog").outcome
    assert result.execution_status is S.completed
    assert out.value == 42 and out.text == "hello\n"


async def test_text_is_the_value_when_nothing_is_printed():
    result = await FlowRunner(FlowDefinition("f").node("p", DanaNode(program="[1, 2][0] + 1"))).run()
    assert result.get_result("p").outcome.text == "2"


async def test_component_variables_and_scopes_are_shared_with_later_nodes():
    agent = AgentDefinition("bot")
    flow = FlowDefinition().vars(limit=3)
    flow.node("count", DanaNode(program="private:step = limit + 1\npublic:topic = 'dana'\nlocal:tmp = 1\n"))
    flow.node("read", DanaNode(program="f'{private:step}-{public:topic}'"))
    flow.node("py", PythonNode(lambda ctx: (ctx.agent_state.step, ctx.world_state["topic"])))
    agent.flow("main", flow)
    runner = AgentRunner(agent, InMemoryRun())
    result = await runner.run()
    assert result.execution_status is S.completed, result.error
    assert result.get_result("main.read").outcome.value == "4-dana"
    assert result.get_result("main.py").outcome.value == (4, "dana")
    assert isinstance(runner.context.agent_state, AgentState) and runner.context.agent_state.step == 4
    node_ctx = runner.context.get_context_by_path("main.count")
    assert node_ctx.sandbox.local["tmp"] == 1  # local: stays with the node
    assert "tmp" not in runner.context.get_context_by_path("main.read").sandbox.local


async def test_error_carries_the_dana_location_and_node_path():
    flow = FlowDefinition("f").node("prog", DanaNode(program="x = 1\ny = x / 0\n"))
    result = await FlowRunner(flow).run()
    prog = result.get_result("prog")
    assert prog.execution_status is S.failed
    assert prog.error.type == "ZeroDivisionError"
    assert prog.error.path == "f.prog" and prog.error.location.endswith(":2:5")


async def test_program_from_a_file(tmp_path):
    path = tmp_path / "calc.na"
    path.write_text("def double(n: int) -> int:\n    return n * 2\n\ndouble(21)\n")
    result = await FlowRunner(FlowDefinition("f").node("calc", DanaNode(path=path))).run()
    assert result.get_result("calc").outcome.value == 42


async def test_reads_results_of_earlier_nodes_through_variables():
    flow = FlowDefinition("f").vars(items=[3, 4])
    flow.node("sum", DanaNode(program="total = 0\nfor i in items:\n    total += i\ntotal\n"))
    result = await FlowRunner(flow).run()
    assert result.get_result("sum").outcome.value == 7


async def test_dana_reads_earlier_results_with_result() -> None:
    flow = FlowDefinition("f")
    flow.node("a", PythonNode(func=lambda ctx: {"n": 20}))
    flow.node("b", DanaNode(program='x = result("a.outcome.value")\nx["n"] + 1\n'))
    flow.node("c", DanaNode(program='y = 1\nresult("nope")\n'))
    flow.connect("a", "b")
    flow.connect("a", "c")
    res = await FlowRunner(flow).run()
    assert res.get_result("b").outcome.value == 21
    err = res.get_result("c").error
    assert err.type == "LookupError"
    assert "<f.c>:2:1" in err.message and "no component named 'nope'" in err.message
