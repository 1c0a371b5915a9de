"""PlanResult and StepResult: what executing a plan reports back (seed 000's ``result.status``).

They are a planning-level reading of the flow's NodeExecutionResults: one record per step (its
kind, status, value, reasoning, error) and a summary (status, completed steps, total duration,
the step that failed). The run itself (run dir, trace, store rows) stays where the run put it;
``run_id`` and ``run_dir`` point there, so a failed plan can be inspected or resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danaflow.context.status import ExecutionStatusEnum
from danaflow.errors import ComponentError

__all__ = ["PlanResult", "StepResult"]


@dataclass
class StepResult:
    """The outcome of one plan step."""

    name: str
    kind: str
    """'prompt', 'program', 'tool' or 'reasoning' (a description executed by a strategy)."""
    status: ExecutionStatusEnum
    output: Any = None
    """The step's value: the typed answer, the Dana program's value, the tool's return value."""
    text: str | None = None
    """The value as text (what a Dana program printed, when it printed)."""
    reasoning: str | None = None
    """The chain of thought (or the final ReAct thought) behind a reasoning step's answer."""
    strategy: str | None = None
    """The name of the strategy that executed a reasoning step."""
    trace: list[dict[str, Any]] = field(default_factory=list)
    """A ReAct step's iterations: thought, action, args, observation."""
    error: str | None = None
    duration: float | None = None
    """Seconds, from the run's timestamps (None for a skipped step)."""
    reused: bool = False
    """True when a resumed run took this result from the previous run."""
    path: str = ""
    """The component path of the step in the run (``plan_name.step_name``)."""

    @property
    def ok(self) -> bool:
        return self.status is ExecutionStatusEnum.completed


@dataclass
class PlanResult:
    """The outcome of ``execute_plan``: ``status``, ``completed_steps``, ``total_duration`` (s)."""

    plan: str
    status: ExecutionStatusEnum
    completed_steps: list[str]
    """Names of the steps that completed, in plan order."""
    total_duration: float
    """Wall-clock seconds the plan's flow took (0.0 if it never started)."""
    step_results: dict[str, StepResult]
    """Every step's record by name, in plan order (skipped steps included)."""
    failed_step: str | None = None
    """The first step that failed, when the plan failed."""
    error: str | None = None
    """Why the plan failed, naming the step."""
    run_id: str | None = None
    run_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status is ExecutionStatusEnum.completed

    @property
    def skipped_steps(self) -> list[str]:
        return [n for n, r in self.step_results.items() if r.status is ExecutionStatusEnum.skipped]

    @property
    def output(self) -> Any:
        """The value of the last step that completed (the plan's answer), or None."""
        for name in reversed(self.completed_steps):
            return self.step_results[name].output
        return None

    def __getitem__(self, step: str) -> StepResult:
        try:
            return self.step_results[step]
        except KeyError:
            known = ", ".join(self.step_results) or "none"
            raise KeyError(f"plan {self.plan!r} has no step {step!r} (steps: {known})") from None

    def raise_for_status(self) -> PlanResult:
        """Raises ComponentError naming the failed step unless the plan completed."""
        if not self.ok:
            where = f"{self.plan}.{self.failed_step}" if self.failed_step else self.plan
            raise ComponentError(self.error or f"plan {self.plan!r} ended {self.status.value}", path=where)
        return self
