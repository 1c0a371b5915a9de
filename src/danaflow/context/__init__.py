"""Execution contexts, their results and the state views (DESIGN §1)."""

from __future__ import annotations

from .context import ExecutionContext
from .result import ErrorInfo, NodeExecutionResult, NodeOutcome, Usage
from .state import AgentState, ExecutionState, StateView, WorldState
from .status import ExecutableTypeEnum, ExecutionStatusEnum

__all__ = [
    "AgentState",
    "ErrorInfo",
    "ExecutableTypeEnum",
    "ExecutionContext",
    "ExecutionState",
    "ExecutionStatusEnum",
    "NodeExecutionResult",
    "NodeOutcome",
    "StateView",
    "Usage",
    "WorldState",
]
