"""Tests for danaflow.flow.policies: RetryPolicy in the runner (attempts recorded in events, spans
and the store; every error listed when they run out; errors that never retry), flow defaults, the
backoff schedule, attempt timeouts, a kill -9 between attempts then resume, and the policies'
own validation. Caching across runs is in tests/runs/test_cache.py.

Waits go through an injected ``sleep`` that records them; nothing here sleeps to wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import danaflow
from danaflow.context.status import ExecutionStatusEnum as S
from danaflow.errors import FlowDefinitionError
from danaflow.flow import (
    CommandNode,
    CommandNodeSettings,
    DanaNode,
    EventType,
    FlowDefinition,
    FlowRunner,
    InMemoryRun,
    PythonNode,
)
from danaflow.flow.policies import CachePolicy, RetriesExhaustedError, RetryPolicy
from danaflow.observability import ObservabilitySettings
from danaflow.runs.context import RunContext
from danaflow.runs.store import SQLiteRunStore

SRC = Path(danaflow.__file__).resolve().parent.parent


class Waits:
    """An injected sleep: records each wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fails_then_succeeds(failures: int, exc: type[Exception] = ValueError):
    calls: list[int] = []

    def work(ctx):
        calls.append(1)
        if len(calls) <= failures:
            raise exc(f"failure {len(calls)}")
        return f"ok after {len(calls)}"

    node = PythonNode(work, in_thread=False)
    node.calls = calls  # type: ignore[attr-defined]
    return node


def recorder(run: InMemoryRun, event_type: EventType) -> list:
    events: list = []
    run.event_bus.on(event_type, events.append)
    return events


# ---- retries in the runner ---------------------------------------------------------------------------
async def test_a_node_that_fails_twice_then_succeeds_is_recorded_three_times(tmp_path):
    waits = Waits()
    node = fails_then_succeeds(2)
    policy = RetryPolicy(max_attempts=3, backoff=0.5, jitter=False, sleep=waits)
    flow = FlowDefinition("f").node("fetch", node, retry=policy)
    rc = RunContext("f", project_root=tmp_path, run_root=tmp_path / "runs",
                    observability_settings=ObservabilitySettings(exporters=("memory",)))  # fmt: skip
    rc.setup_run("f")
    retries: list = []
    rc.event_bus.on(EventType.node_retrying, retries.append)
    result = await FlowRunner(flow, rc).run()
    spans = [s for s in rc.telemetry.spans() if s.kind == "attempt"]
    rc.close()

    assert result.execution_status is S.completed
    assert result.get_result("fetch").outcome.value == "ok after 3" and len(node.calls) == 3
    assert waits.waits == [0.5, 1.0]
    # An event per retry, naming the failed attempt and its error ...
    assert [(e.path, e.payload["attempt"], e.payload["error"]) for e in retries] == [
        ("f.fetch", 1, "ValueError: failure 1"),
        ("f.fetch", 2, "ValueError: failure 2"),
    ]
    assert [e.payload["delay_s"] for e in retries] == [0.5, 1.0]
    # ... a span per attempt under the node's span, failed ones marked as errors ...
    assert [(s.attributes["danaflow.attempt"], s.status) for s in spans] == [
        (1, "error"),
        (2, "error"),
        (3, "ok"),
    ]
    assert all(s.name == f"attempt {s.attributes['danaflow.attempt']} f.fetch" for s in spans)
    node_span = next(s for s in rc.telemetry.spans() if s.kind == "node")
    assert {s.parent_id for s in spans} == {node_span.span_id}
    # ... and the store's attempt count; the event log has the retries too.
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as store:
        row = store.get_component(rc.run_id, "f.fetch")
    assert (row.status, row.attempt) == ("completed", 3)
    lines = [json.loads(line) for line in (tmp_path / "runs" / rc.run_id / "events.jsonl").open()]
    assert [e["payload"]["attempt"] for e in lines if e["type"] == "node_retrying"] == [1, 2]


