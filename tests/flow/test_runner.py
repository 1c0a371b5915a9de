"""FlowRunner / AgentRunner: ordering, DAG concurrency, failure routing, loops, branches, hooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading

import pytest

from danaflow.context import ExecutionStatusEnum as S
from danaflow.context import NodeExecutionResult, NodeOutcome
from danaflow.errors import ComponentError, FlowDefinitionError, RunError
from danaflow.flow import AgentDefinition, AgentRunner, FlowDefinition, FlowRunner, InMemoryRun, PythonNode
from danaflow.flow.seam import Checkpointer, RunEnvironment


def recorder(log: list[str], name: str, value=None):
    async def fn(ctx):
        log.append(name)
        return value if value is not None else name

    return PythonNode(fn)


def failing(message: str = "boom"):
    def fn(ctx):
        raise ValueError(message)

    return PythonNode(fn)


async def test_no_connects_runs_in_order_and_flow_vars_are_visible():
    log: list[str] = []
    flow = FlowDefinition("f").vars(base=10)
    flow.node("a", recorder(log, "a"))
    flow.node("b", PythonNode(lambda ctx: ctx.get_context_variable("base") + 1))
    flow.node("c", recorder(log, "c"))
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed
    assert log == ["a", "c"]
    assert result.get_result("b").outcome.value == 11
    assert result.outcome.text == "c"  # a flow's outcome is its last completed component's
    assert [r.path for r in result.results.values()] == ["f.a", "f.b", "f.c"]


async def test_dag_respects_dependencies():
    log: list[str] = []
    flow = FlowDefinition("f")
    for n in "dcba":  # definition order differs from dependency order
        flow.node(n, recorder(log, n))
    flow.connect("a", "b").connect("a", "c").connect("b", "d").connect("c", "d")
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed
    assert log[0] == "a" and log[-1] == "d" and set(log[1:3]) == {"b", "c"}


async def test_independent_async_nodes_overlap():
    events: list[str] = []
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    def waits_for(me: str, other: str):
        async def fn(ctx):
            events.append(f"start {me}")
            started[me].set()
            await asyncio.wait_for(started[other].wait(), 10)  # deadlocks unless both run at once
            events.append(f"end {me}")
            return me

        return PythonNode(fn)

    flow = FlowDefinition("f").node("a", waits_for("a", "b")).node("b", waits_for("b", "a"))
    flow.node("join", PythonNode(lambda ctx: "joined")).connect("a", "join").connect("b", "join")
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed
    assert set(events[:2]) == {"start a", "start b"}  # both started before either ended


async def test_independent_blocking_nodes_run_in_threads_concurrently():
    barrier = threading.Barrier(2, timeout=10)

    def blocking(ctx):
        barrier.wait()  # raises BrokenBarrierError unless both threads arrive
        return threading.get_ident()

    flow = FlowDefinition("f").node("a", PythonNode(blocking)).node("b", PythonNode(blocking))
    flow.node("join", PythonNode(lambda ctx: None)).connect("a", "join").connect("b", "join")
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed
    assert result.get_result("a").outcome.value != result.get_result("b").outcome.value


async def test_unrouted_failure_fails_flow_and_skips_dependents_only():
    log: list[str] = []
    flow = FlowDefinition("f")
    flow.node("bad", failing("kaput")).node("after", recorder(log, "after"))
    flow.node("later", recorder(log, "later")).node("independent", recorder(log, "independent"))
    flow.connect("bad", "after").connect("after", "later")
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.failed
    statuses = {k: v.execution_status for k, v in result.results.items()}
    assert statuses == {"bad": S.failed, "after": S.skipped, "later": S.skipped, "independent": S.completed}
    assert log == ["independent"]
    assert result.error.path == "f.bad" and "kaput" in result.error.message
    assert result.get_result("bad").error.type == "ValueError"


async def test_error_route_handles_the_failure():
    log: list[str] = []
    flow = FlowDefinition("f")
    flow.node("main", failing()).node("success", recorder(log, "success")).node(
        "handler", recorder(log, "handler")
    )
    flow.connect("main", "success", on_success=True).connect("main", "handler", on_error=True)
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed
    assert log == ["handler"]
    assert result.get_result("success").execution_status is S.skipped
    assert result.get_result("main").execution_status is S.failed


async def test_success_skips_the_error_handler():
    log: list[str] = []
    flow = FlowDefinition("f").node("main", recorder(log, "main")).node("handler", recorder(log, "handler"))
    flow.connect("main", "handler", on_error=True)
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed and log == ["main"]
    assert result.get_result("handler").execution_status is S.skipped


async def test_sequential_failure_skips_the_rest():
    log: list[str] = []
    flow = (
        FlowDefinition("f").node("a", recorder(log, "a")).node("b", failing()).node("c", recorder(log, "c"))
    )
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.failed
    assert log == ["a"] and result.get_result("c").execution_status is S.skipped


async def test_failure_inside_subflow_fails_the_parent():
    inner = FlowDefinition().node("x", failing("deep"))
    flow = FlowDefinition("f").subflow("sub", inner).node("after", PythonNode(lambda ctx: 1))
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.failed
    assert result.get_result("sub").execution_status is S.failed
    assert result.get_result("sub.x").error.path == "f.sub.x"
    assert result.get_result("after").execution_status is S.skipped


async def test_subflow_variables_and_hier_across_levels():
    inner = (
        FlowDefinition()
        .vars(mult=2)
        .node(
            "calc", PythonNode(lambda ctx: ctx.get_context_variable("x") * ctx.get_context_variable("mult"))
        )
    )
    flow = FlowDefinition("f").subflow("sub", inner, variables={"x": 21})
    flow.node("read", PythonNode(lambda ctx: ctx.get_result("sub.calc").outcome.value))
    result = await FlowRunner(flow).run()
    assert result.get_result("read").outcome.value == 42


async def test_for_each_sequential_in_order_with_item_and_index():
    flow = FlowDefinition("f").vars(words=["a", "b", "c"])
    flow.for_each(
        "loop",
        "words",
        PythonNode(lambda ctx: f"{ctx.get_context_variable('index')}:{ctx.get_context_variable('item')}"),
    )
    result = await FlowRunner(flow).run()
    loop = result.get_result("loop")
    assert loop.outcome.structured == ["0:a", "1:b", "2:c"]
    assert result.get_result("loop.2.body").path == "f.loop.2.body"


async def test_for_each_parallel_overlaps_and_respects_its_limit():
    running = 0
    peak = 0
    two_in = asyncio.Event()

    async def work(ctx):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 2:
            two_in.set()
        await asyncio.wait_for(two_in.wait(), 10)  # only passes once two iterations overlap
        await asyncio.sleep(0)
        running -= 1
        return ctx.get_context_variable("item") * 10

    flow = FlowDefinition("f").for_each(
        "loop", list(range(6)), PythonNode(work), parallel=True, max_concurrency=2
    )
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed
    assert result.get_result("loop").outcome.structured == [0, 10, 20, 30, 40, 50]
    assert peak == 2


async def test_for_each_failure_fails_the_loop():
    flow = FlowDefinition("f").for_each(
        "loop", [1, 0, 2], PythonNode(lambda ctx: 1 / ctx.get_context_variable("item"))
    )
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.failed
    assert result.get_result("loop").error.path == "f.loop.1.body"


async def test_conditional_with_a_dana_expression():
    flow = FlowDefinition("f").vars(n=5)
    flow.conditional(
        "cond", "n > 3 and n <= 10", PythonNode(lambda ctx: "big"), PythonNode(lambda ctx: "small")
    )
    flow.node("after", PythonNode(lambda ctx: ctx.get_result("cond").outcome.branch))
    result = await FlowRunner(flow).run()
    cond = result.get_result("cond")
    assert cond.outcome.branch == "then" and cond.outcome.text == "big"
    assert result.get_result("cond.then").outcome.value == "big"
    assert not result.get_result("cond").has_result("else")
    assert result.get_result("after").outcome.value == "then"


async def test_agent_runs_flows_in_order_sharing_private_state():
    def first(ctx):
        ctx.agent_state.update(step=1)
        return "one"

    def second(ctx):
        return (ctx.agent_state.step, ctx.get_result("f1.a").outcome.value)

    agent = AgentDefinition("bot").flow("f1", FlowDefinition().node("a", PythonNode(first)))
    agent.flow("f2", FlowDefinition().node("b", PythonNode(second)))
    runner = AgentRunner(agent)
    result = await runner.run()
    assert result.execution_status is S.completed
    assert result.get_result("f2.b").outcome.value == (1, "one")
    assert runner.context.agent_state.step == 1
    assert runner.context.get_context_by_path("bot.f2.b").execution_status is S.completed


async def test_subagent_has_its_own_private_scope():
    seen = {}

    def parent_writes(ctx):
        ctx.agent_state.update(who="parent")

    def child_reads(ctx):
        seen["child"] = "who" in ctx.agent_state
        ctx.world_state.update(shared="from child")

    child = AgentDefinition().flow("cf", FlowDefinition().node("c", PythonNode(child_reads)))
    agent = AgentDefinition("bot").flow("pf", FlowDefinition().node("p", PythonNode(parent_writes)))
    agent.subagent("helper", child)
    run = InMemoryRun()
    result = await AgentRunner(agent, run).run()
    assert result.execution_status is S.completed
    assert seen == {"child": False}
    assert run.public_state["shared"] == "from child"


async def test_definition_errors_raise_before_anything_runs():
    log: list[str] = []
    flow = FlowDefinition("f").node("a", recorder(log, "a")).connect("a", "nope")
    with pytest.raises(FlowDefinitionError):
        await FlowRunner(flow).run()
    assert log == []


async def test_results_serialize_to_json():
    flow = FlowDefinition("f").node("a", PythonNode(lambda ctx: {"k": [1, 2]})).node("b", failing())
    result = await FlowRunner(flow).run()
    for r in [result, *result.results.values()]:
        data = json.loads(json.dumps(r.model_dump(mode="json")))
        again = NodeExecutionResult.model_validate(data)
        assert again.execution_status == r.execution_status
    assert result.get_result("a").model_dump(mode="json")["outcome"]["value"] == {"k": [1, 2]}


class RecordingCheckpointer:
    """A fake Checkpointer: records what the runner reports and reuses stored results, as the
    runs layer's RunCheckpointer does. Written against the protocol alone (flow/seam.py)."""

    def __init__(self, stored: dict[str, NodeExecutionResult] | None = None):
        self.stored = stored or {}
        self.calls: list[tuple[str, str]] = []
        self.paths: list[str] = []

    def run_started(self, root_path, component_paths):
        self.calls.append(("run_started", root_path))
        self.paths = list(component_paths)
        if "f.missing" in self.stored:
            raise RunError("bad resume path")

    def reuse(self, path):
        return self.stored.get(path)

    def component_started(self, path, ctx):
        self.calls.append(("started", path))

    def component_finished(self, path, ctx, result):
        self.calls.append((f"finished:{result.execution_status.value}", path))

    def run_finished(self, result):
        self.calls.append(("run_finished", result.path))

    def run_interrupted(self):
        self.calls.append(("run_interrupted", ""))

    def span(self, kind, path, **attrs):
        return contextlib.nullcontext()

    def artifact_dir(self, path):
        return None


