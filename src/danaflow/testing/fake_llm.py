"""A fake OpenAI- and Anthropic-compatible HTTP server for tests, on 127.0.0.1 and a free port.

Tests drive the real SDKs over real HTTP against it, so the adapters, retries and parsing are
exercised exactly as in production. It serves ``POST /v1/chat/completions`` (OpenAI) and
``POST /v1/messages`` (Anthropic), both plain and streaming (SSE), from a script:

    fake_llm.reply("Paris")                       # queued replies, consumed in order
    fake_llm.reply_json({"name": "Ada", "age": 36})
    fake_llm.add_rule(match="capital", reply="Paris")   # substring, regex or predicate; persistent
    fake_llm.fail(status=429, times=2, retry_after=0.01)
    fake_llm.hang(seconds=5)                      # the client times out
    fake_llm.malformed()                          # a 200 whose body is not JSON
    fake_llm.reply_tool_calls(("add", {"a": 1}), ("mul", {"b": 2}))   # one turn, two tool calls
    fake_llm.reply(Reply("slow words", chunk_delay=0.5))   # streamed a chunk every half second
    fake_llm.requests[-1].tool_results            # the results the client sent back
    fake_llm.requests[-1].prompt                  # what was asked
    llm = fake_llm.resource()                     # an LLMResource pointed at it

For each request the server takes, in order: the next fault, the first matching rule, the next
queued reply, else ``default_reply``. Every request is recorded, faulted ones included.
A reply with ``tool_calls`` answers in each API's tool format (OpenAI ``message.tool_calls`` with
JSON-text arguments and ``finish_reason: tool_calls``; Anthropic ``tool_use`` blocks and
``stop_reason: tool_use``); arguments given as a string are sent as they are, malformed or not.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeLLMServer", "RecordedRequest", "Reply", "ToolCallReply"]


@dataclass(slots=True)
class RecordedRequest:
    """One request the server received."""

    api: str
    """'openai' or 'anthropic'."""
    path: str
    headers: dict[str, str]
    body: Any
    """The parsed JSON body (None when it was not JSON)."""
    time: float
    """``time.perf_counter()`` on arrival; compare two of them to measure backoff."""
    status: int = 0
    """The status the server answers with (recorded before it is sent; 0 for a hang)."""

    @property
    def model(self) -> str:
        return (self.body or {}).get("model", "")

    @property
    def stream(self) -> bool:
        return bool((self.body or {}).get("stream"))

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation with every content flattened to text (Anthropic blocks included).

        A tool result is a ``tool`` message in both APIs (Anthropic sends it as a user turn of
        ``tool_result`` blocks), so ``prompt`` stays the last message a person wrote."""
        out = []
        system = (self.body or {}).get("system")
        if system:
            out.append({"role": "system", "content": _text_of(system)})
        for m in (self.body or {}).get("messages", []):
            content = m.get("content", "")
            role = m.get("role", "")
            if isinstance(content, list) and content and all(_is_result(b) for b in content):
                for block in content:
                    out.append({"role": "tool", "content": _text_of(block.get("content", ""))})
                continue
            out.append({"role": role, "content": _text_of(content)})
        return out

    @property
    def tools(self) -> list[str]:
        """The names of the tools the request offered (either API)."""
        names = []
        for t in (self.body or {}).get("tools") or []:
            if isinstance(t, dict):
                names.append(str((t.get("function") or t).get("name", "")))
        return names

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The tool results the request carried, oldest first: ``{"id", "content", "is_error"}``
        (``is_error`` is None for OpenAI, which has no such field)."""
        found: list[dict[str, Any]] = []
        for m in (self.body or {}).get("messages", []):
            if m.get("role") == "tool":
                found.append(
                    {"id": m.get("tool_call_id"), "content": _text_of(m.get("content")), "is_error": None}
                )
            elif isinstance(m.get("content"), list):
                for b in m["content"]:
                    if _is_result(b):
                        found.append(
                            {
                                "id": b.get("tool_use_id"),
                                "content": _text_of(b.get("content", "")),
                                "is_error": bool(b.get("is_error", False)),
                            }
                        )
        return found

    @property
    def prompt(self) -> str:
        """The text of the last user message."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def system(self) -> str | None:
        systems = [m["content"] for m in self.messages if m["role"] == "system"]
        return systems[0] if systems else None


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content)


