"""Actions: a resume hands back the new run's id at once, or the error that stopped it."""

from __future__ import annotations

from pathlib import Path

import pytest

from danaflow.errors import RunError
from danaflow.runs.store import open_store
from danaflow.ui.actions import Actions


def test_a_resume_returns_the_new_run_id(run_flow, run_root: Path) -> None:
    previous = run_flow("steps").run_id
    with open_store(run_root) as store:
        actions = Actions(run_root, store)
        first = actions.resume(previous, from_path="steps.c")
        second = actions.resume(previous, from_path="steps.b")
        actions.join(30)
        assert first != second
        for new_id, start in ((first, "steps.c"), (second, "steps.b")):
            record = store.get_run(new_id)
            assert record is not None and record.previous_run_id == previous and record.start_path == start
            assert record.status == "completed"


def test_a_resume_that_cannot_start_raises_its_error(run_flow, run_root: Path) -> None:
    previous = run_flow("steps").run_id
    with open_store(run_root) as store:
        actions = Actions(run_root, store)
        with pytest.raises(RunError, match=r"steps\.nope"):
            actions.resume(previous, from_path="steps.nope")
        with pytest.raises(RunError, match="no-such-run"):
            actions.resume("no-such-run")
        assert [r.run_id for r in store.list_runs()] == [previous]  # a failed start leaves no run
