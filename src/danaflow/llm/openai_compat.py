"""The adapter for OpenAI's chat completions API, on the ``openai`` SDK, for any ``base_url``.

One adapter serves OpenAI itself and every server that speaks its dialect (Ollama, vLLM, the
llama.cpp server, LM Studio). The SDK's own retries are off (``max_retries=0``): retry.py owns the
fault policy. The SDK is imported when the first client is built, not when this module loads.
Tools travel as ``tools`` (``type: function``) and come back as ``message.tool_calls``; the
provider-neutral tool messages (provider.py) are translated here, in both directions.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from ._clients import LazyClients
from .provider import LLMRequest, LLMResponse, Message, ProviderFailure, ToolCall, Usage
from .retry import parse_retry_after
from .tools import parse_arguments

__all__ = ["OpenAICompatProvider", "request_url", "translate_openai_error"]

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


def translate_openai_error(exc: Exception) -> ProviderFailure | None:
    """The ProviderFailure for an ``openai`` SDK exception, or None when it is not one of the SDK's."""
    import openai

    where = request_url(exc)
    if isinstance(exc, openai.APITimeoutError):
        return ProviderFailure(f"the request to {where} timed out", retryable=True, kind="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderFailure(f"cannot connect to {where}: {exc}", retryable=True, kind="connection")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        return ProviderFailure(
            f"{_status_message(exc)} (from {where})",
            status=status,
            retryable=status in _RETRYABLE_STATUS or status >= 500,
            retry_after=retry_after,
            kind="status",
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderFailure(f"malformed response: {exc}", retryable=True, kind="malformed")
    return None


def request_url(exc: Any) -> str:
    """``POST http://host/v1/chat/completions``: the endpoint an SDK exception came from, so a
    connection error or a 404 names the URL (the SDKs' own messages do not)."""
    request = getattr(exc, "request", None)
    if request is None:
        request = getattr(getattr(exc, "response", None), "request", None)
    url = getattr(request, "url", None)
    if url is None:
        return "the server"
    method = getattr(request, "method", "")
    return f"{method} {url}".strip()


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))


