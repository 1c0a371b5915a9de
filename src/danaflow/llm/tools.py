"""The tool loop: the model asks for tool calls, danaflow runs them and sends back the results,
until the model answers in text or its ``max_tool_rounds`` are used up.

Every provider has its own wire format (OpenAI ``tool_calls``, Anthropic ``tool_use``, the
embedded model's JSON constrained to the tools' schemas). This module sees only ToolSpec and
ToolCall and the provider-neutral messages of provider.py, so validation, parallel calls, the
round bound and the spans are written once. A tool is anything that satisfies the Tool protocol.
context/'s ToolResource does, but llm/ cannot import it. Flow events come from the caller's
``on_call``. The loop does no I/O of its own: like typed.py, it takes the completion callable.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from danaflow.errors import ConfigurationError, DanaflowError, ToolLoopError
from danaflow.observability import span

from .provider import LLMRequest, LLMResponse, Message, ToolCall, ToolSpec
from .typed import TypedConversation, instruction, output_spec, parse_answer

__all__ = [
    "DEFAULT_MAX_TOOL_ROUNDS",
    "Tool",
    "ToolCallRecord",
    "ToolConversation",
    "ToolRun",
    "arun_tool_loop",
    "parse_arguments",
    "result_text",
    "run_tool_loop",
    "tool_spec",
]

DEFAULT_MAX_TOOL_ROUNDS = 5
"""Model turns that ask for tools, at most, before ToolLoopError (a turn may ask for several)."""
MAX_RESULT_CHARS = 16_000
"""A tool result longer than this reaches the model clipped, with a note of how much was left out."""
MAX_CALLS_PER_ROUND = 32
"""Calls one turn may ask for; the rest are answered with an error instead of being run."""
_MAX_ID = 64

OnCall = Callable[["ToolCallRecord"], "Awaitable[None] | None"]


@runtime_checkable
class Tool(Protocol):
    """What the loop needs of a tool. ``validate_args`` raises (with the reason) when ``args``
    break the schema; ``acall``/``call`` run it and raise DanaflowError when it fails."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def validate_args(self, args: Mapping[str, Any]) -> None: ...

    def call(self, **kwargs: Any) -> Any: ...

    async def acall(self, **kwargs: Any) -> Any: ...


def tool_spec(tool: Tool) -> ToolSpec:
    """The ToolSpec a model is offered for ``tool``."""
    return ToolSpec(tool.name, tool.description or "", dict(tool.parameters))


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """A call's arguments as sent on the wire (JSON text, or an object already parsed), and the
    problem when they are not a JSON object. Nothing is empty arguments."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, None
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return {}, f"the arguments are not JSON ({exc.msg} at char {exc.pos}): got {_clip(raw, 120)!r}"
    if not isinstance(value, dict):
        return {}, f"got arguments of JSON type {type(value).__name__}, want an object"
    return value, None


def result_text(value: Any, limit: int = MAX_RESULT_CHARS) -> str:
    """A tool's value as the text the model reads: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        text = value
    elif hasattr(value, "model_dump_json"):
        text = value.model_dump_json()
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text) - limit} more characters)"
    return text


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(slots=True)
class ToolCallRecord:
    """One call the model asked for and what came of it (run, or refused before running)."""

    id: str
    name: str
    arguments: dict[str, Any]
    round: int
    """1 for the calls of the model's first turn, 2 for the next, ..."""
    result: Any = None
    """The tool's value (None when it failed or was refused)."""
    text: str = ""
    """What the model was sent back: the result as text, or ``error: ...``."""
    error: str | None = None
    """Why the call failed or was refused (bad arguments, unknown tool, the tool's own error)."""
    ran: bool = False
    """Whether the tool actually ran (False for a call refused before it)."""
    duration_s: float = 0.0
    started_at: float = 0.0
    """``time.time()`` when the call began."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (for events and node outcomes); ``result`` as the text sent."""
        return {
            "id": self.id,
            "tool": self.name,
            "arguments": self.arguments,
            "round": self.round,
            "result": None if self.error is not None else self.text,
            "error": self.error,
            "ran": self.ran,
            "duration_s": round(self.duration_s, 6),
        }


