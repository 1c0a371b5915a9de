"""Tests for danaflow.runs.resume.ResumePlan: the reuse rule and the exact-path check."""

from __future__ import annotations

import pytest

from danaflow.errors import RunError
from danaflow.runs.resume import ResumePlan
from danaflow.runs.store import ComponentRecord, MemoryRunStore, RunRecord

# The previous run: agent a, flow a.f with nodes n1..n3 (n3 crashed while running), flow a.g done.
ROWS = [
    ("a", "running", 0),
    ("a.f", "running", 1),
    ("a.f.n1", "completed", 2),
    ("a.f.n2", "completed", 3),
    ("a.f.n3", "running", 4),
]


def plan(start: str | None, rows=ROWS) -> ResumePlan:
    store = MemoryRunStore()
    store.create_run(RunRecord("prev", "a", "running", 1.0, 1.0))
    store.put_components(
        [
            ComponentRecord(
                "prev", path, status, seq, result=f'{{"path": "{path}"}}' if status == "completed" else None
            )
            for path, status, seq in rows
        ]
    )
    return ResumePlan.load(store, "prev", start)


def test_no_path_reuses_exactly_what_completed():
    p = plan(None)
    assert [x for x in ("a", "a.f", "a.f.n1", "a.f.n2", "a.f.n3") if p.reusable(x)] == ["a.f.n1", "a.f.n2"]
    assert p.reusable("a.f.n4") is None  # never ran


def test_start_path_reruns_it_its_ancestors_and_everything_after():
    done = [(path, "completed", seq) for path, _, seq in ROWS] + [
        ("a.g", "completed", 5),
        ("a.g.x", "completed", 6),
    ]
    p = plan("a.f.n2", done)
    p.check_paths(["a", "a.f", "a.f.n1", "a.f.n2", "a.f.n3", "a.g", "a.g.x"])
    reused = [path for path, _, _ in done if p.reusable(path)]
    assert reused == ["a.f.n1"]


def test_start_path_that_is_a_container_reruns_its_subtree():
    done = [("a", "completed", 0), ("a.f", "completed", 1), ("a.f.n1", "completed", 2),
            ("a.g", "completed", 3), ("a.g.y", "completed", 4)]  # fmt: skip
    p = plan("a.g", done)
    assert [path for path, _, _ in done if p.reusable(path)] == ["a.f", "a.f.n1"]
    assert [r.path for r in p.subtree("a.f")] == ["a.f", "a.f.n1"]


def test_path_that_names_nothing_lists_valid_paths_and_never_suffix_matches():
    p = plan("n2")  # a suffix of a.f.n2: must not match
    with pytest.raises(RunError) as info:
        p.check_paths(["a", "a.f", "a.f.n1", "a.f.n2", "a.f.n3"])
    message = str(info.value)
    assert "resume path 'n2' names no component of run 'prev'" in message
    assert "want one of a, a.f, a.f.n1, a.f.n2, a.f.n3" in message


def test_static_paths_that_never_ran_are_valid_starts():
    p = plan("a.f.n4")
    p.check_paths(["a", "a.f", "a.f.n4"])
    # The start never ran, so everything that completed came before it.
    assert p.reusable("a.f.n1") is not None


def test_input_paths_are_checked_too():
    p = plan(None)
    with pytest.raises(RunError, match=r"input path 'a\.f\.nx'.*did you mean"):
        p.check_paths(["a", "a.f", "a.f.n1"], {"a.f.nx": 1})


def test_unknown_previous_run():
    store = MemoryRunStore()
    with pytest.raises(RunError, match="cannot resume unknown run 'ghost'"):
        ResumePlan.load(store, "ghost", None)


def test_for_each_iterations_match_the_static_pattern_exactly():
    p = plan("a.loop.7.x")
    p.check_paths(["a", "a.loop", "a.loop.*", "a.loop.*.x"])
    with pytest.raises(RunError) as info:
        plan("a.loop.seven.x").check_paths(["a", "a.loop", "a.loop.*", "a.loop.*.x"])
    assert str(info.value).endswith("want one of a, a.f, a.f.n1, a.f.n2, a.f.n3, a.loop")
