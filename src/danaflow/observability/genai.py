"""Model-call spans in OpenTelemetry's GenAI semantic conventions, so trace tools read them as such.

A call's span is named ``chat {model}`` (kind CLIENT) and carries ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.*``, and once answered ``gen_ai.response.model``,
``gen_ai.response.finish_reasons`` and ``gen_ai.usage.*_tokens``. Prompts and answers are recorded
(``gen_ai.input.messages`` / ``gen_ai.output.messages``, the conventions' JSON shape) only when the
run opted in with ``capture_content``; with no run, or tracing off, nothing is built at all.
The callers in ``llm/`` pass plain values: this layer knows no provider types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .telemetry import current_telemetry
from .telemetry import span as open_span
from .tracing import NoopSpan, Span

__all__ = ["OPERATION_CHAT", "chat_span", "record_chat_response"]

OPERATION_CHAT = "chat"


def _parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "content": text}]


def _message(m: Mapping[str, Any]) -> dict[str, Any]:
    """One chat message in the conventions' shape; tool requests and results become their parts."""
    role = str(m.get("role", "user"))
    if role == "tool":
        part = {"type": "tool_call_response", "id": m.get("tool_call_id"), "response": m.get("content")}
        return {"role": role, "parts": [part]}
    content = m.get("content")
    parts: list[dict[str, Any]] = _parts(str(content)) if content not in (None, "") else []
    for call in m.get("tool_calls") or ():
        if isinstance(call, Mapping):
            parts.append(
                {"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                 "arguments": call.get("arguments")}
            )  # fmt: skip
    return {"role": role, "parts": parts or _parts("")}


def _input_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([_message(m) for m in messages], ensure_ascii=False, default=str)


def chat_span(
    provider: str,
    model: str,
    *,
    messages: Sequence[Mapping[str, Any]] = (),
    temperature: float | None = None,
    max_tokens: int | None = None,
    structured: bool = False,
) -> AbstractContextManager[Span | NoopSpan]:
    """The span of one chat call to ``provider``'s ``model`` (a no-op outside a tracing run).

    It is a child of the component that makes the call, and counts as that component's model call
    in ``metrics.jsonl`` whether tracing is on or not. ``messages`` are recorded only when the
    run captures content.
    """
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": OPERATION_CHAT,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.output.type": "json" if structured else "text",
    }
    if temperature is not None:
        attrs["gen_ai.request.temperature"] = float(temperature)
    if max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = int(max_tokens)
    telemetry = current_telemetry()
    if telemetry is not None and telemetry.tracer is not None and telemetry.settings.capture_content:
        attrs["gen_ai.input.messages"] = _input_messages(messages)
    return open_span("llm", name=f"{OPERATION_CHAT} {model}", **attrs)


def record_chat_response(
    span: Span | NoopSpan,
    *,
    model: str | None,
    finish_reason: str | None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    text: str | None = None,
    attempts: int | None = None,
    cached: bool = False,
) -> None:
    """Records an answer on its chat span: the model that answered, why it stopped, the tokens
    (None for a cache hit, which spent none), and the text when the run captures content."""
    if isinstance(span, NoopSpan):
        return
    if model:
        span.set_attribute("gen_ai.response.model", model)
    if finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
    if input_tokens is not None or output_tokens is not None:
        span.add_tokens(input_tokens or 0, output_tokens or 0)
    if attempts is not None:
        span.set_attribute("danaflow.llm.attempts", attempts)
    if cached:
        span.set_attribute("danaflow.llm.cached", True)
    if text is not None and span.capture_content:
        message: dict[str, Any] = {"role": "assistant", "parts": _parts(text)}
        if finish_reason:
            message["finish_reason"] = finish_reason
        span.set_attribute("gen_ai.output.messages", json.dumps([message], ensure_ascii=False))
