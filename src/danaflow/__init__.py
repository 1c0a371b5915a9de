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
    "DanaflowError": "danaflow.errors",
    "FunctionRegistry": "danaflow.lang.registry",
    "SandboxContext": "danaflow.lang.sandbox",
    "ExecutionOutcome": "danaflow.lang.api",
    "run": "danaflow.api",
}

__all__ = sorted([*_EXPORTS, "__version__"])


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
    from danaflow.errors import DanaflowError
    from danaflow.lang.api import ExecutionOutcome
    from danaflow.lang.registry import FunctionRegistry
    from danaflow.lang.sandbox import SandboxContext
