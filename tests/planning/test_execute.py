"""execute_plan: steps of every kind run as a flow with a run dir and store rows; failures name
the step and skip the rest; resume reuses completed steps; resources close even on failure."""

from __future__ import annotations

import json

import pytest

from danaflow.context import ExecutionContext, ExecutionStatusEnum, ToolResource
from danaflow.context.resources import DatabaseResource
from danaflow.errors import ComponentError, FlowDefinitionError, RunError
from danaflow.flow.seam import InMemoryRun
from danaflow.planning import (
    ChainOfThoughtStrategy,
    DirectStrategy,
    Plan,
    PlanStep,
    ReActStrategy,
    aexecute_plan,
    build_flow,
)
from danaflow.runs import SQLiteRunStore

S = ExecutionStatusEnum


def manufacturing_db(tmp_path) -> DatabaseResource:
    db = DatabaseResource("manufacturing_db", "Line output", f"sqlite:///{tmp_path / 'factory.db'}")
    db.execute("CREATE TABLE output (line TEXT, units INTEGER, defects INTEGER)")
    db.executemany("INSERT INTO output VALUES (?, ?, ?)", [("A", 100, 2), ("A", 120, 1), ("B", 90, 7)])
    return db


def test_every_step_kind_runs_in_one_recorded_flow(ctx, fake_llm, cot, tmp_path):
    ctx.register_resource(manufacturing_db(tmp_path))
    ctx.register_resource(
        ToolResource(
            "defect_rate",
            "Defects per 100 units",
            func=lambda defects, units: round(100 * defects / units, 2),
        )
    )
    ctx.register_reasoning_strategy("chain_of_thought", ChainOfThoughtStrategy())
    fake_llm.add_rule("Summarize line", "Line B is the outlier.")
    fake_llm.add_rule("Current step: recommend", cot("Inspect line B", reasoning="7.78 is high."))
    plan = Plan("factory", "Find the worst line", "Reduce defects")
    plan.add_step(
        PlanStep(
            "collect",
            "Totals per line from the database",
            "1 day",
            program=(
                'rows = use("manufacturing_db").query('
                '"SELECT line, SUM(units) AS units, SUM(defects) AS defects FROM output GROUP BY line '
                'ORDER BY defects DESC")\n'
                "private:worst = rows[0]\n"
                "rows"
            ),
        )
    )
    plan.add_step(
        PlanStep(
            "rate",
            "Defect rate of the worst line",
            tool="defect_rate",
            tool_args={
                "defects": "$expr{$hier{collect.outcome.value}[0].defects}",
                "units": "$expr{$hier{collect.outcome.value}[0].units}",
            },
        )
    )
    plan.add_step(
        PlanStep(
            "summary",
            prompt="Summarize line $expr{$hier{collect.outcome.value}[0].line}: "
            "rate $hier{rate.outcome.text}",
        )
    )
    plan.add_step(PlanStep("recommend", "Recommend an action", "2 days"))

    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")

    assert result.status is S.completed and result.ok, result.error
    assert result.completed_steps == ["collect", "rate", "summary", "recommend"]
    assert result["collect"].output[0] == {"line": "B", "units": 90, "defects": 7}
    assert result["rate"].output == 7.78
    assert fake_llm.requests[0].prompt.startswith("Summarize line B: rate 7.78")
    assert result["summary"].output == "Line B is the outlier."
    assert (
        result["recommend"].output == "Inspect line B" and result["recommend"].strategy == "chain_of_thought"
    )
    assert result.output == "Inspect line B"
    assert ctx.agent_state.worst["line"] == "B"  # the Dana step wrote the caller's agent state
    assert result.total_duration > 0 and all(r.duration is not None for r in result.step_results.values())
    assert [r.kind for r in result.step_results.values()] == ["program", "tool", "prompt", "reasoning"]
    # The run: store rows per step, result files, a trace.
    store = SQLiteRunStore(tmp_path / "runs" / "danaflow.db")
    try:
        assert store.get_run(result.run_id).status == "completed"
        rows = {r.path: r.status for r in store.list_components(result.run_id)}
        assert rows == {
            "factory": "completed",
            "factory.collect": "completed",
            "factory.rate": "completed",
            "factory.summary": "completed",
            "factory.recommend": "completed",
        }
    finally:
        store.close()
    assert (result.run_dir / "trace.jsonl").stat().st_size > 0
    stored = json.loads((result.run_dir / "factory.recommend" / "result.json").read_text())
    assert stored["outcome"]["reasoning"] == "7.78 is high."


