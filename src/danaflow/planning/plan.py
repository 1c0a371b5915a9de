"""Plan and PlanStep: an objective broken into named steps (seed 000).

A step says what it is for (``description``, ``expected_duration``) and, optionally, how to do
it: a ``prompt`` for the reasoning LLM, a Dana ``program``, or a ``tool`` call. A step with only
a description is handed to a reasoning strategy. A plan is only data; ``execute`` turns it into a
flow and runs it (execute.py), so a plan can be built, drafted by an LLM, inspected and edited
before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from danaflow.errors import FlowDefinitionError

from .execute import aexecute_plan, execute_plan

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

    from .result import PlanResult

__all__ = ["Plan", "PlanStep"]

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_WANT_ID = "want letters, digits, '_' or '-', not starting with a digit"


@dataclass
class PlanStep:
    """One step of a plan. At most one of ``prompt``, ``program`` and ``tool`` is set.

    ``depends_on`` names earlier steps; when no step of a plan has any, the steps run in order,
    otherwise they form a DAG and independent steps run concurrently. ``prompt`` may use the
    flow's templates (``$hier{collect_data.outcome.text}``), and so may string ``tool_args``.
    """

    name: str
    description: str = ""
    expected_duration: str | None = None
    """How long the step should take, as people say it ("1 day"); informative only."""
    prompt: str | None = None
    """Asked of the reasoning LLM as it is (after templates); the answer is the step's value."""
    program: str | None = None
    """Dana source run in the plan's context (it sees and writes the agent/world/execution state)."""
    tool: str | None = None
    """The name of a registered ToolResource to call with ``tool_args``."""
    tool_args: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    strategy: str | None = None
    """The registered reasoning strategy for a description-only step (default: the plan's)."""
    output_type: Any = None
    """The desired type of a prompt or reasoning step's answer (None: str)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _ID.match(self.name):
            raise FlowDefinitionError(f"bad plan step name {self.name!r}: {_WANT_ID}")
        given = [k for k in ("prompt", "program", "tool") if getattr(self, k) is not None]
        if len(given) > 1:
            raise FlowDefinitionError(
                f"plan step {self.name!r}: got {' and '.join(given)}, "
                "want at most one of prompt, program, tool",
                path=self.name,
            )
        if self.tool_args and self.tool is None:
            raise FlowDefinitionError(f"plan step {self.name!r}: got tool_args without tool=", path=self.name)
        if not isinstance(self.tool_args, Mapping):
            raise FlowDefinitionError(
                f"plan step {self.name!r}: got tool_args {type(self.tool_args).__name__}, want a dict",
                path=self.name,
            )
        self.tool_args = dict(self.tool_args)
        deps = (self.depends_on,) if isinstance(self.depends_on, str) else tuple(self.depends_on)
        if self.name in deps:
            raise FlowDefinitionError(f"plan step {self.name!r} depends on itself", path=self.name)
        self.depends_on = deps

    @property
    def kind(self) -> str:
        """'prompt', 'program', 'tool', or 'reasoning' for a step with only a description."""
        if self.prompt is not None:
            return "prompt"
        if self.program is not None:
            return "program"
        if self.tool is not None:
            return "tool"
        return "reasoning"


class Plan:
    """``Plan(name, description, objective)``; add steps with ``add_step(PlanStep(...))``.

    ``name`` becomes the root component id of the plan's run (``name.step`` paths), so it
    follows the component id rules.
    """

    def __init__(
        self,
        name: str,
        description: str = "",
        objective: str = "",
        steps: Iterable[PlanStep] = (),
    ):
        if not isinstance(name, str) or not _ID.match(name):
            raise FlowDefinitionError(f"bad plan name {name!r}: {_WANT_ID}")
        self.name = name
        self.description = description
        self.objective = objective
        self._steps: dict[str, PlanStep] = {}
        for step in steps:
            self.add_step(step)

    # ---- steps --------------------------------------------------------------------------------
    def add_step(self, step: PlanStep) -> PlanStep:
        """Appends ``step``; a duplicate name or an unknown ``depends_on`` is refused here."""
        if not isinstance(step, PlanStep):
            raise FlowDefinitionError(
                f"plan {self.name!r}: got {type(step).__name__}, want a PlanStep", path=self.name
            )
        if step.name in self._steps:
            raise FlowDefinitionError(
                f"plan {self.name!r} already has a step named {step.name!r}", path=f"{self.name}.{step.name}"
            )
        unknown = [d for d in step.depends_on if d not in self._steps]
        if unknown:
            raise FlowDefinitionError(
                f"plan step {step.name!r} depends on {', '.join(map(repr, unknown))}, "
                f"want earlier steps (known: {', '.join(self._steps) or 'none'})",
                path=f"{self.name}.{step.name}",
            )
        self._steps[step.name] = step
        return step

    @property
    def steps(self) -> list[PlanStep]:
        return list(self._steps.values())

    def get_step(self, name: str) -> PlanStep:
        try:
            return self._steps[name]
        except KeyError:
            known = ", ".join(self._steps) or "none"
            raise FlowDefinitionError(
                f"plan {self.name!r} has no step {name!r} (steps: {known})", path=self.name
            ) from None

    def __iter__(self) -> Iterator[PlanStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self._steps)

    # ---- execution ----------------------------------------------------------------------------
    def execute(self, context: ExecutionContext, **options: Any) -> PlanResult:
        """Runs the plan as a flow in ``context``; see ``danaflow.planning.execute_plan``."""
        return execute_plan(self, context, **options)

    async def aexecute(self, context: ExecutionContext, **options: Any) -> PlanResult:
        """The async twin of ``execute``."""
        return await aexecute_plan(self, context, **options)

    def __repr__(self) -> str:
        steps = ", ".join(f"{s.name}({s.kind})" for s in self._steps.values())
        return f"Plan({self.name!r}, steps=[{steps}])"
