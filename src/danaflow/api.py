"""``danaflow.run``: the language's ``run`` with the default LLM wired into ``reason()``.

The language layer cannot import the LLM layer (it sits below it), so this module, at the top,
does the wiring: a context without a reasoner gets the ``DefaultReasoner`` flows use too, which
finds the configured model (``DANAFLOW_LLM``, a config file, else the embedded one) only when
``reason()`` runs, so programs that never reason never import the LLM resource.
Likewise the planning layer answers the methods of the agents a program declares
(``Alice.plan(...)``: lang/agents.py, planning/dana_agents.py), imported on the first such call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from danaflow.lang.agents import AGENT_FUNCTIONS, register_agent_host
from danaflow.lang.api import ExecutionOutcome
from danaflow.lang.api import run as _run_dana
from danaflow.lang.registry import FunctionRegistry
from danaflow.lang.sandbox import SandboxContext
from danaflow.llm.default import DefaultReasoner

__all__ = ["run"]


def run(source_or_path: str | Path, context: Any = None, **options: Any) -> ExecutionOutcome:
    """Runs a Dana program (source or a .na path); see ``danaflow.lang.api.run`` for the options.

    ``context`` is a SandboxContext, or an ExecutionContext (seed 000), whose scopes the program
    runs in and whose reasoning LLM answers ``reason()``; the agents the program declares run as
    its subagents (with a SandboxContext, as root agents over its scopes). Problems in the program
    come back in ``outcome.error`` rather than being raised.
    """
    parent = None
    if context is None:
        ctx = SandboxContext()
    elif isinstance(context, SandboxContext):
        ctx = context
    elif isinstance(getattr(context, "sandbox", None), SandboxContext):
        ctx, parent = context.sandbox, context
        if ctx.reasoner is None:
            ctx.reasoner = getattr(context, "reasoning_llm", None)
    else:
        raise TypeError(
            f"run(): got a {type(context).__name__} as the context, "
            "want a SandboxContext or an ExecutionContext"
        )
    if ctx.reasoner is None:
        ctx.reasoner = DefaultReasoner.shared()
    own = ctx.registry
    ctx.registry = _with_agents(own, parent)
    try:
        return _run_dana(source_or_path, ctx, **options)
    finally:
        ctx.registry = own


def _with_agents(registry: FunctionRegistry, parent: Any) -> FunctionRegistry:
    """``registry`` plus the agent functions (for this run only: the caller's registry is not
    changed), unless the caller registered its own."""
    if any(name in registry for name in AGENT_FUNCTIONS.values()):
        return registry

    def host() -> Any:
        from danaflow.planning.dana_agents import DanaAgents

        return DanaAgents(parent)

    return register_agent_host(registry.copy(), host)
