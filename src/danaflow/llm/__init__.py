"""The LLM layer: providers behind one protocol, typed answers, retries, caching, LLMResource.

Importing this package loads neither an SDK nor torch: the provider modules import theirs when
the first client or model is built, and are themselves imported here on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cache import ResponseCache
from .config import configured_spec, parse_spec, resolve_provider
from .provider import LLMRequest, LLMResponse, Provider, ProviderFailure, Usage
from .resource import CallRecord, LLMResource, default_llm
from .retry import RetryPolicy
from .typed import output_spec, parse_answer

if TYPE_CHECKING:
    from .anthropic import AnthropicProvider
    from .local import LocalProvider
    from .openai_compat import OpenAICompatProvider

__all__ = [
    "AnthropicProvider",
    "CallRecord",
    "LLMRequest",
    "LLMResource",
    "LLMResponse",
    "LocalProvider",
    "OpenAICompatProvider",
    "Provider",
    "ProviderFailure",
    "ResponseCache",
    "RetryPolicy",
    "Usage",
    "configured_spec",
    "default_llm",
    "output_spec",
    "parse_answer",
    "parse_spec",
    "resolve_provider",
]

_LAZY = {
    "AnthropicProvider": ".anthropic",
    "LocalProvider": ".local",
    "OpenAICompatProvider": ".openai_compat",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
