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
    "AIModelNodeSettings": "danaflow.flow.nodes.ai_model",
    "AgentDefinition": "danaflow.flow.definition",
    "AgentRunner": "danaflow.flow.runner",
    "AgentState": "danaflow.context.state",
    "ChainOfThoughtStrategy": "danaflow.planning.strategies",
    "CommandNode": "danaflow.flow.nodes.command",
    "CommandNodeSettings": "danaflow.flow.nodes.command",
    "DanaNode": "danaflow.flow.nodes.dana",
    "DanaflowError": "danaflow.errors",
    "DatabaseResource": "danaflow.context.resources",
    "EventBus": "danaflow.flow.events",
    "ExecutableTypeEnum": "danaflow.context.status",
    "ExecutionContext": "danaflow.context.context",
    "ExecutionOutcome": "danaflow.lang.api",
    "ExecutionState": "danaflow.context.state",
    "ExecutionStatusEnum": "danaflow.context.status",
    "FileOperationNode": "danaflow.flow.nodes.file_operation",
    "FileOperationNodeSettings": "danaflow.flow.nodes.file_operation",
    "FlowDefinition": "danaflow.flow.definition",
    "FlowRunner": "danaflow.flow.runner",
    "FolderAnalyzerNode": "danaflow.flow.nodes.folder_analyzer",
    "FolderAnalyzerSettings": "danaflow.flow.nodes.folder_analyzer",
    "FunctionRegistry": "danaflow.lang.registry",
    "IsolatedExecution": "danaflow.run.isolation",
    "LLMResource": "danaflow.llm.resource",
    "NodeExecutionResult": "danaflow.context.result",
    "ObjectTemplate": "danaflow.template.engine",
    "ObservabilitySettings": "danaflow.observability.settings",
    "Plan": "danaflow.planning.plan",
    "PlanStep": "danaflow.planning.plan",
    "Prompt": "danaflow.template.prompt",
    "PythonNode": "danaflow.flow.nodes.python",
    "RunContext": "danaflow.run.context",
    "SandboxContext": "danaflow.lang.sandbox",
    "TemplateEngine": "danaflow.template.engine",
    "ToolResource": "danaflow.context.resources",
    "WorldState": "danaflow.context.state",
    "run": "danaflow.api",
}

__all__ = [
    "AIModelCallConfig",
    "AIModelNode",
    "AIModelNodeSettings",
    "AgentDefinition",
    "AgentRunner",
    "AgentState",
    "ChainOfThoughtStrategy",
    "CommandNode",
    "CommandNodeSettings",
    "DanaNode",
    "DanaflowError",
    "DatabaseResource",
    "EventBus",
    "ExecutableTypeEnum",
    "ExecutionContext",
    "ExecutionOutcome",
    "ExecutionState",
    "ExecutionStatusEnum",
    "FileOperationNode",
    "FileOperationNodeSettings",
    "FlowDefinition",
    "FlowRunner",
    "FolderAnalyzerNode",
    "FolderAnalyzerSettings",
    "FunctionRegistry",
    "IsolatedExecution",
    "LLMResource",
    "NodeExecutionResult",
    "ObjectTemplate",
    "ObservabilitySettings",
    "Plan",
    "PlanStep",
    "Prompt",
    "PythonNode",
    "RunContext",
    "SandboxContext",
    "TemplateEngine",
    "ToolResource",
    "WorldState",
    "__version__",
    "run",
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
    from danaflow.context.resources import DatabaseResource, ToolResource
    from danaflow.context.result import NodeExecutionResult
    from danaflow.context.state import AgentState, ExecutionState, WorldState
    from danaflow.context.status import ExecutableTypeEnum, ExecutionStatusEnum
    from danaflow.errors import DanaflowError
    from danaflow.flow.definition import AgentDefinition, FlowDefinition
    from danaflow.flow.events import EventBus
    from danaflow.flow.nodes.ai_model import AIModelCallConfig, AIModelNode, AIModelNodeSettings
    from danaflow.flow.nodes.command import CommandNode, CommandNodeSettings
    from danaflow.flow.nodes.dana import DanaNode
    from danaflow.flow.nodes.file_operation import FileOperationNode, FileOperationNodeSettings
    from danaflow.flow.nodes.folder_analyzer import FolderAnalyzerNode, FolderAnalyzerSettings
    from danaflow.flow.nodes.python import PythonNode
    from danaflow.flow.runner import AgentRunner, FlowRunner
    from danaflow.lang.api import ExecutionOutcome
    from danaflow.lang.registry import FunctionRegistry
    from danaflow.lang.sandbox import SandboxContext
    from danaflow.llm.resource import LLMResource
    from danaflow.observability.settings import ObservabilitySettings
    from danaflow.planning.plan import Plan, PlanStep
    from danaflow.planning.strategies import ChainOfThoughtStrategy
    from danaflow.run.context import RunContext
    from danaflow.run.isolation import IsolatedExecution
    from danaflow.template.engine import ObjectTemplate, TemplateEngine
    from danaflow.template.prompt import Prompt
