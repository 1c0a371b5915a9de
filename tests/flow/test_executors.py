"""Executors: the local default and Dask, on a real LocalCluster of two worker processes.

One cluster serves the module (starting one costs seconds). Its workers were started with
``DANAFLOW_LLM`` naming the fake LLM server, so a DanaNode's ``reason()`` on a worker is answered
by that machine's configuration, as docs/scale.md says. Where work ran is told by process ids
the nodes return, never by timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from danaflow.context import ExecutionStatusEnum as S
from danaflow.errors import ConfigurationError
from danaflow.flow import FlowDefinition, FlowRunner, InMemoryRun, PythonNode
from danaflow.flow.executors import (
    DEFAULT_PLACEMENT,
    DaskExecutor,
    LocalExecutor,
    check_executor_spec,
    executor_from_spec,
    placement_of,
)
from danaflow.flow.nodes.command import CommandNode, CommandNodeSettings
from danaflow.flow.nodes.dana import DanaNode
from danaflow.flow.policies import RetryPolicy
from danaflow.runs.store import open_store
from danaflow.testing.fake_llm import FakeLLMServer

distributed = pytest.importorskip(
    "distributed", reason="Dask is not installed (pip install 'danaflow[dask]')"
)

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def llm_server():
    with FakeLLMServer(default_reply="42") as server:
        yield server


@pytest.fixture(scope="module")
def client(llm_server):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DANAFLOW_LLM", llm_server.spec)  # inherited by the worker processes at spawn
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def dask(client):
    executor = DaskExecutor(client)
    yield executor
    executor.close()


def start(ctx):
    ctx.world_state["base"] = 100
    ctx.agent_state["seen"] = []
    return 1


def part(i: int):
    def fn(ctx):
        base = ctx.get_result("start").outcome.value + ctx.world_state["base"]
        ctx.world_state[f"pid_{i}"] = os.getpid()
        return base + i

    return fn


def fan_out(n: int) -> FlowDefinition:
    flow = FlowDefinition("fan")
    flow.node("start", PythonNode(start))
    for i in range(n):
        flow.node(f"p{i}", PythonNode(part(i)))
        flow.connect("start", f"p{i}")
    flow.node("total", PythonNode(total(n)))
    for i in range(n):
        flow.connect(f"p{i}", "total")
    return flow


def total(n: int):
    def fn(ctx):
        return sum(ctx.get_result(f"p{i}").outcome.value for i in range(n))

    return fn


# ---- the Dask executor ------------------------------------------------------------------------------
def test_a_fan_out_runs_on_the_workers_and_its_writes_are_merged(dask):
    run = InMemoryRun()
    result = FlowRunner(fan_out(8), run, executor=dask).run_sync()
    assert result.execution_status is S.completed, result.error
    assert result.get_result("total").outcome.value == sum(101 + i for i in range(8))
    pids = {run.public_state[f"pid_{i}"] for i in range(8)}
    assert os.getpid() not in pids  # every part ran in a worker process
    assert run.public_state["base"] == 100


def test_the_same_flow_gives_the_same_results_on_both_executors(dask):
    local_run, dask_run = InMemoryRun(), InMemoryRun()
    local = FlowRunner(fan_out(4), local_run).run_sync()
    remote = FlowRunner(fan_out(4), dask_run, executor=dask).run_sync()
    for cid in ("start", "p0", "p3", "total"):
        assert local.get_result(cid).outcome.value == remote.get_result(cid).outcome.value
    assert {k for k in local_run.public_state} == {k for k in dask_run.public_state}


def test_a_dana_node_on_a_worker_reads_a_snapshot_and_returns_value_output_and_delta(dask, llm_server):
    flow = FlowDefinition("d").vars(greeting="hi")
    flow.node("start", PythonNode(start))
    flow.node(
        "prog",
        DanaNode(
            program=(
                "n: int = reason('a number')\n"
                "public:doubled = public:base * 2\n"
                "private:note = greeting + ' ' + str(result('start.outcome.value'))\n"
                "system:mode = 'fast'\n"
                "print('printed on the worker')\n"
                "n + 1\n"
            )
        ),
    )
    run = InMemoryRun(system_state={"__run_id": "real"})
    runner = FlowRunner(flow, run, executor=dask)
    result = runner.run_sync()
    prog = result.get_result("prog")
    assert prog.execution_status is S.completed, prog.error
    assert prog.outcome.value == 43  # the worker machine's LLM answered "42"
    assert prog.outcome.text == "printed on the worker\n"
    assert run.public_state["doubled"] == 200
    assert run.system_state["mode"] == "fast"
    assert run.system_state["__run_id"] == "real"
    assert runner.context.agent_state["note"] == "hi 1"  # the nearest agent's (here the root's)
    assert any("a number" in r.prompt for r in llm_server.requests)


def test_a_dana_error_on_a_worker_keeps_its_line_and_what_was_printed(dask):
    flow = FlowDefinition("d")
    flow.node("bad", DanaNode(program="print('before')\nx = 1\ny = x / 0\n"))
    result = FlowRunner(flow, executor=dask).run_sync()
    bad = result.get_result("bad")
    assert bad.execution_status is S.failed
    assert bad.error.type == "ZeroDivisionError"
    assert bad.error.location.endswith(":3:5") or ":3:" in bad.error.location
    assert bad.outcome.output == "before\n"
    assert result.execution_status is S.failed


@pytest.mark.parametrize("program", ["x = 1\ny = x / 0\n", "x = (1 +\n", "n = 0\nwhile true:\n    n += 1\n"])
def test_a_failing_dana_node_reports_the_same_error_on_both_executors(dask, program):
    def failed(executor):
        flow = FlowDefinition("d")
        flow.node("bad", DanaNode(program=program, max_steps=1000))
        return FlowRunner(flow, executor=executor).run_sync().get_result("bad")

    here, there = failed(LocalExecutor()), failed(dask)
    assert here.execution_status is there.execution_status is S.failed
    for field in ("type", "message", "path", "location"):
        assert getattr(there.error, field) == getattr(here.error, field), field
    assert there.outcome == here.outcome


def test_a_dana_node_fails_naming_the_value_that_is_not_data(dask):
    flow = FlowDefinition("d")
    flow.node("bad", DanaNode(program="public:lock"))
    run = InMemoryRun(public_state={"lock": threading.Lock()})
    result = FlowRunner(flow, run, executor=dask).run_sync()
    error = result.get_result("bad").error
    assert error.type == "TypeError" and "public:lock" in error.message and error.path == "d.bad"


def test_an_error_raised_on_a_worker_fails_the_node_with_its_type_and_message(dask):
    def boom(ctx):
        raise ValueError("no good")

    flow = FlowDefinition("f")
    flow.node("boom", PythonNode(boom))
    result = FlowRunner(flow, executor=dask).run_sync()
    error = result.get_result("boom").error
    assert (error.type, error.message, error.path) == ("ValueError", "no good", "f.boom")
    assert "on the remote worker" in error.traceback


def test_a_result_that_does_not_pickle_fails_naming_the_node(dask):
    flow = FlowDefinition("f")
    flow.node("locky", PythonNode(lambda ctx: threading.Lock()))
    result = FlowRunner(flow, executor=dask).run_sync()
    error = result.get_result("locky").error
    assert error.path == "f.locky"
    assert "cannot be serialised to come back" in error.message and "placement = 'host'" in error.message


def test_a_scope_value_that_does_not_pickle_fails_naming_it(dask):
    flow = FlowDefinition("f")
    flow.node("n", PythonNode(lambda ctx: 1))
    run = InMemoryRun(public_state={"lock": threading.Lock()})
    result = FlowRunner(flow, run, executor=dask).run_sync()
    error = result.get_result("n").error
    assert error.path == "f.n" and "public:lock" in error.message


def test_deltas_merge_in_finishing_order_and_deletions_carry(dask):
    flow = FlowDefinition("f")
    flow.node("a", PythonNode(lambda ctx: ctx.world_state.update(x="a", gone=1)))
    flow.node("b", PythonNode(lambda ctx: ctx.world_state.update(x="b")))
    flow.node("c", PythonNode(lambda ctx: ctx.world_state.pop("gone")))
    run = InMemoryRun()
    result = FlowRunner(flow, run, executor=dask).run_sync()
    assert result.execution_status is S.completed, result.error
    assert run.public_state == {"x": "b"}


def test_host_placement_keeps_a_node_in_this_process(dask):
    here = PythonNode(lambda ctx: os.getpid())
    here.placement = "host"
    away = PythonNode(lambda ctx: os.getpid())
    flow = FlowDefinition("f")
    flow.node("here", here)
    flow.node("away", away)
    flow.node("cmd", CommandNode(settings=CommandNodeSettings(commands=["echo $PPID"])))
    result = FlowRunner(flow, executor=dask).run_sync()
    assert result.get_result("here").outcome.value == os.getpid()
    assert result.get_result("away").outcome.value != os.getpid()
    # CommandNode is pinned to the host by default: its shell is this process's child.
    assert result.get_result("cmd").outcome.results[0].stdout.strip() == str(os.getpid())


def test_placement_defaults_and_a_bad_value():
    assert placement_of(PythonNode(lambda ctx: 1), "f.n") == "any"
    assert placement_of(DanaNode(program="1"), "f.n") == "any"
    assert placement_of(CommandNode(settings=CommandNodeSettings(commands=["true"])), "f.n") == "host"
    assert DEFAULT_PLACEMENT["ai_model"] == "host"
    node = PythonNode(lambda ctx: 1)
    node.placement = "everywhere"
    flow = FlowDefinition("f")
    flow.node("n", node)
    result = FlowRunner(flow, executor=LocalExecutor()).run_sync()
    assert result.execution_status is S.completed  # the local executor never asks
    with pytest.raises(Exception, match=r"f\.n.*got 'everywhere', want 'host' or 'any'"):
        placement_of(node, "f.n")


def test_retries_go_through_the_executor(dask, tmp_path):
    marker = tmp_path / "attempts.txt"

    def flaky(ctx):
        with open(marker, "a") as f:
            f.write(f"{os.getpid()}\n")
        if len(marker.read_text().splitlines()) < 2:
            raise OSError("first attempt fails")
        return "ok"

    flow = FlowDefinition("f")
    flow.node("flaky", PythonNode(flaky), retry=RetryPolicy(max_attempts=3, backoff=0.0, jitter=False))
    result = FlowRunner(flow, executor=dask).run_sync()
    assert result.get_result("flaky").outcome.value == "ok"
    pids = marker.read_text().split()
    assert len(pids) == 2 and str(os.getpid()) not in pids


def test_a_for_each_body_runs_on_the_workers(dask):
    body = FlowDefinition("body")
    body.node("sq", PythonNode(lambda ctx: ctx.get_context_variable("item") ** 2))
    flow = FlowDefinition("f")
    flow.for_each("loop", [1, 2, 3, 4], body, parallel=True)
    result = FlowRunner(flow, executor=dask).run_sync()
    assert result.execution_status is S.completed, result.error
    assert result.get_result("loop").outcome.structured == [1, 4, 9, 16]


# ---- specs and the CLI ------------------------------------------------------------------------------
def test_executor_specs():
    assert isinstance(executor_from_spec(None), LocalExecutor)
    assert isinstance(executor_from_spec("local"), LocalExecutor)
    check_executor_spec("dask://10.0.0.5:8786")
    check_executor_spec("dask-local:3")
    for bad in ("dask", "dask-local:0", "dask-local:x", "spark://x", "dask://"):
        with pytest.raises(ConfigurationError, match="want 'local', 'dask://HOST:PORT' or 'dask-local:N'"):
            check_executor_spec(bad)


FLOW_FILE = """
import os
from danaflow.flow import FlowDefinition, PythonNode

