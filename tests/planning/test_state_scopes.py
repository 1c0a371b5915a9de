"""The seed-000 states ARE the Dana scopes, both ways: in the context's own sandbox and inside a
plan's Dana program step run by the flow runner; and ``update`` is atomic on a validation error."""

from __future__ import annotations

import pytest

from danaflow.context import AgentState, ExecutionContext, ExecutionState, WorldState
from danaflow.errors import DanaflowError
from danaflow.lang.api import run as run_dana
from danaflow.planning import Plan, PlanStep


class StepState(AgentState):
    current_step: str = "idle"
    progress: float = 0.0


def test_python_updates_are_dana_scopes_and_dana_writes_are_attributes():
    ctx = ExecutionContext(
        agent_state=AgentState(), world_state=WorldState(), execution_state=ExecutionState()
    )
    ctx.agent_state.update(current_step="analyzing_data", progress=0.5)
    ctx.world_state.update(environment_status="stable")
    ctx.execution_state.update(status="in_progress")
    outcome = run_dana(
        "seen = [private:current_step, public:environment_status, system:status]\n"
        "private:progress = private:progress + 0.25\n"
        "private:last_action = 'analyzed'\n"
        "public:alerts = ['line B']\n"
        "system:checked = true\n"
        "seen\n",
        ctx.sandbox,
    )
    assert outcome.error is None, outcome.error
    assert outcome.value == ["analyzing_data", "stable", "in_progress"]
    assert ctx.agent_state.progress == 0.75 and ctx.agent_state.last_action == "analyzed"
    assert ctx.world_state.alerts == ["line B"] and ctx.execution_state.checked is True
    assert ctx.sandbox.get("private.last_action") == "analyzed"  # the Python API's dotted spelling


def test_a_plans_dana_step_shares_the_callers_state_both_ways(ctx, tmp_path):
    ctx.agent_state.update(current_step="collect_data", progress=0.0)
    ctx.world_state.update(environment_status="stable")
    plan = Plan("p")
    plan.add_step(
        PlanStep(
            "work",
            program=(
                "private:seen_step = private:current_step\n"
                "private:progress = 1.0\n"
                "public:environment_status = 'degraded'\n"
                "system:note = f'v{version}'\n"  # global_context arrives as a variable
            ),
        )
    )
    plan.add_step(PlanStep("read_back", program="[private:seen_step, public:environment_status]"))
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert result.ok, result.error
    assert ctx.agent_state.seen_step == "collect_data" and ctx.agent_state.progress == 1.0
    assert ctx.world_state.environment_status == "degraded"
    assert ctx.execution_state.note == "v1.0"
    assert result["read_back"].output == ["collect_data", "degraded"]
    assert ctx.execution_state["__run_id"] == result.run_id  # the runtime's reserved key


def test_update_is_atomic_on_a_validation_error():
    ctx = ExecutionContext(agent_state=StepState())
    ctx.agent_state.update(current_step="collect_data", progress=0.25)
    with pytest.raises(DanaflowError, match="progress: got 'half'"):
        ctx.agent_state.update(current_step="analyze_data", progress="half", last_action="x")
    # Nothing of the refused update was written, as Dana sees it too.
    assert ctx.agent_state.current_step == "collect_data" and ctx.agent_state.progress == 0.25
    assert "last_action" not in ctx.agent_state
    outcome = run_dana("[private:current_step, private:progress]", ctx.sandbox)
    assert outcome.value == ["collect_data", 0.25]
    ctx.agent_state.update(progress="0.5")  # coerced by the declared type
    assert ctx.agent_state.progress == 0.5


def test_state_views_are_the_scope_objects_not_copies():
    agent, world, execution = AgentState(), WorldState(), ExecutionState()
    ctx = ExecutionContext(agent_state=agent, world_state=world, execution_state=execution)
    assert ctx.agent_state is agent and ctx.sandbox.private is agent
    assert ctx.world_state is world and ctx.sandbox.public is world
    assert ctx.execution_state is execution and ctx.sandbox.system is execution
