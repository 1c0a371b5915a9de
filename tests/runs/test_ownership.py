"""Run ownership: one live process owns a run, resumes follow the resume chain, and two processes
resuming the same crashed run never run one component twice (runs/ownership.py).

The cross-process test kills a coordinator with SIGKILL, starts two ``danaflow resume`` processes
at once on one PostgreSQL store, and counts each component's ``end`` lines in a side-effect file:
every component ends exactly once, whichever resumer ran it.
"""

from __future__ import annotations

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
from danaflow.errors import RunError
from danaflow.flow import FlowDefinition, FlowRunner, PythonNode
from danaflow.runs import RunContext
from danaflow.runs.ownership import OWNER_PATH
from danaflow.runs.store import open_store

SRC = Path(danaflow.__file__).resolve().parent.parent


def _flow(log: list[str], fail: set[str]) -> FlowDefinition:
    def step(ctx):
        log.append(ctx.component_id)
        if ctx.component_id in fail:
            raise ValueError(f"{ctx.component_id} fails this time")
        return ctx.component_id

    flow = FlowDefinition("chain")
    for name in ("a", "b", "c"):
        flow.node(name, PythonNode(step, in_thread=False))
    return flow


def _run(flow, tmp_path, **kw):
    run = RunContext("chain", project_root=tmp_path, **kw)
    run.setup_run()
    try:
        return run, FlowRunner(flow, run).run_sync()
    finally:
        run.close()


def test_a_run_owned_by_a_live_process_is_not_resumed(tmp_path):
    owner = RunContext("chain", project_root=tmp_path)
    run_id = owner.setup_run()
    try:
        lease = owner.store.get_lease(run_id, OWNER_PATH)
        assert lease is not None and lease.owner == owner.ownership.owner
        resumer = RunContext("chain", project_root=tmp_path, previous_run_id=run_id)
        with pytest.raises(
            RunError,
            match=rf"run '{run_id}' is owned by a live process \(.*:{os.getpid()}:.*want its close\(\)",
        ):
            resumer.setup_run()
        resumer.close()
    finally:
        owner.close()
    with open_store(tmp_path / "runs" / "danaflow.db") as store:
        assert store.get_lease(run_id, OWNER_PATH) is None  # released when the run closed


def test_a_plain_resume_follows_the_run_that_already_resumed_it(tmp_path):
    log: list[str] = []
    first, result = _run(_flow(log, {"b"}), tmp_path)
    assert result.execution_status is S.failed and log == ["a", "b"]
    log.clear()
    second, result = _run(_flow(log, set()), tmp_path, previous_run_id=first.run_id)
    assert result.execution_status is S.completed and log == ["b", "c"]
    log.clear()
    # Resuming the first run again must not run b and c again: it resumes the second run.
    third, result = _run(_flow(log, set()), tmp_path, previous_run_id=first.run_id)
    assert log == [] and result.execution_status is S.completed
    assert third.previous_run_id == second.run_id
    assert all(result.get_result(n).reused for n in ("a", "b", "c"))


def test_a_resume_that_died_part_way_keeps_the_earlier_runs_results(tmp_path):
    log: list[str] = []
    first, _ = _run(_flow(log, {"c"}), tmp_path)  # a, b completed; c failed
    # A resume that got no further than its start (it failed before reaching any component).
    with pytest.raises(RunError, match="input path"):
        _run(_flow(log, set()), tmp_path, previous_run_id=first.run_id, inputs={"chain.nope": 1})
    log.clear()
    _, result = _run(_flow(log, set()), tmp_path, previous_run_id=first.run_id)
    assert log == ["c"] and result.execution_status is S.completed


def test_resume_from_a_path_does_not_follow(tmp_path):
    log: list[str] = []
    first, _ = _run(_flow(log, set()), tmp_path)
    _run(_flow(log, set()), tmp_path, previous_run_id=first.run_id)
    log.clear()
    again, _ = _run(_flow(log, set()), tmp_path, previous_run_id=first.run_id, start_hierarchy_path="chain.b")
    assert again.previous_run_id == first.run_id and log == ["b", "c"]


FLOW_FILE = """
import os, time
from danaflow.flow import FlowDefinition, PythonNode

SIDE = os.environ["SIDE_EFFECTS"]

def part(ctx):
    with open(SIDE, "a") as f:
        f.write(f"start {ctx.path} {os.getpid()}\\n")
    time.sleep(0.25)
    with open(SIDE, "a") as f:
        f.write(f"end {ctx.path} {os.getpid()}\\n")
    return ctx.component_id

flow = FlowDefinition("chain")
for i in range(8):
    flow.node(f"n{i}", PythonNode(part))
"""


def _ends(side: Path) -> Counter[str]:
    words = (line.split() for line in side.read_text().splitlines())
    return Counter(w[1] for w in words if w and w[0] == "end")


def test_two_resumers_of_a_killed_run_never_run_one_component_twice(tmp_path, pg_url):
    side = tmp_path / "side.txt"
    (tmp_path / "flow.py").write_text(FLOW_FILE)
    env = {**os.environ, "PYTHONPATH": str(SRC), "DANAFLOW_RUN_ROOT": str(tmp_path / "runs"),
           "SIDE_EFFECTS": str(side)}  # fmt: skip
    cli = [sys.executable, "-m", "danaflow.runs"]
    common = ["--no-progress", "--store", pg_url]
    coordinator = subprocess.Popen(
        [*cli, "run", "flow.py:flow", *common], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    store = open_store(pg_url)
    try:
        deadline = time.monotonic() + 60
        crashed = None
        while time.monotonic() < deadline:
            runs = store.list_runs()
            rows = store.list_components(runs[0].run_id) if runs else []
            done = [c for c in rows if c.status == "completed"]
            if len(done) >= 3:
                crashed = runs[0]
                break
            time.sleep(0.02)
        assert crashed is not None, "the coordinator never completed three components"
    finally:
        coordinator.send_signal(signal.SIGKILL)
        coordinator.communicate()
    before = _ends(side)

    argv = [*cli, "resume", crashed.run_id, *common]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    resumers = [subprocess.Popen(argv, cwd=tmp_path, env=env, **pipes) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in resumers]
    codes = [p.returncode for p in resumers]
    assert 0 in codes, outputs
    for code, (out, err) in zip(codes, outputs, strict=True):
        if code != 0:  # the loser was refused while the winner owned the run, and said so
            assert "is owned by a live process" in out + err, (out, err)
    ends = _ends(side)
    assert set(ends) == {f"chain.n{i}" for i in range(8)}
    assert all(count == 1 for count in ends.values()), (before, ends)

    # A third resume, after both: it follows to the finished resume and runs nothing.
    third = subprocess.run([*cli, "resume", crashed.run_id, *common], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert third.returncode == 0, third.stderr + third.stdout
    assert _ends(side) == ends
    store.close()
