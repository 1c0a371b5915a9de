"""Faults on the Dask executor: a worker killed mid-run, and a coordinator killed mid-run.

Every node appends ``start PATH PID`` and ``end PATH PID`` to a side-effect file, which the tests
count: a node whose result reached the coordinator never runs again; a node that was in flight on
a dead worker runs again elsewhere; a run whose coordinator was killed with SIGKILL is finished by
``danaflow resume RUN --store postgresql://...`` from another process, reusing what completed.
The kills wait for a state the side-effect file or the store shows, never for a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import danaflow
from danaflow.context import ExecutionStatusEnum as S
from danaflow.flow import FlowDefinition, FlowRunner, PythonNode
from danaflow.flow.events import EventType
from danaflow.flow.executors import DaskExecutor
from danaflow.runs import RunContext
from danaflow.runs.cli_commands import run_status
from danaflow.runs.store import open_store

distributed = pytest.importorskip(
    "distributed", reason="Dask is not installed (pip install 'danaflow[dask]')"
)

SRC = Path(danaflow.__file__).resolve().parent.parent
N = 6


def lines(side: Path) -> list[tuple[str, str, int]]:
    if not side.exists():
        return []
    return [(w[0], w[1], int(w[2])) for w in (line.split() for line in side.read_text().splitlines()) if w]


def wait_for(condition, what: str, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def part(side: str, seconds: float):
    def fn(ctx):
        with open(side, "a") as f:
            f.write(f"start {ctx.path} {os.getpid()}\n")
        time.sleep(seconds)
        with open(side, "a") as f:
            f.write(f"end {ctx.path} {os.getpid()}\n")
        return os.getpid()

    return fn


def fan_out(side: Path, seconds: float) -> FlowDefinition:
    flow = FlowDefinition("fan")
    start = PythonNode(lambda ctx: "go")
    start.placement = "host"
    flow.node("start", start)
    for i in range(N):
        flow.node(f"p{i}", PythonNode(part(str(side), seconds)))
        flow.connect("start", f"p{i}")
    return flow


def test_a_worker_killed_mid_run_has_its_node_rerun_elsewhere_and_nothing_completed_reruns(tmp_path):
    side = tmp_path / "side.txt"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        victim = sorted(client.run(os.getpid).values())[0]
        run = RunContext("fan", project_root=tmp_path, run_root=tmp_path / "runs")
        run.setup_run("fan")
        killed: list[int] = []

        def in_flight_on_victim():
            seen = lines(side)
            ended = {p for kind, p, pid in seen if kind == "end" and pid == victim}
            return [p for kind, p, pid in seen if kind == "start" and pid == victim and p not in ended]

        async def on_completed(event):
            value = event.result.outcome.value if event.result.outcome else None
            if killed or value != victim:
                return
            # The victim finished a node (its result is here) and has started its next one: kill it
            # now, with that next node in flight.
            await asyncio.to_thread(wait_for, in_flight_on_victim, "the victim's next node")
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

        run.event_bus.on(EventType.node_completed, on_completed)
        executor = DaskExecutor(client)
        result = FlowRunner(fan_out(side, 0.3), run, executor=executor).run_sync()
        run.close()
        executor.close()
    finally:
        client.close()
        cluster.close()

    assert killed == [victim]
    assert result.execution_status is S.completed, result.error
    final = {f"fan.p{i}": result.get_result(f"p{i}").outcome.value for i in range(N)}
    starts = Counter(p for kind, p, _ in lines(side) if kind == "start")
    started_on_victim = {p for kind, p, pid in lines(side) if kind == "start" and pid == victim}
    # Nothing whose result reached the coordinator ran again, wherever it ran.
    for path, pid in final.items():
        if path not in started_on_victim or pid == victim:
            assert starts[path] == 1, (path, lines(side))
    # The node in flight on the dead worker ran again, on a live one.
    rerun = [p for p in started_on_victim if final[p] != victim]
    assert rerun, lines(side)
    for path in rerun:
        assert starts[path] == 2 and final[path] != victim
    with open_store(tmp_path / "runs" / "danaflow.db") as store:
        rows = {c.path: c for c in store.list_components(run.run_id)}
    assert all(rows[p].status == "completed" and rows[p].attempt == 1 for p in final)


FLOW_FILE = """
import os, time
from danaflow.flow import FlowDefinition, PythonNode

SIDE = os.environ["FAULT_SIDE_EFFECTS"]

def part(ctx):
    with open(SIDE, "a") as f:
        f.write(f"start {ctx.path} {os.getpid()}\\n")
    time.sleep(0.3)
    with open(SIDE, "a") as f:
        f.write(f"end {ctx.path} {os.getpid()}\\n")
    return int(ctx.component_id[1:])

def join(ctx):
    return sum(ctx.get_result(f"p{i}").outcome.value for i in range(N))

N = 8
flow = FlowDefinition("fan")
for i in range(N):
    flow.node(f"p{i}", PythonNode(part))
flow.node("join", PythonNode(join))
for i in range(N):
    flow.connect(f"p{i}", "join")
"""


@pytest.fixture(scope="module")
def scheduler():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
    )
    yield cluster.scheduler_address.removeprefix("tcp://")
    cluster.close()


def test_a_killed_coordinator_is_finished_by_resume_from_another_process(tmp_path, pg_url, scheduler):
    side = tmp_path / "side.txt"
    (tmp_path / "flow.py").write_text(FLOW_FILE)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "DANAFLOW_RUN_ROOT": str(tmp_path / "runs"),
        "FAULT_SIDE_EFFECTS": str(side),
    }
    common = ["--no-progress", "--store", pg_url, "--executor", f"dask://{scheduler}"]
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "danaflow.runs", "run", "flow.py:flow", *common],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    store = open_store(pg_url)
    try:

        def some_completed():
            runs = store.list_runs()
            if not runs:
                return None
            done = [c for c in store.list_components(runs[0].run_id) if c.status == "completed"]
            return runs[0] if len(done) >= 3 else None

        crashed = wait_for(some_completed, "three completed components in the store")
    finally:
        coordinator.send_signal(signal.SIGKILL)  # no handler, no flush, no atexit
        coordinator.communicate()
    assert coordinator.returncode == -9
    assert run_status(store.get_run(crashed.run_id)) == "interrupted"
    completed = {c.path for c in store.list_components(crashed.run_id) if c.status == "completed"}
    assert 3 <= len(completed) < 9

    resumed = subprocess.run(
        [sys.executable, "-m", "danaflow.runs", "resume", crashed.run_id, *common],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    new_run = next(r for r in store.list_runs() if r.previous_run_id == crashed.run_id)
    assert new_run.status == "completed"
    rows = {c.path: c for c in store.list_components(new_run.run_id)}
    assert {p for p, c in rows.items() if c.reused} == completed
    assert json.loads(rows["fan.join"].result)["outcome"]["value"] == sum(range(8))
    store.close()

    ends = Counter(p for kind, p, _ in lines(side) if kind == "end")
    starts = Counter(p for kind, p, _ in lines(side) if kind == "start")
    # What completed before the kill ran once; the rest ran (again) under the resume.
    assert all(starts[p] == 1 and ends[p] == 1 for p in completed)
    assert all(ends[f"fan.p{i}"] >= 1 for i in range(8))