async def test_a_node_that_runs_out_of_attempts_lists_every_error():
    waits = Waits()
    command = CommandNode(settings=CommandNodeSettings(commands=["echo partial; exit 7"]))
    flow = FlowDefinition("f").node("cmd", command, retry=RetryPolicy(max_attempts=3, sleep=waits))
    result = await FlowRunner(flow).run()
    failed = result.get_result("cmd")
    assert result.execution_status is S.failed and failed.execution_status is S.failed
    assert failed.error.type == "NodeFailedError"
    lines = failed.error.message.splitlines()
    assert lines[0] == "f.cmd: failed after 3 attempts (no attempts left):"
    assert [line.split(": ", 1)[0] for line in lines[1:]] == ["  attempt 1", "  attempt 2", "  attempt 3"]
    assert all("NodeFailedError: command 'echo partial; exit 7' exited with 7" in line for line in lines[1:])
    # The last attempt's output stays readable by an on_error route.
    assert failed.outcome.results[0].stdout == "partial\n"
    assert len(waits.waits) == 2 and all(0 <= w <= 1.0 for w in waits.waits)


def refuse_definition(ctx):
    raise FlowDefinitionError("bad definition", path=ctx.path)


@pytest.mark.parametrize(
    ("node", "error_type"),
    [
        (DanaNode("x = 1 +"), "SyntaxError"),
        (DanaNode("x = (1).__class__"), "SandboxError"),
        (DanaNode("open('secrets.txt')"), "SandboxError"),
        (CommandNode(settings=CommandNodeSettings(commands=["echo $var{nope}"])), "TemplateError"),
        (PythonNode(refuse_definition, in_thread=False), "FlowDefinitionError"),
    ],
    ids=["dana-syntax", "sandbox-attribute", "sandbox-builtin", "template", "definition"],
)  # fmt: skip
async def test_errors_that_never_retry_fail_after_one_attempt(node, error_type):
    waits = Waits()
    run = InMemoryRun()
    retries = recorder(run, EventType.node_retrying)
    flow = FlowDefinition("f").node("n", node, retry=RetryPolicy(max_attempts=5, sleep=waits))
    result = await FlowRunner(flow, run).run()
    error = result.get_result("n").error
    assert error.type == error_type and "attempt" not in error.message
    assert retries == [] and waits.waits == []


async def test_retry_on_picks_the_errors_and_matches_a_dana_programs_by_type():
    waits = Waits()
    key_error = fails_then_succeeds(1, KeyError)
    value_error = fails_then_succeeds(1, ValueError)
    counter = {"n": 0}

    def predicate(exc: BaseException) -> bool:
        counter["n"] += 1
        return "failure 1" in str(exc)

    flow = (
        FlowDefinition("f")
        .node("keys", key_error, retry=RetryPolicy(retry_on=(ValueError,), sleep=waits))
        .node("values", value_error, retry=RetryPolicy(retry_on=ValueError, sleep=waits))
        .node("dana", DanaNode("1 / 0"), retry=RetryPolicy(max_attempts=2, retry_on=(ArithmeticError,),
                                                             sleep=waits))
        .node("pred", fails_then_succeeds(1), retry=RetryPolicy(retry_on=predicate, sleep=waits))
    )  # fmt: skip
    for id_ in ("values", "dana", "pred"):  # run each on its own: a failure would skip the rest
        single = FlowDefinition("g").node(id_, flow.element(id_).node, retry=flow.element(id_).retry)
        result = await FlowRunner(single).run()
        if id_ == "dana":
            assert "failed after 2 attempts" in result.get_result(id_).error.message
            assert result.get_result(id_).error.type == "ZeroDivisionError"
        else:
            assert result.get_result(id_).execution_status is S.completed
    keys = await FlowRunner(
        FlowDefinition("g").node("keys", key_error, retry=flow.element("keys").retry)
    ).run()
    assert keys.get_result("keys").error.type == "KeyError" and len(key_error.calls) == 1
    assert counter["n"] == 1


async def test_the_backoff_schedule_with_and_without_jitter():
    plain = RetryPolicy(max_attempts=6, backoff=1.0, backoff_factor=3.0, max_backoff=20.0, jitter=False)
    assert [plain.delay(n) for n in range(1, 6)] == [1.0, 3.0, 9.0, 20.0, 20.0]
    custom = RetryPolicy(backoff=lambda n: n * 0.25, jitter=False)
    assert [custom.delay(n) for n in (1, 2, 3)] == [0.25, 0.5, 0.75]
    full = RetryPolicy(backoff=2.0, jitter=True, rng=random.Random(7))
    assert all(0.0 <= full.delay(1) <= 2.0 for _ in range(50))
    tenth = RetryPolicy(backoff=2.0, jitter=0.1, rng=random.Random(7))
    assert all(1.8 <= tenth.delay(1) <= 2.0 for _ in range(50))
    assert RetryPolicy(backoff=0).delay(3) == 0.0