def _is_result(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "tool_result"


@dataclass(slots=True)
class ToolCallReply:
    """A tool call the fake model makes. ``arguments`` is a dict (sent as JSON) or a string sent
    as it is (to script malformed arguments); ``id`` None gets a fresh one."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(slots=True)
class Reply:
    """A scripted answer. ``text`` is what the model says (JSON text for structured answers);
    ``tool_calls`` are the calls it asks for in the same turn (the text may then be empty)."""

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tool_calls: list[ToolCallReply] | None = None
    chunk_delay: float = 0.0
    """Seconds before each chunk of a streamed answer after the first (a slow model, for tests
    that act mid-stream); a plain answer ignores it."""


@dataclass(slots=True)
class _Fault:
    kind: str  # 'status', 'hang', 'malformed'
    status: int = 500
    retry_after: float | None = None
    message: str = "injected failure"
    seconds: float = 0.0


@dataclass(slots=True)
class _Rule:
    match: Callable[[RecordedRequest], bool]
    reply: Callable[[RecordedRequest], Reply]
    times: int | None = None


ReplySource = str | Reply | dict | list | Callable[[RecordedRequest], Any]


def _to_reply(value: Any) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(value)
    return Reply(json.dumps(value))


def _reply_fn(source: ReplySource) -> Callable[[RecordedRequest], Reply]:
    if callable(source):
        return lambda req: _to_reply(source(req))
    reply = _to_reply(source)
    return lambda req: reply


def _matcher(match: str | re.Pattern[str] | Callable[[RecordedRequest], bool]) -> Callable[..., bool]:
    if isinstance(match, str):
        needle = match.lower()
        return lambda req: needle in req.prompt.lower()
    if isinstance(match, re.Pattern):
        return lambda req: match.search(req.prompt) is not None
    return match


class FakeLLMServer:
    """The fake server; use as a context manager or call ``start()``/``stop()``.

    ``model`` is the model name the helpers put in requests; ``default_reply`` answers when
    nothing is scripted.
    """

    def __init__(self, *, model: str = "fake-model", default_reply: ReplySource = "OK"):
        self.model = model
        self.default_reply = default_reply
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._rules: list[_Rule] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeLLMServer:
        handler = type("_Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the fake server is not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        """The Anthropic-style base URL (the SDK appends ``/v1/messages``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def spec(self) -> str:
        """A model spec for ``DANAFLOW_LLM`` or ``LLMResource(model=…)``."""
        return f"openai-compatible:{self.base_url}#{self.model}"

    @property
    def anthropic_spec(self) -> str:
        return f"anthropic:{self.anthropic_url}#{self.model}"

    # ---- scripting ----------------------------------------------------------------------------
    def reply(self, *texts: str | Reply, times: int = 1) -> FakeLLMServer:
        """Queues replies, each ``times`` times; consumed in order after faults and rules."""
        with self._lock:
            for text in texts:
                self._queue += [_to_reply(text)] * times
        return self

    def reply_json(self, value: Any, *, times: int = 1) -> FakeLLMServer:
        """Queues a reply whose text is ``value`` as JSON."""
        return self.reply(Reply(json.dumps(value)), times=times)

    @staticmethod
    def tool_calls(*calls: ToolCallReply | tuple[str, dict[str, Any] | str], text: str = "") -> Reply:
        """A Reply that asks for ``calls`` (ToolCallReply or ``(name, arguments)``) in one turn."""
        made = [c if isinstance(c, ToolCallReply) else ToolCallReply(c[0], c[1]) for c in calls]
        return Reply(text, tool_calls=made)

    def reply_tool_calls(
        self, *calls: ToolCallReply | tuple[str, dict[str, Any] | str], text: str = "", times: int = 1
    ) -> FakeLLMServer:
        """Queues one turn asking for ``calls`` (several: a parallel call), ``times`` times."""
        return self.reply(self.tool_calls(*calls, text=text), times=times)

    def add_rule(
        self,
        match: str | re.Pattern[str] | Callable[[RecordedRequest], bool],
        reply: ReplySource,
        *,
        times: int | None = None,
    ) -> FakeLLMServer:
        """Answers requests whose last user message contains ``match`` (case-insensitive), matches
        a regex, or satisfies a predicate. ``reply`` is a text, a JSON-able value, a Reply, or a
        function of the RecordedRequest. Rules stay until used ``times`` times (None: forever)."""
        with self._lock:
            self._rules.append(_Rule(_matcher(match), _reply_fn(reply), times))
        return self

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str = "injected failure",
    ) -> FakeLLMServer:
        """The next ``times`` requests get ``status`` with an API-shaped error body."""
        with self._lock:
            self._faults += [_Fault("status", status, retry_after, message)] * times
        return self

    def hang(self, seconds: float = 30.0, *, times: int = 1) -> FakeLLMServer:
        """The next ``times`` requests get no answer for ``seconds`` (so the client times out)."""
        with self._lock:
            self._faults += [_Fault("hang", seconds=seconds)] * times
        return self

    def malformed(self, *, times: int = 1) -> FakeLLMServer:
        """The next ``times`` requests get a 200 whose JSON body is cut short."""
        with self._lock:
            self._faults += [_Fault("malformed")] * times
        return self

    def reset(self) -> None:
        """Forgets the script and the recorded requests."""
        with self._lock:
            self._faults.clear()
            self._rules.clear()
            self._queue.clear()
            self.requests.clear()

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Blocks until ``count`` requests have arrived (True), or ``timeout`` passes (False).

        For tests that must act while a request is in flight (cancelling a hung call)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    @property
    def prompts(self) -> list[str]:
        return [r.prompt for r in self.requests]

    # ---- helpers for tests ------------------------------------------------------------------------
    def provider(self, **kw: Any) -> Any:
        """An OpenAICompatProvider pointed at this server."""
        from danaflow.llm.openai_compat import OpenAICompatProvider

        kw.setdefault("name", "openai-compatible")
        return OpenAICompatProvider(self.model, base_url=self.base_url, api_key="test-key", **kw)

    def anthropic_provider(self, **kw: Any) -> Any:
        """An AnthropicProvider pointed at this server."""
        from danaflow.llm.anthropic import AnthropicProvider

        return AnthropicProvider(self.model, base_url=self.anthropic_url, api_key="test-key", **kw)

    def resource(self, *, api: str = "openai", structured_output: bool = True, **kw: Any) -> Any:
        """An LLMResource on this server (``api='anthropic'`` for the Anthropic API), with retry
        waits shrunk to milliseconds so fault tests stay fast."""
        from danaflow.llm.resource import LLMResource
        from danaflow.llm.retry import RetryPolicy

        kw.setdefault("retry", RetryPolicy(base_delay=0.001, max_delay=0.01))
        provider_kw = {"structured_output": structured_output}
        if "timeout" in kw:
            provider_kw["timeout"] = kw["timeout"]
        if api == "anthropic":
            provider = self.anthropic_provider(**provider_kw)
        else:
            provider = self.provider(**provider_kw)
        return LLMResource(provider=provider, **kw)

    # ---- the server side ------------------------------------------------------------------------
    def _next(self, req: RecordedRequest) -> _Fault | Reply:
        with self._lock:
            self.requests.append(req)
            self._arrived.notify_all()
            if self._faults:
                return self._faults.pop(0)
            for rule in self._rules:
                if rule.match(req):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule.reply(req)
            if self._queue:
                return self._queue.pop(0)
        return _reply_fn(self.default_reply)(req)


def _chunks(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+", text) or [""]


def _count(text: str) -> int:
    return len(text.split())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test output is no place for an access log

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": self.fake.model, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route for GET {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/chat/completions"):
            api = "openai"
        elif path.endswith("/messages"):
            api = "anthropic"
        else:
            self._json(404, {"error": {"message": f"no route for POST {self.path}"}})
            return
        req = RecordedRequest(
            api, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.perf_counter()
        )
        action = self.fake._next(req)
        try:
            self._answer(api, req, action)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- answers --------------------------------------------------------------------------------
    def _answer(self, api: str, req: RecordedRequest, action: _Fault | Reply) -> None:
        # The status is recorded before the answer is written: once the client has read it, a
        # test may look at ``requests`` at once.
        if isinstance(action, _Fault):
            req.status = {"hang": 0, "malformed": 200}.get(action.kind, action.status)
        else:
            req.status = 200
        if isinstance(action, _Fault):
            if action.kind == "hang":
                self.fake._stopping.wait(action.seconds)
                self.close_connection = True
                return
            if action.kind == "malformed":
                self._send(200, b'{"id": "broken", "choices": [', "application/json")
                return
            self._error(api, action)
            return
        prompt_tokens = action.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = sum(_count(m["content"]) for m in req.messages)
        completion_tokens = action.completion_tokens
        if completion_tokens is None:
            completion_tokens = _count(action.text)
        if action.tool_calls:
            completion_tokens += sum(_count(json.dumps(c.arguments)) for c in action.tool_calls)
        if api == "openai":
            if req.stream:
                self._openai_stream(req, action, prompt_tokens, completion_tokens)
            else:
                body = _openai_body(req, action, prompt_tokens, completion_tokens)
                if action.tool_calls:
                    _openai_tool_calls(body, action, self.fake._ids)
                self._json(200, body)
        elif req.stream:
            self._anthropic_stream(req, action, prompt_tokens, completion_tokens)
        else:
            body = _anthropic_body(req, action, prompt_tokens, completion_tokens)
            if action.tool_calls:
                _anthropic_tool_calls(body, action, self.fake._ids)
            self._json(200, body)

    def _error(self, api: str, fault: _Fault) -> None:
        headers = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if api == "openai":
            body = {"error": {"message": fault.message, "type": "fake_error", "code": fault.status}}
        else:
            body = {"type": "error", "error": {"type": "fake_error", "message": fault.message}}
        self._json(fault.status, body, headers)

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _sse(self, events: list[tuple[str | None, Any]], delay: float = 0.0) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        for i, (event, data) in enumerate(events):
            if delay and i and self.fake._stopping.wait(delay):
                return
            line = "" if event is None else f"event: {event}\n"
            payload = data if isinstance(data, str) else json.dumps(data)
            self.wfile.write(f"{line}data: {payload}\n\n".encode())
            self.wfile.flush()

    def _openai_stream(self, req: RecordedRequest, reply: Reply, pt: int, ct: int) -> None:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": req.model or self.fake.model,
        }
        events: list[tuple[str | None, Any]] = []
        for i, piece in enumerate(_chunks(reply.text)):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            events.append((None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
        events.append(
            (None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]})
        )
        if ((req.body or {}).get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
            events.append((None, {**base, "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        self._sse(events, reply.chunk_delay)

    def _anthropic_stream(self, req: RecordedRequest, reply: Reply, pt: int, ct: int) -> None:
        message = _anthropic_body(req, reply, pt, 0)
        message["content"] = []
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": message}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
        ]
        for piece in _chunks(reply.text):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": ct},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._sse(events, reply.chunk_delay)


def _openai_body(req: RecordedRequest, reply: Reply, pt: int, ct: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model or "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
    }


def _anthropic_body(req: RecordedRequest, reply: Reply, pt: int, ct: int) -> dict[str, Any]:
    body = req.body or {}
    content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}]
    stop_reason = "end_turn"
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name"):
        try:
            value = json.loads(reply.text)
        except ValueError:
            value = None  # the "model" ignored the tool: answer in text, as real models sometimes do
        else:
            value = value if isinstance(value, dict) else {"value": value}
        if value is not None:
            content = [{"type": "tool_use", "id": "toolu_fake", "name": choice["name"], "input": value}]
            stop_reason = "tool_use"
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": req.model or "fake-model",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": pt, "output_tokens": ct},
    }


