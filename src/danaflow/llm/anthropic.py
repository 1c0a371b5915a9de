"""The adapter for Anthropic's Messages API, on the ``anthropic`` SDK (the ``anthropic`` extra).

Anthropic has no response_format; a typed answer is asked for as a forced call of one tool whose
input schema is the answer's schema, and the tool input comes back as the JSON text. System
messages move to the API's ``system`` field. Real tools (a request's ``tools``) are offered the
same way without forcing one, and the model's ``tool_use`` blocks become ``tool_calls``; the
results go back as ``tool_result`` blocks in one user turn. As with OpenAI, the SDK's own retries
are off, and the SDK is imported only when the first client is built.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from danaflow.errors import ConfigurationError

from ._clients import LazyClients
from .openai_compat import request_url
from .provider import LLMRequest, LLMResponse, Message, ProviderFailure, ToolCall, Usage
from .retry import parse_retry_after
from .tools import parse_arguments

__all__ = ["AnthropicProvider", "translate_anthropic_error"]

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
DEFAULT_MAX_TOKENS = 1024
"""The Messages API requires max_tokens; this is used when neither the call nor the resource set it."""


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise ConfigurationError(
            "the anthropic package is not installed: want `pip install 'danaflow[anthropic]'`"
        ) from exc
    return anthropic


def translate_anthropic_error(exc: Exception) -> ProviderFailure | None:
    """The ProviderFailure for an ``anthropic`` SDK exception, or None when it is not the SDK's."""
    anthropic = _sdk()
    where = request_url(exc)
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderFailure(f"the request to {where} timed out", retryable=True, kind="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderFailure(f"cannot connect to {where}: {exc}", retryable=True, kind="connection")
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        body = getattr(exc, "body", None)
        message = str(exc)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("message", message))
        return ProviderFailure(
            f"{message} (from {where})",
            status=status,
            retryable=status in _RETRYABLE_STATUS or status >= 500,
            retry_after=parse_retry_after(exc.response.headers.get("retry-after")),
            kind="status",
        )
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ProviderFailure(f"malformed response: {exc}", retryable=True, kind="malformed")
    return None