def RecordingRun(stored=None, **kw) -> InMemoryRun:
    """An in-memory environment whose checkpointer records (``run.checkpointer.calls``)."""
    return InMemoryRun(checkpointer=RecordingCheckpointer(stored), **kw)


def test_the_fake_checkpointer_satisfies_the_protocol():
    assert isinstance(RecordingCheckpointer(), Checkpointer)
    assert isinstance(RecordingRun(), RunEnvironment)


def test_a_run_context_missing_members_is_refused_naming_them():
    class Partial:
        run_id = "r"

    with pytest.raises(ComponentError, match=r"a Partial without root_component_id, event_bus"):
        FlowRunner(FlowDefinition().node("a", PythonNode(lambda ctx: 1)), Partial())


async def test_hooks_see_each_component_and_reuse_skips_execution():
    log: list[str] = []
    stored = NodeExecutionResult(
        component_id="a",
        execution_status=S.completed,
        outcome=NodeOutcome(text="old", structured="old", value="old"),
    )
    run = RecordingRun({"f.a": stored}, root_component_id="f")
    flow = (
        FlowDefinition()
        .node("a", recorder(log, "a"))
        .node("b", PythonNode(lambda ctx: ctx.get_result("a").outcome.value))
    )
    result = await FlowRunner(flow, run).run()
    assert log == []  # a was reused, not executed
    assert result.get_result("a").reused and result.get_result("b").outcome.value == "old"
    assert run.checkpointer.paths == ["f", "f.a", "f.b"]
    assert run.checkpointer.calls == [
        ("run_started", "f"),
        ("started", "f"),
        ("started", "f.b"),
        ("finished:completed", "f.b"),
        ("finished:completed", "f"),
        ("run_finished", "f"),
    ]


