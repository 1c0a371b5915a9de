"""Tests for danaflow.runs.artifacts: run dir layout, atomic writes, artifact names."""

from __future__ import annotations

import json

import pytest

from danaflow.errors import RunError
from danaflow.runs.artifacts import ArtifactManager, RunDirectory, atomic_write_text, component_dirname


def test_layout_and_results(tmp_path):
    rd = RunDirectory(tmp_path, "run_1").create()
    assert (tmp_path / "run_1" / "custom-artifacts").is_dir()
    rd.write_json("run.json", {"run_id": "run_1"})
    rd.write_result("agent.flow.node", '{"ok": true}')
    assert json.loads((tmp_path / "run_1" / "run.json").read_text()) == {"run_id": "run_1"}
    assert (tmp_path / "run_1" / "agent.flow.node" / "result.json").read_text() == '{"ok": true}'
    assert rd.read_result("agent.flow.node") == '{"ok": true}'
    assert rd.read_result("agent.other") is None
    assert rd.stray_temp_files() == []


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new" * 1000, fsync=True)
    assert target.read_text() == "new" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_component_dirname_keeps_dots_and_refuses_escapes():
    assert component_dirname("agent.flow.loop.0.node") == "agent.flow.loop.0.node"
    assert component_dirname("a/../b") == "a_.._b"
    with pytest.raises(RunError, match="bad component path"):
        component_dirname("..")


def test_artifact_manager_saves_per_component_and_custom(tmp_path):
    rd = RunDirectory(tmp_path, "r").create()
    am = ArtifactManager(rd)
    p = am.save("agent.f.n", "answer.json", {"x": 1})
    assert p == tmp_path / "r" / "agent.f.n" / "answer.json"
    assert json.loads(am.load("agent.f.n", "answer.json")) == {"x": 1}
    assert am.save_custom("notes.txt", "hi").read_text() == "hi"
    with pytest.raises(RunError, match="plain file name"):
        am.save("agent.f.n", "../escape.txt", "x")
    with pytest.raises(RunError, match="no artifact"):
        am.load("agent.f.n", "missing.bin")
