"""Pure scheduling steps for a flow plan: which components are ready, which must be skipped.

Kept apart from the runner (as langgraph keeps ``_algo.py`` apart from its loop) so the rules —
an edge is taken when its source completed (on_success) or failed (on_error); a component whose
incoming edges are all settled runs if every one was taken and is skipped otherwise; skipping
spreads to dependents — are testable without an event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from .definition import FlowPlan

__all__ = ["DagState", "flow_failed", "initial_ready", "settle"]


@dataclass(slots=True)
class DagState:
    """How many incoming edges of each component are still unsettled, and whether one was not taken."""

    remaining: list[int]
    blocked: list[bool]

    @classmethod
    def start(cls, plan: FlowPlan) -> DagState:
        return cls([len(p) for p in plan.preds], [False] * len(plan.preds))


def initial_ready(plan: FlowPlan) -> list[int]:
    """Components with no incoming edges, in definition order."""
    return [i for i, p in enumerate(plan.preds) if not p]


def settle(plan: FlowPlan, state: DagState, index: int, completed: bool) -> tuple[list[int], list[int]]:
    """Records that component ``index`` finished (completed, or else failed) and returns the
    components that became ready and those that must be skipped (transitively), in order found.
    """
    ready: list[int] = []
    skipped: list[int] = []
    work = [(index, completed, False)]
    remaining, blocked = state.remaining, state.blocked
    while work:
        i, ok, is_skip = work.pop()
        for target, on_success, on_error in plan.succs[i]:
            taken = not is_skip and ((ok and on_success) or (not ok and on_error))
            if not taken:
                blocked[target] = True
            remaining[target] -= 1
            if remaining[target] == 0:
                if blocked[target]:
                    skipped.append(target)
                    work.append((target, False, True))
                else:
                    ready.append(target)
    return ready, skipped


def flow_failed(plan: FlowPlan, failed: list[int]) -> list[int]:
    """The failed components that no on_error edge routes: each of them fails the flow."""
    return [i for i in failed if not plan.error_routed[i]]
