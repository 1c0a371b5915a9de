"""Comparing runs: status, output and (large) duration changes, matched by exact path."""

from __future__ import annotations

from danaflow.runs.store import ComponentRecord
from danaflow.ui.compare import compare_components


def _rec(path: str, status: str = "completed", out: str = "1", dur: float = 0.01, reused: bool = False):
    result = f'{{"outcome": {{"text": "{out}"}}, "output": null, "started_at": "ignored-{dur}"}}'
    return ComponentRecord(
        "r", path, status, 0, result=result, started_at=0.0, finished_at=dur, reused=reused
    )


def test_changes_are_found_by_kind() -> None:
    a = [_rec("f.a"), _rec("f.b"), _rec("f.c", dur=0.1), _rec("f.gone")]
    b = [_rec("f.a"), _rec("f.b", "failed", out="2"), _rec("f.c", dur=0.4), _rec("f.new")]
    rows = {r.path: r for r in compare_components(a, b)}
    assert list(rows) == ["f.a", "f.b", "f.c", "f.gone", "f.new"]
    assert not rows["f.a"].changed
    assert rows["f.b"].status_changed and rows["f.b"].output_changed and not rows["f.b"].duration_changed
    assert rows["f.c"].duration_changed and not rows["f.c"].output_changed
    assert abs(rows["f.c"].delta_s - 0.3) < 1e-9
    assert rows["f.gone"].b is None and rows["f.gone"].status_changed and rows["f.new"].a is None


def test_small_or_reused_duration_moves_are_not_changes() -> None:
    rows = compare_components(
        [_rec("x", dur=0.001), _rec("y", dur=0.1)], [_rec("x", dur=0.004), _rec("y", dur=1, reused=True)]
    )
    assert not any(r.duration_changed for r in rows)
