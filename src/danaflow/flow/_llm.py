"""How flow components find their LLM, without loading the LLM layer until one is needed.

The run's ``llm`` wins, then the context's ``reasoning_llm``, then the process default
(``danaflow.llm.default_llm()``). The import of danaflow.llm is deferred because it costs a fifth
of a second and most flows (and the in-memory benchmark) never call a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["DefaultReasoner", "resolve_llm"]


class DefaultReasoner:
    """A Reasoner that forwards to the process-wide default LLM, resolved on first call."""

    _shared: DefaultReasoner | None = None

    @classmethod
    def shared(cls) -> DefaultReasoner:
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    @staticmethod
    def target() -> Any:
        from danaflow.llm import default_llm

        return default_llm()

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return self.target().reason(prompt, desired_type, **options)

    async def areason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return await self.target().areason(prompt, desired_type, **options)

    def __repr__(self) -> str:
        return "DefaultReasoner(<the configured default model>)"


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
