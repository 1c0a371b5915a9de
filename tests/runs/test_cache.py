"""Tests for the result cache: the store's cache table on every backend, StoreResultCache, and
CachePolicy nodes across real runs (RunContext on SQLite, PostgreSQL and memory stores).

Store cases reuse test_store.py's parametrised ``store`` fixture (memory, SQLite, PostgreSQL).
Each run in the flow tests is its own RunContext over one store, as two ``danaflow run``
invocations would be; the CLI cases are real ``danaflow`` subprocesses. TTLs are tested with an
injected clock, never by sleeping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import test_store

from danaflow.context.status import ExecutionStatusEnum as S
from danaflow.flow import CommandNode, CommandNodeSettings, DanaNode, FlowDefinition, FlowRunner, PythonNode
from danaflow.flow.policies import CachePolicy
from danaflow.runs.cache import StoreResultCache
from danaflow.runs.context import RunContext
from danaflow.runs.store import CacheEntry, MemoryRunStore, RunRecord, open_store

store_url = test_store.store_url
store = test_store.store
"""test_store.py's parametrised fixtures: each case below runs on memory, SQLite and PostgreSQL."""


def entry(key: str, path: str = "f.n", run_id: str = "r1", created: float = 1.0, **kw) -> CacheEntry:
    return CacheEntry(key=key, path=path, run_id=run_id, result=f'{{"k": "{key}"}}', created_at=created, **kw)


# ---- the store's cache table, on every backend ------------------------------------------------------
def test_cache_put_get_and_replace(store):
    assert store.cache_get("k1") is None
    store.cache_put(entry("k1", effects='{"public:x": 1}'))
    assert store.cache_get("k1") == entry("k1", effects='{"public:x": 1}')
    store.cache_put(entry("k1", run_id="r2", created=5.0))
    got = store.cache_get("k1")
    assert (got.run_id, got.created_at, got.effects) == ("r2", 5.0, None)


def test_cache_clear_all_or_under_a_path(store):
    for key, path in [("a", "f.a"), ("b", "f.ab"), ("c", "f.a.0.body"), ("d", "g.x")]:
        store.cache_put(entry(key, path))
    assert store.cache_clear("f.a") == 2  # f.a and f.a.0.body, never f.ab
    assert [k for k in "abcd" if store.cache_get(k) is not None] == ["b", "d"]
    assert store.cache_clear("nothing.here") == 0
    assert store.cache_clear() == 2
    assert store.cache_get("b") is None and store.cache_get("d") is None


def test_cache_entries_outlive_the_run_that_made_them(store):
    store.create_run(RunRecord("r1", "f", "completed", 1.0, 1.0))
    store.cache_put(entry("k", run_id="r1"))
    assert store.delete_run("r1")
    assert store.cache_get("k").run_id == "r1"


def test_cache_is_shared_by_two_connections_to_one_database(store_url):
    if store_url == "memory:":
        pytest.skip("a memory store is one process's dicts: nothing to share")
    with open_store(store_url) as a, open_store(store_url) as b:
        a.cache_put(entry("shared"))
        assert b.cache_get("shared") == entry("shared")
        assert b.cache_clear() == 1
        assert a.cache_get("shared") is None


def test_store_result_cache_adapts_the_store(store):
    from danaflow.flow.policies import CachedResult

    cache = StoreResultCache(store)
    assert cache.lookup("k") is None
    cache.save(CachedResult("k", "f.n", "r9", '{"x": 1}', 3.0, None))
    assert store.cache_get("k") == CacheEntry("k", "f.n", "r9", '{"x": 1}', 3.0, None)
    assert cache.lookup("k") == CachedResult("k", "f.n", "r9", '{"x": 1}', 3.0, None)


