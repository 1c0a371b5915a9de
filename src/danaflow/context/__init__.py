"""Execution contexts, their results and the state views (DESIGN §1)."""

from __future__ import annotations

from .context import ExecutionContext
from .resources import DatabaseResource, Resource, ToolResource
from .result import ErrorInfo, NodeExecutionResult, NodeOutcome, Usage
from .state import AgentState, ExecutionState, StateView, WorldState
from .status import ExecutableTypeEnum, ExecutionStatusEnum

__all__ = [
    "AgentState",
    "DatabaseResource",
    "ErrorInfo",
    "ExecutableTypeEnum",
    "ExecutionContext",
    "ExecutionState",
    "ExecutionStatusEnum",
    "NodeExecutionResult",
    "NodeOutcome",
    "Resource",
    "StateView",
    "ToolResource",
    "Usage",
    "WorldState",
]
