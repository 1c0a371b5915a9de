"""PythonNode: sync (in a thread) and async callables receiving the node's context."""

from __future__ import annotations

import threading

from danaflow.context import ExecutionContext, NodeOutcome
from danaflow.flow import FlowDefinition, FlowRunner, PythonNode


async def test_sync_runs_in_a_worker_thread_async_on_the_loop():
    main = threading.get_ident()

    async def coro(ctx: ExecutionContext):
        return (ctx.path, threading.get_ident() == main)

    flow = FlowDefinition("f")
    flow.node("sync", PythonNode(lambda ctx: threading.get_ident() == main))
    flow.node("async", PythonNode(coro))
    flow.node("inline", PythonNode(lambda ctx: threading.get_ident() == main, in_thread=False))
    result = await FlowRunner(flow).run()
    assert result.get_result("sync").outcome.value is False
    assert result.get_result("async").outcome.value == ("f.async", True)
    assert result.get_result("inline").outcome.value is True


async def test_returning_an_outcome_uses_it_as_is():
    flow = FlowDefinition("f").node(
        "n", PythonNode(lambda ctx: NodeOutcome(text="t", structured={"a": 1}, extra=2))
    )
    out = (await FlowRunner(flow).run()).get_result("n").outcome
    assert (out.text, out.structured, out.extra) == ("t", {"a": 1}, 2)
