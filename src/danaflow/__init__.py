"""danaflow: a runtime for LLM agents — the Dana language, execution contexts, flows and runs.

The public names resolve lazily on first use, so ``import danaflow`` stays fast and loads neither
lark, OpenTelemetry, httpx nor sqlite3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the module that defines it.
_EXPORTS: dict[str, str] = {
    "AIModelCallConfig": "danaflow.flow.nodes.ai_model",
    "AIModelNode": "danaflow.flow.nodes.ai_model",
    "AIModelNodeInput": "danaflow.flow.nodes.ai_model",
    "AIModelNodeSettings": "danaflow.flow.nodes.ai_model",
    "AgentDefinition": "danaflow.flow.definition",
    "AgentExecutionContext": "danaflow.context.kinds",
    "AgentRunner": "danaflow.flow.runner",
    "AgentState": "danaflow.context.state",
    "CachePolicy": "danaflow.flow.policies",
    "ChainOfThoughtStrategy": "danaflow.planning.strategies",
    "CommandNode": "danaflow.flow.nodes.command",
    "CommandNodeSettings": "danaflow.flow.nodes.command",
    "DanaNode": "danaflow.flow.nodes.dana",
    "DanaflowError": "danaflow.errors",
    "DatabaseResource": "danaflow.context.resources",
    "DirectStrategy": "danaflow.planning.strategies",
    "EventBus": "danaflow.flow.events",
    "ExecutableTypeEnum": "danaflow.context.status",
    "ExecutionContext": "danaflow.context.context",
    "ExecutionOutcome": "danaflow.lang.api",
    "ExecutionState": "danaflow.context.state",
    "ExecutionStatusEnum": "danaflow.context.status",
    "FileOperationNode": "danaflow.flow.nodes.file_operation",
    "FileOperationNodeSettings": "danaflow.flow.nodes.file_operation",
    "FlowDefinition": "danaflow.flow.definition",
    "FlowExecutionContext": "danaflow.context.kinds",
    "FlowRunner": "danaflow.flow.runner",
    "FolderAnalysisOperation": "danaflow.flow.nodes.folder_analyzer",
    "FolderAnalyzerNode": "danaflow.flow.nodes.folder_analyzer",
    "FolderAnalyzerSettings": "danaflow.flow.nodes.folder_analyzer",
    "FunctionRegistry": "danaflow.lang.registry",
    "InMemoryRun": "danaflow.flow.seam",
    "Usage": "danaflow.llm.usage",
    "IsolatedExecution": "danaflow.runs.isolation",
    "LLMResource": "danaflow.llm.resource",
    "MCPResource": "danaflow.context.mcp",
    "NodeExecutionContext": "danaflow.context.kinds",
    "NodeExecutionResult": "danaflow.context.result",
    "NodeInput": "danaflow.context.result",
    "NodeOutcome": "danaflow.context.result",
    "NodeOutput": "danaflow.context.result",
    "ObjectTemplate": "danaflow.template.engine",
    "ObservabilitySettings": "danaflow.observability.settings",
    "Plan": "danaflow.planning.plan",
    "PlanResult": "danaflow.planning.result",
    "PlanStep": "danaflow.planning.plan",
    "Prompt": "danaflow.template.prompt",
    "PythonNode": "danaflow.flow.nodes.python",
    "ReActStrategy": "danaflow.planning.strategies",
    "ReasoningStrategy": "danaflow.planning.strategies",
    "RetryPolicy": "danaflow.flow.policies",
    "RunContext": "danaflow.runs.context",
    "SandboxContext": "danaflow.lang.sandbox",
    "StepResult": "danaflow.planning.result",
    "SubagentExecutionContext": "danaflow.context.kinds",
    "SubflowExecutionContext": "danaflow.context.kinds",
    "TemplateEngine": "danaflow.template.engine",
    "ToolResource": "danaflow.context.resources",
    "WorldState": "danaflow.context.state",
    "draft_plan": "danaflow.planning.drafting",
    "execute_plan": "danaflow.planning.execute",
    "run": "danaflow.api",
    "transcode": "danaflow.planning.transcode",
}

__all__ = [
    "AIModelCallConfig",
    "AIModelNode",
    "AIModelNodeInput",
    "AIModelNodeSettings",
    "AgentDefinition",
    "AgentExecutionContext",
    "AgentRunner",
    "AgentState",
    "CachePolicy",
    "ChainOfThoughtStrategy",
    "CommandNode",
    "CommandNodeSettings",
    "DanaNode",
    "DanaflowError",
    "DatabaseResource",
    "DirectStrategy",
    "EventBus",
    "ExecutableTypeEnum",
    "ExecutionContext",
    "ExecutionOutcome",
    "ExecutionState",
    "ExecutionStatusEnum",
    "FileOperationNode",
    "FileOperationNodeSettings",
    "FlowDefinition",
    "FlowExecutionContext",
    "FlowRunner",
    "FolderAnalysisOperation",
    "FolderAnalyzerNode",
    "FolderAnalyzerSettings",
    "FunctionRegistry",
    "InMemoryRun",
    "IsolatedExecution",
    "LLMResource",
    "MCPResource",
    "NodeExecutionContext",
    "NodeExecutionResult",
    "NodeInput",
    "NodeOutcome",
    "NodeOutput",
    "ObjectTemplate",
    "ObservabilitySettings",
    "Plan",
    "PlanResult",
    "PlanStep",
    "Prompt",
    "PythonNode",
    "ReActStrategy",
    "ReasoningStrategy",
    "RetryPolicy",
    "RunContext",
    "SandboxContext",
    "StepResult",
    "SubagentExecutionContext",
    "SubflowExecutionContext",
    "TemplateEngine",
    "ToolResource",
    "Usage",
    "WorldState",
    "__version__",
    "draft_plan",
    "execute_plan",
    "run",
    "transcode",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'danaflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from danaflow.api import run
    from danaflow.context.context import ExecutionContext
    from danaflow.context.kinds import (
        AgentExecutionContext,
        FlowExecutionContext,
        NodeExecutionContext,
        SubagentExecutionContext,
        SubflowExecutionContext,
    )
    from danaflow.context.mcp import MCPResource
    from danaflow.context.resources import DatabaseResource, ToolResource
    from danaflow.context.result import NodeExecutionResult, NodeInput, NodeOutcome, NodeOutput
    from danaflow.context.state import AgentState, ExecutionState, WorldState
    from danaflow.context.status import ExecutableTypeEnum, ExecutionStatusEnum
    from danaflow.errors import DanaflowError
    from danaflow.flow.definition import AgentDefinition, FlowDefinition
    from danaflow.flow.events import EventBus
    from danaflow.flow.nodes.ai_model import (
        AIModelCallConfig,
        AIModelNode,
        AIModelNodeInput,
        AIModelNodeSettings,
    )
    from danaflow.flow.nodes.command import CommandNode, CommandNodeSettings
    from danaflow.flow.nodes.dana import DanaNode
    from danaflow.flow.nodes.file_operation import FileOperationNode, FileOperationNodeSettings
    from danaflow.flow.nodes.folder_analyzer import (
        FolderAnalysisOperation,
        FolderAnalyzerNode,
        FolderAnalyzerSettings,
    )
    from danaflow.flow.nodes.python import PythonNode
    from danaflow.flow.policies import CachePolicy, RetryPolicy
    from danaflow.flow.runner import AgentRunner, FlowRunner
    from danaflow.flow.seam import InMemoryRun
    from danaflow.lang.api import ExecutionOutcome
    from danaflow.lang.registry import FunctionRegistry
    from danaflow.lang.sandbox import SandboxContext
    from danaflow.llm.resource import LLMResource
    from danaflow.llm.usage import Usage
    from danaflow.observability.settings import ObservabilitySettings
    from danaflow.planning.drafting import draft_plan
    from danaflow.planning.execute import execute_plan
    from danaflow.planning.plan import Plan, PlanStep
    from danaflow.planning.result import PlanResult, StepResult
    from danaflow.planning.strategies import (
        ChainOfThoughtStrategy,
        DirectStrategy,
        ReActStrategy,
        ReasoningStrategy,
    )
    from danaflow.planning.transcode import transcode
    from danaflow.runs.context import RunContext
    from danaflow.runs.isolation import IsolatedExecution
    from danaflow.template.engine import ObjectTemplate, TemplateEngine
    from danaflow.template.prompt import Prompt