class OpenAICompatProvider:
    """Chat completions against ``base_url`` (None means OpenAI's own endpoint).

    ``structured_output`` says whether to send ``response_format`` with a JSON schema; turn it
    off for servers that reject it, and typed.py puts the schema in the prompt instead.
    ``tool_calling`` says whether the server takes ``tools``; off, the tool loop refuses to start.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        name: str = "openai",
        structured_output: bool = True,
        timeout: float = 60.0,
        tool_calling: bool = True,
    ):
        self.name = name
        self.model = model
        self.base_url = base_url
        self.supports_structured_output = structured_output
        self.supports_tools = tool_calling
        self.timeout = timeout
        self._api_key = api_key or "not-needed"
        self._clients = LazyClients(self._make_client)

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"OpenAICompatProvider({self.model!r}{where})"

    # ---- clients ------------------------------------------------------------------------------
    def _make_client(self, kind: str) -> Any:
        import openai

        cls = openai.OpenAI if kind == "sync" else openai.AsyncOpenAI
        return cls(api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout)

    def _sync_client(self) -> Any:
        return self._clients.sync()

    def _async_client(self) -> Any:
        return self._clients.async_()

    # ---- request / response -------------------------------------------------------------------
    def _params(self, request: LLMRequest) -> dict[str, Any]:
        messages = request.messages
        if request.tools or any(m.get("role") == "tool" or "tool_calls" in m for m in messages):
            messages = _wire_messages(messages)
        params: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.timeout is not None:
            params["timeout"] = request.timeout
        if request.schema is not None and self.supports_structured_output:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": False},
            }
        return params

    def _response(self, resp: Any, started: float) -> LLMResponse:
        choices = getattr(resp, "choices", None)
        if not choices:
            raise ProviderFailure("malformed response: no choices", retryable=True, kind="malformed")
        choice = choices[0]
        text = choice.message.content or ""
        usage = resp.usage
        return LLMResponse(
            text=text,
            usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else Usage(),
            model=resp.model or self.model,
            latency_s=time.perf_counter() - started,
            raw=resp,
            finish_reason=choice.finish_reason,
            tool_calls=_tool_calls(choice.message),
        )

    def _fail(self, exc: Exception) -> ProviderFailure:
        failure = translate_openai_error(exc)
        if failure is not None:
            return failure
        # A body that is not JSON surfaces as a decode error or as a plain str from the SDK.
        return ProviderFailure(f"malformed response: {exc}", retryable=True, kind="malformed")

    def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        try:
            resp = self._sync_client().chat.completions.create(**self._params(request))
        except ProviderFailure:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc
        return self._response(resp, started)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        try:
            resp = await self._async_client().chat.completions.create(**self._params(request))
        except Exception as exc:
            raise self._fail(exc) from exc
        return self._response(resp, started)

    def stream(self, request: LLMRequest) -> Iterator[str]:
        try:
            chunks = self._sync_client().chat.completions.create(**self._params(request), stream=True)
            with chunks:
                for chunk in chunks:
                    if chunk.choices and (delta := chunk.choices[0].delta.content):
                        yield delta
        except Exception as exc:
            raise self._fail(exc) from exc

    async def astream(self, request: LLMRequest) -> AsyncIterator[str]:
        try:
            chunks = await self._async_client().chat.completions.create(**self._params(request), stream=True)
            async with chunks:
                async for chunk in chunks:
                    if chunk.choices and (delta := chunk.choices[0].delta.content):
                        yield delta
        except Exception as exc:
            raise self._fail(exc) from exc

    # ---- whole answers, streamed (llm/streaming.py) -------------------------------------------
    def stream_complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResponse:
        """``complete``, with the text going to ``on_delta`` as it arrives; usage comes from the
        stream's last chunk (``stream_options.include_usage``). Tool requests are answered whole."""
        if request.tools:
            response = self.complete(request)
            on_delta(response.text)
            return response
        started, got = time.perf_counter(), _Streamed(self.model)
        try:
            chunks = self._sync_client().chat.completions.create(**self._params(request), **_STREAM)
            with chunks:
                for chunk in chunks:
                    if delta := got.add(chunk):
                        on_delta(delta)
        except Exception as exc:
            raise self._fail(exc) from exc
        return got.response(started)

    async def astream_complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResponse:
        """The async twin of ``stream_complete``."""
        if request.tools:
            response = await self.acomplete(request)
            on_delta(response.text)
            return response
        started, got = time.perf_counter(), _Streamed(self.model)
        try:
            chunks = await self._async_client().chat.completions.create(**self._params(request), **_STREAM)
            async with chunks:
                async for chunk in chunks:
                    if delta := got.add(chunk):
                        on_delta(delta)
        except Exception as exc:
            raise self._fail(exc) from exc
        return got.response(started)


_STREAM: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}


class _Streamed:
    """What a stream of ``chat.completion.chunk`` objects adds up to: the answer ``complete`` gives."""

    __slots__ = ("finish_reason", "model", "parts", "usage")

    def __init__(self, model: str):
        self.model = model
        self.parts: list[str] = []
        self.usage = Usage()
        self.finish_reason: str | None = None

    def add(self, chunk: Any) -> str | None:
        """Takes one chunk in; returns its text delta, if it has one."""
        if getattr(chunk, "model", None):
            self.model = chunk.model
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0)
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        delta = choice.delta.content if choice.delta is not None else None
        if delta:
            self.parts.append(delta)
        return delta or None

    def response(self, started: float) -> LLMResponse:
        return LLMResponse(
            text="".join(self.parts),
            usage=self.usage,
            model=self.model,
            latency_s=time.perf_counter() - started,
            finish_reason=self.finish_reason,
        )


def _wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The provider-neutral tool messages in OpenAI's shape: ``tool_calls`` with JSON-text
    arguments on the assistant turn, ``role: tool`` with ``tool_call_id`` for each result."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            out.append(
                {
                    "role": "assistant",
                    "content": m.get("content") or None,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {
                                "name": c["name"],
                                "arguments": json.dumps(c.get("arguments") or {}),
                            },
                        }
                        for c in m["tool_calls"]
                    ],
                }
            )
        elif role == "tool":
            out.append(
                {"role": "tool", "tool_call_id": m["tool_call_id"], "content": str(m.get("content", ""))}
            )
        else:
            out.append(m)
    return out


def _tool_calls(message: Any) -> tuple[ToolCall, ...]:
    calls = getattr(message, "tool_calls", None)
    if not calls:
        return ()
    found = []
    for i, call in enumerate(calls):
        function = getattr(call, "function", None)
        name = str(getattr(function, "name", "") or "")
        arguments, error = parse_arguments(getattr(function, "arguments", None))
        found.append(ToolCall(str(getattr(call, "id", "") or f"call_{i}"), name, arguments, error))
    return tuple(found)
