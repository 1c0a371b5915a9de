"""The definition behind a run: loaded from its target, cached, and walked by component path."""

from __future__ import annotations

from pathlib import Path

from danaflow.flow.definition import NodeElement
from danaflow.runs.store import RunRecord
from danaflow.ui.definitions import Definitions, element_at, input_schema

from .conftest import FLOWS


def _record(target: str | None, kind: str = "python") -> RunRecord:
    meta = {"target": target, "target_kind": kind} if target else {}
    return RunRecord("r", "asks", "completed", 1.0, 1.0, meta=meta)


def test_a_target_loads_once_and_reloads_when_its_file_changes(tmp_path: Path) -> None:
    module = tmp_path / "mod.py"
    module.write_text("from danaflow import FlowDefinition\nflow = FlowDefinition('a')\n")
    defs = Definitions()
    first = defs.for_run(_record(f"{module}:flow"))
    assert first.definition is not None and defs.for_run(_record(f"{module}:flow")) is first
    module.write_text("raise ValueError('broken')\n")
    import os

    os.utime(module, (1, 1))
    broken = defs.for_run(_record(f"{module}:flow"))
    assert broken.definition is None and "broken" in (broken.reason or "")


def test_runs_without_a_target_or_with_imports_off_give_reasons(tmp_path: Path) -> None:
    assert "started from Python" in (Definitions().for_run(_record(None)).reason or "")
    assert "no longer exists" in (Definitions().for_run(_record(f"{tmp_path}/gone.py:f")).reason or "")
    assert "--no-import" in (Definitions(enabled=False).for_run(_record(f"{FLOWS}:asks")).reason or "")


def test_element_at_walks_paths_and_reads_the_input_schema() -> None:
    loaded = Definitions().for_run(_record(f"{FLOWS}:asks"))
    element = element_at(loaded.definition, "asks", "asks.approve")
    assert isinstance(element, NodeElement)
    schema, validator, description = input_schema(element)
    assert set(schema["properties"]) == {"approved", "reviewer", "priority"} and validator is not None
    assert description == "Approve the draft before it ships"
    assert element_at(loaded.definition, "asks", "asks.nope") is None
    assert element_at(loaded.definition, "asks", "other.approve") is None
    loop = Definitions().for_run(_record(f"{FLOWS}:loop")).definition
    assert isinstance(element_at(loop, "loop", "loop.each.7.body"), NodeElement)
