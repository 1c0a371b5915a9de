"""AIModelNode: renders a prompt template in the node's context and asks an LLM, optionally typed.

With ``AIModelCallConfig(structured_output=T)`` the answer is validated to ``T`` by the LLM layer
(schema, re-ask on failure) and lands in ``outcome.structured``; otherwise the answer text lands in
``outcome.text``. Token usage is collected per node even when several nodes share one
LLMResource concurrently: the resource's ``on_call`` records are routed by a context variable,
which asyncio keeps per task. A node made with ``input_required=True`` takes an
``AIModelNodeInput`` (seed 004) whose ``prompt_variables`` fill the prompt template.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import weakref
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from danaflow.context.result import NodeExecutionResult, NodeInput, NodeOutcome, NodeOutput, Usage
from danaflow.template.engine import TemplateEngine, to_text
from danaflow.template.prompt import Prompt

from .._llm import resolve_llm
from ._paths import input_variables
from .base import Node

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["AIModelCallConfig", "AIModelNode", "AIModelNodeInput", "AIModelNodeSettings"]

_INPUT_KEYS = frozenset({"variables", "prompt_variables", "instruction_variables"})


class AIModelNodeInput(NodeInput):
    """The input of an AIModelNode: ``event.input = AIModelNodeInput(prompt_variables={...})``."""

    prompt_variables: dict[str, Any] = Field(default_factory=dict)
    """Variables for the prompt template (``$var{query}``); they win over ``variables``."""
    instruction_variables: dict[str, Any] = Field(default_factory=dict)
    """Extra variables for the system instructions (which also see the prompt's)."""

    def template_variables(self) -> dict[str, Any]:
        return {**self.variables, **self.prompt_variables}

    def instruction_template_variables(self) -> dict[str, Any]:
        return {**self.template_variables(), **self.instruction_variables}


class AIModelCallConfig(BaseModel):
    """How to call the model: the answer's type and sampling options."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    structured_output: Any = None
    """A type for the answer (a pydantic model class, ``list[str]``, ``int``, ...); None for text."""
    temperature: float | None = None
    max_output_tokens: int | None = None
    timeout: float | None = None


class AIModelNodeSettings(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    prompt: Prompt | str
    system_instructions: list[str] | str | None = None
    """System text (templates allowed); a list is joined with blank lines."""
    model: str | None = None
    """A model spec (``openai:gpt-4o-mini``); None uses the run's / the default model."""
    resource: str | None = None
    """The name of a registered LLM resource to use instead (``ctx.get_resource(name)``)."""
    model_call_config: AIModelCallConfig = Field(default_factory=AIModelCallConfig)


class AIModelNode(Node):
    """Calls an LLM with a rendered prompt; outcome ``text``, ``structured``, ``model``."""

    node_type = "ai_model"

    def __init__(self, settings: AIModelNodeSettings, *, llm: Any = None, **kw: Any):
        super().__init__(**kw)
        self.settings = settings
        self.llm = llm
        """An explicit LLMResource (or Reasoner) for this node; wins over model and resource."""

    def templates(self) -> list[tuple[str, str]]:
        out = [("prompt", _prompt(self.settings.prompt).text)]
        out.extend(("system_instructions", s) for s in _system_list(self.settings.system_instructions))
        return out

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        s = self.settings
        variables, system_variables = _input_variables(ctx.node_input)
        prompt = _prompt(s.prompt).render(ctx, variables, name=f"{ctx.path}.prompt")
        system_parts = [
            TemplateEngine.render_text(t, system_variables, ctx, name=f"{ctx.path}.system_instructions")
            for t in _system_list(s.system_instructions)
        ]
        options: dict[str, Any] = {}
        if system_parts:
            options["system"] = "\n\n".join(system_parts)
        cfg = s.model_call_config
        if cfg.temperature is not None:
            options["temperature"] = cfg.temperature
        if cfg.max_output_tokens is not None:
            options["max_tokens"] = cfg.max_output_tokens
        if cfg.timeout is not None:
            options["timeout"] = cfg.timeout
        llm = self.llm
        if llm is None and s.resource is not None:
            llm = ctx.get_resource(s.resource)
        if llm is None:
            llm = resolve_llm(ctx, s.model)
        records: list[Any] = []
        token = _CALLS.set(records)
        try:
            _watch(llm)
            value, text = await _ask(llm, prompt, cfg.structured_output, options)
        finally:
            _CALLS.reset(token)
        usage = None
        if records:
            usage = Usage(
                prompt_tokens=sum(r.usage.prompt_tokens for r in records),
                completion_tokens=sum(r.usage.completion_tokens for r in records),
            )
        model = getattr(records[-1], "model", None) if records else getattr(llm, "_spec", None)
        outcome = NodeOutcome(
            text=text,
            structured=value if cfg.structured_output is not None else None,
            model=model,
        )
        return self.make_result(
            outcome,
            output=NodeOutput(text=text, model=model),
            usage=usage,
            input={"prompt": prompt, **({"system": options["system"]} if "system" in options else {})},
        )


_CALLS: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "danaflow_ai_model_calls", default=None
)
_WATCHED: weakref.WeakSet[Any] = weakref.WeakSet()


def _route(record: Any) -> None:
    calls = _CALLS.get()
    if calls is not None:
        calls.append(record)


def _watch(llm: Any) -> None:
    """Routes the resource's call records to the node that is calling (once per resource)."""
    on_call = getattr(llm, "on_call", None)
    if isinstance(on_call, list) and llm not in _WATCHED:
        on_call.append(_route)
        _WATCHED.add(llm)


async def _ask(llm: Any, prompt: str, desired: Any, options: dict[str, Any]) -> tuple[Any, str]:
    if desired is None and hasattr(llm, "acomplete"):
        response = await llm.acomplete(prompt, **options)
        return response.text, response.text
    if hasattr(llm, "agenerate"):
        value = await llm.agenerate(prompt, desired if desired is not None else str, **options)
    elif hasattr(llm, "areason"):
        value = await llm.areason(prompt, desired, **options)
    else:
        value = await asyncio.to_thread(llm.reason, prompt, desired, **options)
    if isinstance(value, str):
        return value, value
    if isinstance(value, BaseModel):
        return value, value.model_dump_json()
    try:
        return value, json.dumps(value, default=to_text)
    except (TypeError, ValueError):
        return value, to_text(value)


def _input_variables(node_input: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(prompt variables, system-instruction variables) from the node's input.

    A mapping with only AIModelNodeInput's keys is one in JSON form (a resumed run's input).
    """
    if isinstance(node_input, dict) and node_input and set(node_input) <= _INPUT_KEYS:
        node_input = AIModelNodeInput.model_validate(node_input)
    if isinstance(node_input, AIModelNodeInput):
        return node_input.template_variables(), node_input.instruction_template_variables()
    if isinstance(node_input, NodeInput):
        variables = node_input.template_variables()
    else:
        variables = input_variables(node_input)
    return variables, variables


def _prompt(p: Prompt | str) -> Prompt:
    return p if isinstance(p, Prompt) else Prompt(text=p)


def _system_list(value: list[str] | str | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