def part(ctx):
    return os.getpid()

here = PythonNode(part)
here.placement = "host"
flow = FlowDefinition("cli")
flow.node("here", here)
for i in range(3):
    flow.node(f"p{i}", PythonNode(part))
"""


def test_the_cli_runs_a_flow_file_on_a_dask_scheduler(client, tmp_path):
    (tmp_path / "flow.py").write_text(FLOW_FILE)
    address = client.scheduler.address.removeprefix("tcp://")
    env = {**os.environ, "PYTHONPATH": str(SRC), "DANAFLOW_RUN_ROOT": str(tmp_path / "runs")}
    proc = subprocess.run(
        [sys.executable, "-m", "danaflow.launcher", "run", "flow.py:flow", "--no-progress",
         "--executor", f"dask://{address}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with open_store(tmp_path / "runs" / "danaflow.db") as store:
        (run,) = store.list_runs()
        assert run.status == "completed"
        pids = {
            c.component_id: json.loads(c.result)["outcome"]["value"]
            for c in store.list_components(run.run_id)
            if c.kind == "node"
        }
    # The flow file was loaded by path: its functions travelled by value to the workers.
    assert all(pids[f"p{i}"] != pids["here"] for i in range(3))


def test_the_cli_refuses_a_bad_executor_before_any_run(tmp_path):
    (tmp_path / "flow.py").write_text(FLOW_FILE)
    env = {**os.environ, "PYTHONPATH": str(SRC), "DANAFLOW_RUN_ROOT": str(tmp_path / "runs")}
    proc = subprocess.run(
        [sys.executable, "-m", "danaflow.launcher", "run", "flow.py:flow", "--executor", "spark://x"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "bad executor 'spark://x'" in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
