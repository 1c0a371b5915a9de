"""The complete Python examples in docs/ run as written: LLM calls go to the local fake server
(fast), or to the embedded model (slow), where each must still succeed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _examples() -> list[tuple[str, int, str]]:
    found = []
    for md in sorted(DOCS.glob("*.md")):
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", md.read_text(), re.S)):
            # Complete examples import what they use; fragments (and notebook-style top-level
            # `await` snippets that assume an earlier cell) are prose.
            if "import " in block and not re.search(r"^\w.*\bawait\b", block, re.M):
                found.append((md.name, i, block))
    return found


EXAMPLES = _examples()


def test_the_docs_have_runnable_examples() -> None:
    assert {name for name, _, _ in EXAMPLES} >= {"flows.md", "language.md", "llm.md", "planning.md"}


@pytest.mark.parametrize(("name", "index", "block"), EXAMPLES, ids=[f"{n}[{i}]" for n, i, _ in EXAMPLES])
def test_doc_example_runs(name: str, index: int, block: str, fake_llm, tmp_path: Path) -> None:
    fake_llm.add_rule(match="capital", reply="Paris")
    fake_llm.add_rule(match="days", reply='{"value": 7}')
    fake_llm.add_rule(match="Ada", reply='{"name": "Ada Lovelace", "age": 36}')
    fake_llm.add_rule(match="colors", reply='{"value": ["red", "green", "blue"]}')
    fake_llm.default_reply = '{"reasoning": "short", "answer": "done"}'
    env = {**os.environ, "DANAFLOW_LLM": fake_llm.spec}
    proc = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, f"{name} example {index}:\n{block}\n--- stderr ---\n{proc.stderr}"


EMBEDDED_EXPECT = {
    ("planning.md", 0): "completed ['collect_data', 'analyze_data']",
}
"""What an example's output must contain on the embedded model (besides exiting 0)."""


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index", "block"), EXAMPLES, ids=[f"{n}[{i}]" for n, i, _ in EXAMPLES])
def test_doc_example_runs_on_the_embedded_model(name: str, index: int, block: str, tmp_path: Path) -> None:
    env = {**os.environ, "DANAFLOW_LLM": "local:smollm2"}
    proc = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900
    )
    assert proc.returncode == 0, f"{name} example {index}:\n{block}\n--- stderr ---\n{proc.stderr}"
    assert "FutureWarning" not in proc.stderr
    assert EMBEDDED_EXPECT.get((name, index), "") in proc.stdout, proc.stdout
    assert "Error" not in proc.stdout, proc.stdout