# ---- CachePolicy nodes across runs --------------------------------------------------------------------
class Clock:
    def __init__(self, now: float = 1_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


async def run(flow: FlowDefinition, tmp_path: Path, on=None, **kw):
    """One run as its own RunContext over the store ``on`` (default: the run root's SQLite file)."""
    rc = RunContext(flow.id, project_root=tmp_path, run_root=tmp_path / "runs", store=on or "sqlite", **kw)
    rc.setup_run(flow.id)
    try:
        result = await FlowRunner(flow, rc).run()
    finally:
        rc.close()
    assert result.execution_status is S.completed, result.error
    return result, rc.run_id


CALLS: list[str] = []
"""What the counting nodes ran. A module global, not a closure: a function's key covers the
values it closes over, so a closure over a growing list would miss every time (as it should)."""


@pytest.fixture(autouse=True)
def _no_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def counting(name: str, value=None):
    def work(ctx):
        CALLS.append(name)
        return value if value is not None else f"{name} of {ctx.get_context_variable('topic', '-')}"

    return PythonNode(work, in_thread=False)


async def test_a_hit_across_runs_reuses_the_stored_result_and_says_where_from(store, tmp_path):

    def make() -> FlowDefinition:
        return FlowDefinition("f").vars(topic="tides").node("n", counting("n"), cache=CachePolicy())

    first, first_id = await run(make(), tmp_path, store)
    second, second_id = await run(make(), tmp_path, store)
    assert CALLS == ["n"]
    a, b = first.get_result("n"), second.get_result("n")
    assert (a.cached, a.cached_from) == (False, None)
    assert (b.cached, b.cached_from, b.outcome.value) == (True, first_id, "n of tides")
    assert b.execution_status is S.completed and b.path == "f.n" and b.usage is None
    # The run records the hit: its component row's result says cached, from which run.
    row = json.loads(store.get_component(second_id, "f.n").result)
    assert (row["cached"], row["cached_from"]) == (True, first_id)


async def test_a_changed_variable_misses_and_the_old_key_still_hits(tmp_path):
    node = counting("n")

    def make(topic: str) -> FlowDefinition:
        return FlowDefinition("f").vars(topic=topic).node("n", node, cache=CachePolicy())

    await run(make("tides"), tmp_path)
    changed, _ = await run(make("moons"), tmp_path)
    again, _ = await run(make("tides"), tmp_path)
    assert CALLS == ["n", "n"]
    assert not changed.get_result("n").cached and changed.get_result("n").outcome.value == "n of moons"
    assert again.get_result("n").cached and again.get_result("n").outcome.value == "n of tides"


ECHO_UP = "echo got $hier{up.outcome.value}"


async def test_a_changed_upstream_result_misses_for_every_kind_of_reader(tmp_path):
    """The upstream node is not cached; its value changes between runs. A CommandNode reading it
    through $hier{}, a DanaNode through result() and a PythonNode through get_result all miss."""
    box = {"value": "one"}

    def make() -> FlowDefinition:
        def read(ctx):
            CALLS.append("py")
            return ctx.get_result("up").outcome.value.upper()

        return (
            FlowDefinition("f")
            .node("up", PythonNode(lambda ctx: box["value"], in_thread=False))
            .node("cmd", CommandNode(settings=CommandNodeSettings(commands=[ECHO_UP])), cache=CachePolicy())
            .node("dana", DanaNode('v = result("up.outcome.value")\nv + "!"'), cache=CachePolicy())
            .node("py", PythonNode(read, in_thread=False), cache=CachePolicy())
        )  # fmt: skip

    await run(make(), tmp_path)
    same, _ = await run(make(), tmp_path)
    box["value"] = "two"
    changed, _ = await run(make(), tmp_path)
    assert [same.get_result(n).cached for n in ("cmd", "dana", "py")] == [True, True, True]
    assert [changed.get_result(n).cached for n in ("cmd", "dana", "py")] == [False, False, False]
    assert changed.get_result("cmd").outcome.results[0].stdout == "got two\n"
    assert changed.get_result("dana").outcome.value == "two!"
    assert changed.get_result("py").outcome.value == "TWO"
    assert CALLS == ["py", "py"]


async def test_a_changed_program_misses(tmp_path):
    def make(program: str, command: str, factor: int) -> FlowDefinition:
        return (
            FlowDefinition("f")
            .node("dana", DanaNode(program), cache=CachePolicy())
            .node("cmd", CommandNode(settings=CommandNodeSettings(commands=[command])), cache=CachePolicy())
            .node("py", PythonNode(lambda ctx: 21 * factor, in_thread=False), cache=CachePolicy())
        )

    await run(make("1 + 1", "echo a", 2), tmp_path)
    same, _ = await run(make("1 + 1", "echo a", 2), tmp_path)
    changed, _ = await run(make("1 + 2", "echo b", 3), tmp_path)
    assert all(same.get_result(n).cached for n in ("dana", "cmd", "py"))
    assert not any(changed.get_result(n).cached for n in ("dana", "cmd", "py"))
    assert changed.get_result("dana").outcome.value == 3
    assert changed.get_result("cmd").outcome.results[0].stdout == "b\n"
    assert changed.get_result("py").outcome.value == 63

    def other(ctx):  # same result, different code: still a miss
        return 42

    flow = FlowDefinition("f").node("py", PythonNode(other, in_thread=False), cache=CachePolicy())
    assert not (await run(flow, tmp_path))[0].get_result("py").cached


async def test_a_dana_node_keys_on_the_scope_values_it_reads_and_a_hit_replays_its_writes(tmp_path):
    def make() -> FlowDefinition:
        return (
            FlowDefinition("f")
            .node("d", DanaNode("public:total = public:base * 2\nprivate:seen = true\npublic:total"),
                  cache=CachePolicy())
            .node("after", PythonNode(lambda ctx: (ctx.world_state["total"], ctx.agent_state["seen"]),
                                      in_thread=False))
        )  # fmt: skip

    first, first_id = await run(make(), tmp_path, public_state={"base": 5})
    hit, _ = await run(make(), tmp_path, public_state={"base": 5})
    miss, _ = await run(make(), tmp_path, public_state={"base": 6})
    assert first.get_result("d").outcome.value == 10
    assert hit.get_result("d").cached and hit.get_result("d").cached_from == first_id
    # The hit did not run the program, yet the next node sees what it wrote.
    assert hit.get_result("after").outcome.value == (10, True)
    assert not miss.get_result("d").cached and miss.get_result("after").outcome.value == (12, True)


async def test_an_ai_model_node_keys_on_its_rendered_prompt_and_its_model(fake_llm, tmp_path):
    from danaflow import AIModelNode, AIModelNodeSettings, LLMResource, Prompt

    fake_llm.default_reply = "Paris"

    def make(country: str) -> FlowDefinition:
        prompt = Prompt.with_dad_text(text="The capital of $var{country}?")
        node = AIModelNode(settings=AIModelNodeSettings(prompt=prompt))
        return FlowDefinition("f").vars(country=country).node("ask", node, cache=CachePolicy())

    model_a, model_b = fake_llm.spec, fake_llm.spec.replace("#fake-model", "#other-model")
    first, first_id = await run(make("France"), tmp_path, llm=LLMResource(model_a))
    hit, _ = await run(make("France"), tmp_path, llm=LLMResource(model_a))
    other_prompt, _ = await run(make("Spain"), tmp_path, llm=LLMResource(model_a))
    other_model, _ = await run(make("France"), tmp_path, llm=LLMResource(model_b))
    assert first.get_result("ask").usage.total_tokens > 0
    assert hit.get_result("ask").cached_from == first_id and hit.get_result("ask").outcome.text == "Paris"
    assert not other_prompt.get_result("ask").cached and not other_model.get_result("ask").cached
    assert [r.prompt for r in fake_llm.requests] == ["The capital of France?", "The capital of Spain?",
                                                     "The capital of France?"]  # fmt: skip
    assert fake_llm.requests[-1].model == "other-model"


async def test_ttl_expiry_with_an_injected_clock(tmp_path):
    clock = Clock(1_000.0)
    node = counting("n")

    def make(ttl: float) -> FlowDefinition:
        return FlowDefinition("f").node("n", node, cache=CachePolicy(ttl=ttl, clock=clock))

    _, first_id = await run(make(60), tmp_path)
    clock.now = 1_059.0
    fresh, _ = await run(make(60), tmp_path)
    clock.now = 1_060.0
    expired, expired_id = await run(make(60), tmp_path)
    clock.now = 1_061.0
    renewed, _ = await run(make(60), tmp_path)
    assert CALLS == ["n", "n"]
    assert fresh.get_result("n").cached_from == first_id
    assert not expired.get_result("n").cached
    assert renewed.get_result("n").cached_from == expired_id  # the expired entry was replaced
    never, _ = await run(make(0), tmp_path)  # ttl=0: stored results are never fresh
    assert not never.get_result("n").cached and CALLS == ["n", "n", "n"]


async def test_custom_keys_failed_and_unstorable_results(tmp_path):

    def flaky(ctx):
        CALLS.append("flaky")
        if CALLS.count("flaky") == 1:
            raise RuntimeError("first run fails")
        return "fine"

    def make(version: str) -> FlowDefinition:
        return (
            FlowDefinition("f")
            .vars(noise=len(CALLS))  # differs every run, but the custom key ignores it
            .node("keyed", counting("keyed", "k"), cache=CachePolicy(key=lambda ctx: version))
            .node("flaky", PythonNode(flaky, in_thread=False), cache=CachePolicy(key="fixed"))
            .node("odd", PythonNode(lambda ctx: object(), in_thread=False), cache=CachePolicy(key="x"))
        )

    rc = RunContext("f", project_root=tmp_path, run_root=tmp_path / "runs")
    rc.setup_run("f")
    failed = await FlowRunner(make("v1"), rc).run()
    rc.close()
    assert failed.get_result("flaky").execution_status is S.failed
    second, _ = await run(make("v1"), tmp_path)
    third, _ = await run(make("v2"), tmp_path)
    assert second.get_result("keyed").cached and not third.get_result("keyed").cached
    assert not second.get_result("flaky").cached  # a failure is never stored
    assert third.get_result("flaky").cached
    # An object JSON cannot hold is not stored: a hit must give back what the node produced.
    assert not third.get_result("odd").cached
    assert CALLS == ["keyed", "flaky", "flaky", "keyed"]


async def test_use_cache_false_neither_reads_nor_writes(tmp_path):
    node = counting("n")
    flow = FlowDefinition("f").node("n", node, cache=CachePolicy())
    off, _ = await run(flow, tmp_path, use_cache=False)
    on, _ = await run(flow, tmp_path)
    off_again, _ = await run(flow, tmp_path, use_cache=False)
    assert CALLS == ["n", "n", "n"]
    assert not any(r.get_result("n").cached for r in (off, on, off_again))
    with open_store(tmp_path / "runs" / "danaflow.db") as db:
        assert db.cache_clear() == 1  # only the run with the cache on wrote an entry


async def test_in_memory_runs_cache_only_when_given_a_cache(tmp_path):
    from danaflow.flow.seam import InMemoryRun

    flow = FlowDefinition("f").node("n", counting("n"), cache=CachePolicy())
    await FlowRunner(flow).run()
    await FlowRunner(flow).run()
    assert CALLS == ["n", "n"]
    cache = StoreResultCache(MemoryRunStore())
    first = InMemoryRun(result_cache=cache)
    await FlowRunner(flow, first).run()
    hit = await FlowRunner(flow, InMemoryRun(result_cache=cache)).run()
    assert CALLS == ["n", "n", "n"] and hit.get_result("n").cached_from == first.run_id


# ---- the CLI: --no-cache, cache clear, runs show and the event log ------------------------------------
FLOW = """
import os
from danaflow import FlowDefinition, PythonNode
from danaflow.flow.policies import CachePolicy

def work(ctx):
    with open(os.environ["CACHE_SIDE"], "a") as f:
        f.write("ran\\n")
    return "the answer is 42"

flow = FlowDefinition("cached").node("work", PythonNode(work, in_thread=False), cache=CachePolicy())
"""


def danaflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(DANAFLOW_RUN_ROOT=str(cwd / "runs"), CACHE_SIDE=str(cwd / "side.txt"))
    return subprocess.run(
        [sys.executable, "-m", "danaflow.launcher", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_cli_runs_show_events_no_cache_and_cache_clear(tmp_path):
    (tmp_path / "cached_flow.py").write_text(FLOW)
    target = f"{tmp_path / 'cached_flow.py'}:flow"

    def ran() -> int:
        return len((tmp_path / "side.txt").read_text().splitlines())

    first = danaflow("run", target, "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = danaflow("run", target, "--no-progress", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "output: the answer is 42" in second.stdout and ran() == 1
    with open_store(tmp_path / "runs" / "danaflow.db") as db:
        newest, oldest = db.list_runs()
    shown = danaflow("runs", "show", newest.run_id, cwd=tmp_path)
    assert "work  completed" in shown.stdout and f"(cached from {oldest.run_id})" in shown.stdout
    one = danaflow("runs", "show", newest.run_id, "--component", "cached.work", cwd=tmp_path)
    assert f"cached     from run {oldest.run_id}" in one.stdout
    events = [json.loads(line) for line in (tmp_path / "runs" / newest.run_id / "events.jsonl").open()]
    (hit,) = [e for e in events if e["type"] == "node_cached"]
    assert (hit["path"], hit["payload"]["cached_from"], hit["payload"]["cached_path"]) == (
        "cached.work", oldest.run_id, "cached.work",
    )  # fmt: skip

    uncached = danaflow("run", target, "--no-progress", "--no-cache", cwd=tmp_path)
    assert uncached.returncode == 0, uncached.stderr
    assert ran() == 2
    cleared = danaflow("cache", "clear", "--path", "cached", cwd=tmp_path)
    assert cleared.returncode == 0 and cleared.stdout == "removed 1 cache entry under cached\n"
    again = danaflow("run", target, "--no-progress", cwd=tmp_path)
    assert again.returncode == 0 and ran() == 3
    assert danaflow("cache", "clear", cwd=tmp_path).stdout == "removed 1 cache entry\n"
    empty = danaflow("cache", "clear", "--run-root", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert empty.returncode == 0 and empty.stdout == "removed 0 cache entries\n"
