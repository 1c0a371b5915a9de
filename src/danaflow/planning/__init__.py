"""The planning layer (seed 000): plans, reasoning strategies, drafting and executing plans."""

from __future__ import annotations

from .drafting import StepDraft, adraft_plan, draft_plan
from .execute import StepNode, aexecute_plan, build_flow, execute_plan
from .plan import Plan, PlanStep
from .result import PlanResult, StepResult
from .strategies import (
    ChainOfThoughtStrategy,
    DirectStrategy,
    ReActStrategy,
    ReasoningStrategy,
    StrategyResult,
)

__all__ = [
    "ChainOfThoughtStrategy",
    "DirectStrategy",
    "Plan",
    "PlanResult",
    "PlanStep",
    "ReActStrategy",
    "ReasoningStrategy",
    "StepDraft",
    "StepNode",
    "StepResult",
    "StrategyResult",
    "adraft_plan",
    "aexecute_plan",
    "build_flow",
    "draft_plan",
    "execute_plan",
]