class AnthropicProvider:
    """Messages API calls for ``model``; ``base_url`` None means Anthropic's own endpoint."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        structured_output: bool = True,
        timeout: float = 60.0,
    ):
        self.name = "anthropic"
        self.model = model
        self.base_url = base_url
        self.supports_structured_output = structured_output
        self.supports_tools = True
        self.timeout = timeout
        self._api_key = api_key or "not-needed"
        self._clients = LazyClients(self._make_client)

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"AnthropicProvider({self.model!r}{where})"

    def _make_client(self, kind: str) -> Any:
        cls = getattr(_sdk(), "Anthropic" if kind == "sync" else "AsyncAnthropic")
        return cls(api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout)

    def _sync_client(self) -> Any:
        return self._clients.sync()

    def _async_client(self) -> Any:
        return self._clients.async_()

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in request.messages if m.get("role") == "system")
        messages = [m for m in request.messages if m.get("role") != "system"]
        if request.tools or any(m.get("role") == "tool" or "tool_calls" in m for m in messages):
            messages = _wire_messages(messages)
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.timeout is not None:
            params["timeout"] = request.timeout
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        elif request.schema is not None and self.supports_structured_output:
            params["tools"] = [
                {
                    "name": request.schema_name,
                    "description": "Give your answer as this tool's input.",
                    "input_schema": request.schema,
                }
            ]
            params["tool_choice"] = {"type": "tool", "name": request.schema_name}
        return params

    def _response(self, resp: Any, started: float, request: LLMRequest) -> LLMResponse:
        content = getattr(resp, "content", None)
        if content is None:
            raise ProviderFailure("malformed response: no content", retryable=True, kind="malformed")
        calls: tuple[ToolCall, ...] = ()
        tool_uses = [b for b in content if getattr(b, "type", "") == "tool_use"]
        if request.tools:
            calls = tuple(_tool_call(b, i) for i, b in enumerate(tool_uses))
            text = "".join(getattr(b, "text", "") for b in content if getattr(b, "type", "") == "text")
        elif tool_uses:
            text = json.dumps(tool_uses[0].input)
        else:
            text = "".join(getattr(b, "text", "") for b in content if getattr(b, "type", "") == "text")
        usage = resp.usage
        return LLMResponse(
            text=text,
            usage=Usage(usage.input_tokens or 0, usage.output_tokens or 0) if usage else Usage(),
            model=resp.model or self.model,
            latency_s=time.perf_counter() - started,
            raw=resp,
            finish_reason=resp.stop_reason,
            tool_calls=calls,
        )

    def _fail(self, exc: Exception) -> ProviderFailure:
        failure = translate_anthropic_error(exc)
        if failure is not None:
            return failure
        return ProviderFailure(f"malformed response: {exc}", retryable=True, kind="malformed")

    def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        try:
            resp = self._sync_client().messages.create(**self._params(request))
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc
        return self._response(resp, started, request)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        try:
            resp = await self._async_client().messages.create(**self._params(request))
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc
        return self._response(resp, started, request)

    def stream(self, request: LLMRequest) -> Iterator[str]:
        params = {k: v for k, v in self._params(request).items() if k not in ("tools", "tool_choice")}
        try:
            events = self._sync_client().messages.create(**params, stream=True)
            with events:
                for event in events:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield event.delta.text
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc

    async def astream(self, request: LLMRequest) -> AsyncIterator[str]:
        params = {k: v for k, v in self._params(request).items() if k not in ("tools", "tool_choice")}
        try:
            events = await self._async_client().messages.create(**params, stream=True)
            async with events:
                async for event in events:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield event.delta.text
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc

    # ---- whole answers, streamed (llm/streaming.py) -------------------------------------------
    def _streams(self, request: LLMRequest) -> bool:
        """Only plain text streams: tool calls and typed answers (a forced tool) come whole."""
        return not request.tools and not (request.schema is not None and self.supports_structured_output)

    def stream_complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResponse:
        """``complete``, with the text going to ``on_delta`` as it arrives."""
        if not self._streams(request):
            response = self.complete(request)
            on_delta(response.text)
            return response
        started, got = time.perf_counter(), _Streamed(self.model)
        try:
            events = self._sync_client().messages.create(**self._params(request), stream=True)
            with events:
                for event in events:
                    if delta := got.add(event):
                        on_delta(delta)
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc
        return got.response(started)

    async def astream_complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResponse:
        """The async twin of ``stream_complete``."""
        if not self._streams(request):
            response = await self.acomplete(request)
            on_delta(response.text)
            return response
        started, got = time.perf_counter(), _Streamed(self.model)
        try:
            events = await self._async_client().messages.create(**self._params(request), stream=True)
            async with events:
                async for event in events:
                    if delta := got.add(event):
                        on_delta(delta)
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc
        return got.response(started)


class _Streamed:
    """What a Messages stream adds up to: the answer ``complete`` gives (text, usage, stop reason)."""

    __slots__ = ("finish_reason", "model", "parts", "usage")

    def __init__(self, model: str):
        self.model = model
        self.parts: list[str] = []
        self.usage = Usage()
        self.finish_reason: str | None = None

    def add(self, event: Any) -> str | None:
        """Takes one event in; returns its text delta, if it has one."""
        kind = getattr(event, "type", "")
        if kind == "content_block_delta" and event.delta.type == "text_delta":
            self.parts.append(event.delta.text)
            return event.delta.text or None
        if kind == "message_start":
            message = event.message
            self.model = message.model or self.model
            if message.usage is not None:
                self.usage = Usage(message.usage.input_tokens or 0, message.usage.output_tokens or 0)
        elif kind == "message_delta":
            self.finish_reason = event.delta.stop_reason or self.finish_reason
            if event.usage is not None:
                self.usage = Usage(self.usage.prompt_tokens, event.usage.output_tokens or 0)
        return None

    def response(self, started: float) -> LLMResponse:
        return LLMResponse(
            text="".join(self.parts),
            usage=self.usage,
            model=self.model,
            latency_s=time.perf_counter() - started,
            finish_reason=self.finish_reason,
        )


def _wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The provider-neutral tool messages in Anthropic's shape: ``tool_use`` blocks on the
    assistant turn, and the results of one turn's calls as ``tool_result`` blocks of one user turn
    (the API wants the results of parallel calls together, right after the calls)."""
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the tool_result blocks of the user turn being built
    for m in messages:
        role = m.get("role")
        if role != "tool":
            results = None
        if role == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            if m.get("content"):
                blocks.append({"type": "text", "text": str(m["content"])})
            blocks += [
                {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c.get("arguments") or {}}
                for c in m["tool_calls"]
            ]
            out.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m["tool_call_id"],
                "content": str(m.get("content", "")),
                "is_error": bool(m.get("is_error", False)),
            }
            if results is None:
                results = []
                out.append({"role": "user", "content": results})
            results.append(block)
        else:
            out.append(m)
    return out


def _tool_call(block: Any, index: int) -> ToolCall:
    arguments, error = parse_arguments(getattr(block, "input", None))
    return ToolCall(
        str(getattr(block, "id", "") or f"toolu_{index}"), str(getattr(block, "name", "")), arguments, error
    )
