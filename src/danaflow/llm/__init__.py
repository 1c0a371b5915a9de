"""The LLM layer: providers behind one protocol, typed answers, retries, caching, LLMResource.

Importing this package loads neither an SDK nor torch, nor any of its own modules: each name is
imported from its module on first attribute access. The lower layers rely on that: context/ takes
``Usage`` from ``danaflow.llm.usage`` and flow/ the ``DefaultReasoner`` from
``danaflow.llm.default``, and neither should pay for the resource, the typed answers and the
tools (about 35 ms) in a flow that never calls a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .anthropic import AnthropicProvider
    from .cache import ResponseCache
    from .config import configured_spec, parse_spec, resolve_provider
    from .default import DefaultReasoner
    from .local import LocalProvider
    from .openai_compat import OpenAICompatProvider
    from .provider import LLMRequest, LLMResponse, Provider, ProviderFailure
    from .resource import CallRecord, LLMResource, default_llm
    from .retry import RetryPolicy
    from .typed import output_spec, parse_answer
    from .usage import Usage

__all__ = [
    "AnthropicProvider",
    "CallRecord",
    "DefaultReasoner",
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
    "CallRecord": ".resource",
    "DefaultReasoner": ".default",
    "LLMRequest": ".provider",
    "LLMResource": ".resource",
    "LLMResponse": ".provider",
    "LocalProvider": ".local",
    "OpenAICompatProvider": ".openai_compat",
    "Provider": ".provider",
    "ProviderFailure": ".provider",
    "ResponseCache": ".cache",
    "RetryPolicy": ".retry",
    "Usage": ".usage",
    "configured_spec": ".config",
    "default_llm": ".resource",
    "output_spec": ".typed",
    "parse_answer": ".typed",
    "parse_spec": ".config",
    "resolve_provider": ".config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
