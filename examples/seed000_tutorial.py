"""The seed-000 tutorial ("Execution Context in Dana") as a runnable script.

It walks the tutorial's four sections on real pieces: an ExecutionContext with planning and
reasoning LLMs, the agent/world/execution states (which are the Dana scopes), resources (a
SQLite database of manufacturing data it creates, and tools), and a three-step plan whose
analysis runs through chain of thought. The plan runs as a flow, so it leaves a run directory
with results and a trace.

    .venv/bin/python examples/seed000_tutorial.py            # the embedded model (slow, small)
    DANAFLOW_LLM=openai:gpt-4o-mini .venv/bin/python examples/seed000_tutorial.py

The embedded model (SmolLM2-135M) proves the plumbing, not the analysis: its answers are short
and often naive. Point DANAFLOW_LLM at a real model for real answers. Pass a directory as the
first argument to keep the database and the run there (default: a temporary directory).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import Field

from danaflow.context import (
    AgentState,
    DatabaseResource,
    ExecutionContext,
    ExecutionState,
    ToolResource,
    WorldState,
)
from danaflow.llm import LLMResource
from danaflow.planning import ChainOfThoughtStrategy, Plan, PlanStep

PRODUCTION = [
    # line, shift, units, defects
    ("A", "day", 1200, 14),
    ("A", "night", 1100, 19),
    ("B", "day", 950, 41),
    ("B", "night", 900, 67),
    ("C", "day", 1300, 9),
    ("C", "night", 1250, 12),
]


def create_database(workdir: Path) -> DatabaseResource:
    """The manufacturing database of the tutorial, as a real SQLite file."""
    db = DatabaseResource(
        name="manufacturing_db",
        description="Database for manufacturing data",
        connection_string=f"sqlite:///{workdir / 'manufacturing.db'}",
    )
    db.execute("DROP TABLE IF EXISTS production")
    db.execute("CREATE TABLE production (line TEXT, shift TEXT, units INTEGER, defects INTEGER)")
    db.executemany("INSERT INTO production VALUES (?, ?, ?, ?)", PRODUCTION)
    return db


def defect_rate(defects: int, units: int) -> float:
    """Defects per 100 units."""
    return round(100 * defects / units, 2)


COLLECT = """
rows = use("manufacturing_db").query(
    "SELECT line, SUM(units) AS units, SUM(defects) AS defects FROM production GROUP BY line ORDER BY line"
)
summary = []
for row in rows:
    rate = use("defect_rate").call(defects=row["defects"], units=row["units"])
    summary.append(f"line {row['line']}: {row['units']} units, {row['defects']} defects, {rate} per 100")
private:current_step = "collect_data"
private:progress = 0.33
print("\\n".join(summary))
"""


def main(workdir: Path) -> int:
    # ---- 1. the execution context ---------------------------------------------------------------
    planning_llm = LLMResource(name="planning")
    reasoning_llm = LLMResource(name="reasoning", max_tokens=200)
    with ExecutionContext(
        planning_llm=planning_llm,
        reasoning_llm=reasoning_llm,
        agent_state=AgentState(),
        world_state=WorldState(),
        execution_state=ExecutionState(),
        global_context={"version": "1.0"},
    ) as context:
        print("Execution Context Created:")
        print(f"- Planning LLM: {context.planning_llm}")
        print(f"- Reasoning LLM: {context.reasoning_llm}")
        print(f"- Global Context: {context.global_context}")

        # ---- 2. state management ----------------------------------------------------------------
        context.agent_state.update(current_step="analyzing_data", progress=0.0, last_action="started")
        context.world_state.update(
            environment_status="stable",
            available_resources=["llm", "database"],
            constraints=["time_limit", "budget"],
        )
        context.execution_state.update(status="in_progress", current_result=None, error=None)
        print("\nAgent State:", dict(context.agent_state))
        print("World State:", dict(context.world_state))

        # ---- 3. resources -----------------------------------------------------------------------
        context.register_resource(create_database(workdir))
        context.register_resource(
            ToolResource(name="defect_rate", description="Defects per 100 units", func=defect_rate)
        )
        context.register_resource(
            ToolResource(name="data_analysis", description="Tool for data analysis", tool_type="analysis")
        )
        print("\nRegistered Resources:")
        print(f"- Analysis Tool: {context.get_resource('data_analysis')}")
        print(f"- Database: {context.get_resource('manufacturing_db')}")

        # ---- 4. layer coordination: a plan, chain of thought ------------------------------------
        plan = Plan(
            name="data_analysis_plan",
            description="Plan for analyzing manufacturing data",
            objective="Identify patterns in manufacturing data",
        )
        plan.add_step(
            PlanStep(
                name="collect_data",
                description="Collect manufacturing data",
                expected_duration="1 day",
                program=COLLECT,
            )
        )
        plan.add_step(
            PlanStep(
                name="analyze_data",
                description="Which production line has the highest defect rate, and by how much?",
                expected_duration="2 days",
            )
        )
        plan.add_step(
            PlanStep(
                name="recommend",
                description="Recommend one action to reduce defects",
                expected_duration="1 day",
            )
        )
        # Bounds on the reasoning (and a short answer) keep a small constrained model on track.
        cot = ChainOfThoughtStrategy(
            min_reasoning_chars=40,
            max_reasoning_chars=240,
            output_type=Annotated[str, Field(max_length=160)],
        )
        context.register_reasoning_strategy("chain_of_thought", cot)

        result = context.execute_plan(plan, project_root=workdir)

        print("\nPlan Execution Result:")
        print(f"- Status: {result.status}")
        print(f"- Completed Steps: {result.completed_steps}")
        print(f"- Total Duration: {result.total_duration:.1f}s")
        print(f"- Run: {result.run_dir}")
        for name, step in result.step_results.items():
            print(f"\n[{name}] {step.status}")
            if step.reasoning:
                print(f"  reasoning: {step.reasoning}")
            if step.text:
                print("  " + step.text.replace("\n", "\n  "))
            if step.error:
                print(f"  error: {step.error}")
        print("\nAgent State after the plan:", dict(context.agent_state))
        return 0 if result.ok else 1
    # Leaving the `with` block closed the database connection, even if the plan had raised.


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        sys.exit(main(target))
    with tempfile.TemporaryDirectory(prefix="danaflow-seed000-") as tmp:
        sys.exit(main(Path(tmp)))
