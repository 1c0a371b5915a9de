"""transcode(): a scripted planning model (the fake server) writes Dana programs; the compiler and
a dry run in a confined worker check them, errors go back, and the program that passes runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import danaflow
from danaflow.context import AgentState, DatabaseResource, ExecutionContext, ToolResource
from danaflow.errors import TranscodeError
from danaflow.planning import Plan, PlanStep, TranscodedProgram, atranscode, transcode
from danaflow.planning.transcode import describe_context, placeholder

SYNTAX_ERROR = """Here it is:
```dana
n = use("defects").call(line="B"
private:total = n
```"""
NAME_ERROR = """```dana
n = defects_of("B")
private:total = n + private:target
```"""
CORRECT = """```dana
n = use("defects").call(line="B")
private:total = n + private:target
print(f"total: {private:total}")
private:total
```"""


@pytest.fixture
def defects_calls() -> list[str]:
    return []


@pytest.fixture
def ctx(fake_llm, defects_calls):
    def defects(line: str) -> int:
        """Defects counted on a production line."""
        defects_calls.append(line)
        return {"A": 3, "B": 7}[line]

    context = ExecutionContext(
        planning_llm=fake_llm.resource(name="planning"), agent_state=AgentState(target=5)
    )
    context.register_resource(ToolResource("defects", "Defects of a production line", func=defects))
    with context:
        yield context


def test_three_rounds_syntax_error_then_name_error_then_a_program_that_runs(
    ctx, fake_llm, defects_calls, tmp_path
):
    fake_llm.reply(SYNTAX_ERROR, NAME_ERROR, CORRECT)
    program = transcode("Add line B's defects to the target and keep the total", ctx)

    assert isinstance(program, TranscodedProgram) and isinstance(program, str)
    assert program == CORRECT.split("```dana\n")[1].split("```")[0]
    assert program.rounds == 3 and len(fake_llm.requests) == 3
    assert [a.stage for a in program.attempts] == ["compile", "dry run", None]
    assert program.attempts[0].error.startswith("<transcoded>:2:1: SyntaxError: got 'private:total'")
    assert "NameError: name 'defects_of' is not defined" in program.attempts[1].error
    first, second, third = fake_llm.requests
    # What the context offers is in the prompt: the tool's call and schema, the state's names.
    assert 'use("defects").call(**arguments) -> int - Defects of a production line' in first.prompt
    assert '"required":["line"]' in first.prompt and "- private:target: int" in first.prompt
    assert first.prompt.endswith("Objective: Add line B's defects to the target and keep the total")
    assert "```dana" in first.system and "private:x" in first.system
    assert "That program does not compile:\n<transcoded>:2:1: SyntaxError" in second.prompt
    assert "failed in a dry run" in third.prompt and "defects_of" in third.prompt
    # The dry runs touched nothing real: no tool call, no state written.
    assert defects_calls == [] and "total" not in ctx.agent_state

    plan = Plan("defects_plan", objective="defects")
    plan.add_step(PlanStep("compute", "Total defects", program=program))
    result = ctx.execute_plan(plan, run_root=tmp_path / "runs")
    assert result.ok, result.error
    assert result["compute"].output == 12
    assert ctx.agent_state["total"] == 12 and defects_calls == ["B"]


def test_running_out_of_rounds_is_a_transcode_error_with_the_last_program(ctx, fake_llm):
    fake_llm.reply(SYNTAX_ERROR, NAME_ERROR)
    with pytest.raises(TranscodeError) as info:
        transcode("Total the defects", ctx, max_rounds=2)
    err = info.value
    assert err.program == NAME_ERROR.split("```dana\n")[1].split("```")[0] == err.raw
    assert "no working program for the objective in 2 rounds; the last one failed its dry run" in str(err)
    assert "NameError: name 'defects_of' is not defined" in str(err.error)
    assert 'The last program:\nn = defects_of("B")' in str(err)
    assert len(fake_llm.requests) == 2


def test_a_dry_run_answers_reason_and_resources_with_typed_placeholders(ctx, fake_llm, tmp_path):
    ctx.register_resource(DatabaseResource("db", "Line records", f"sqlite:///{tmp_path / 'lines.db'}"))
    ctx.register_resource("llm", fake_llm.resource())
    fake_llm.reply(
        """```dana
count: int = reason("How many lines are there?")
rows = use("db").query("SELECT name FROM lines WHERE id = ?", [count])
names = [r["name"] for r in rows]
shift: int = use("llm").reason("Which shift?")
private:report = f"{count + shift} lines: {names}"
```"""
    )
    program = transcode("Report the lines", ctx)
    assert program.rounds == 1 and program.dry_run_error is None
    assert len(fake_llm.requests) == 1  # the dry run's reason() and use("llm") asked no model
    assert not (tmp_path / "lines.db").exists()  # and the database was never opened
    assert "report" not in ctx.agent_state
    assert '- use("db"): DatabaseResource - Line records' in fake_llm.requests[0].prompt
    assert (
        ".query(sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[dict[str, Any]]"
        in fake_llm.requests[0].prompt
    )


def test_errors_only_placeholder_data_causes_are_forgiven_and_noted(ctx, fake_llm):
    fake_llm.reply('```dana\nrows = use("db").query("SELECT 1")\nrows[0]\n```')
    ctx.register_resource(DatabaseResource("db", "", "sqlite:///:memory:"))
    program = transcode("First row", ctx)
    assert program.rounds == 1
    assert "IndexError: list index out of range" in program.dry_run_error


def test_a_wrong_resource_method_or_argument_goes_back_to_the_model(ctx, fake_llm):
    fake_llm.reply(
        '```dana\nuse("defect").call(line="B")\n```',
        '```dana\nuse("defects").call(lines="B")\n```',
        '```dana\nuse("defects").count()\n```',
        '```dana\nuse("defects").call(line="B")\n```',
    )
    program = transcode("Defects of B", ctx, max_rounds=4)
    errors = [a.error for a in program.attempts[:3]]
    assert "KeyError: no resource named 'defect'; available: defects" in errors[0]
    assert "tool 'defects' refused its arguments: arguments: missing required 'line'" in errors[1]
    assert "resource 'defects' has no method 'count'; it offers: call" in errors[2]
    assert program.rounds == 4


async def test_atranscode_and_the_lazy_top_level_name(ctx, fake_llm):
    assert danaflow.transcode is transcode
    fake_llm.reply("```\nprivate:done = True\n```")
    program = await atranscode("Mark it done", ctx, dry_run=False)
    assert program == "private:done = True\n" and program.attempts[0].stage is None


def test_describe_context_lists_registered_functions_and_mcp_less_contexts():
    context = ExecutionContext(global_context={"version": "1.0"})

    def shout(text: str) -> str:
        """Upper-cases text."""
        return text.upper()

    context.sandbox.registry.register("shout", shout)
    text = describe_context(context)
    assert "Resources: none." in text
    assert "- shout(text: str) -> str - Upper-cases text." in text
    assert "- system:version: str" in text


def test_placeholders_follow_the_declared_types():
    from pydantic import BaseModel

    class Row(BaseModel):
        name: str
        qty: int
        tags: list[str] = []

    assert placeholder(None) == placeholder(str) == "(dry run)"
    assert placeholder(int) == 1 and placeholder(bool) is True and placeholder(list[int]) == []
    assert placeholder(dict[str, int] | None) == {}
    assert placeholder(Row) == Row(name="(dry run)", qty=1, tags=[])


def test_bad_arguments_are_refused_before_any_model_call(fake_llm):
    with pytest.raises(TranscodeError, match="want a non-empty description"):
        transcode("  ", llm=fake_llm.resource())
    with pytest.raises(TranscodeError, match="want at least 1"):
        transcode("x", llm=fake_llm.resource(), max_rounds=0)
    assert fake_llm.requests == []


def test_the_cli_writes_the_program_and_runs_it(fake_llm, tmp_path: Path):
    fake_llm.reply("```dana\nx = (1 +\n```", '```dana\nprint("hello from", 6 * 7)\n```')
    env = {**os.environ, "DANAFLOW_LLM": fake_llm.spec}
    env.pop("COLUMNS", None)
    out = tmp_path / "plan.na"
    done = subprocess.run(
        [sys.executable, "-m", "danaflow.launcher", "transcode", "Greet with 42", "-o", str(out), "--run"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == 'print("hello from", 6 * 7)\n'
    assert f"{out}: written (2 rounds)" in done.stderr
    assert done.stdout == "hello from 42\n"
    assert fake_llm.requests[0].prompt.endswith("Objective: Greet with 42")


def test_the_cli_reports_a_failure_with_exit_code_1(fake_llm, tmp_path: Path):
    fake_llm.default_reply = "```dana\nx = (1 +\n```"
    env = {**os.environ, "DANAFLOW_LLM": fake_llm.spec}
    done = subprocess.run(
        [sys.executable, "-m", "danaflow.launcher", "transcode", "Anything", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "no working program for the objective in 1 round; the last one failed its compile" in done.stderr
    assert "The last program:\nx = (1 +" in done.stderr and done.stdout == ""
