"""Tests for danaflow.runs.cli_commands: run a module target, list/show/rm runs, input parsing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from danaflow.errors import RunError
from danaflow.runs.cli_commands import app, parse_inputs, run_python_target

HERE = Path(__file__).parent


def test_run_target_then_list_show_rm(tmp_path, monkeypatch):
    monkeypatch.setenv("CRASH_SIDE_EFFECTS", str(tmp_path / "side.txt"))
    monkeypatch.delenv("CRASH_BLOCK_AT", raising=False)
    out = io.StringIO()
    outcome = run_python_target(f"{HERE / 'crash_flow.py'}:agent", run_root=tmp_path / "runs", out=out)
    assert outcome.status == "completed" and outcome.exit_code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"run {outcome.run_id}")
    assert "✓ crash.main.n0 (" in lines[1]  # plain lines when not a TTY
    assert lines[-1].startswith(f"run {outcome.run_id}: completed")

    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "list", "--run-root", str(tmp_path / "runs")])
    assert listed.exit_code == 0 and "completed" in listed.output
    shown = runner.invoke(app, ["runs", "show", outcome.run_id, "--run-root", str(tmp_path / "runs")])
    assert shown.exit_code == 0
    tree = shown.output
    assert tree.index("main") < tree.index("sub") < tree.index("s0")
    assert "n5  completed" in tree
    missing = runner.invoke(app, ["runs", "show", "nope", "--run-root", str(tmp_path / "runs")])
    assert missing.exit_code == 2 and "unknown run 'nope'" in missing.output
    removed = runner.invoke(app, ["runs", "rm", outcome.run_id, "--run-root", str(tmp_path / "runs")])
    assert removed.exit_code == 0 and not (tmp_path / "runs" / outcome.run_id).exists()
    assert (
        outcome.run_id
        not in runner.invoke(app, ["runs", "list", "--run-root", str(tmp_path / "runs")]).output
    )


def test_resume_from_bad_path_exits_2_listing_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("CRASH_SIDE_EFFECTS", str(tmp_path / "side.txt"))
    monkeypatch.delenv("CRASH_BLOCK_AT", raising=False)
    first = run_python_target(
        f"{HERE / 'crash_flow.py'}:agent", run_root=tmp_path / "runs", progress=False, out=io.StringIO()
    )
    result = CliRunner().invoke(
        app, ["resume", first.run_id, "--from", "n3", "--no-progress", "--run-root", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2
    assert "resume path 'n3' names no component" in result.output and "crash.main.n3" in result.output


def test_parse_inputs():
    assert parse_inputs(['a.b={"x": 1}', "a.c=hello", "a.d=3"]) == {"a.b": {"x": 1}, "a.c": "hello", "a.d": 3}
    with pytest.raises(RunError, match=r"want node\.path=json"):
        parse_inputs(["nonsense"])


def test_bad_targets():
    with pytest.raises(RunError, match=r"want 'module\.py:agent_or_flow'"):
        run_python_target("no_colon.py")
    with pytest.raises(RunError, match="has no 'nothing': want one of agent, main, sub"):
        run_python_target(f"{HERE / 'crash_flow.py'}:nothing")


def test_a_module_that_fails_to_import_is_a_clear_error(tmp_path):
    bad = tmp_path / "badmod.py"
    bad.write_text("x = 1\nimport nonexistent_module_for_danaflow_tests\n")
    with pytest.raises(RunError) as info:
        run_python_target(f"{bad}:flow", run_root=tmp_path / "runs")
    message = str(info.value)
    assert "cannot load the module: ModuleNotFoundError" in message
    assert f"{bad}:2" in message
