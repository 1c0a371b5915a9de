"""Prompt: the prompt text of an AIModelNode, a template rendered in the node's context.

It is a thin named wrapper so node settings can say ``Prompt.with_dad_text(text=...)`` as the
seeds do; rendering always yields a string (a prompt is text even when it is one ``$expr{}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from .engine import TemplateEngine, TemplateScope
from .scanner import Ref, hier_refs

__all__ = ["Prompt"]


class Prompt(BaseModel):
    """A prompt template plus default variables (overridden by the node's input variables)."""

    text: str
    variables: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def with_dad_text(cls, text: str, variables: Mapping[str, Any] | None = None) -> Prompt:
        """A prompt from DAD template text (``$var{}``, ``$expr{}``, ``$hier{}``)."""
        return cls(text=text, variables=dict(variables or {}))

    def render(
        self,
        execution_context: TemplateScope | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        name: str = "prompt",
    ) -> str:
        merged = {**self.variables, **(variables or {})}
        return TemplateEngine.render_text(self.text, merged, execution_context, name=name)

    def hier_refs(self) -> list[Ref]:
        return hier_refs(self.text)
