"""Flows and agents: definitions, node types, the runner and its events (DESIGN §5)."""

from __future__ import annotations

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.context.status import ExecutableTypeEnum, ExecutionStatusEnum

from .definition import AgentDefinition, FlowDefinition
from .events import Event, EventBus, EventType
from .nodes import (
    AIModelCallConfig,
    AIModelNode,
    AIModelNodeSettings,
    CommandNode,
    CommandNodeSettings,
    DanaNode,
    FileOperation,
    FileOperationNode,
    FileOperationNodeSettings,
    FolderAnalysisOperation,
    FolderAnalyzerNode,
    FolderAnalyzerSettings,
    Node,
    PythonNode,
)
from .policies import CachePolicy, RetryPolicy
from .runner import AgentRunner, FlowRunner
from .seam import NO_CHECKPOINTS, Checkpointer, InMemoryRun, RunEnvironment
from .streaming import ComponentEvent, NodeResult, RunStream, TokenDelta

__all__ = [
    "NO_CHECKPOINTS",
    "AIModelCallConfig",
    "AIModelNode",
    "AIModelNodeSettings",
    "AgentDefinition",
    "AgentRunner",
    "CachePolicy",
    "Checkpointer",
    "CommandNode",
    "CommandNodeSettings",
    "ComponentEvent",
    "DanaNode",
    "Event",
    "EventBus",
    "EventType",
    "ExecutableTypeEnum",
    "ExecutionStatusEnum",
    "FileOperation",
    "FileOperationNode",
    "FileOperationNodeSettings",
    "FlowDefinition",
    "FlowRunner",
    "FolderAnalysisOperation",
    "FolderAnalyzerNode",
    "FolderAnalyzerSettings",
    "InMemoryRun",
    "Node",
    "NodeExecutionResult",
    "NodeOutcome",
    "NodeResult",
    "PythonNode",
    "RetryPolicy",
    "RunEnvironment",
    "RunStream",
    "TokenDelta",
]