def _openai_tool_calls(body: dict[str, Any], reply: Reply, ids: Any) -> None:
    choice = body["choices"][0]
    choice["message"]["content"] = reply.text or None
    choice["message"]["tool_calls"] = [
        {
            "id": c.id or f"call_{next(ids)}",
            "type": "function",
            "function": {
                "name": c.name,
                "arguments": c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments),
            },
        }
        for c in reply.tool_calls or ()
    ]
    if reply.finish_reason == "stop":
        choice["finish_reason"] = "tool_calls"


def _anthropic_tool_calls(body: dict[str, Any], reply: Reply, ids: Any) -> None:
    content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
    for c in reply.tool_calls or ():
        arguments: Any = c.arguments
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass  # sent as a string: what a broken model would send
        content.append(
            {"type": "tool_use", "id": c.id or f"toolu_{next(ids)}", "name": c.name, "input": arguments}
        )
    body["content"] = content
    body["stop_reason"] = "tool_use"


def main(argv: list[str] | None = None) -> None:
    """``python -m danaflow.testing.fake_llm [--reply TEXT] [--model NAME]``: serves until Ctrl-C
    (or SIGTERM), after printing its address and the model specs that point at it."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m danaflow.testing.fake_llm",
        description="A fake OpenAI- and Anthropic-compatible LLM server on 127.0.0.1 (a free port).",
    )
    parser.add_argument("--reply", metavar="TEXT", default="OK", help="What every request is answered.")
    parser.add_argument("--model", metavar="NAME", default="fake-model", help="The model name in its specs.")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job inherits it ignored
        signal.signal(signum, lambda *_: stop.set())
    with FakeLLMServer(model=args.model, default_reply=args.reply) as server:
        sys.stdout.write(
            f"fake LLM server on {server.base_url}\n"
            f"DANAFLOW_LLM={server.spec}\n"
            f"anthropic spec: {server.anthropic_spec}\n"
            "Ctrl-C stops it.\n"
        )
        sys.stdout.flush()
        while not stop.wait(0.5):  # a timed wait, so the signal handler gets to run
            pass


if __name__ == "__main__":
    main()
