"""The programs in examples/ run as their docstrings say: on the local fake server (fast), and on
the embedded model, the default a new user meets (slow), where each must still succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLI = [sys.executable, "-m", "danaflow.launcher"]  # what the `danaflow` console script runs


def _run(args: list[str], cwd: Path, llm: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DANAFLOW_LLM": llm}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert "FutureWarning" not in proc.stderr
    return proc


def _script_rules(fake_llm) -> None:
    fake_llm.add_rule(match="one word", reply="Paris")
    fake_llm.add_rule(match="days are in a week", reply='{"value": 7}')
    fake_llm.add_rule(match="sun hot", reply='{"value": true}')
    fake_llm.add_rule(match="capital city", reply='{"city": "Paris", "country": "France"}')
    fake_llm.add_rule(
        match="Task Specification",
        reply=json.dumps(
            {
                "summary": "one test",
                "file_operations": [
                    {"type": "create_file", "path": "test_calc.py", "content": "def test_add():\n    pass\n"}
                ],
            }
        ),
    )
    fake_llm.default_reply = "The four scopes are local, private, public and system."


def test_demo_na(fake_llm, tmp_path: Path) -> None:
    _script_rules(fake_llm)
    proc = _run([*CLI, "run", str(EXAMPLES / "demo.na")], tmp_path, fake_llm.spec)
    assert "capital of France: Paris" in proc.stdout and "days in a week: 7 (int)" in proc.stdout
    assert "Capital(city='Paris', country='France')" in proc.stdout


def test_hello_flow_through_the_cli(fake_llm, tmp_path: Path) -> None:
    _script_rules(fake_llm)
    proc = _run(
        [
            *CLI,
            "run",
            f"{EXAMPLES / 'hello_flow.py'}:flow",
            "--no-progress",
            "--run-root",
            str(tmp_path / "runs"),
        ],
        tmp_path,
        fake_llm.spec,
    )
    assert ": completed" in proc.stdout and "four scopes" in proc.stdout


def test_practical_flow(fake_llm, tmp_path: Path) -> None:
    _script_rules(fake_llm)
    proc = _run([sys.executable, str(EXAMPLES / "practical_flow.py")], tmp_path, fake_llm.spec)
    assert "flow: completed" in proc.stdout
    assert "--- generated/test_calc.py\ndef test_add():" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["run", "demo.na"], "stored in private:results"),
        (["run", "hello_flow.py:flow", "--no-progress"], ": completed"),
        (["python", "practical_flow.py"], "flow: completed"),
        (["python", "seed000_tutorial.py"], "- Status: completed"),
    ],
    ids=["demo.na", "hello_flow", "practical_flow", "seed000_tutorial"],
)
def test_examples_on_the_embedded_model(args: list[str], expect: str, tmp_path: Path) -> None:
    if args[0] == "python":
        command = [sys.executable, str(EXAMPLES / args[1])]
    else:
        command = [*CLI, args[0], str(EXAMPLES / args[1]), *args[2:]]
    proc = _run(command, tmp_path, "local:smollm2", timeout=1200)
    assert expect in proc.stdout, proc.stdout
