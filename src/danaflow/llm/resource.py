"""LLMResource: the one object the rest of danaflow uses to talk to a model.

It holds a provider (resolved lazily from a spec, so constructing one is cheap and loads neither
an SDK nor torch), default options, a response cache and the per-call accounting. It is the
language's ``Reasoner`` (``reason``/``areason``), and offers typed ``generate`` and raw
``complete``/``stream`` for nodes and strategies, and ``run_tools`` (the native tool loop).
Retries come from retry.py, typing from typed.py and the tool loop from tools.py; this module
only wires them together and records what happened.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danaflow.errors import ConfigurationError
from danaflow.lang.builtins import checked_reason_options, refuse_unnamed_model
from danaflow.lang.typespace import check_type
from danaflow.observability import NOOP_SPAN, chat_span, record_chat_response

from .cache import ResponseCache, cache_key
from .config import configured_spec, resolve_provider
from .provider import LLMRequest, LLMResponse, Message, Provider, Usage
from .retry import (
    RetryPolicy,
    acall_with_retries,
    aretrying_stream,
    call_with_retries,
    retrying_stream,
)
from .streaming import acomplete_streaming, complete_streaming, token_callback
from .tools import DEFAULT_MAX_TOOL_ROUNDS, Tool, ToolRun, arun_tool_loop, run_tool_loop
from .typed import agenerate_typed, generate_typed

__all__ = ["CALL_OPTIONS", "HTTP_TIMEOUT", "TIMEOUT_ENV", "CallRecord", "LLMResource", "default_llm"]

CALL_OPTIONS = ("system", "temperature", "max_tokens", "model", "timeout", "max_reasks")
"""The options ``reason()``, ``generate()``, ``complete()`` and ``stream()`` accept per call."""
TIMEOUT_ENV = "DANAFLOW_LLM_TIMEOUT"
"""Seconds per model call when neither the call nor the resource says (a number > 0)."""
HTTP_TIMEOUT = 60.0
"""The HTTP clients' timeout when nothing sets one (the embedded model scales its own)."""


def env_timeout() -> float | None:
    """``DANAFLOW_LLM_TIMEOUT`` as seconds, None when unset; ConfigurationError when not a number > 0."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigurationError(f"{TIMEOUT_ENV}={raw!r}: want a number of seconds > 0")
    return value


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One model call as the resource saw it (all attempts together), for accounting and spans."""

    provider: str
    model: str
    operation: str
    """'complete' or 'stream'."""
    latency_s: float
    """Wall time including retries and their waits."""
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    cached: bool = False
    error: str | None = None
    started_at: float = 0.0
    """``time.time()`` when the call began."""


class _Call:
    """The accounting around one call, shared by the sync and async paths: for ``complete`` the
    cache lookup before it, and the CallRecord (and cache entry, and the span's answer) after it."""

    def __init__(
        self,
        resource: LLMResource,
        provider: Provider,
        request: LLMRequest,
        operation: str = "complete",
        span: Any = NOOP_SPAN,
    ):
        self.resource, self.provider, self.operation, self.span = resource, provider, operation, span
        self.started_at, self.t0 = time.time(), time.perf_counter()
        cached = resource.cache is not None and operation == "complete"
        self.key = cache_key(provider.name, provider.model, request) if cached else None

    def _record(self, latency: float, usage: Usage | None = None, attempts: int = 1, **kw: Any) -> None:
        p = self.provider
        self.resource._record(
            CallRecord(
                p.name,
                p.model,
                self.operation,
                latency,
                usage or Usage(),
                attempts,
                started_at=self.started_at,
                **kw,
            )
        )

    def cached(self) -> LLMResponse | None:
        if self.key is None:
            return None
        hit = self.resource.cache.get(self.key)  # type: ignore[union-attr]
        if hit is not None:
            self._record(0.0, cached=True)
            record_chat_response(
                self.span, model=hit.model, finish_reason=hit.finish_reason, text=hit.text, cached=True
            )
        return hit

    def streamed(self, error: str | None) -> None:
        self._record(time.perf_counter() - self.t0, error=error)

    def failed(self, exc: Exception) -> None:
        attempts = getattr(exc, "attempts", 1)
        self._record(time.perf_counter() - self.t0, attempts=attempts, error=str(exc))
        self.span.set_attribute("danaflow.llm.attempts", attempts)

    def done(self, response: LLMResponse, attempts: int, span: Any = None) -> None:
        if self.key is not None:
            self.resource.cache.put(self.key, response)  # type: ignore[union-attr]
        self._record(time.perf_counter() - self.t0, response.usage, attempts)
        record_chat_response(
            self.span if span is None else span,
            model=response.model or self.provider.model,
            finish_reason=response.finish_reason,
            input_tokens=response.usage.prompt_tokens,
            output_tokens=response.usage.completion_tokens,
            text=response.text,
            attempts=attempts,
        )


