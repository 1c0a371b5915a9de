"""Execution contexts, their results and the state views (DESIGN §1)."""

from __future__ import annotations

from .context import ExecutionContext
from .kinds import (
    AgentExecutionContext,
    FlowExecutionContext,
    NodeExecutionContext,
    SubagentExecutionContext,
    SubflowExecutionContext,
)
from .mcp import MCPResource, MCPTool
from .resources import DatabaseResource, Resource, ToolResource
from .result import ErrorInfo, NodeExecutionResult, NodeInput, NodeOutcome, NodeOutput, Usage
from .state import AgentState, ExecutionState, StateView, WorldState
from .status import ExecutableTypeEnum, ExecutionStatusEnum

__all__ = [
    "AgentExecutionContext",
    "AgentState",
    "DatabaseResource",
    "ErrorInfo",
    "ExecutableTypeEnum",
    "ExecutionContext",
    "ExecutionState",
    "ExecutionStatusEnum",
    "FlowExecutionContext",
    "MCPResource",
    "MCPTool",
    "NodeExecutionContext",
    "NodeExecutionResult",
    "NodeInput",
    "NodeOutcome",
    "NodeOutput",
    "Resource",
    "StateView",
    "SubagentExecutionContext",
    "SubflowExecutionContext",
    "ToolResource",
    "Usage",
    "WorldState",
]
