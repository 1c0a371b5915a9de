"""The crash test: ``kill -9`` a real run mid-flow, resume it, and check nothing ran twice or tore.

The run is a subprocess (``python -m danaflow.runs``); a node blocks on stdin after announcing itself
on stdout, so the test knows exactly when to kill (no sleeps, no timing), and confirms through the
SQLite store that the nodes before it completed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import danaflow
from danaflow.runs.cli_commands import run_status
from danaflow.runs.store import SQLiteRunStore

HERE = Path(__file__).parent
SRC = Path(danaflow.__file__).resolve().parent.parent
BEFORE = ["crash.main.n0", "crash.main.n1", "crash.main.sub.s0", "crash.main.sub.s1", "crash.main.n2"]
AFTER = ["crash.main.n3", "crash.main.n4", "crash.main.n5"]


def env_for(tmp: Path, side: Path, block_at: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CRASH_BLOCK_AT"}
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), str(HERE)]),
        CRASH_SIDE_EFFECTS=str(side),
        DANAFLOW_RUN_ROOT=str(tmp / "runs"),
    )
    if block_at:
        env["CRASH_BLOCK_AT"] = block_at
    return env


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "danaflow.runs", *args], env=env, cwd=cwd, capture_output=True, text=True
    )


def values(store: SQLiteRunStore, run_id: str) -> dict[str, object]:
    out = {}
    for c in store.list_components(run_id):
        result = json.loads(c.result)
        out[c.path] = (c.status, (result.get("outcome") or {}).get("value"))
    return out


def test_kill_9_mid_run_then_resume_completes_without_rerunning_anything(tmp_path):
    side = tmp_path / "side_effects.txt"
    target = f"{HERE / 'crash_flow.py'}:agent"
    proc = subprocess.Popen(
        [sys.executable, "-m", "danaflow.runs", "run", target, "--no-progress"],
        env=env_for(tmp_path, side, block_at="crash.main.n3"),
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("blocking at crash.main.n3"):
                break
        else:
            raise AssertionError(f"the run ended before blocking: {proc.stderr.read()}")
        store = SQLiteRunStore(tmp_path / "runs" / "danaflow.db")
        (crashed,) = store.list_runs()
        rows = {c.path: c.status for c in store.list_components(crashed.run_id)}
        assert all(rows[p] == "completed" for p in BEFORE)
        assert rows["crash.main.n3"] == "running"
    finally:
        proc.kill()  # SIGKILL: no handler, no flush, no atexit
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        proc.stdin.close()
    assert proc.returncode == -9
    assert side.read_text().splitlines() == BEFORE
    assert run_status(store.get_run(crashed.run_id)) == "interrupted"

    resumed = cli("resume", crashed.run_id, "--no-progress", env=env_for(tmp_path, side), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    # Every node's side effect happened exactly once across the crash and the resume.
    assert side.read_text().splitlines() == BEFORE + AFTER

    new_run = next(r for r in store.list_runs() if r.previous_run_id == crashed.run_id)
    assert new_run.status == "completed"
    components = {c.path: c for c in store.list_components(new_run.run_id)}
    assert {p for p, c in components.items() if c.reused} == {*BEFORE, "crash.main.sub"}
    assert all(c.status == "completed" for c in components.values())

    # No torn artifact, no half row: the db checks clean, every row's JSON parses and matches its file.
    db = sqlite3.connect(tmp_path / "runs" / "danaflow.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    for run_id in (crashed.run_id, new_run.run_id):
        run_dir = tmp_path / "runs" / run_id
        for c in store.list_components(run_id):
            if c.status == "completed":
                assert json.loads(c.result)["path"] == c.path
                # result.json mirrors trail the store; any that exists is whole and equal to its row.
                mirror = run_dir / c.path / "result.json"
                if run_id == new_run.run_id or mirror.exists():
                    assert mirror.read_text() == c.result
        for line in (run_dir / "trace.jsonl").read_text().splitlines():
            json.loads(line)

    # The results equal those of a run that never crashed.
    clean_side = tmp_path / "clean_side_effects.txt"
    clean = cli("run", target, "--no-progress", env=env_for(tmp_path, clean_side), cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    clean_run = next(r for r in store.list_runs() if r.run_id not in (crashed.run_id, new_run.run_id))
    assert values(store, new_run.run_id) == values(store, clean_run.run_id)
    assert clean_side.read_text().splitlines() == BEFORE + AFTER
    store.close()
