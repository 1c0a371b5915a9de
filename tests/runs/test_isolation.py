"""Tests for IsolatedExecution and run tracing: two runs in one process stay apart; spans mirror
the component tree."""

from __future__ import annotations

import asyncio
import json
import os

from danaflow.context.status import ExecutionStatusEnum
from danaflow.flow.definition import AgentDefinition, FlowDefinition
from danaflow.flow.nodes.python import PythonNode
from danaflow.flow.runner import AgentRunner, FlowRunner
from danaflow.observability import ObservabilitySettings, log, read_trace
from danaflow.runs import IsolatedExecution, RunContext


class Closable:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def tagging_flow(tag: str, gate: asyncio.Event, other_gate: asyncio.Event) -> FlowDefinition:
    async def write(ctx):
        ctx.world_state[f"seen_{tag}"] = True
        log("info", f"node of {tag}")
        gate.set()
        await other_gate.wait()  # both runs are now mid-flight at the same time
        return {
            "public": sorted(ctx.world_state),
            "env": ctx.run_context.environ["ISOLATION_TAG"],
            "cwd": str(ctx.run_context.working_dir),
            "resource": type(ctx.get_resource("db")).__name__,
        }

    return (
        FlowDefinition()
        .node("write", PythonNode(write))
        .node("read", PythonNode(lambda ctx: tag, in_thread=False))
    )


async def test_two_isolated_runs_in_one_process_do_not_see_each_other(tmp_path):
    gate_a, gate_b = asyncio.Event(), asyncio.Event()
    resources = {"a": Closable(), "b": Closable()}

    async def one(tag: str, mine: asyncio.Event, theirs: asyncio.Event):
        rc = RunContext(root_component_id=f"flow_{tag}", project_root=tmp_path, run_root=tmp_path / "runs")
        async with IsolatedExecution(
            rc, env={"ISOLATION_TAG": tag}, resources={"db": resources[tag]}, run_id_prefix=tag
        ) as execution:
            result = await execution.run(FlowRunner(tagging_flow(tag, mine, theirs), rc))
        rc.close()
        return rc, result

    (rc_a, res_a), (rc_b, res_b) = await asyncio.gather(one("a", gate_a, gate_b), one("b", gate_b, gate_a))
    for tag, rc, res in (("a", rc_a, res_a), ("b", rc_b, res_b)):
        assert res.execution_status is ExecutionStatusEnum.completed
        out = res.get_result("write").outcome.get("value")
        assert out["public"] == [f"seen_{tag}"]
        assert out["env"] == tag
        assert out["cwd"] == str(tmp_path / "runs" / rc.run_id / "workspace")
        assert out["resource"] == "Closable"
        assert dict(rc.public_state) == {f"seen_{tag}": True}
        assert resources[tag].closed and "db" not in rc.resources
        run_dir = tmp_path / "runs" / rc.run_id
        logs = [json.loads(x) for x in (run_dir / "logs.jsonl").read_text().splitlines()]
        assert [(r["run_id"], r["path"], r["message"]) for r in logs] == [
            (rc.run_id, f"flow_{tag}.write", f"node of {tag}")
        ]
        events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
        assert {e["run_id"] for e in events} == {rc.run_id}
        spans = read_trace((run_dir / "trace.jsonl").read_text().splitlines())
        assert spans and {s.attributes["danaflow.run_id"] for s in spans} == {rc.run_id}
    assert "ISOLATION_TAG" not in os.environ
    assert rc_a.run_id != rc_b.run_id


