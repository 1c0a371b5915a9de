"""How flow components find their LLM, without loading the LLM layer until one is needed.

The lookup is ``ExecutionContext.llm``: the nearest context's ``reasoning_llm``, then the run's
``llm``, then the process default (``danaflow.llm.default_llm()``) through the one
``DefaultReasoner`` (llm/default.py, re-exported here). Importing it loads that one small
module; the resource is imported on the first call, because most flows (and the in-memory
benchmark) never call a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from danaflow.llm.default import DefaultReasoner

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["DefaultReasoner", "resolve_llm"]


_BY_SPEC: dict[str, Any] = {}


def resolve_llm(ctx: ExecutionContext, model: str | None = None) -> Any:
    """The LLMResource a node should call: one for ``model`` when given, else the context's."""
    if model is not None:
        if model not in _BY_SPEC:
            from danaflow.llm import LLMResource

            _BY_SPEC[model] = LLMResource(model=model)
        return _BY_SPEC[model]
    llm = ctx.llm
    if llm is None or isinstance(llm, DefaultReasoner):
        return DefaultReasoner.target()
    return llm