@dataclass(slots=True)
class ToolRun:
    """What the loop ended with: the final answer and every call on the way."""

    text: str
    """The model's final answer text."""
    value: Any
    """The answer as the desired type (the text itself for ``str``)."""
    calls: list[ToolCallRecord] = field(default_factory=list)
    rounds: int = 0
    """How many model turns asked for tools."""
    messages: list[Message] = field(default_factory=list)
    """The whole conversation, in the provider-neutral form, final answer last."""
    response: LLMResponse | None = None
    """The last response (for its model, finish reason and usage)."""


@dataclass(slots=True)
class _Pending:
    call: ToolCall
    tool: Tool | None
    problem: str | None
    round: int


class ToolConversation:
    """The state of one tool loop: the next request, and what to do with each answer.

    ``accept(response)`` returns the calls to run (each with its tool, or the problem that keeps
    it from running), or None when the response is the final answer; it raises ToolLoopError when
    the model asks for tools after its rounds are used up. ``add_results`` appends the results.
    """

    def __init__(
        self,
        base: LLMRequest,
        tools: Sequence[Tool],
        *,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
        max_result_chars: int = MAX_RESULT_CHARS,
        max_calls_per_round: int = MAX_CALLS_PER_ROUND,
    ):
        if max_tool_rounds < 1:
            raise ConfigurationError(f"got max_tool_rounds={max_tool_rounds}, want at least 1")
        self.tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self.tools:
                raise ConfigurationError(f"two tools are named {tool.name!r}: want unique tool names")
            self.tools[tool.name] = tool
        self.max_tool_rounds = max_tool_rounds
        self.max_result_chars = max_result_chars
        self.max_calls_per_round = max_calls_per_round
        self._base = replace(base, tools=tuple(tool_spec(t) for t in self.tools.values()))
        self.messages: list[Message] = list(base.messages)
        self.rounds = 0
        self.calls: list[ToolCallRecord] = []
        self.final: LLMResponse | None = None

    def request(self) -> LLMRequest:
        return replace(self._base, messages=tuple(self.messages))

    def accept(self, response: LLMResponse) -> list[_Pending] | None:
        if not response.tool_calls:
            self.final = response
            self.messages.append({"role": "assistant", "content": response.text})
            return None
        if self.rounds >= self.max_tool_rounds:
            called = ", ".join(c.name for c in self.calls) or "none"
            asked = ", ".join(_clip(c.name, 40) for c in response.tool_calls)
            raise ToolLoopError(
                f"the model still asked for tools ({asked}) after max_tool_rounds={self.max_tool_rounds} "
                f"(calls made: {called}); want a final answer, or a larger max_tool_rounds",
                calls=list(self.calls),
                raw=response.text,
            )
        self.rounds += 1
        pending: list[_Pending] = []
        seen: set[str] = set()
        for i, call in enumerate(response.tool_calls):
            call_id = call.id[:_MAX_ID] if call.id else ""
            if not call_id or call_id in seen:  # the ids are echoed back: they must be unique
                call_id = f"call_{self.rounds}_{i}"
            seen.add(call_id)
            if call_id != call.id:
                call = replace(call, id=call_id)
            pending.append(self._prepare(call, i))
        self.messages.append(
            {
                "role": "assistant",
                "content": response.text,
                "tool_calls": [
                    {"id": p.call.id, "name": p.call.name, "arguments": p.call.arguments} for p in pending
                ],
            }
        )
        return pending

    def _prepare(self, call: ToolCall, index: int) -> _Pending:
        tool = self.tools.get(call.name)
        problem = None
        if index >= self.max_calls_per_round:
            problem = (
                f"call {index + 1} of one turn is past the limit of {self.max_calls_per_round} calls a "
                "turn: want fewer calls at once"
            )
        elif tool is None:
            offered = ", ".join(self.tools) or "none"
            problem = f"there is no tool {_clip(call.name, 80)!r}: want one of {offered}"
        elif call.error is not None:
            problem = f"tool {call.name!r}: {call.error}"
        else:
            try:
                tool.validate_args(call.arguments)
            except DanaflowError as exc:
                problem = exc.message
        return _Pending(call, tool, problem, self.rounds)

    def add_results(self, records: Sequence[ToolCallRecord]) -> None:
        for record in records:
            self.calls.append(record)
            self.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": record.id,
                    "name": record.name,
                    "content": record.text,
                    "is_error": record.error is not None,
                }
            )

    # ---- one call -------------------------------------------------------------------------------
    def _record(self, p: _Pending) -> ToolCallRecord:
        return ToolCallRecord(p.call.id, p.call.name, p.call.arguments, p.round, started_at=time.time())

    def _finish(self, record: ToolCallRecord, value: Any, error: str | None, t0: float, sp: Any) -> None:
        record.duration_s = time.perf_counter() - t0
        if error is None:
            record.result = value
            record.text = result_text(value, self.max_result_chars)
        else:
            record.error = error
            record.text = f"error: {error}"
        if sp.capture_content:
            sp.set_attribute("gen_ai.tool.call.arguments", json.dumps(record.arguments, default=str))
            sp.set_attribute("gen_ai.tool.call.result", record.text)
        if error is not None:
            sp.set_attribute("error.type", "refused" if not record.ran else "tool_error")
            sp.set_status("error", error)

    async def acall(self, p: _Pending) -> ToolCallRecord:
        """Runs one call (or records why it is refused) in a span of its own."""
        record = self._record(p)
        with _tool_span(p) as sp:
            t0 = time.perf_counter()
            value, error = None, p.problem
            if error is None:
                assert p.tool is not None
                record.ran = True
                try:
                    value = await p.tool.acall(**p.call.arguments)
                except DanaflowError as exc:
                    error = exc.message
            self._finish(record, value, error, t0, sp)
        return record

    def call(self, p: _Pending) -> ToolCallRecord:
        """The blocking twin of ``acall``."""
        record = self._record(p)
        with _tool_span(p) as sp:
            t0 = time.perf_counter()
            value, error = None, p.problem
            if error is None:
                assert p.tool is not None
                record.ran = True
                try:
                    value = p.tool.call(**p.call.arguments)
                except DanaflowError as exc:
                    error = exc.message
            self._finish(record, value, error, t0, sp)
        return record