def test_a_failing_step_fails_the_plan_names_it_and_skips_the_rest(ctx, fake_llm, tmp_path):
    plan = Plan("p", objective="Divide")
    plan.add_step(PlanStep("first", prompt="Say hi"))
    plan.add_step(PlanStep("divide", program="x = 1\ny = x / 0\n"))
    plan.add_step(PlanStep("never", prompt="Not asked"))
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert result.status is S.failed and not result.ok
    assert result.failed_step == "divide"
    assert result.completed_steps == ["first"] and result.skipped_steps == ["never"]
    assert "step 'divide' of plan 'p' failed" in result.error
    assert "ZeroDivisionError" in result.error and ":2:" in result.error  # the Dana line
    assert fake_llm.prompts == ["Say hi"]  # the skipped step never called the model
    with pytest.raises(ComponentError, match="step 'divide'") as info:
        result.raise_for_status()
    assert info.value.path == "p.divide"
    run_json = json.loads((result.run_dir / "run.json").read_text())
    assert run_json["status"] == "failed"


def test_a_tool_without_implementation_fails_its_step_clearly(ctx, tmp_path):
    ctx.register_resource(
        ToolResource(name="data_analysis", description="Tool for data analysis", tool_type="analysis")
    )
    plan = Plan("p")
    plan.add_step(PlanStep("analyze", tool="data_analysis"))
    plan.add_step(PlanStep("missing", tool="nope"))
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert result.failed_step == "analyze"
    assert "ResourceError: tool 'data_analysis' has no implementation" in result["analyze"].error
    assert result["missing"].status is S.skipped


def test_resources_are_closed_at_the_end_even_when_the_plan_fails(fake_llm, tmp_path):
    db = manufacturing_db(tmp_path)
    with pytest.raises(ComponentError, match="step 'boom'"):
        with ExecutionContext(reasoning_llm=fake_llm.resource()) as ctx:
            ctx.register_resource(db)
            plan = Plan("p")
            plan.add_step(PlanStep("read", program='use("manufacturing_db").query("SELECT 1 AS one")'))
            plan.add_step(PlanStep("boom", program='raise ValueError("bad data")'))
            result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
            assert db.connected and result["read"].ok
            result.raise_for_status()
    assert db.closed and not db.connected


def test_resume_reuses_completed_steps(ctx, fake_llm, tmp_path):
    flag = tmp_path / "broken"
    flag.write_text("yes")

    def flaky() -> str:
        if flag.exists():
            raise OSError("sensor offline")
        return "sensor ok"

    ctx.register_resource(ToolResource("sensor", func=flaky))
    plan = Plan("p")
    plan.add_step(PlanStep("ask", prompt="Which sensor?"))
    plan.add_step(PlanStep("read", tool="sensor"))
    plan.add_step(PlanStep("report", prompt="Report $hier{read.outcome.text}"))
    fake_llm.add_rule("Which sensor?", "sensor 7")
    first = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert first.failed_step == "read" and "sensor offline" in first.error

    flag.unlink()
    second = ctx.execute_plan(
        plan, run_root=tmp_path / "runs", previous_run_id=first.run_id, start_hierarchy_path="p.read"
    )
    assert second.ok, second.error
    assert second["ask"].reused and second["ask"].output == "sensor 7"
    assert not second["read"].reused and second["read"].output == "sensor ok"
    assert fake_llm.prompts.count("Which sensor?") == 1  # not asked again
    assert fake_llm.prompts[-1].startswith("Report sensor ok")

    with pytest.raises(RunError, match=r"p\.nothing"):
        ctx.execute_plan(
            plan, run_root=tmp_path / "runs", previous_run_id=first.run_id, start_hierarchy_path="p.nothing"
        )


