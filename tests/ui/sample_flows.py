"""Flows the viewer's tests run for real (as `module.py:flow` targets, so resume works).

``gated`` blocks on a FIFO named by ``$UI_TEST_GATE`` until the test opens it for writing, so a
test can watch a run that is running and release it, with no sleeps and no timing.
"""

from __future__ import annotations

import os

from pydantic import BaseModel

from danaflow import AIModelNode, AIModelNodeSettings, DanaNode, FlowDefinition, PythonNode


def _prep(ctx):
    return {"city": "Paris"}


demo = (
    FlowDefinition("demo")
    .node("prep", PythonNode(_prep))
    .node(
        "ask", AIModelNode(AIModelNodeSettings(prompt="Name the capital of France. $hier{prep.outcome.text}"))
    )
    .node("calc", DanaNode(program="log('dividing'); x = 1 / 0"))
    .node("fix", PythonNode(lambda ctx: "fixed"))
    .connect("prep", "ask")
    .connect("ask", "calc")
    .connect("calc", "fix", on_error=True)
)


def _wait_for_gate(ctx):
    with open(os.environ["UI_TEST_GATE"], "rb") as gate:  # blocks until the test opens it to write
        return gate.read().decode() or "released"


gated = (
    FlowDefinition("gated")
    .node("wait", PythonNode(_wait_for_gate))
    .node("after", PythonNode(lambda ctx: "done"))
)


class Approval(BaseModel):
    approved: bool
    reviewer: str
    priority: int = 1


def _approve(ctx):
    return {"approved_by": ctx.node_input["reviewer"], "ok": ctx.node_input["approved"]}


_approve_node = PythonNode(_approve, input_required=True, description="Approve the draft before it ships")
_approve_node.input_schema = Approval

asks = (
    FlowDefinition("asks")
    .node("draft", PythonNode(lambda ctx: "a draft"))
    .node("approve", _approve_node)
    .node("ship", PythonNode(lambda ctx: "shipped"))
)

_free_node = PythonNode(lambda ctx: ctx.node_input, input_required=True)
free_input = FlowDefinition("free_input").node("question", _free_node)


def _count(name):
    def step(ctx):
        path = os.environ.get("UI_TEST_COUNTS")
        if path:
            with open(path, "a") as fh:
                fh.write(name + "\n")
        return name

    return step


steps = (
    FlowDefinition("steps")
    .node("a", PythonNode(_count("a")))
    .node("b", PythonNode(_count("b")))
    .node("c", PythonNode(_count("c")))
)

loop = FlowDefinition("loop").for_each(
    "each", [1, 2, 3], PythonNode(lambda ctx: ctx.get_context_variable("item") * 2)
)
