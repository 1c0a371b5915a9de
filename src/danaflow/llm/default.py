"""DefaultReasoner: the reasoner of a program or flow that was given no LLM of its own.

It stands for the process-wide default LLM (``default_llm()``: one LLMResource per configured
spec) and looks it up on every call, so building one costs nothing and loads nothing: programs and
flows that never call a model never import the resource, the typed answers or an SDK. A config
change (``DANAFLOW_LLM``, the config file) takes effect on the next call. There is one, used
alike by ``danaflow.run`` (api.py), the flow runner's Dana nodes and ``resolve_llm`` (flow/_llm.py),
so a program asks the same model with the same accounting however it was started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .resource import LLMResource

__all__ = ["DefaultReasoner"]


class DefaultReasoner:
    """A Reasoner that forwards to the process-wide default LLM, resolved on each call."""

    _shared: DefaultReasoner | None = None

    @classmethod
    def shared(cls) -> DefaultReasoner:
        """The one instance (it holds no state: any instance behaves the same)."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    @staticmethod
    def target() -> LLMResource:
        """The LLMResource calls go to now: ``default_llm()`` for the configured spec."""
        from .resource import default_llm  # deferred: the resource and its imports cost ~35 ms

        return default_llm()

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return self.target().reason(prompt, desired_type, **options)

    async def areason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return await self.target().areason(prompt, desired_type, **options)

    def __repr__(self) -> str:
        return "DefaultReasoner(<the configured default model>)"
