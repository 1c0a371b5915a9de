"""AgentState / WorldState / ExecutionState: attribute reads, atomic typed updates."""

from __future__ import annotations

import pytest

from danaflow.context import AgentState, ExecutionState, WorldState
from danaflow.errors import DanaflowError


class StepState(AgentState):
    current_step: int = 0
    notes: list[str] = []


def test_attribute_reads_and_writes():
    s = AgentState(goal="ship")
    assert s.goal == "ship" and s["goal"] == "ship"
    s.progress = 0.5
    assert s["progress"] == 0.5
    with pytest.raises(AttributeError, match="no field 'missing'"):
        _ = s.missing


def test_scope_names():
    assert AgentState().scope == "private"
    assert WorldState().scope == "public"
    assert ExecutionState().scope == "system"


def test_typed_fields_have_defaults_and_coerce():
    s = StepState()
    assert s.current_step == 0 and s.notes == []
    s.update(current_step="4")
    assert s.current_step == 4


def test_update_is_all_or_nothing():
    s = StepState(current_step=1)
    with pytest.raises(DanaflowError, match="current_step: got 'x'"):
        s.update(notes=["kept?"], current_step="x")
    assert s.current_step == 1 and s.notes == []  # neither field was written


def test_update_refuses_non_identifiers():
    s = AgentState()
    with pytest.raises(DanaflowError, match="want an identifier"):
        s.update({"not valid": 1, "ok": 2})
    assert "ok" not in s


def test_dana_writes_to_typed_fields_are_validated() -> None:
    from danaflow.context.context import ExecutionContext
    from danaflow.context.state import AgentState
    from danaflow.lang.api import run

    class Progress(AgentState):
        step: int = 0

    ctx = ExecutionContext(agent_state=Progress())
    ok = run('private:step = "3"\nprivate:note = "free-form"\n', ctx.sandbox)
    assert ok.error is None, ok.error
    assert ctx.agent_state.step == 3 and ctx.agent_state.note == "free-form"
    bad = run('private:step = "three"\n', ctx.sandbox)
    assert bad.error is not None and "step" in bad.error.message
    assert bad.error.location.line == 1
    assert ctx.agent_state.step == 3
