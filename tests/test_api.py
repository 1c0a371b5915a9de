"""danaflow.run: the language's run with the default LLM, over either kind of context."""

from __future__ import annotations

import pytest

import danaflow
from danaflow import AgentState, ExecutionContext, SandboxContext, WorldState


def test_run_takes_the_seed_000_execution_context() -> None:
    ctx = ExecutionContext(agent_state=AgentState(), world_state=WorldState())
    ctx.agent_state.update(current_step="analyzing_data")
    outcome = danaflow.run('print(private:current_step)\npublic:checked = True\n', ctx)
    assert outcome.error is None, outcome.error
    assert outcome.output == "analyzing_data\n"
    assert ctx.world_state.checked is True


def test_run_refuses_a_context_of_another_kind() -> None:
    with pytest.raises(TypeError, match="want a SandboxContext or an ExecutionContext"):
        danaflow.run("1", {"private": {}})


def test_run_keeps_taking_a_sandbox_context() -> None:
    ctx = SandboxContext(initial_private_state={"n": 2})
    outcome = danaflow.run("private:n * 21", ctx)
    assert outcome.value == 42


def test_programs_and_templates_resolve_a_name_the_same_way() -> None:
    from danaflow.lang.api import compile_expression, run

    ctx = SandboxContext(initial_private_state={"max": 3, "limit": 7})
    program = run("[max([1, 5]), private:max, limit]", ctx)
    assert program.value == [5, 3, 7]
    template = compile_expression("[max([1, 5]), private:max, limit]", mapping_attrs=True)
    assert template.evaluate({}, ctx) == [5, 3, 7]
