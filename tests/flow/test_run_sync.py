"""``run_sync()``: the synchronous entry point for scripts and notebooks, outside an event loop and
inside one (a Jupyter cell runs in a loop that is already running, where ``asyncio.run`` fails)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from danaflow import AgentDefinition, FlowDefinition, FlowRunner, PythonNode
from danaflow.errors import FlowDefinitionError
from danaflow.flow.runner import AgentRunner

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def flow() -> FlowDefinition:
    return (
        FlowDefinition("f")
        .node("a", PythonNode(lambda ctx: 20, in_thread=False))
        .node(
            "b", PythonNode(lambda ctx: ctx.parent.get_result("a").outcome.get("value") + 1, in_thread=False)
        )
        .node(
            "seen",
            PythonNode(lambda ctx: (REQUEST_ID.get(), threading.current_thread().name), in_thread=False),
        )
    )


def test_outside_an_event_loop():
    runner = FlowRunner(flow())
    result = runner.run_sync()
    assert result.ok and result.get_result("b").outcome.get("value") == 21
    assert runner.context is not None and runner.context.get_result("b").ok


def test_inside_a_running_loop_as_in_a_notebook():
    async def cell():
        token = REQUEST_ID.set("from the caller")
        try:
            return FlowRunner(flow()).run_sync(), AgentRunner(
                AgentDefinition("ag").flow("main", flow())
            ).run_sync()
        finally:
            REQUEST_ID.reset(token)

    flow_result, agent_result = asyncio.run(cell())
    assert flow_result.ok and flow_result.get_result("b").outcome.get("value") == 21
    assert agent_result.ok and agent_result.get_result("main.b").outcome.get("value") == 21
    # It ran on a loop of its own (another thread), with the caller's context variables.
    seen, thread = flow_result.get_result("seen").outcome.get("value")
    assert seen == "from the caller" and thread == "danaflow-run-sync"


def test_errors_come_back_as_run_raises_them_in_both_cases():
    bad = FlowDefinition("bad").node("a", PythonNode(lambda ctx: 1)).connect("a", "nowhere")
    with pytest.raises(FlowDefinitionError, match="nowhere"):
        FlowRunner(bad).run_sync()

    async def cell():
        return FlowRunner(bad).run_sync()

    with pytest.raises(FlowDefinitionError, match="nowhere"):
        asyncio.run(cell())
