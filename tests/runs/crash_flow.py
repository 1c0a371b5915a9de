"""A flow for the crash and resume tests, loaded by ``python -m danaflow.runs run crash_flow.py:agent``.

Every node appends its path to ``$CRASH_SIDE_EFFECTS`` (the side effect the tests count) and
returns a value built from the previous node's result, so reused results must be the right ones.
With ``CRASH_BLOCK_AT=<path>``, that node prints ``blocking at <path>`` and waits on stdin, which
the test never writes: it kills the process there with SIGKILL.
"""

from __future__ import annotations

import os
import sys

from danaflow.flow.definition import AgentDefinition, FlowDefinition
from danaflow.flow.nodes.python import PythonNode


def step(name: str, previous: str | None):
    def run(ctx):
        if os.environ.get("CRASH_BLOCK_AT") == ctx.path:
            sys.stdout.write(f"blocking at {ctx.path}\n")
            sys.stdout.flush()
            sys.stdin.readline()
        base = 0
        if previous is not None:
            base = ctx.parent.get_result(previous).outcome.get("value")
        with open(os.environ["CRASH_SIDE_EFFECTS"], "a", encoding="utf-8") as f:
            f.write(ctx.path + "\n")
        return base * 2 + len(name)

    return run


sub = FlowDefinition()
sub.node("s0", PythonNode(step("s0", None), in_thread=False))
sub.node("s1", PythonNode(step("s1", "s0"), in_thread=False))

main = FlowDefinition()
main.node("n0", PythonNode(step("n0", None), in_thread=False))
main.node("n1", PythonNode(step("n1", "n0"), in_thread=False))
main.subflow("sub", sub)
main.node("n2", PythonNode(step("n2", "n1"), in_thread=False))
main.node("n3", PythonNode(step("n3", "n2"), in_thread=False))
main.node("n4", PythonNode(step("n4", "n3"), in_thread=False))
main.node("n5", PythonNode(step("n5", "n4"), in_thread=False))

agent = AgentDefinition("crash").flow("main", main)
