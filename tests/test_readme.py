"""The README's Python examples run as written: on the local fake server (fast), and on the
embedded model, where the flow must still complete and write a file (slow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    assert lines[0] == "```bash"
    assert lines[1].startswith("bash scripts/setup.sh && .venv/bin/danaflow run examples/demo.na")
    assert lines[2].startswith(".venv/bin/python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest" in ci


def test_readme_python_examples_run(fake_llm, tmp_path: Path) -> None:
    fake_llm.add_rule(
        match="Repository",
        reply='{"summary": "a test", "file_operations": [{"type": "create_file", "path": "test_calc.py", '
        '"content": "def test_add():\\n    assert 1 + 1 == 2\\n"}]}',
    )
    fake_llm.default_reply = "a short answer"
    env = {**os.environ, "DANAFLOW_LLM": fake_llm.spec}
    runnable = [b for b in _python_blocks() if "import" in b]
    assert len(runnable) >= 2
    for block in runnable:
        proc = subprocess.run(
            [sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )
        assert proc.returncode == 0, f"{block}\n--- stderr ---\n{proc.stderr}"
    # The flow example ends by listing what the staged file operations wrote.
    assert "completed ['test_calc.py']" in proc.stdout


@pytest.mark.slow
def test_readme_python_examples_run_on_the_embedded_model(tmp_path: Path) -> None:
    env = {**os.environ, "DANAFLOW_LLM": "local:smollm2"}
    runnable = [b for b in _python_blocks() if "import" in b]
    outputs = []
    for block in runnable:
        proc = subprocess.run(
            [sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900
        )
        assert proc.returncode == 0, f"{block}\n--- stderr ---\n{proc.stderr}"
        assert "FutureWarning" not in proc.stderr
        outputs.append(proc.stdout)
    dana, flow = outputs[0], outputs[-1]
    assert dana.strip() and "Error" not in dana  # the summary, not an error
    # The schema's Literal/pattern/min_length keep the small model's answer a valid file operation.
    assert re.search(r"^completed \['test_[a-z_]+\.py'\]$", flow, re.M), flow