def _tool_span(p: _Pending) -> Any:
    """The span of one tool call, in the GenAI conventions: ``execute_tool {name}``."""
    return span(
        "tool",
        name=f"execute_tool {_clip(p.call.name, 80)}",
        **{
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": _clip(p.call.name, 200),
            "gen_ai.tool.call.id": p.call.id,
            "gen_ai.tool.type": "function",
            "danaflow.tool.round": p.round,
        },
    )


# ---- drivers --------------------------------------------------------------------------------------
def _typed_base(base: LLMRequest, output_type: Any) -> tuple[Any, LLMRequest]:
    """The OutputSpec, and ``base`` with a note on the last user message saying how the final
    answer must look (for types other than str)."""
    spec = output_spec(output_type)
    hint = instruction(spec, False)
    messages = list(base.messages)
    if hint and messages and messages[-1].get("role") == "user":
        note = f"When you have the final answer, {hint[0].lower()}{hint[1:]}"
        messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{note}"}
    return spec, replace(base, messages=tuple(messages))


def _final_conversation(conv: ToolConversation, spec: Any, native: bool, max_reasks: int) -> Any:
    """The typed re-ask, when the final text did not parse: the whole conversation, no tools."""
    base = replace(
        conv.request(),
        tools=(),
        messages=(*conv.messages, {"role": "user", "content": "Give your final answer now."}),
    )
    return TypedConversation(base, spec, native=native, max_reasks=max_reasks)


