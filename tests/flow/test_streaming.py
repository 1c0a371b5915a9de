"""FlowRunner.stream(mode=...): component events, node results and model token deltas as a run
happens, over real HTTP from the fake LLM server; the same result as run(); cancellation that
leaves a durable run resumable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from danaflow.errors import ComponentError, FlowDefinitionError
from danaflow.flow import (
    AIModelNode,
    AIModelNodeSettings,
    DanaNode,
    FlowDefinition,
    FlowRunner,
    PythonNode,
)
from danaflow.flow.events import ALL_EVENTS, EventType
from danaflow.flow.policies import CachePolicy
from danaflow.flow.seam import InMemoryRun
from danaflow.flow.streaming import ComponentEvent, NodeResult, TokenDelta
from danaflow.runs import RunContext
from danaflow.testing.fake_llm import Reply

ANSWER = "Paris is the capital of France and its largest city by far."
SECOND = "Lyon comes second, some would say."


def ask(prompt: str = "capital?") -> AIModelNode:
    return AIModelNode(settings=AIModelNodeSettings(prompt=prompt))


def text_of(result: Any, node: str) -> str:
    return result.get_result(node).outcome.text


async def collect(runner: FlowRunner, mode: Any) -> list[Any]:
    return [item async for item in runner.stream(mode=mode)]


async def test_token_deltas_arrive_in_order_and_join_to_the_outcome(fake_llm) -> None:
    fake_llm.reply(ANSWER, SECOND)
    flow = FlowDefinition("f").node("first", ask()).node("second", ask("and second?"))
    runner = FlowRunner(flow, InMemoryRun(llm=fake_llm.resource()))
    items = await collect(runner, "tokens")
    assert all(isinstance(i, TokenDelta) for i in items)
    first = [i.text for i in items if i.path == "f.first"]
    assert first == [w for w in ANSWER.replace(" ", "\0 ").split("\0")]  # word by word, in order
    assert [i.path for i in items] == ["f.first"] * len(first) + ["f.second"] * (len(items) - len(first))
    result = runner.result
    assert result is not None and result.execution_status.value == "completed"
    assert "".join(first) == text_of(result, "first") == ANSWER
    assert "".join(i.text for i in items if i.path == "f.second") == text_of(result, "second") == SECOND
    assert {i.call for i in items} == {0}


async def test_a_nodes_tokens_come_before_its_result(fake_llm) -> None:
    fake_llm.reply(ANSWER, SECOND)
    flow = FlowDefinition("f").node("first", ask()).node("second", ask("and second?"))
    items = await collect(FlowRunner(flow, InMemoryRun(llm=fake_llm.resource())), ("tokens", "results"))
    kinds = [(type(i).__name__, i.path) for i in items]
    first_result = kinds.index(("NodeResult", "f.first"))
    assert {p for _, p in kinds[:first_result]} == {"f.first"}
    assert kinds[-1] == ("NodeResult", "f.second")
    assert "".join(i.text for i in items[first_result + 1 : -1]) == SECOND


async def test_an_agent_streams_too() -> None:
    from danaflow.flow import AgentDefinition, AgentRunner

    flow = FlowDefinition().node("n", PythonNode(lambda ctx: 7))
    runner = AgentRunner(AgentDefinition("agent").flow("main", flow))
    (item,) = await collect(runner, "results")
    assert (item.path, item.result.outcome.value) == ("agent.main.n", 7)
    assert runner.result.execution_status.value == "completed"


async def test_the_result_is_the_one_run_gives(fake_llm) -> None:
    fake_llm.reply(ANSWER, ANSWER)
    flow = FlowDefinition("f").node("ask", ask())
    llm = fake_llm.resource()
    plain = await FlowRunner(flow, InMemoryRun(llm=llm)).run()
    runner = FlowRunner(flow, InMemoryRun(llm=llm))
    await collect(runner, ("tokens", "results", "events"))
    streamed = runner.result
    assert fake_llm.requests[-1].stream and not fake_llm.requests[0].stream
    for field in ("execution_status", "outcome", "output", "usage", "input", "error"):
        assert getattr(streamed.get_result("ask"), field) == getattr(plain.get_result("ask"), field), field
    assert streamed.usage == plain.usage and streamed.usage.completion_tokens == len(ANSWER.split())


async def test_events_and_results_follow_the_bus(fake_llm) -> None:
    def boom(ctx: Any) -> None:
        raise ValueError("no luck")

    flow = (
        FlowDefinition("f")
        .node("a", PythonNode(lambda ctx: 1))
        .node("bad", PythonNode(boom))
        .node("b", PythonNode(lambda ctx: 2))
        .connect("a", "bad")
        .connect("a", "b")
    )
    heard: list[tuple[str, str]] = []
    run = InMemoryRun()
    run.event_bus.on(ALL_EVENTS, lambda e: heard.append((e.type.value, e.path)))
    runner = FlowRunner(flow, run)
    items = await collect(runner, ("events", "results"))
    events = [i for i in items if isinstance(i, ComponentEvent)]
    assert [(e.type.value, e.path) for e in events] == heard  # every event, in the bus's order
    results = [i for i in items if isinstance(i, NodeResult)]
    assert sorted((r.path, r.status) for r in results) == [
        ("f.a", "completed"),
        ("f.b", "completed"),
        ("f.bad", "failed"),
    ]
    failed = next(r for r in results if r.status == "failed")
    assert "no luck" in failed.result.error.message
    # each result comes right after its node's completion event
    for r in results:
        at = items.index(r)
        assert isinstance(items[at - 1], ComponentEvent) and items[at - 1].path == r.path
    assert events[-1].type is EventType.run_completed and events[-1].status == "failed"
    assert runner.result.execution_status.value == "failed"
    assert not run.event_bus._handlers.get(ALL_EVENTS)[1:]  # the stream unsubscribed


async def test_a_cache_hit_is_a_result_too(tmp_path: Path) -> None:
    from danaflow.runs.cache import StoreResultCache
    from danaflow.runs.store import MemoryRunStore

    cache = StoreResultCache(MemoryRunStore())
    flow = FlowDefinition("f").node("n", PythonNode(lambda ctx: 41 + 1), cache=CachePolicy())
    await FlowRunner(flow, InMemoryRun(result_cache=cache)).run()
    (item,) = await collect(FlowRunner(flow, InMemoryRun(result_cache=cache)), "results")
    assert item.result.cached and item.result.outcome.value == 42


async def test_a_node_waiting_for_input_is_a_result() -> None:
    flow = FlowDefinition("f").node("ask", PythonNode(lambda ctx: ctx.node_input, input_required=True))
    runner = FlowRunner(flow)
    (item,) = await collect(runner, "results")
    assert (item.path, item.status) == ("f.ask", "waiting_input")
    assert runner.result.execution_status.value == "waiting_input"


async def test_concurrent_nodes_keep_their_tokens_apart(fake_llm) -> None:
    fake_llm.add_rule("north", Reply("cold and windy up north", chunk_delay=0.01))
    fake_llm.add_rule("south", Reply("warm and sunny down south", chunk_delay=0.01))
    flow = (
        FlowDefinition("f")
        .node("start", PythonNode(lambda ctx: None))
        .node("north", ask("north?"))
        .node("south", ask("south?"))
        .connect("start", "north")
        .connect("start", "south")
    )
    runner = FlowRunner(flow, InMemoryRun(llm=fake_llm.resource()))
    items = await collect(runner, "tokens")
    for node, said in (("north", "cold and windy up north"), ("south", "warm and sunny down south")):
        mine = [i.text for i in items if i.path == f"f.{node}"]
        assert mine == [w for w in said.replace(" ", "\0 ").split("\0")]
        assert "".join(mine) == text_of(runner.result, node) == said


async def test_reask_calls_are_numbered(fake_llm) -> None:
    from danaflow.flow import AIModelCallConfig

    fake_llm.reply_json({"value": "many"})
    fake_llm.reply_json({"value": 7})
    settings = AIModelNodeSettings(
        prompt="how many?", model_call_config=AIModelCallConfig(structured_output=int)
    )
    runner = FlowRunner(
        FlowDefinition("f").node("n", AIModelNode(settings=settings)), InMemoryRun(llm=fake_llm.resource())
    )
    items = await collect(runner, "tokens")
    by_call: dict[int, str] = {}
    for i in items:
        by_call[i.call] = by_call.get(i.call, "") + i.text
    assert by_call == {0: '{"value": "many"}', 1: '{"value": 7}'}
    assert runner.result.get_result("n").outcome.structured == 7


async def test_reason_in_a_sandboxed_dana_node_streams_from_the_host(fake_llm) -> None:
    fake_llm.reply(ANSWER)
    flow = FlowDefinition("f").node("dana", DanaNode('answer = reason("capital?")\nanswer'))
    runner = FlowRunner(flow, InMemoryRun(llm=fake_llm.resource()))
    items = await collect(runner, "tokens")
    assert runner.result.execution_status.value == "completed", runner.result.error
    assert len(items) == len(ANSWER.split()) and {i.path for i in items} == {"f.dana"}
    assert "".join(i.text for i in items) == runner.result.get_result("dana").outcome.value == ANSWER


async def test_a_python_node_calling_the_model_in_a_thread_streams(fake_llm) -> None:
    fake_llm.reply(ANSWER)
    llm = fake_llm.resource()
    flow = FlowDefinition("f").node("py", PythonNode(lambda ctx: llm.complete("capital?").text))
    runner = FlowRunner(flow, InMemoryRun())
    items = await collect(runner, "tokens")
    assert "".join(i.text for i in items) == runner.result.get_result("py").outcome.value == ANSWER


async def test_bad_modes_are_refused_before_anything_runs() -> None:
    flow = FlowDefinition("f").node("n", PythonNode(lambda ctx: 1))
    with pytest.raises(
        ComponentError, match="unknown stream mode 'token': want one of events, results, tokens"
    ):
        FlowRunner(flow).stream(mode="token")
    with pytest.raises(ComponentError, match="streams nothing"):
        FlowRunner(flow).stream(mode=())


async def test_a_definition_error_comes_out_of_the_loop() -> None:
    flow = FlowDefinition("f").node("a", PythonNode(lambda ctx: 1)).connect("a", "missing")
    with pytest.raises(FlowDefinitionError, match="missing"):
        await collect(FlowRunner(flow), "results")


# ---- cancellation ---------------------------------------------------------------------------------
def slow_flow(side: list[str]) -> FlowDefinition:
    def first(ctx: Any) -> str:
        side.append("first")
        return "done"

    return (
        FlowDefinition("f")
        .node("first", PythonNode(first))
        .node("ask", ask())
        .node("after", PythonNode(lambda ctx: side.append("after") or "after"))
    )


async def test_leaving_the_loop_cancels_the_run(fake_llm) -> None:
    fake_llm.reply(Reply(ANSWER, chunk_delay=0.3))
    side: list[str] = []
    runner = FlowRunner(slow_flow(side), InMemoryRun(llm=fake_llm.resource()))
    async with runner.stream(mode="tokens") as items:
        async for item in items:
            assert item.text == "Paris"
            break
    assert runner.result is None and side == ["first"]
    assert items.result is None
    assert runner.context.get_result("after") is None


async def test_dropping_the_stream_cancels_the_run_too(fake_llm) -> None:
    fake_llm.reply(Reply(ANSWER, chunk_delay=0.3))
    side: list[str] = []
    runner = FlowRunner(slow_flow(side), InMemoryRun(llm=fake_llm.resource()))
    stream = runner.stream(mode="tokens")
    await stream.__anext__()
    task = stream._task
    del stream  # a bare `async for ... break` drops it like this
    with pytest.raises(asyncio.CancelledError):
        await task
    assert side == ["first"]


async def test_a_cancelled_durable_run_is_interrupted_and_resumes(fake_llm, tmp_path: Path) -> None:
    fake_llm.reply(Reply(ANSWER, chunk_delay=0.3))
    side: list[str] = []

    def context(**kw: Any) -> RunContext:
        rc = RunContext("f", project_root=tmp_path, run_root=tmp_path / "runs", llm=fake_llm.resource(), **kw)
        rc.setup_run("t")
        return rc

    rc = context()
    try:
        runner = FlowRunner(slow_flow(side), rc)
        async with runner.stream(mode=("tokens", "results")) as items:
            async for item in items:
                if isinstance(item, TokenDelta):
                    break
        rows = {c.path: c for c in rc.store.list_components(rc.run_id)}
        run = rc.store.get_run(rc.run_id)
    finally:
        rc.close()
    assert run.status == "interrupted"
    assert {p: c.status for p, c in rows.items()} == {
        "f": "interrupted",
        "f.first": "completed",
        "f.ask": "interrupted",
    }
    assert rows["f.ask"].finished_at is not None and "cancelled" in rows["f.ask"].error
    assert (tmp_path / "runs" / run.run_id / "f.first" / "result.json").is_file()
    assert not (tmp_path / "runs" / run.run_id / "f.ask" / "result.json").exists()

    fake_llm.reply(ANSWER)
    again = context(previous_run_id=run.run_id)
    try:
        result = await FlowRunner(slow_flow(side), again).run()
        statuses = {c.path: (c.status, c.reused) for c in again.store.list_components(again.run_id)}
    finally:
        again.close()
    assert result.execution_status.value == "completed"
    assert text_of(result, "ask") == ANSWER
    assert side == ["first", "after"]  # first ran once: reused by the resume
    assert statuses["f.first"] == ("completed", True) and statuses["f.ask"] == ("completed", False)


async def test_cancelling_the_reader_cancels_a_concurrent_run_and_waits_for_it(
    fake_llm, tmp_path: Path
) -> None:
    fake_llm.add_rule("north", Reply(ANSWER, chunk_delay=0.3))
    fake_llm.add_rule("south", Reply(SECOND, chunk_delay=0.3))
    flow = (
        FlowDefinition("f")
        .node("start", PythonNode(lambda ctx: None))
        .node("north", ask("north?"))
        .node("south", ask("south?"))
        .connect("start", "north")
        .connect("start", "south")
    )
    rc = RunContext("f", project_root=tmp_path, run_root=tmp_path / "runs", llm=fake_llm.resource())
    rc.setup_run("t")
    seen = asyncio.Event()

    async def read() -> None:
        async for _ in FlowRunner(flow, rc).stream(mode="tokens"):
            seen.set()

    try:
        reader = asyncio.ensure_future(read())
        await seen.wait()
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        rows = {c.path: c.status for c in rc.store.list_components(rc.run_id)}
        status = rc.store.get_run(rc.run_id).status
    finally:
        rc.close()
    assert status == "interrupted"
    assert rows == {
        "f": "interrupted",
        "f.start": "completed",
        "f.north": "interrupted",
        "f.south": "interrupted",
    }
