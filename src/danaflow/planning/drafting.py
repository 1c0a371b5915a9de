"""Drafting a plan from an objective with the planning LLM (seed 000's planning layer).

The planning LLM is asked for a typed answer, a list of ``StepDraft`` (name, description,
expected duration), never prose to parse. Drafted steps are description-only: they run through
the reasoning strategy, and a caller can edit the plan (add prompts, programs or tool calls)
before executing it. Names from a model are not trusted to be valid ids, so they are turned
into unique identifiers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from danaflow.errors import ReasonError

from ._sync import run_sync
from .plan import Plan, PlanStep

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["StepDraft", "adraft_plan", "draft_plan", "planning_llm"]


class StepDraft(BaseModel):
    """One step as the planning LLM proposes it."""

    name: str = Field(description="a short snake_case name for the step")
    description: str = Field(description="what the step does")
    expected_duration: str = Field(default="", description='how long it should take, e.g. "1 day"')


_PROMPT = (
    "You are planning how to reach an objective. Break it into {lo} to {hi} concrete steps, in the "
    "order they should run. For each step give a short snake_case name, a one-sentence "
    "description, and an expected duration.\n\nObjective: {objective}"
)


def planning_llm(context: ExecutionContext | None) -> Any:
    """The context's planning LLM (walking up), else the configured default model."""
    for ctx in context.ancestry() if context is not None else ():
        if ctx.planning_llm is not None:
            return ctx.planning_llm
    from danaflow.llm import default_llm  # deferred: the LLM layer costs a fifth of a second

    return default_llm()


async def adraft_plan(
    objective: str,
    context: ExecutionContext | None = None,
    *,
    llm: Any = None,
    name: str = "plan",
    description: str = "",
    min_steps: int = 1,
    max_steps: int = 5,
    **llm_options: Any,
) -> Plan:
    """A Plan for ``objective`` drafted by the planning LLM (``llm``, else the context's).

    Raises ReasonError when the model's steps are fewer than ``min_steps``; extra steps beyond
    ``max_steps`` are dropped.
    """
    llm = llm if llm is not None else planning_llm(context)
    prompt = _PROMPT.format(lo=min_steps, hi=max_steps, objective=objective)
    drafts: list[StepDraft] = await llm.agenerate(prompt, list[StepDraft], **llm_options)
    if len(drafts) < min_steps:
        raise ReasonError(
            f"the planning LLM drafted {len(drafts)} steps for {objective!r}, want at least {min_steps}",
            raw=repr(drafts),
        )
    plan = Plan(name, description, objective)
    used: set[str] = set()
    for i, draft in enumerate(drafts[:max_steps], 1):
        step_name = _identifier(draft.name, f"step_{i}", used)
        used.add(step_name)
        plan.add_step(
            PlanStep(
                name=step_name,
                description=draft.description.strip() or draft.name,
                expected_duration=draft.expected_duration.strip() or None,
            )
        )
    return plan


def draft_plan(objective: str, context: ExecutionContext | None = None, **options: Any) -> Plan:
    """The blocking twin of ``adraft_plan``."""
    return run_sync(adraft_plan(objective, context, **options))


def _identifier(text: str, fallback: str, used: set[str]) -> str:
    base = re.sub(r"[^0-9A-Za-z_]+", "_", text.strip().lower()).strip("_")[:48] or fallback
    if base[0].isdigit():
        base = f"step_{base}"
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    return name
