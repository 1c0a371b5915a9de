"""Tests for danaflow.runs.context with the real FlowRunner/AgentRunner: durable runs and resume."""

from __future__ import annotations

import json
import re

import pytest

from danaflow.context.status import ExecutionStatusEnum
from danaflow.errors import RunError
from danaflow.flow.definition import AgentDefinition, FlowDefinition
from danaflow.flow.nodes.python import PythonNode
from danaflow.flow.runner import AgentRunner, FlowRunner
from danaflow.runs import RunContext, SQLiteRunStore


class Calls:
    """Counts how often each node body ran (the side effect resume must not repeat)."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.fail: set[str] = set()

    def node(self, name: str, previous: str | None = None) -> PythonNode:
        def run(ctx):
            self.log.append(ctx.path)
            if ctx.path in self.fail:
                raise ValueError(f"{name} was told to fail")
            base = ctx.parent.get_result(previous).outcome.get("value") if previous else 1
            return base * 3 + len(name)

        return PythonNode(run, in_thread=False)


def agent_for(calls: Calls, n: int = 5) -> AgentDefinition:
    flow = FlowDefinition()
    previous = None
    for i in range(n):
        flow.node(f"n{i}", calls.node(f"n{i}", previous))
        previous = f"n{i}"
    return AgentDefinition("agent").flow("main", flow)


def values(result) -> dict[str, object]:
    main = result.get_result("main")
    return {k: v.outcome.get("value") for k, v in main.results.items()}


async def run_agent(agent, tmp_path, **kw) -> tuple[RunContext, object]:
    rc = RunContext(root_component_id="agent", project_root=tmp_path, run_root=tmp_path / "runs", **kw)
    rc.setup_run(run_id_prefix="test")
    try:
        result = await AgentRunner(agent, rc).run()
    finally:
        rc.close()
    return rc, result


async def test_durable_run_writes_layout_store_and_provenance(tmp_path):
    calls = Calls()
    rc, result = await run_agent(agent_for(calls, 3), tmp_path, static_inputs={"agent.main.n0": {"q": 1}})
    assert result.execution_status is ExecutionStatusEnum.completed
    assert re.fullmatch(r"test_\d{8}_\d{6}_[0-9a-f]{6}", rc.run_id)
    run_dir = tmp_path / "runs" / rc.run_id
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["status"] == "completed" and run_json["root_component_id"] == "agent"
    assert run_json["code_fingerprint"].startswith("sha256:") and run_json["inputs_hash"].startswith(
        "sha256:"
    )
    assert json.loads((run_dir / "static_inputs.json").read_text()) == {"agent.main.n0": {"q": 1}}
    for name in ("trace.jsonl", "events.jsonl", "logs.jsonl", "metrics.jsonl", "custom-artifacts"):
        assert (run_dir / name).exists(), name
    paths = ["agent", "agent.main", "agent.main.n0", "agent.main.n1", "agent.main.n2"]
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        rows = {c.path: c for c in store.list_components(rc.run_id)}
        assert sorted(rows) == sorted(paths)
        for path in paths:
            assert (run_dir / path / "result.json").read_text() == rows[path].result
            assert rows[path].status == "completed" and rows[path].reused is False
        assert rows["agent.main.n0"].kind == "node" and rows["agent"].kind == "agent"
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    assert {e["run_id"] for e in events} == {rc.run_id}
    assert [e["path"] for e in events if e["type"] == "node_completed"] == paths[2:]
    summary = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert summary["by_status"] == {"completed": 5} and summary["by_kind"]["node"] == 3


async def test_same_code_and_inputs_give_the_same_fingerprints(tmp_path):
    rc1, _ = await run_agent(agent_for(Calls(), 2), tmp_path, inputs={"agent.main.n0": 1})
    rc2, _ = await run_agent(agent_for(Calls(), 2), tmp_path, inputs={"agent.main.n0": 1})
    rc3, _ = await run_agent(agent_for(Calls(), 3), tmp_path, inputs={"agent.main.n0": 2})
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        r1, r2, r3 = (store.get_run(rc.run_id) for rc in (rc1, rc2, rc3))
    assert (r1.code_fingerprint, r1.inputs_hash) == (r2.code_fingerprint, r2.inputs_hash)
    assert r3.code_fingerprint != r1.code_fingerprint and r3.inputs_hash != r1.inputs_hash


async def test_resume_from_path_reuses_before_and_reruns_it_and_after(tmp_path):
    calls = Calls()
    agent = agent_for(calls)
    first, first_result = await run_agent(agent, tmp_path)
    calls.log.clear()
    rc, result = await run_agent(
        agent, tmp_path, previous_run_id=first.run_id, start_hierarchy_path="agent.main.n2"
    )
    assert calls.log == ["agent.main.n2", "agent.main.n3", "agent.main.n4"]
    assert result.execution_status is ExecutionStatusEnum.completed
    assert values(result) == values(first_result)
    main = result.get_result("main")
    assert [k for k, v in main.results.items() if v.reused] == ["n0", "n1"]
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        record = store.get_run(rc.run_id)
        assert (record.previous_run_id, record.start_path) == (first.run_id, "agent.main.n2")
        reused = [c.path for c in store.list_components(rc.run_id) if c.reused]
    assert reused == ["agent.main.n0", "agent.main.n1"]
    assert (tmp_path / "runs" / rc.run_id / "agent.main.n0" / "result.json").exists()


async def test_resume_from_a_completed_subflow_reuses_it_whole_with_children(tmp_path):
    calls = Calls()
    sub = FlowDefinition().node("a", calls.node("a")).node("b", calls.node("b", "a"))
    flow = FlowDefinition().subflow("sub", sub).node("after", calls.node("after"))
    first, _ = await run_agent(AgentDefinition("agent").flow("main", flow), tmp_path)
    calls.log.clear()
    _, result = await run_agent(
        AgentDefinition("agent").flow("main", flow), tmp_path,
        previous_run_id=first.run_id, start_hierarchy_path="agent.main.after",
    )  # fmt: skip
    assert calls.log == ["agent.main.after"]
    reused_sub = result.get_result("main").get_result("sub")
    assert reused_sub.reused and reused_sub.get_result("b").outcome.get("value") == (1 * 3 + 1) * 3 + 1


async def test_bad_resume_path_lists_valid_paths_and_runs_nothing(tmp_path):
    calls = Calls()
    agent = agent_for(calls, 3)
    first, _ = await run_agent(agent, tmp_path)
    calls.log.clear()
    for bad in ("n2", "main.n2", "agent.main.n9"):  # suffixes never match
        with pytest.raises(RunError) as info:
            await run_agent(agent, tmp_path, previous_run_id=first.run_id, start_hierarchy_path=bad)
        message = str(info.value)
        assert f"resume path {bad!r} names no component of run {first.run_id!r}" in message
        assert "want one of agent, agent.main, agent.main.n0, agent.main.n1, agent.main.n2" in message
    assert calls.log == []


async def test_resume_without_path_reruns_only_what_failed(tmp_path):
    calls = Calls()
    calls.fail = {"agent.main.n2"}
    agent = agent_for(calls)
    first, result = await run_agent(agent, tmp_path)
    assert result.execution_status is ExecutionStatusEnum.failed
    assert calls.log == ["agent.main.n0", "agent.main.n1", "agent.main.n2"]
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        assert store.get_run(first.run_id).status == "failed"
        row = store.get_component(first.run_id, "agent.main.n2")
        assert row.status == "failed" and "was told to fail" in row.error
    calls.log.clear()
    calls.fail = set()
    _, result = await run_agent(agent, tmp_path, previous_run_id=first.run_id)
    assert result.execution_status is ExecutionStatusEnum.completed
    assert calls.log == ["agent.main.n2", "agent.main.n3", "agent.main.n4"]


async def test_waiting_input_pauses_and_resumes_with_the_input(tmp_path):
    seen: list[object] = []

    def ask(ctx):
        seen.append(ctx.node_input)
        return ctx.node_input["answer"]

    flow = FlowDefinition().node("before", PythonNode(lambda ctx: "b", in_thread=False))
    flow.node("ask", PythonNode(ask, in_thread=False, input_required=True))
    flow.node(
        "after",
        PythonNode(lambda ctx: ctx.parent.get_result("ask").outcome.get("value") * 2, in_thread=False),
    )
    first, result = await run_agent(AgentDefinition("agent").flow("main", flow), tmp_path)
    assert result.execution_status is ExecutionStatusEnum.waiting_input
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        assert store.get_run(first.run_id).status == "waiting_input"
        assert store.get_component(first.run_id, "agent.main.ask").status == "waiting_input"
    with pytest.raises(RunError, match=r"input path 'agent\.main\.asc'"):
        await run_agent(AgentDefinition("agent").flow("main", flow), tmp_path,
                        previous_run_id=first.run_id, inputs={"agent.main.asc": {}})  # fmt: skip
    _, result = await run_agent(
        AgentDefinition("agent").flow("main", flow), tmp_path,
        previous_run_id=first.run_id, inputs={"agent.main.ask": {"answer": 21}},
    )  # fmt: skip
    assert result.execution_status is ExecutionStatusEnum.completed
    assert seen == [{"answer": 21}]
    main = result.get_result("main")
    assert main.get_result("before").reused and main.get_result("after").outcome.get("value") == 42


async def test_node_input_handler_registered_on_the_run_context(tmp_path):
    flow = FlowDefinition().node(
        "ask", PythonNode(lambda ctx: ctx.node_input, in_thread=False, input_required=True)
    )

    async def answer(event):
        if event.node_id == "ask":
            event.input = "from handler"
            event.handled = True

    rc = RunContext(root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs")
    rc.setup_run(run_id_prefix="t")
    rc.register_node_input_handler(answer)
    result = await FlowRunner(flow, rc).run()
    rc.close()
    assert result.get_result("ask").outcome.get("value") == "from handler"


async def test_unknown_previous_run_fails_before_writing_anything(tmp_path):
    rc = RunContext(root_component_id="agent", project_root=tmp_path, run_root=tmp_path / "runs",
                    previous_run_id="nope_20260101_000000_abcdef")  # fmt: skip
    with pytest.raises(RunError, match="cannot resume unknown run"):
        rc.setup_run("x")
    assert [p for p in (tmp_path / "runs").iterdir() if p.is_dir()] == []
    assert rc.store.list_runs() == []
    rc.close()


def test_dana_reads_the_run_id_but_cannot_write_it(tmp_path) -> None:
    import asyncio

    from danaflow.flow import DanaNode, FlowDefinition, FlowRunner
    from danaflow.runs import RunContext

    flow = FlowDefinition("f")
    flow.node("read", DanaNode(program="system:__run_id\n"))
    flow.node("write", DanaNode(program='system:__run_id = "mine"\n'))
    rc = RunContext("f", project_root=tmp_path, run_root=tmp_path / "runs")
    rc.setup_run("t")
    try:
        result = asyncio.run(FlowRunner(flow, rc).run())
    finally:
        rc.close()
    assert result.get_result("read").outcome.value == rc.run_id
    assert "reserved" in result.get_result("write").error.message


async def test_a_reused_subtree_is_copied_into_the_resumed_run_once(tmp_path):
    inner = FlowDefinition().node("x", PythonNode(lambda ctx: 1, in_thread=False))
    inner.node("y", PythonNode(lambda ctx: 2, in_thread=False))
    flow = FlowDefinition().subflow("sub", inner).node("last", PythonNode(lambda ctx: 3, in_thread=False))
    agent = AgentDefinition("agent").flow("main", flow)
    first, _ = await run_agent(agent, tmp_path)
    second, result = await run_agent(agent, tmp_path, previous_run_id=first.run_id)
    assert result.execution_status is ExecutionStatusEnum.completed
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        rows = store.list_components(second.run_id)
    # Restoring the reused agent asks again for each descendant; each is copied (and numbered) once.
    assert all(r.reused for r in rows)
    assert sorted(r.seq for r in rows) == list(range(len(rows)))
