"""Fixtures for the viewer's tests: real runs of ``sample_flows.py`` in a real run root, the app
behind Starlette's TestClient, and (for browser tests) a real ``danaflow ui`` server process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed (pip install 'danaflow[ui]')")

from starlette.testclient import TestClient

from danaflow.runs.cli_commands import RunOutcome, run_python_target
from danaflow.ui.app import UIConfig, create_app
from danaflow.ui.serve import store_opener

FLOWS = Path(__file__).resolve().parent / "sample_flows.py"


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def run_flow(run_root: Path, fake_llm, monkeypatch) -> Callable[..., RunOutcome]:
    """Runs ``sample_flows.py:<name>`` durably in ``run_root`` (LLM calls go to the fake server)."""
    monkeypatch.setenv("DANAFLOW_LLM", fake_llm.spec)

    def run(name: str, **inputs: object) -> RunOutcome:
        return run_python_target(
            f"{FLOWS}:{name}", run_root=run_root, progress=False, out=io.StringIO(), inputs=inputs or None
        )

    return run


def make_client(run_root: Path, **config: object) -> TestClient:
    app = create_app(UIConfig(run_root=run_root, open_store=store_opener(run_root, None), **config))  # type: ignore[arg-type]
    return TestClient(app, base_url="http://127.0.0.1:7860")


@pytest.fixture
def client(run_root: Path) -> Iterator[TestClient]:
    with make_client(run_root) as c:
        yield c


def csrf_of(html: str) -> str:
    marker = '<meta name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    run_root: Path


@pytest.fixture
def ui_server(run_root: Path, fake_llm, tmp_path: Path) -> Iterator[Server]:
    """``danaflow ui --port 0`` as a real process over ``run_root``; its URL is its first line."""
    env = {
        **os.environ,
        "DANAFLOW_LLM": fake_llm.spec,
        "UI_TEST_GATE": str(tmp_path / "gate"),
        "UI_TEST_COUNTS": str(tmp_path / "counts.txt"),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "danaflow.cli", "ui", "--run-root", str(run_root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("danaflow ui: "):
        process.kill()
        _, err = process.communicate(timeout=10)
        pytest.fail(f"danaflow ui did not start: {first!r}\n{err}")
    try:
        yield Server(first.split(": ", 1)[1].strip(), process, run_root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