def _llm_span(provider: Provider, request: LLMRequest) -> Any:
    """One span per model call, the child of the component that made it (a no-op outside runs),
    in the GenAI conventions: ``chat {model}`` with the request's parameters."""
    return chat_span(
        provider.name,
        provider.model,
        messages=request.messages,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        structured=request.schema is not None,
    )


def _check_options(options: dict[str, Any], where: str) -> None:
    for key in options:
        if key not in CALL_OPTIONS:
            raise ConfigurationError(f"unknown {where} option {key!r}: want one of {', '.join(CALL_OPTIONS)}")


class LLMResource:
    """A model plus defaults, a cache and accounting; registered as a resource under ``name``.

    ``model`` is a spec (``openai:gpt-4o-mini``, ``local:smollm2`` …; see config.py); with neither
    ``model`` nor ``provider`` the configured default is used, looked up on the first call.
    ``cache``: None/False for no cache, True for an in-memory one, a path for a JSON Lines file
    that replays across runs, or a ResponseCache. ``calls`` keeps the last ``max_records`` calls;
    ``usage`` totals all of them; each ``on_call`` callback gets every CallRecord as it is made
    (an exception in a callback propagates: accounting failures are not hidden).
    ``timeout`` is seconds per call; None defers to ``DANAFLOW_LLM_TIMEOUT``, then to the
    provider (60 s over HTTP; the embedded model scales its limit to the tokens asked for).
    """

    dana_methods = {"reason": "dana_reason"}
    """What ``use("llm")`` offers a Dana program (the sandbox's allow-list): a checked reason()."""

    def __init__(
        self,
        model: str | None = None,
        *,
        provider: Provider | None = None,
        name: str = "llm",
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        cache: ResponseCache | bool | str | Path | None = None,
        max_reasks: int = 2,
        max_records: int = 10_000,
        models: Mapping[str, str] | None = None,
    ):
        if model is not None and provider is not None:
            raise ConfigurationError("got both model= and provider=, want one of them")
        self.name = name
        self.system = system
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_reasks = max_reasks
        if cache is True:
            cache = ResponseCache()
        elif isinstance(cache, (str, Path)):
            cache = ResponseCache(cache)
        self.cache: ResponseCache | None = cache if isinstance(cache, ResponseCache) else None
        self.calls: deque[CallRecord] = deque(maxlen=max_records)
        self.on_call: list[Callable[[CallRecord], None]] = []
        self._spec = model
        self._provider = provider
        self._others: dict[str, Provider] = {}
        self.models: dict[str, str] = dict(models or {})
        """Aliases -> model specs: the only models untrusted code (Dana, templates) may pick."""
        self._usage = Usage()
        self._lock = threading.Lock()

    # ---- identity -----------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The model spec in force (resolving the configured default if none was given)."""
        if self._spec is None:
            if self._provider is not None:
                return f"{self._provider.name}:{self._provider.model}"
            self._spec = configured_spec()[0]
        return self._spec

    @property
    def provider(self) -> Provider:
        """The provider, built on first use (this is where a missing API key is reported)."""
        if self._provider is None:
            with self._lock:
                if self._provider is None:
                    self._provider = resolve_provider(self.model, timeout=self._client_timeout())
        return self._provider

    @property
    def usage(self) -> Usage:
        """Token totals over every call made through this resource."""
        return self._usage

    def __repr__(self) -> str:
        if self._spec is not None:
            model = self._spec
        elif self._provider is not None:
            model = f"{self._provider.name}:{self._provider.model}"
        else:
            model = "<default, resolved on first call>"
        return f"LLMResource(name={self.name!r}, model={model!r}, calls={len(self.calls)})"

    # ---- building requests --------------------------------------------------------------------
    def model_aliases(self) -> tuple[str, ...]:
        """The names ``reason(model=...)`` may use from Dana: this resource's aliases."""
        return tuple(sorted(self.models))

    def _provider_for(self, spec: str | None) -> Provider:
        if spec is None:
            return self.provider
        spec = self.models.get(spec, spec)
        with self._lock:
            if spec not in self._others:
                self._others[spec] = resolve_provider(spec, timeout=self._client_timeout())
            return self._others[spec]

    def _request(self, messages: str | Sequence[Message], options: dict[str, Any]) -> LLMRequest:
        if isinstance(messages, str):
            msgs = [{"role": "user", "content": messages}]
        else:
            msgs = [dict(m) for m in messages]
        system = options.get("system", self.system)
        if system is not None and not any(m.get("role") == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": system})
        return LLMRequest(
            messages=tuple(msgs),
            temperature=options.get("temperature", self.temperature),
            max_tokens=options.get("max_tokens", self.max_tokens),
            timeout=options.get("timeout", self.call_timeout()),
        )

    def call_timeout(self) -> float | None:
        """Seconds a call may take: this resource's ``timeout``, else ``DANAFLOW_LLM_TIMEOUT``,
        else None (the provider's own default)."""
        return self.timeout if self.timeout is not None else env_timeout()

    def _client_timeout(self) -> float:
        return self.call_timeout() or HTTP_TIMEOUT

    def _record(self, record: CallRecord) -> None:
        with self._lock:
            self.calls.append(record)
            self._usage = self._usage + record.usage
        for callback in self.on_call:
            callback(record)

    @staticmethod
    def _what(provider: Provider) -> str:
        return f"{provider.name} model {provider.model}"

    # ---- raw calls ----------------------------------------------------------------------------
    def _complete_with(self, provider: Provider, request: LLMRequest) -> LLMResponse:
        with _llm_span(provider, request) as span:
            call = _Call(self, provider, request, span=span)
            on_token = token_callback()
            if (hit := call.cached()) is not None:
                if on_token is not None and hit.text:
                    on_token(hit.text)
                return hit
            ask = (
                (lambda: provider.complete(request))
                if on_token is None
                else (lambda: complete_streaming(provider, request, on_token))
            )
            try:
                response, attempts = call_with_retries(ask, self.retry, self._what(provider))
            except Exception as exc:
                call.failed(exc)
                raise
            call.done(response, attempts, span)
            return response

    async def _acomplete_with(self, provider: Provider, request: LLMRequest) -> LLMResponse:
        with _llm_span(provider, request) as span:
            call = _Call(self, provider, request, span=span)
            on_token = token_callback()
            if (hit := call.cached()) is not None:
                if on_token is not None and hit.text:
                    on_token(hit.text)
                return hit
            aask = (
                (lambda: provider.acomplete(request))
                if on_token is None
                else (lambda: acomplete_streaming(provider, request, on_token))
            )
            try:
                response, attempts = await acall_with_retries(aask, self.retry, self._what(provider))
            except Exception as exc:
                call.failed(exc)
                raise
            call.done(response, attempts, span)
            return response

    def complete(self, messages: str | Sequence[Message], **options: Any) -> LLMResponse:
        """One raw chat call (a str is one user message); retried and recorded, not typed."""
        _check_options(options, "complete()")
        return self._complete_with(self._provider_for(options.get("model")), self._request(messages, options))

    async def acomplete(self, messages: str | Sequence[Message], **options: Any) -> LLMResponse:
        """The async twin of ``complete``."""
        _check_options(options, "acomplete()")
        return await self._acomplete_with(
            self._provider_for(options.get("model")), self._request(messages, options)
        )

    def stream(self, messages: str | Sequence[Message], **options: Any) -> Iterator[str]:
        """Yields text deltas as they arrive; retried only until the first delta.

        The call has its span and CallRecord like ``complete`` (no token counts: a plain stream
        does not report them), and a token listener (llm/streaming.py) hears the deltas too. A
        caller that stops early ends the call there, which is no error.
        """
        _check_options(options, "stream()")
        provider = self._provider_for(options.get("model"))
        request = self._request(messages, options)
        on_token = token_callback()
        with _llm_span(provider, request) as span:
            call, error, parts = _Call(self, provider, request, "stream", span=span), None, []
            try:
                for delta in retrying_stream(
                    lambda: provider.stream(request), self.retry, self._what(provider)
                ):
                    parts.append(delta)
                    if on_token is not None:
                        on_token(delta)
                    yield delta
            except GeneratorExit:
                return
            except Exception as exc:
                error = str(exc)
                raise
            finally:
                call.streamed(error)
                if error is None:
                    record_chat_response(span, model=provider.model, finish_reason=None, text="".join(parts))

    async def astream(self, messages: str | Sequence[Message], **options: Any) -> AsyncIterator[str]:
        """The async twin of ``stream``."""
        _check_options(options, "astream()")
        provider = self._provider_for(options.get("model"))
        request = self._request(messages, options)
        on_token = token_callback()
        with _llm_span(provider, request) as span:
            call, error, parts = _Call(self, provider, request, "stream", span=span), None, []
            try:
                async for delta in aretrying_stream(
                    lambda: provider.astream(request), self.retry, self._what(provider)
                ):
                    parts.append(delta)
                    if on_token is not None:
                        on_token(delta)
                    yield delta
            except GeneratorExit:
                return
            except Exception as exc:
                error = str(exc)
                raise
            finally:
                call.streamed(error)
                if error is None:
                    record_chat_response(span, model=provider.model, finish_reason=None, text="".join(parts))

    # ---- typed answers ------------------------------------------------------------------------
    def generate(self, prompt: str | Sequence[Message], output_type: Any = str, **options: Any) -> Any:
        """Asks ``prompt`` and returns a value of ``output_type`` (validated, re-asked on failure)."""
        _check_options(options, "generate()")
        provider = self._provider_for(options.get("model"))
        return generate_typed(
            lambda req: self._complete_with(provider, req),
            self._request(prompt, options),
            output_type,
            native=provider.supports_structured_output,
            max_reasks=options.get("max_reasks", self.max_reasks),
        )

    async def agenerate(self, prompt: str | Sequence[Message], output_type: Any = str, **options: Any) -> Any:
        """The async twin of ``generate``."""
        _check_options(options, "agenerate()")
        provider = self._provider_for(options.get("model"))
        return await agenerate_typed(
            lambda req: self._acomplete_with(provider, req),
            self._request(prompt, options),
            output_type,
            native=provider.supports_structured_output,
            max_reasks=options.get("max_reasks", self.max_reasks),
        )

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        """The language's ``reason()``: None as ``desired_type`` means str.

        ``__dana_desired_type`` is accepted as a keyword too, as Dana code may pass it.
        """
        if "__dana_desired_type" in options:
            hinted = options.pop("__dana_desired_type")
            desired_type = desired_type if desired_type is not None else hinted
        _check_options(options, "reason()")
        return self.generate(prompt, desired_type, **options)

    def dana_reason(self, prompt: str, **options: Any) -> Any:
        """``use("llm").reason(...)`` from Dana: a model may only be picked by one of this resource's
        aliases (a spec or URL from untrusted code would send the API key where it says)."""
        refuse_unnamed_model(options.get("model"), self.model_aliases())
        desired = options.pop("__dana_desired_type", None)
        if desired is not None:
            check_type(desired, "reason(): the desired type")
        return self.reason(str(prompt), desired, **checked_reason_options(options))

    async def areason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        """The async twin of ``reason``."""
        if "__dana_desired_type" in options:
            hinted = options.pop("__dana_desired_type")
            desired_type = desired_type if desired_type is not None else hinted
        _check_options(options, "areason()")
        return await self.agenerate(prompt, desired_type, **options)

    # ---- tool calling -------------------------------------------------------------------------
    def run_tools(
        self,
        prompt: str | Sequence[Message],
        tools: Sequence[Tool],
        *,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
        output_type: Any = None,
        on_call: Callable[..., Any] | None = None,
        **options: Any,
    ) -> ToolRun:
        """Asks ``prompt`` with ``tools`` offered through the provider's tool API, runs the calls
        the model asks for (a turn's calls concurrently), sends back the results and returns the
        final answer; every model call is retried and recorded as usual (see tools.py)."""
        _check_options(options, "run_tools()")
        provider = self._tool_provider(options.get("model"))
        return run_tool_loop(
            lambda req: self._complete_with(provider, req),
            self._request(prompt, options),
            tools,
            max_tool_rounds=max_tool_rounds,
            output_type=output_type,
            native=provider.supports_structured_output,
            max_reasks=options.get("max_reasks", self.max_reasks),
            on_call=on_call,
        )

    async def arun_tools(
        self,
        prompt: str | Sequence[Message],
        tools: Sequence[Tool],
        *,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
        output_type: Any = None,
        on_call: Callable[..., Any] | None = None,
        **options: Any,
    ) -> ToolRun:
        """The async twin of ``run_tools``; ``on_call`` may be async."""
        _check_options(options, "arun_tools()")
        provider = self._tool_provider(options.get("model"))
        return await arun_tool_loop(
            lambda req: self._acomplete_with(provider, req),
            self._request(prompt, options),
            tools,
            max_tool_rounds=max_tool_rounds,
            output_type=output_type,
            native=provider.supports_structured_output,
            max_reasks=options.get("max_reasks", self.max_reasks),
            on_call=on_call,
        )

    def supports_tools(self, model: str | None = None) -> bool:
        """Whether the provider (of ``model``, an alias or spec; None: this resource's) takes tools."""
        return bool(getattr(self._provider_for(model), "supports_tools", False))

    def _tool_provider(self, spec: str | None) -> Provider:
        provider = self._provider_for(spec)
        if not getattr(provider, "supports_tools", False):
            raise ConfigurationError(
                f"{self._what(provider)} does not take tool calls: want a provider with tool calling "
                "(openai, openai-compatible with tool_calling=True, anthropic, local)"
            )
        return provider


_DEFAULTS: dict[str, LLMResource] = {}
_DEFAULTS_LOCK = threading.Lock()


def default_llm() -> LLMResource:
    """The process-wide LLMResource for the configured spec (one per distinct spec)."""
    spec = configured_spec()[0]
    with _DEFAULTS_LOCK:
        if spec not in _DEFAULTS:
            _DEFAULTS[spec] = LLMResource(model=spec)
        return _DEFAULTS[spec]
