"""The result types of flow execution, re-exported where flow users look for them.

``NodeExecutionResult`` and the status enums are defined in ``danaflow.context`` (an
ExecutionContext holds its children's results, and context/ sits below flow/); this module is the
flow-facing name for them, so ``from danaflow.flow.result import NodeExecutionResult`` works.
"""

from __future__ import annotations

from danaflow.context.result import ErrorInfo, NodeExecutionResult, NodeOutcome, Usage
from danaflow.context.status import ExecutableTypeEnum, ExecutionStatusEnum

__all__ = [
    "ErrorInfo",
    "ExecutableTypeEnum",
    "ExecutionStatusEnum",
    "NodeExecutionResult",
    "NodeOutcome",
    "Usage",
]
