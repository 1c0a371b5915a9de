"""The planning layer (seed 000): plans, reasoning strategies, drafting, transcoding and executing plans."""

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
from .transcode import TranscodeAttempt, TranscodedProgram, atranscode, transcode

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
    "TranscodeAttempt",
    "TranscodedProgram",
    "adraft_plan",
    "aexecute_plan",
    "atranscode",
    "build_flow",
    "draft_plan",
    "execute_plan",
    "transcode",
]
