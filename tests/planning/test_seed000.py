"""The seed-000 tutorial's code cells, run as written but with our import paths, against the fake
LLM server (``LLMResource()`` picks it up from DANAFLOW_LLM, as a user would configure a model)."""

from __future__ import annotations

import json
import re


def test_seed000_cells_run_in_order(fake_llm, cot, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DANAFLOW_LLM", fake_llm.spec)
    monkeypatch.chdir(tmp_path)  # execute_plan keeps its run under ./runs
    fake_llm.add_rule("Current step: collect_data", cot("Collected 3 weeks of line output."))
    fake_llm.add_rule("Current step: analyze_data", cot("Line B has most defects."))

    # ---- cell 1: create the execution context ---------------------------------------------------
    from danaflow.context import AgentState, ExecutionContext, ExecutionState, WorldState
    from danaflow.llm import LLMResource

    # Create LLM resources for different layers
    planning_llm = LLMResource()
    reasoning_llm = LLMResource()

    # Initialize the execution context
    context = ExecutionContext(
        planning_llm=planning_llm,
        reasoning_llm=reasoning_llm,
        agent_state=AgentState(),
        world_state=WorldState(),
        execution_state=ExecutionState(),
        global_context={"version": "1.0"},
    )

    print("Execution Context Created:")
    print(f"- Planning LLM: {context.planning_llm}")
    print(f"- Reasoning LLM: {context.reasoning_llm}")
    print(f"- Global Context: {context.global_context}")

    out = capsys.readouterr().out
    assert "- Global Context: {'version': '1.0'}" in out
    assert "- Planning LLM: LLMResource(" in out and context.planning_llm is planning_llm

    # ---- cell 2: state management ---------------------------------------------------------------
    # Update agent state
    context.agent_state.update(current_step="analyzing_data", progress=0.5, last_action="collected_data")

    # Update world state
    context.world_state.update(
        environment_status="stable",
        available_resources=["llm", "database"],
        constraints=["time_limit", "budget"],
    )

    # Update execution state
    context.execution_state.update(status="in_progress", current_result={"data": "sample_data"}, error=None)

    # Print current states
    print("Agent State:")
    print(f"- Current Step: {context.agent_state.current_step}")
    print(f"- Progress: {context.agent_state.progress}")
    print(f"- Last Action: {context.agent_state.last_action}")

    print("\nWorld State:")
    print(f"- Environment Status: {context.world_state.environment_status}")
    print(f"- Available Resources: {context.world_state.available_resources}")
    print(f"- Constraints: {context.world_state.constraints}")

    print("\nExecution State:")
    print(f"- Status: {context.execution_state.status}")
    print(f"- Current Result: {context.execution_state.current_result}")
    print(f"- Error: {context.execution_state.error}")

    out = capsys.readouterr().out
    assert "- Current Step: analyzing_data\n- Progress: 0.5\n- Last Action: collected_data" in out
    assert "- Available Resources: ['llm', 'database']" in out
    assert "- Current Result: {'data': 'sample_data'}\n- Error: None" in out
    # The states ARE the Dana scopes.
    assert context.sandbox.get("private:current_step") == "analyzing_data"
    assert context.sandbox.get("public:environment_status") == "stable"
    assert context.sandbox.get("system:status") == "in_progress"

    # ---- cell 3: resource management ------------------------------------------------------------
    from danaflow.context import DatabaseResource, ToolResource

    # Create additional resources
    tool_resource = ToolResource(
        name="data_analysis", description="Tool for data analysis", tool_type="analysis"
    )

    db_resource = DatabaseResource(
        name="manufacturing_db",
        description="Database for manufacturing data",
        connection_string="postgresql://user:pass@localhost:5432/manufacturing",
    )

    # Register resources with context
    context.register_resource(tool_resource)
    context.register_resource(db_resource)

    # Get resource by name
    analysis_tool = context.get_resource("data_analysis")
    database = context.get_resource("manufacturing_db")

    print("Registered Resources:")
    print(f"- Analysis Tool: {analysis_tool}")
    print(f"- Database: {database}")

    out = capsys.readouterr().out
    assert analysis_tool is tool_resource and database is db_resource
    assert "- Database: DatabaseResource(name='manufacturing_db'" in out
    assert "pass@" not in out  # the password is masked
    assert not db_resource.connected  # registering never connects

    # ---- cell 4: layer coordination -------------------------------------------------------------
    from danaflow.planning import ChainOfThoughtStrategy, Plan, PlanStep

    # Create a plan
    plan = Plan(
        name="data_analysis_plan",
        description="Plan for analyzing manufacturing data",
        objective="Identify patterns in manufacturing data",
    )

    # Create plan steps
    plan.add_step(
        PlanStep(name="collect_data", description="Collect manufacturing data", expected_duration="1 day")
    )

    plan.add_step(
        PlanStep(name="analyze_data", description="Analyze collected data", expected_duration="2 days")
    )

    # Register reasoning strategy
    context.register_reasoning_strategy("chain_of_thought", ChainOfThoughtStrategy())

    # Execute plan with context
    result = context.execute_plan(plan)

    print("Plan Execution Result:")
    print(f"- Status: {result.status}")
    print(f"- Completed Steps: {result.completed_steps}")
    print(f"- Total Duration: {result.total_duration}")

    out = capsys.readouterr().out
    assert "- Status: completed" in out
    assert "- Completed Steps: ['collect_data', 'analyze_data']" in out
    assert re.search(r"- Total Duration: \d+\.\d+", out)
    assert result["analyze_data"].output == "Line B has most defects."
    assert result["analyze_data"].reasoning.startswith("First I look")
    # The second step was told what the first one found, and the objective.
    analyze_prompt = fake_llm.requests[-1].prompt
    assert "Objective: Identify patterns in manufacturing data" in analyze_prompt
    assert "- collect_data: Collected 3 weeks of line output." in analyze_prompt
    # Both LLMs came from DANAFLOW_LLM; the reasoning one did the work.
    assert len(reasoning_llm.calls) == 2 and len(planning_llm.calls) == 0
    # The plan ran as a flow with a run dir.
    assert (tmp_path / "runs" / result.run_id / "run.json").is_file()
    run_json = json.loads((tmp_path / "runs" / result.run_id / "run.json").read_text())
    assert run_json["status"] == "completed" and run_json["root_component_id"] == "data_analysis_plan"

    # ---- best practice: clean up resources when they are no longer needed ------------------------
    context.close()
    assert db_resource.closed
