"""Plan drafting: the planning LLM answers with a typed list of steps (JSON from the fake server)."""

from __future__ import annotations

import pytest

from danaflow.context import ExecutionContext
from danaflow.errors import ReasonError
from danaflow.planning import adraft_plan, draft_plan

STEPS = [
    {"name": "collect_data", "description": "Collect manufacturing data", "expected_duration": "1 day"},
    {"name": "Analyze data!", "description": "Analyze collected data", "expected_duration": "2 days"},
    {"name": "collect_data", "description": "Collect more data", "expected_duration": ""},
    {"name": "3rd", "description": "Report", "expected_duration": "1 hour"},
]


def test_the_planning_llm_drafts_the_steps(fake_llm, cot, tmp_path):
    planner, reasoner = fake_llm.resource(name="planner"), fake_llm.resource(name="reasoner")
    ctx = ExecutionContext(planning_llm=planner, reasoning_llm=reasoner)
    fake_llm.add_rule("Break it into", STEPS)
    plan = draft_plan("Identify patterns in manufacturing data", ctx, name="drafted")
    assert plan.objective == "Identify patterns in manufacturing data"
    # Model-given names become unique identifiers.
    assert [s.name for s in plan] == ["collect_data", "analyze_data", "collect_data_2", "step_3rd"]
    assert plan.get_step("analyze_data").expected_duration == "2 days"
    assert plan.get_step("collect_data_2").expected_duration is None
    assert all(s.kind == "reasoning" for s in plan)
    request = fake_llm.requests[0]
    assert "Objective: Identify patterns in manufacturing data" in request.prompt
    assert request.body["response_format"]["json_schema"]["schema"]["properties"]["value"]["type"] == "array"
    assert len(planner.calls) == 1 and len(reasoner.calls) == 0

    # The drafted plan runs on the reasoning LLM.
    fake_llm.default_reply = "done"
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert result.ok and result.completed_steps == [s.name for s in plan]
    assert len(reasoner.calls) == 4 and len(planner.calls) == 1


async def test_async_drafting_limits_and_errors(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply_json({"value": STEPS})
    plan = await adraft_plan("Objective", llm=llm, max_steps=2)
    assert len(plan) == 2
    fake_llm.reply_json([])
    with pytest.raises(ReasonError, match="drafted 0 steps for 'Objective', want at least 1"):
        await adraft_plan("Objective", llm=llm)
