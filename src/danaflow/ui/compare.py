"""Comparing two runs of the same root: which components changed status, output or duration.

Components are matched by exact path (for_each iterations by index). Output means the stored
``outcome`` and ``output`` compared as canonical JSON; a duration counts as changed when it moved
by more than half (and by more than 50 ms, so microsecond noise on trivial nodes stays quiet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from danaflow.runs.store import ComponentRecord

__all__ = ["ComponentDiff", "compare_components"]

_RATIO = 1.5
_MIN_DELTA_S = 0.05


@dataclass(frozen=True, slots=True)
class ComponentDiff:
    path: str
    a: ComponentRecord | None
    b: ComponentRecord | None
    status_changed: bool
    output_changed: bool
    duration_changed: bool

    @property
    def changed(self) -> bool:
        return self.status_changed or self.output_changed or self.duration_changed

    @property
    def delta_s(self) -> float | None:
        if self.a is None or self.b is None or self.a.duration_s is None or self.b.duration_s is None:
            return None
        return self.b.duration_s - self.a.duration_s


def _output_of(record: ComponentRecord | None) -> str | None:
    if record is None or record.result is None:
        return None
    try:
        data: Any = json.loads(record.result)
    except ValueError:
        return record.result
    if not isinstance(data, dict):
        return json.dumps(data, sort_keys=True)
    return json.dumps({"outcome": data.get("outcome"), "output": data.get("output")}, sort_keys=True)


def _duration_changed(a: ComponentRecord | None, b: ComponentRecord | None) -> bool:
    if a is None or b is None or a.duration_s is None or b.duration_s is None:
        return False
    if a.reused or b.reused:
        return False  # a reused component did not run: its duration says nothing
    slow, fast = max(a.duration_s, b.duration_s), min(a.duration_s, b.duration_s)
    return slow - fast > _MIN_DELTA_S and slow > fast * _RATIO


def compare_components(a: list[ComponentRecord], b: list[ComponentRecord]) -> list[ComponentDiff]:
    """One row per path in either run: A's order first, then paths only B has, in B's order."""
    by_a = {r.path: r for r in a}
    by_b = {r.path: r for r in b}
    order = [r.path for r in a] + [r.path for r in b if r.path not in by_a]
    rows = []
    for path in order:
        ra, rb = by_a.get(path), by_b.get(path)
        rows.append(
            ComponentDiff(
                path,
                ra,
                rb,
                status_changed=(ra.status if ra else None) != (rb.status if rb else None),
                output_changed=_output_of(ra) != _output_of(rb),
                duration_changed=_duration_changed(ra, rb),
            )
        )
    return rows