async def test_chdir_mode_switches_cwd_and_env_for_the_block_only(tmp_path):
    before_cwd, work = os.getcwd(), tmp_path / "work"
    rc = RunContext(root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs")
    flow = FlowDefinition().node(
        "where", PythonNode(lambda ctx: (os.getcwd(), os.environ.get("ISO_X")), in_thread=False)
    )
    async with IsolatedExecution(rc, working_dir=work, env={"ISO_X": "1"}, chdir=True) as execution:
        result = await execution.run(FlowRunner(flow, rc))
    rc.close()
    assert result.get_result("where").outcome.get("value") == (str(work.resolve()), "1")
    assert os.getcwd() == before_cwd and "ISO_X" not in os.environ


async def test_a_runner_that_raises_leaves_the_run_failed_and_telemetry_flushed(tmp_path):
    rc = RunContext(root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs")
    flow = FlowDefinition().node("a", PythonNode(lambda ctx: 1)).node("a2", PythonNode(lambda ctx: 2))
    flow.connect("a", "missing")  # invalid: the runner raises before running anything
    try:
        async with IsolatedExecution(rc) as execution:
            await execution.run(FlowRunner(flow, rc))
    except Exception as exc:
        error = exc
    assert error is not None
    assert rc.store.get_run(rc.run_id).status == "failed"
    assert json.loads((tmp_path / "runs" / rc.run_id / "run.json").read_text())["status"] == "failed"
    rc.close()


async def test_span_tree_mirrors_the_component_tree(tmp_path):
    inner = FlowDefinition().node("x", PythonNode(lambda ctx: 1)).node("y", PythonNode(lambda ctx: 2))
    flow = FlowDefinition()
    flow.node("a", PythonNode(lambda ctx: 1)).node("b", PythonNode(lambda ctx: 2)).node(
        "c", PythonNode(lambda ctx: 3)
    )
    flow.subflow("sub", inner)
    flow.connect("a", "b").connect("a", "c").connect("b", "sub").connect(
        "c", "sub"
    )  # b and c run in parallel
    agent = AgentDefinition("agent").flow("main", flow)
    rc = RunContext(
        root_component_id="agent", project_root=tmp_path, run_root=tmp_path / "runs",
        observability_settings=ObservabilitySettings(exporters=("memory", "jsonl")),
    )  # fmt: skip
    rc.setup_run("trace")
    result = await AgentRunner(agent, rc).run()
    spans = rc.telemetry.spans()
    rc.close()
    assert result.execution_status is ExecutionStatusEnum.completed
    by_path = {s.path: s for s in spans}
    run_span = by_path.pop(None)
    assert run_span.kind == "run" and run_span.parent_id is None and run_span.status == "ok"
    with rc.store as store:
        component_paths = {c.path for c in store.list_components(rc.run_id)}
    assert set(by_path) == component_paths  # one span per component, nothing else
    for path, span in by_path.items():
        parent = path.rsplit(".", 1)[0] if "." in path else None
        expected = by_path[parent].span_id if parent else run_span.span_id
        assert span.parent_id == expected, path
        assert span.trace_id == run_span.trace_id and span.status == "ok"
    assert by_path["agent.main.sub.x"].kind == "node" and by_path["agent"].kind == "agent"
    on_disk = (tmp_path / "runs" / rc.run_id / "trace.jsonl").read_text().splitlines()
    assert len(on_disk) == len(spans)


async def test_failed_node_span_has_error_status(tmp_path):
    def boom(ctx):
        raise RuntimeError("kaput")

    flow = FlowDefinition().node("bad", PythonNode(boom, in_thread=False))
    rc = RunContext(root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs",
                    observability_settings=ObservabilitySettings(exporters=("memory",)))  # fmt: skip
    rc.setup_run("t")
    await FlowRunner(flow, rc).run()
    spans = {s.path: s for s in rc.telemetry.spans()}
    rc.close()
    assert spans["f.bad"].status == "error" and "kaput" in spans["f.bad"].error
    assert spans[None].status == "error"  # the run span carries the run's final status


async def test_command_nodes_run_in_the_isolated_dir_and_environment(tmp_path):
    from danaflow.flow.nodes.command import CommandNode, CommandNodeSettings

    rc = RunContext(root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs")
    flow = FlowDefinition().node(
        "where", CommandNode(settings=CommandNodeSettings(commands=['pwd && echo "$ISO_CMD"']))
    )
    async with IsolatedExecution(rc, working_dir=tmp_path / "iso", env={"ISO_CMD": "inside"}) as execution:
        result = await execution.run(FlowRunner(flow, rc))
    rc.close()
    out = result.get_result("where").outcome.results[0].stdout.splitlines()
    assert out == [str((tmp_path / "iso").resolve()), "inside"]
    assert "ISO_CMD" not in os.environ


async def test_a_node_failed_by_its_event_handler_has_an_error_span(tmp_path):
    from danaflow.flow.events import EventType

    flow = FlowDefinition().node("ok", PythonNode(lambda ctx: 1, in_thread=False))
    rc = RunContext(root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs",
                    observability_settings=ObservabilitySettings(exporters=("memory",)))  # fmt: skip

    def handler(event):
        raise ValueError("handler refuses")

    rc.event_bus.on(EventType.node_completed, handler)
    rc.setup_run("t")
    result = await FlowRunner(flow, rc).run()
    spans = {s.path: s for s in rc.telemetry.spans()}
    rc.close()
    assert result.get_result("ok").execution_status is ExecutionStatusEnum.failed
    assert spans["f.ok"].status == "error" and "handler refuses" in spans["f.ok"].error
