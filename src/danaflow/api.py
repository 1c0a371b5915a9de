"""``danaflow.run``: the language's ``run`` with the default LLM wired into ``reason()``.

The language layer cannot import the LLM layer (it sits below it), so this module, at the top,
does the wiring: a context without a reasoner gets ``LLMResource()``, which resolves the configured
model (``DANAFLOW_LLM``, a config file, else the embedded one) only when ``reason()`` first runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from danaflow.lang.api import ExecutionOutcome
from danaflow.lang.api import run as _run_dana
from danaflow.lang.sandbox import SandboxContext

__all__ = ["run"]


class _DefaultReasoner:
    """Builds the default LLMResource on the first ``reason()``, so programs that never reason
    never import the LLM layer (it costs start-up time)."""

    def __init__(self) -> None:
        self._llm: Any = None

    def _resource(self) -> Any:
        if self._llm is None:
            from danaflow.llm import LLMResource

            self._llm = LLMResource()
        return self._llm

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return self._resource().reason(prompt, desired_type, **options)

    async def areason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return await self._resource().areason(prompt, desired_type, **options)

    def __repr__(self) -> str:
        return f"<default LLM: {self._llm!r}>" if self._llm is not None else "<default LLM (not loaded)>"


def run(source_or_path: str | Path, context: Any = None, **options: Any) -> ExecutionOutcome:
    """Runs a Dana program (source or a .na path); see ``danaflow.lang.api.run`` for the options.

    ``context`` is a SandboxContext, or an ExecutionContext (seed 000), whose scopes the program
    runs in and whose reasoning LLM answers ``reason()``. Problems in the program come back in
    ``outcome.error`` rather than being raised.
    """
    if context is None:
        ctx = SandboxContext()
    elif isinstance(context, SandboxContext):
        ctx = context
    elif isinstance(getattr(context, "sandbox", None), SandboxContext):
        ctx = context.sandbox
        if ctx.reasoner is None:
            ctx.reasoner = getattr(context, "reasoning_llm", None)
    else:
        raise TypeError(
            f"run(): got a {type(context).__name__} as the context, "
            "want a SandboxContext or an ExecutionContext"
        )
    if ctx.reasoner is None:
        ctx.reasoner = _DefaultReasoner()
    return _run_dana(source_or_path, ctx, **options)