async def test_an_attempt_past_its_timeout_is_cancelled_and_retried():
    calls: list[int] = []
    never = asyncio.Event()

    async def slow_first(ctx):
        calls.append(1)
        if len(calls) == 1:
            await never.wait()  # attempt 1 never finishes on its own
        return "second attempt"

    waits = Waits()
    flow = FlowDefinition("f").node("n", PythonNode(slow_first), retry=RetryPolicy(timeout=0.05, sleep=waits))
    run = InMemoryRun()
    retries = recorder(run, EventType.node_retrying)
    result = await FlowRunner(flow, run).run()
    assert result.get_result("n").outcome.value == "second attempt" and len(calls) == 2
    assert retries[0].payload["error_type"] == "TimeoutError"
    assert "attempt 1 took longer than 0.05 s" in retries[0].payload["error"]


async def test_a_flow_default_reaches_nested_nodes_and_the_nearest_policy_wins():
    waits = Waits()
    nodes = {name: fails_then_succeeds(2) for name in ("plain", "deep", "branch", "loop", "own", "sub_own")}
    inner = FlowDefinition().node("deep", nodes["deep"])
    strict = FlowDefinition(retry=RetryPolicy(max_attempts=1)).node("sub_own", nodes["sub_own"])
    flow = (
        FlowDefinition("f", retry=RetryPolicy(max_attempts=3, sleep=waits))
        .node("plain", nodes["plain"])
        .subflow("sub", inner)
        .conditional("cond", "true", nodes["branch"])
        .for_each("loop", [1], nodes["loop"])
        .node("own", nodes["own"], retry=RetryPolicy(max_attempts=2, sleep=waits))
        .connect("plain", "sub")
        .connect("sub", "cond")
        .connect("cond", "loop")
        .connect("loop", "own")
        .subflow("strict", strict)
    )
    result = await FlowRunner(flow).run()
    assert [len(nodes[n].calls) for n in ("plain", "deep", "branch", "loop")] == [3, 3, 3, 3]
    assert len(nodes["own"].calls) == 2  # its own policy: 2 attempts, so it fails
    assert "failed after 2 attempts" in result.get_result("own").error.message
    assert len(nodes["sub_own"].calls) == 1  # the subflow's default (1 attempt) is nearer
    assert result.get_result("strict.sub_own").error.message.endswith("failure 1")


async def test_a_retry_event_handler_that_raises_fails_the_node_visibly():
    run = InMemoryRun()

    def broken(event):
        raise RuntimeError("handler broke")

    run.event_bus.on(EventType.node_retrying, broken)
    node = fails_then_succeeds(1)
    result = await FlowRunner(
        FlowDefinition("f").node("n", node, retry=RetryPolicy(sleep=Waits())), run
    ).run()
    error = result.get_result("n").error
    assert error.type == "EventHandlerError" and "handler broke" in error.message
    assert len(node.calls) == 1


def test_policies_refuse_bad_settings_naming_what_is_wrong():
    for kwargs, message in [
        ({"max_attempts": 0}, "got max_attempts=0, want an int >= 1"),
        ({"max_attempts": 2.5}, "got max_attempts=2.5"),
        ({"backoff": -1}, "backoff: got -1, want a number of seconds >= 0"),
        ({"backoff_factor": 0.5}, "got backoff_factor=0.5, want a number >= 1"),
        ({"jitter": 2}, "got jitter=2, want True, False or 0..1"),
        ({"retry_on": ("ValueError",)}, "retry_on: got 'ValueError', want exception classes"),
        ({"timeout": 0}, "timeout: got 0, want a number of seconds > 0"),
    ]:
        with pytest.raises(FlowDefinitionError, match=message.replace("(", r"\(").replace(".", r"\.")):
            RetryPolicy(**kwargs)
    with pytest.raises(FlowDefinitionError, match="CachePolicy ttl: got -5"):
        CachePolicy(ttl=-5)
    with pytest.raises(FlowDefinitionError, match="CachePolicy key: got int"):
        CachePolicy(key=3)
    with pytest.raises(FlowDefinitionError, match="retry=: got dict, want a RetryPolicy or None") as info:
        FlowDefinition("f").node("n", PythonNode(lambda ctx: 1), retry={"max_attempts": 3})
    assert info.value.path == "f.n"
    with pytest.raises(FlowDefinitionError, match="cache=: got bool, want a CachePolicy"):
        FlowDefinition("f").node("n", PythonNode(lambda ctx: 1), cache=True)
    with pytest.raises(FlowDefinitionError, match="retry=: got int"):
        FlowDefinition("f", retry=3)


