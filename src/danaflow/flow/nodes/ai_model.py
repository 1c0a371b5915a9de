"""AIModelNode: renders a prompt template in the node's context and asks an LLM, optionally typed.

With ``AIModelCallConfig(structured_output=T)`` the answer is validated to ``T`` by the LLM layer
(schema, re-ask on failure) and lands in ``outcome.structured``; otherwise the answer text lands in
``outcome.text``. Token usage is collected per node even when several nodes share one
LLMResource concurrently: the resource's ``on_call`` records are routed by a context variable,
which asyncio keeps per task. A node made with ``input_required=True`` takes an
``AIModelNodeInput`` (seed 004) whose ``prompt_variables`` fill the prompt template.
With ``tools=[...]`` the model may call them through its provider's tool API (the loop is
llm/tools.py): each call is a ``tool_called`` event and a span, the calls land in
``outcome.tool_calls``, and ``max_tool_rounds`` bounds the model turns that ask for tools.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import weakref
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from danaflow.context.result import NodeExecutionResult, NodeInput, NodeOutcome, NodeOutput, Usage
from danaflow.errors import ComponentError
from danaflow.template.engine import TemplateEngine, to_text
from danaflow.template.prompt import Prompt

from .._llm import resolve_llm
from ..tool_calls import resolve_tools, tool_event_recorder
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
    tools: list[Any] = Field(default_factory=list)
    """Tools the model may call: ToolResources, MCPResources (all their tools), or registered names."""
    max_tool_rounds: int = Field(default=5, ge=1)
    """Model turns that may ask for tools (a turn's several calls run concurrently); a model still
    asking after them fails the node with ToolLoopError."""


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
        extra: dict[str, Any] = {}
        token = _CALLS.set(records)
        try:
            _watch(llm)
            if s.tools:
                value, text, extra = await self._ask_with_tools(ctx, llm, prompt, options)
            else:
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
            **extra,
        )
        return self.make_result(
            outcome,
            output=NodeOutput(text=text, model=model),
            usage=usage,
            input={"prompt": prompt, **({"system": options["system"]} if "system" in options else {})},
        )

    async def _ask_with_tools(
        self, ctx: ExecutionContext, llm: Any, prompt: str, options: dict[str, Any]
    ) -> tuple[Any, str, dict[str, Any]]:
        s = self.settings
        if not hasattr(llm, "arun_tools"):
            raise ComponentError(
                f"AIModelNode: got tools with an LLM of type {type(llm).__name__}, want an LLMResource "
                "(tool calling goes through its provider's tool API)",
                path=ctx.path,
            )
        tools = resolve_tools(ctx, s.tools, "AIModelNode")
        desired = s.model_call_config.structured_output
        run = await llm.arun_tools(
            prompt,
            tools,
            max_tool_rounds=s.max_tool_rounds,
            output_type=desired,
            on_call=tool_event_recorder(ctx),
            **options,
        )
        value, text = run.value, run.text
        if desired is not None:
            text = _as_text(value)
        extra = {"tool_calls": [c.to_dict() for c in run.calls], "tool_rounds": run.rounds}
        return value, text, extra


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
    return value, _as_text(value)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=to_text)
    except (TypeError, ValueError):
        return to_text(value)


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