def _run_result(conv: ToolConversation, value: Any) -> ToolRun:
    assert conv.final is not None
    return ToolRun(conv.final.text, value, conv.calls, conv.rounds, conv.messages, conv.final)


async def arun_tool_loop(
    acomplete: Callable[[LLMRequest], Awaitable[LLMResponse]],
    base: LLMRequest,
    tools: Sequence[Tool],
    *,
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
    output_type: Any = None,
    native: bool = True,
    max_reasks: int = 2,
    on_call: OnCall | None = None,
    max_result_chars: int = MAX_RESULT_CHARS,
) -> ToolRun:
    """Asks through ``acomplete`` with ``tools`` offered, runs the calls the model asks for (a
    turn's calls concurrently), sends back their results, and returns the final answer.

    ``on_call`` hears every ToolCallRecord once its call finished (awaited when async), in the
    model's order. A call with bad arguments, of an unknown tool, or whose tool raised a
    DanaflowError goes back to the model as an error result; any other exception propagates.
    With ``output_type`` the final text is parsed as that type; when it does not parse, the
    model is asked once more (without tools, ``native`` structured output) and re-asked up to
    ``max_reasks`` times.
    """
    spec, base = _typed_base(base, output_type)
    conv = ToolConversation(base, tools, max_tool_rounds=max_tool_rounds, max_result_chars=max_result_chars)
    while (pending := conv.accept(await acomplete(conv.request()))) is not None:
        if len(pending) == 1:
            records = [await conv.acall(pending[0])]
        else:
            tasks = [asyncio.ensure_future(conv.acall(p)) for p in pending]
            try:
                records = list(await asyncio.gather(*tasks))
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise
        conv.add_results(records)
        if on_call is not None:
            for record in records:
                out = on_call(record)
                if inspect.isawaitable(out):
                    await out
    assert conv.final is not None
    try:
        return _run_result(conv, parse_answer(conv.final.text, spec))
    except ValueError:
        typed = _final_conversation(conv, spec, native, max_reasks)
        while not typed.accept(await acomplete(typed.request())):
            pass
        return _run_result(conv, typed.value)


def run_tool_loop(
    complete: Callable[[LLMRequest], LLMResponse],
    base: LLMRequest,
    tools: Sequence[Tool],
    *,
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
    output_type: Any = None,
    native: bool = True,
    max_reasks: int = 2,
    on_call: Callable[[ToolCallRecord], Any] | None = None,
    max_result_chars: int = MAX_RESULT_CHARS,
) -> ToolRun:
    """The blocking twin of ``arun_tool_loop``: a turn's calls run in worker threads."""
    spec, base = _typed_base(base, output_type)
    conv = ToolConversation(base, tools, max_tool_rounds=max_tool_rounds, max_result_chars=max_result_chars)
    while (pending := conv.accept(complete(conv.request()))) is not None:
        if len(pending) == 1:
            records = [conv.call(pending[0])]
        else:
            # Each call runs in a copy of this thread's context, so its span has the caller's parent.
            with ThreadPoolExecutor(min(len(pending), 8), thread_name_prefix="danaflow-tool") as pool:
                futures = [pool.submit(contextvars.copy_context().run, conv.call, p) for p in pending]
                records = [f.result() for f in futures]
        conv.add_results(records)
        if on_call is not None:
            for record in records:
                on_call(record)
    assert conv.final is not None
    try:
        return _run_result(conv, parse_answer(conv.final.text, spec))
    except ValueError:
        typed = _final_conversation(conv, spec, native, max_reasks)
        while not typed.accept(complete(typed.request())):
            pass
        return _run_result(conv, typed.value)