def test_retries_exhausted_error_keeps_the_last_errors_type_and_all_errors():
    errors = [ValueError("one"), KeyError("two")]
    exc = RetriesExhaustedError("f.n", list(errors), gave_up="not retryable")
    assert exc.error_type == "KeyError" and exc.errors == errors
    assert str(exc).splitlines() == [
        "f.n: failed after 2 attempts (not retryable):",
        "  attempt 1: ValueError: one",
        "  attempt 2: KeyError: 'two'",
    ]


# ---- kill -9 between attempts, then resume -----------------------------------------------------------
RETRY_FLOW = """
import os, sys
from danaflow import FlowDefinition, PythonNode
from danaflow.flow.policies import RetryPolicy

def fetch(ctx):
    side = os.environ["RETRY_SIDE"]
    done = len(open(side).read().splitlines()) if os.path.exists(side) else 0
    with open(side, "a") as f:
        f.write(f"attempt {done + 1}\\n")
    if done == 0:
        raise ConnectionError("the first attempt always fails")
    if os.environ.get("RETRY_BLOCK"):
        print(f"blocking in attempt {done + 1}", flush=True)
        sys.stdin.readline()
    return f"fetched on call {done + 1}"

flow = (
    FlowDefinition("retrying")
    .node("fetch", PythonNode(fetch, in_thread=False), retry=RetryPolicy(max_attempts=3, backoff=0))
    .node("after", PythonNode(lambda ctx: ctx.get_result("fetch").outcome.value.upper(), in_thread=False))
)
"""


def test_kill_9_between_attempts_then_resume_completes(tmp_path):
    (tmp_path / "retry_flow.py").write_text(RETRY_FLOW)
    env = {**os.environ, "PYTHONPATH": str(SRC), "RETRY_SIDE": str(tmp_path / "side.txt"),
           "DANAFLOW_RUN_ROOT": str(tmp_path / "runs")}  # fmt: skip
    target = f"{tmp_path / 'retry_flow.py'}:flow"
    proc = subprocess.Popen(
        [sys.executable, "-m", "danaflow.runs", "run", target, "--no-progress"],
        env={**env, "RETRY_BLOCK": "1"}, cwd=tmp_path, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    store = SQLiteRunStore(tmp_path / "runs" / "danaflow.db")
    try:
        for line in proc.stdout:
            if line.startswith("blocking in attempt 2"):
                break
        else:
            raise AssertionError(f"the run ended before its second attempt: {proc.stderr.read()}")
        (crashed,) = store.list_runs()
        row = store.get_component(crashed.run_id, "retrying.fetch")
        assert (row.status, row.attempt) == ("running", 2)  # attempt 1 failed, 2 is under way
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
    assert proc.returncode == -9

    resumed = subprocess.run(
        [sys.executable, "-m", "danaflow.runs", "resume", crashed.run_id, "--no-progress"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "output: FETCHED ON CALL 3" in resumed.stdout
    new_run = next(r for r in store.list_runs() if r.previous_run_id == crashed.run_id)
    rows = {c.path: c for c in store.list_components(new_run.run_id)}
    # The resumed run starts the node's attempts afresh; this time the first one succeeds.
    assert (rows["retrying.fetch"].status, rows["retrying.fetch"].attempt) == ("completed", 1)
    assert (tmp_path / "side.txt").read_text().splitlines() == ["attempt 1", "attempt 2", "attempt 3"]
    store.close()
