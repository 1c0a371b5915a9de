"""Typed answers: a desired Python type becomes a JSON schema, and a model's text becomes a value.

The type goes through a pydantic TypeAdapter (so Dana structs, which are pydantic models, work
like any other type). Where the provider has native structured output the schema travels with the
request (wrapped in an object when the root is not one, as OpenAI and tool inputs require);
otherwise it is written into the prompt. Parsing is lenient (code fences, prose around the JSON,
"seven", "yes"), then validated; a failure is sent back to the model with the validation error,
a bounded number of times, before ReasonError. Nothing here does I/O: the loop takes a callable.
"""

from __future__ import annotations

import enum
import json
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from danaflow.errors import ReasonError

from .provider import LLMRequest, LLMResponse

__all__ = [
    "OutputSpec",
    "TypedConversation",
    "agenerate_typed",
    "generate_typed",
    "output_spec",
    "parse_answer",
    "type_name",
]

_NAMED_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "any": Any,
}
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Everything the typed loop needs to know about one desired type."""

    type: Any
    adapter: TypeAdapter
    kind: str
    """'str' (plain text), 'int', 'float', 'bool', 'choice' (Literal/Enum) or 'json' (the rest)."""
    schema: dict[str, Any] | None
    """The type's JSON schema; None for plain text."""
    wire_schema: dict[str, Any] | None
    """``schema`` with an object at its root (``{"value": …}`` when ``wrapped``)."""
    wrapped: bool
    choices: tuple[str, ...] | None
    """The allowed answers as JSON texts, for bool and Literal/Enum types."""
    optional: bool


def type_name(tp: Any) -> str:
    """A short readable name for a type: ``int``, ``list[Person]``, ``Literal['a', 'b']``."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _normalize(tp: Any) -> Any:
    if tp is None:
        return str
    if isinstance(tp, str):
        return _NAMED_TYPES.get(tp.strip().lower(), tp)
    return tp


def _choices(tp: Any) -> tuple[str, ...] | None:
    if tp is bool:
        return ("true", "false")
    if typing.get_origin(tp) is typing.Literal:
        return tuple(json.dumps(v) for v in typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tuple(json.dumps(m.value) for m in tp)
    return None


@lru_cache(maxsize=256)
def _cached_spec(tp: Any) -> OutputSpec:
    adapter = TypeAdapter(tp)
    args = typing.get_args(tp)
    optional = type(None) in args
    if tp is str:
        return OutputSpec(tp, adapter, "str", None, None, False, None, False)
    kind = {int: "int", float: "float", bool: "bool"}.get(tp, "json")
    choices = _choices(tp)
    if choices is not None and kind == "json":
        kind = "choice"
    schema = adapter.json_schema()
    wrapped = schema.get("type") != "object"
    wire = schema
    if wrapped:
        inner = dict(schema)
        defs = inner.pop("$defs", None)
        wire = {"type": "object", "properties": {"value": inner}, "required": ["value"]}
        if defs:
            wire["$defs"] = defs
    return OutputSpec(tp, adapter, kind, schema, wire, wrapped, choices, optional)


def output_spec(desired_type: Any) -> OutputSpec:
    """The OutputSpec of a desired type; None and ``"str"`` mean plain text."""
    tp = _normalize(desired_type)
    try:
        return _cached_spec(tp)
    except TypeError:  # an unhashable type expression
        return _cached_spec.__wrapped__(tp)
    except Exception as exc:
        raise ReasonError(f"cannot ask for an answer of type {type_name(tp)}: {exc}") from exc


# ---- parsing ----------------------------------------------------------------------------------
def _json_candidates(text: str) -> list[Any]:
    """JSON values found in ``text``: the whole text, fenced blocks, then the first {...} / [...]."""
    found: list[Any] = []
    pieces = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    for piece in pieces:
        try:
            found.append(json.loads(piece))
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            found.append(value)
            break
    return found


def _scalar_candidates(text: str, spec: OutputSpec) -> list[Any]:
    lowered = text.strip().lower()
    words = re.findall(r"[a-z]+", lowered)
    found: list[Any] = []
    if spec.optional and lowered.strip(".") in ("null", "none", "n/a", ""):
        found.append(None)
    if spec.kind in ("int", "float"):
        found += [m.group() for m in _NUMBER.finditer(text)][:1]
        found += [_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS][:1]
    elif spec.kind == "bool":
        for w in words:
            if w in ("yes", "true", "y", "correct"):
                found.append(True)
                break
            if w in ("no", "false", "n", "incorrect"):
                found.append(False)
                break
    elif spec.kind == "choice":
        found += _choice_candidates(lowered, spec)
    elif str in typing.get_args(spec.type):
        found.append(text.strip())
    return found


def _choice_candidates(lowered: str, spec: OutputSpec) -> list[Any]:
    tp = spec.type
    options: list[tuple[str, Any]] = []
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for m in tp:
            options += [(str(m.value).lower(), m.value), (m.name.lower(), m.value)]
    else:
        options = [(str(v).lower(), v) for v in typing.get_args(tp)]
    hits = []
    for label, value in options:
        m = re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", lowered)
        if m:
            hits.append((m.start(), value))
    return [value for _, value in sorted(hits, key=lambda h: h[0])][:1]


def _validate(spec: OutputSpec, value: Any) -> Any:
    return spec.adapter.validate_python(value)


def parse_answer(text: str, spec: OutputSpec) -> Any:
    """The value of type ``spec.type`` in a model's ``text``; raises ValueError saying what is wrong."""
    if spec.kind == "str":
        stripped = text.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            try:
                return str(json.loads(stripped))
            except ValueError:
                pass
        return stripped
    first_error: ValidationError | None = None
    candidates: list[Any] = []
    for c in _json_candidates(text):
        if isinstance(c, dict) and set(c) == {"value"}:
            candidates.append(c["value"])
        candidates.append(c)
    candidates += _scalar_candidates(text, spec)
    for candidate in candidates:
        try:
            return _validate(spec, candidate)
        except ValidationError as exc:
            first_error = first_error or exc
    if first_error is not None:
        return _raise_compact(first_error, spec)
    if not text.strip():
        raise ValueError(f"got an empty answer, want {type_name(spec.type)}")
    raise ValueError(f"got {_clip(text)!r}, want {_instruction_target(spec)}")


