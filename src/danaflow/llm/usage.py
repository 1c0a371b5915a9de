"""Usage: the token counts of one model call, of a component's calls, or of a running total.

There is one Usage type. Providers fill it per call, LLMResource totals it, and a
NodeExecutionResult (context/) carries it, so it lives here, in the lowest layer that needs it,
and context/result.py re-exports it. It is a pydantic model because the runs layer stores results
as JSON: the stored form is ``{"prompt_tokens": N, "completion_tokens": M}`` (``total_tokens`` is
derived, never stored), the form results were stored in before the two Usage types were merged.
It is frozen, so one Usage can be shared by a response, its CallRecord and a result without one
holder changing another's counts; sums make a new Usage.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Usage"]


class Usage(BaseModel):
    """Token counts of one call (or a running total); 0 when the backend did not report them."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __init__(self, *counts: int, **data: Any) -> None:
        # Positional counts too (``Usage(12, 3)``), as the provider adapters and callers of the
        # former dataclass build it.
        if len(counts) > 2:
            raise TypeError(f"Usage() takes at most 2 positional counts, got {len(counts)}")
        for name, value in zip(("prompt_tokens", "completion_tokens"), counts, strict=False):
            if name in data:
                raise TypeError(f"Usage() got {name} both by position and by name")
            data[name] = value
        super().__init__(**data)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )
