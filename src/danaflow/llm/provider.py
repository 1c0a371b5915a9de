"""The Provider protocol and the plain data that crosses it: requests, responses, usage, failures.

Every backend (OpenAI-compatible servers, Anthropic, the embedded model) is an adapter behind this
one protocol, so retries, caching, typed answers and accounting are written once, above it.
Adapters translate their SDK's exceptions into ``ProviderFailure`` and never retry by themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .usage import Usage

__all__ = [
    "LLMRequest",
    "LLMResponse",
    "Message",
    "Provider",
    "ProviderFailure",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Message = dict[str, Any]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``.

Tool calling adds two provider-neutral forms, which each adapter translates to its wire format:
an assistant turn that asked for tools, ``{"role": "assistant", "content": "...", "tool_calls":
[{"id": ..., "name": ..., "arguments": {...}}]}``, and one call's result, ``{"role": "tool",
"tool_call_id": ..., "name": ..., "content": "...", "is_error": False}``.
"""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as a model is offered it: a name, what it does, and a JSON schema of its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call a model asked for. ``arguments`` is what it sent, parsed; when that was not a JSON
    object, ``arguments`` is empty and ``error`` says what was wrong (the call goes back as such)."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One call to a model, already resolved: no defaults are applied below this point."""

    messages: tuple[Message, ...]
    """The conversation, system message first when there is one."""
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    """Seconds for the whole HTTP exchange (the SDK's read timeout between stream chunks)."""
    schema: dict[str, Any] | None = None
    """A JSON schema with an object at its root; providers that support structured output honor it."""
    schema_name: str = "answer"
    choices: tuple[str, ...] | None = None
    """The only acceptable answers (JSON texts), for bool/enum/Literal; a provider may score them."""
    tools: tuple[ToolSpec, ...] = ()
    """Tools the model may call; its answer then carries ``tool_calls`` instead of (or with) text."""


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """What a model answered: the text (JSON text for structured output) and its accounting."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    latency_s: float = 0.0
    raw: Any = None
    """The SDK's own response object (or the streamed chunks), for callers that need more."""
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    """The calls the model asked for (only when the request offered ``tools``), in its order."""


class ProviderFailure(Exception):
    """A provider call that failed; ``retryable`` tells the retry loop whether to try again.

    Adapters raise it in place of their SDK's exceptions so that retry.py stays the only place
    that knows the fault policy. It never reaches users: the retry loop turns it into LLMError.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        kind: str = "error",
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the server asked us to wait (Retry-After), when it said."""
        self.kind = kind
        """'status', 'timeout', 'connection', 'malformed' or 'error'."""

    def describe(self) -> str:
        if self.status is not None:
            return f"HTTP {self.status}: {self.message}"
        return f"{self.kind}: {self.message}"


@runtime_checkable
class Provider(Protocol):
    """A model backend. ``name`` is the provider kind ('openai', 'anthropic', 'local', …)."""

    name: str
    model: str
    supports_structured_output: bool

    def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def acomplete(self, request: LLMRequest) -> LLMResponse: ...

    def stream(self, request: LLMRequest) -> Iterator[str]: ...

    def astream(self, request: LLMRequest) -> AsyncIterator[str]: ...