def _raise_compact(exc: ValidationError, spec: OutputSpec) -> Any:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:5]
    )
    raise ValueError(f"not a valid {type_name(spec.type)}: {problems}")


def _clip(text: str, n: int = 120) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def _instruction_target(spec: OutputSpec) -> str:
    if spec.kind == "int":
        return "a single integer"
    if spec.kind == "float":
        return "a single number"
    if spec.kind == "bool":
        return "true or false"
    if spec.kind == "choice":
        shown = ", ".join(json.loads(c) if isinstance(json.loads(c), str) else c for c in spec.choices or ())
        return f"exactly one of: {shown}"
    return f"a JSON value of type {type_name(spec.type)}"


def instruction(spec: OutputSpec, native: bool) -> str | None:
    """What to append to the prompt so the model answers in a parseable form."""
    if spec.kind == "str":
        return None
    if native and spec.kind not in ("bool", "choice"):
        return "Reply with JSON only."
    if spec.kind == "json":
        schema = json.dumps(spec.schema, separators=(",", ":"))
        return (
            "Reply with only a JSON value (no prose, no code fences) that matches this JSON schema:\n"
            f"{schema}"
        )
    return f"Reply with only {_instruction_target(spec)}."


# ---- the ask / validate / re-ask loop ----------------------------------------------------------
class TypedConversation:
    """The state of one typed question: the requests to send and what the answers were.

    ``request()`` gives the next request; ``accept(response)`` returns True with ``value`` set
    when the answer validated, False when a re-ask is due, and raises ReasonError when the
    re-asks are used up.
    """

    def __init__(self, base: LLMRequest, spec: OutputSpec, *, native: bool, max_reasks: int = 2):
        self.spec = spec
        self.native = native and spec.wire_schema is not None
        self.max_reasks = max_reasks
        self.attempts = 0
        self.value: Any = None
        self.raw: str | None = None
        messages = list(base.messages)
        hint = instruction(spec, self.native)
        if hint and messages and messages[-1].get("role") == "user":
            messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{hint}"}
        self._base = replace(
            base,
            messages=tuple(messages),
            schema=spec.wire_schema if self.native else None,
            choices=spec.choices,
        )
        self._messages = list(self._base.messages)

    def request(self) -> LLMRequest:
        return replace(self._base, messages=tuple(self._messages))

    def accept(self, response: LLMResponse) -> bool:
        self.attempts += 1
        self.raw = response.text
        try:
            self.value = parse_answer(response.text, self.spec)
            return True
        except ValueError as exc:
            problem = str(exc)
        if self.attempts > self.max_reasks:
            raise ReasonError(
                f"the answer never validated as {type_name(self.spec.type)} after {self.attempts} "
                f"attempts: {problem}",
                raw=self.raw,
            )
        self._messages += [
            {"role": "assistant", "content": response.text},
            {
                "role": "user",
                "content": f"That answer is not valid: {problem}. "
                f"Reply again with only {_instruction_target(self.spec)}.",
            },
        ]
        return False


def generate_typed(
    complete: Callable[[LLMRequest], LLMResponse],
    base: LLMRequest,
    desired_type: Any,
    *,
    native: bool,
    max_reasks: int = 2,
) -> Any:
    """Asks through ``complete`` until the answer validates as ``desired_type``; returns the value."""
    conv = TypedConversation(base, output_spec(desired_type), native=native, max_reasks=max_reasks)
    while not conv.accept(complete(conv.request())):
        pass
    return conv.value


async def agenerate_typed(
    acomplete: Callable[[LLMRequest], Awaitable[LLMResponse]],
    base: LLMRequest,
    desired_type: Any,
    *,
    native: bool,
    max_reasks: int = 2,
) -> Any:
    """The async twin of ``generate_typed``."""
    conv = TypedConversation(base, output_spec(desired_type), native=native, max_reasks=max_reasks)
    while not conv.accept(await acomplete(conv.request())):
        pass
    return conv.value