def test_depends_on_makes_a_dag_and_joins_see_both_results(ctx, fake_llm, tmp_path):
    fake_llm.add_rule("Current step: join", "both seen")
    fake_llm.default_reply = "partial"
    plan = Plan("dag", objective="Compare lines")
    plan.add_step(PlanStep("line_a", program="'A: 3 defects'"))
    plan.add_step(PlanStep("line_b", program="'B: 7 defects'"))
    plan.add_step(PlanStep("join", "Compare both lines", depends_on=("line_a", "line_b")))
    flow = build_flow(plan, ctx)
    assert {(e.source, e.target) for e in flow.edges} == {("line_a", "join"), ("line_b", "join")}
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert result.ok and result["join"].output == "both seen"
    assert result["join"].strategy == "direct"  # no strategy registered: direct
    prompt = fake_llm.requests[-1].prompt
    assert "- line_a: A: 3 defects" in prompt and "- line_b: B: 7 defects" in prompt


def test_strategy_selection_step_then_plan_default_then_registry(ctx, fake_llm, cot, tmp_path):
    ctx.register_reasoning_strategy("direct", DirectStrategy())
    ctx.register_reasoning_strategy("react", ReActStrategy(tools=[]))
    fake_llm.add_rule("Current step: a", cot("cot answer"))
    fake_llm.add_rule(
        "Current step: b",
        json.dumps({"thought": "t", "action": "finish", "args": {}, "answer": "react answer"}),
    )
    fake_llm.add_rule("Current step: c", "direct answer")
    plan = Plan("p")
    plan.add_step(PlanStep("a", "uses the plan-wide default"))
    plan.add_step(PlanStep("b", "uses react", strategy="react"))
    plan.add_step(PlanStep("c", "uses the registered direct strategy", strategy="direct"))
    plan.add_step(PlanStep("d", "names an unknown strategy", strategy="tree_of_thought"))
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs", strategy=ChainOfThoughtStrategy())
    assert result["a"].output == "cot answer" and result["a"].strategy == "chain_of_thought"
    assert result["b"].output == "react answer" and result["b"].strategy == "react"
    assert result["c"].output == "direct answer" and result["c"].strategy == "direct"
    assert result.failed_step == "d"
    assert "no reasoning strategy named 'tree_of_thought' (registered: direct, react)" in result["d"].error


def test_registered_direct_strategy_is_the_fallback_without_chain_of_thought(ctx, fake_llm, tmp_path):
    ctx.register_reasoning_strategy("direct", DirectStrategy())
    fake_llm.default_reply = "7"
    plan = Plan("p", steps=[PlanStep("count", "Count defects", output_type=int)])
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert result["count"].output == 7 and result["count"].strategy == "direct"
    assert "step by step" not in fake_llm.requests[0].prompt


async def test_async_twin_and_sync_call_from_a_running_loop(ctx, fake_llm, tmp_path):
    plan = Plan("p", steps=[PlanStep("only", prompt="ping")])
    fake_llm.default_reply = "pong"
    result = await ctx.aexecute_plan(plan, run_root=tmp_path / "runs")
    assert result.ok and result.output == "pong"
    # A notebook calls the sync API with a loop already running: it still works.
    again = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert again.ok and again.run_id != result.run_id
    direct = await aexecute_plan(plan, ctx, run_context=InMemoryRun())
    assert direct.ok and direct.run_id.startswith("mem_") and direct.run_dir is None


def test_plan_definition_errors():
    with pytest.raises(FlowDefinitionError, match="bad plan name 'my plan'"):
        Plan("my plan")
    plan = Plan("p")
    plan.add_step(PlanStep("a"))
    with pytest.raises(FlowDefinitionError, match="already has a step named 'a'"):
        plan.add_step(PlanStep("a"))
    with pytest.raises(FlowDefinitionError, match=r"depends on 'z', want earlier steps \(known: a\)"):
        plan.add_step(PlanStep("b", depends_on=("z",)))
    with pytest.raises(FlowDefinitionError, match="got prompt and program, want at most one"):
        PlanStep("c", prompt="x", program="y")
    with pytest.raises(FlowDefinitionError, match="got tool_args without tool="):
        PlanStep("c", tool_args={"x": 1})
    assert PlanStep("d", depends_on="a").depends_on == ("a",)
    assert [s.kind for s in (PlanStep("e"), PlanStep("f", tool="t"))] == ["reasoning", "tool"]
    with pytest.raises(FlowDefinitionError, match="has no steps"):
        ExecutionContext().execute_plan(Plan("empty"))
    assert repr(plan) == "Plan('p', steps=[a(reasoning)])"