async def test_run_started_may_refuse_the_run():
    run = RecordingRun({"f.missing": NodeExecutionResult()}, root_component_id="f")
    with pytest.raises(RunError):
        await FlowRunner(FlowDefinition().node("a", PythonNode(lambda ctx: 1)), run).run()


async def test_a_reused_flow_restores_its_children_for_later_references():
    log: list[str] = []
    stored = {
        "bot.f1": NodeExecutionResult(component_id="f1", execution_status=S.completed),
        "bot.f1.a": NodeExecutionResult(
            component_id="a", execution_status=S.completed, outcome=NodeOutcome(text="from the last run")
        ),
    }
    agent = AgentDefinition("bot").flow("f1", FlowDefinition().node("a", recorder(log, "a")))
    agent.flow("f2", FlowDefinition().node("b", PythonNode(lambda ctx: ctx.get_result("f1.a").outcome.text)))
    result = await AgentRunner(agent, RecordingRun(stored)).run()
    assert log == []
    assert result.get_result("f1").reused and result.get_result("f1.a").reused
    assert result.get_result("f2.b").outcome.value == "from the last run"


async def test_a_bad_connection_deep_in_the_tree_fails_before_anything_runs():
    log: list[str] = []
    inner = FlowDefinition().node("x", recorder(log, "x")).connect("x", "nowhere")
    flow = FlowDefinition().node("first", recorder(log, "first")).subflow("sub", inner)
    with pytest.raises(FlowDefinitionError, match=r"no component 'nowhere'"):
        await FlowRunner(flow).run()
    agent = AgentDefinition("bot").flow("f", FlowDefinition().node("first", recorder(log, "first")))
    agent.flow("g", FlowDefinition().for_each("loop", [1, 2], inner))
    with pytest.raises(FlowDefinitionError, match=r"no component 'nowhere'"):
        await AgentRunner(agent).run()
    assert log == []  # nothing executed: the whole tree compiled first
