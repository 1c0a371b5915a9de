"""Reasoning strategies: how the reasoning LLM works on a task (seed 000's reasoning layer).

A strategy takes a task text, the ExecutionContext (for tools and state) and an LLMResource, and
returns a StrategyResult. Every strategy asks for typed answers (``LLMResource.agenerate`` with a
pydantic model), never free text it would have to parse: chain of thought asks for
``{reasoning, answer}``. ReAct offers the tools through the provider's native tool API (the
loop of llm/tools.py: the model's calls run, concurrently when it asks for several, and their
results go back until it answers); with a provider that takes no tools it asks, turn after turn,
for ``{thought, action, args, answer}`` instead and calls the ToolResource the action names until
the model says ``finish``. Strategies are async first; ``run`` is the blocking twin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, create_model

from danaflow.context.mcp import MCPResource
from danaflow.context.resources import ToolResource
from danaflow.errors import ComponentError, ResourceError, ToolLoopError
from danaflow.flow.tool_calls import tool_event_recorder
from danaflow.template.engine import to_text

from ._sync import run_sync

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = [
    "ChainOfThoughtStrategy",
    "DirectStrategy",
    "ReActStrategy",
    "ReasoningStrategy",
    "StrategyResult",
    "reasoning_llm",
]


@dataclass
class StrategyResult:
    """What a strategy concluded: the typed ``answer`` and how it got there."""

    answer: Any
    reasoning: str | None = None
    """The chain of thought, or ReAct's final thought."""
    trace: list[dict[str, Any]] = field(default_factory=list)
    """ReAct's turns: ``thought``, ``action``, ``args``, ``observation``."""
    strategy: str = ""


@runtime_checkable
class ReasoningStrategy(Protocol):
    """What ``register_reasoning_strategy`` expects and plan steps call."""

    name: str

    async def arun(
        self, task: str, context: ExecutionContext, *, llm: Any = None, output_type: Any = None
    ) -> StrategyResult: ...

    def run(
        self, task: str, context: ExecutionContext, *, llm: Any = None, output_type: Any = None
    ) -> StrategyResult: ...


def reasoning_llm(context: ExecutionContext) -> Any:
    """The LLMResource a strategy uses: the context's reasoning LLM (walking up), the run's, or
    the configured default model."""
    llm = context.llm
    if llm is None or not hasattr(llm, "agenerate"):
        from danaflow.llm import default_llm  # deferred: the LLM layer costs a fifth of a second

        return default_llm()
    return llm


class _Strategy:
    name = "strategy"

    def __init__(self, *, output_type: Any = None, **llm_options: Any):
        self.output_type = output_type
        """The default desired type of answers (a step's ``output_type`` wins); None means str."""
        self.llm_options = llm_options
        """Per-call options for the LLM (``system``, ``max_tokens``, ``temperature``, ...)."""

    def run(
        self, task: str, context: ExecutionContext, *, llm: Any = None, output_type: Any = None
    ) -> StrategyResult:
        """The blocking twin of ``arun``."""
        return run_sync(self.arun(task, context, llm=llm, output_type=output_type))

    async def arun(
        self, task: str, context: ExecutionContext, *, llm: Any = None, output_type: Any = None
    ) -> StrategyResult:
        raise NotImplementedError

    def _type(self, output_type: Any) -> Any:
        t = output_type if output_type is not None else self.output_type
        return str if t is None else t

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DirectStrategy(_Strategy):
    """Asks the reasoning LLM for the answer directly: one typed call, no visible reasoning."""

    name = "direct"

    async def arun(
        self, task: str, context: ExecutionContext, *, llm: Any = None, output_type: Any = None
    ) -> StrategyResult:
        llm = llm if llm is not None else reasoning_llm(context)
        answer = await llm.agenerate(task, self._type(output_type), **self.llm_options)
        return StrategyResult(answer=answer, strategy=self.name)


_COT_INSTRUCTIONS = (
    "Think step by step about the task below before answering. Put your step-by-step thinking in "
    '"reasoning" and your final answer, and only the answer, in "answer".'
)


class ChainOfThoughtStrategy(_Strategy):
    """The reasoning LLM thinks step by step, then answers: one typed call for ``{reasoning, answer}``.

    The reasoning comes first in the schema, so a model generating in order writes it before the
    answer. ``min_reasoning_chars`` / ``max_reasoning_chars`` bound the reasoning in the schema
    itself (``minLength``/``maxLength``): a small constrained local model otherwise skips the
    thinking or rambles until its token limit.
    """

    name = "chain_of_thought"

    def __init__(
        self,
        *,
        output_type: Any = None,
        min_reasoning_chars: int | None = None,
        max_reasoning_chars: int | None = None,
        instructions: str = _COT_INSTRUCTIONS,
        **llm_options: Any,
    ):
        super().__init__(output_type=output_type, **llm_options)
        self.min_reasoning_chars = min_reasoning_chars
        self.max_reasoning_chars = max_reasoning_chars
        self.instructions = instructions
        self._models: dict[Any, type[BaseModel]] = {}

    def answer_model(self, output_type: Any) -> type[BaseModel]:
        """The pydantic model asked for: ``reasoning: str`` then ``answer: output_type``."""
        key = repr(output_type)
        model = self._models.get(key)
        if model is None:
            reasoning = Field(
                description="step-by-step thinking",
                min_length=self.min_reasoning_chars,
                max_length=self.max_reasoning_chars,
            )
            model = create_model(
                "ChainOfThought",
                reasoning=(str, reasoning),
                answer=(output_type, Field(description="the final answer")),
            )
            self._models[key] = model
        return model

    async def arun(
        self, task: str, context: ExecutionContext, *, llm: Any = None, output_type: Any = None
    ) -> StrategyResult:
        llm = llm if llm is not None else reasoning_llm(context)
        model = self.answer_model(self._type(output_type))
        prompt = f"{self.instructions}\n\n{task}"
        value = await llm.agenerate(prompt, model, **self.llm_options)
        return StrategyResult(answer=value.answer, reasoning=value.reasoning, strategy=self.name)


class ReActStrategy(_Strategy):
    """Reason + act: the LLM picks a tool and its arguments, sees the result, and repeats until it
    answers; at most ``max_iterations`` turns that call tools.

    ``tools`` are names of registered ToolResources or MCPResources (or the objects); None means
    every callable ToolResource visible in the context, and the tools of its MCPResources.
    ``native`` None uses the provider's tool API when it has one (and there are tools), True
    insists on it, False uses the JSON turn protocol (``{thought, action, args, answer}``, an
    action ``finish`` to answer). Either way a tool error or an unknown tool goes back to the
    model, so it can correct itself; running out of turns raises ComponentError naming the
    context's path and the tools called. Natively, every call is a ``tool_called`` event and a
    span, and its turns' text is the trace's ``thought``.
    """

    name = "react"

    def __init__(
        self,
        tools: list[str | ToolResource | MCPResource] | None = None,
        *,
        max_iterations: int = 5,
        output_type: Any = None,
        max_observation_chars: int = 2000,
        native: bool | None = None,
        **llm_options: Any,
    ):
        super().__init__(output_type=output_type, **llm_options)
        if max_iterations < 1:
            raise ComponentError(f"ReActStrategy: got max_iterations={max_iterations}, want at least 1")
        self.tools = tools
        self.max_iterations = max_iterations
        self.max_observation_chars = max_observation_chars
        self.native = native

    def available_tools(self, context: ExecutionContext) -> dict[str, ToolResource]:
        """The tools this strategy may call, by name."""
        found: dict[str, ToolResource] = {}
        if self.tools is None:
            for name in sorted(context.resource_names()):
                resource = context.get_resource(name)
                if isinstance(resource, ToolResource) and resource.is_callable:
                    found[name] = resource
                elif isinstance(resource, MCPResource):
                    found.update((t.name, t) for t in resource.tools)
            return found
        for tool in self.tools:
            resource = context.get_resource(tool) if isinstance(tool, str) else tool
            if isinstance(resource, MCPResource):
                found.update((t.name, t) for t in resource.tools)
                continue
            if not isinstance(resource, ToolResource):
                raise ComponentError(
                    f"ReActStrategy: resource {tool!r} is a {type(resource).__name__}, want a ToolResource",
                    path=context.path,
                )
            found[resource.name] = resource
        return found

    def turn_model(self, tool_names: list[str], output_type: Any) -> type[BaseModel]:
        """The typed answer of one turn: a thought, then an action (a tool or ``finish``)."""
        actions = Literal[tuple([*tool_names, "finish"])]  # type: ignore[valid-type]
        return create_model(
            "ReActTurn",
            thought=(str, Field(description="what you think now")),
            action=(actions, Field(description='a tool name, or "finish" with the answer')),
            args=(dict[str, Any], Field(default_factory=dict, description="the tool's arguments")),
            answer=(output_type | None, Field(default=None, description='the final answer (with "finish")')),
        )

    def prompt(self, task: str, tools: dict[str, ToolResource], history: list[dict[str, Any]]) -> str:
        lines = [
            'Solve the task by calling tools. Each turn, reply with JSON: "thought" (your reasoning), '
            '"action" (the name of one tool, or "finish" once you know the answer), "args" (that '
            'tool\'s arguments as an object), and "answer" (the final answer, only with "finish").',
            "",
            "Tools:",
        ]
        for tool in tools.values():
            schema = json.dumps(tool.parameters, separators=(",", ":"))
            lines.append(f"- {tool.name}: {tool.description or '(no description)'} Arguments: {schema}")
        lines += ["", "Task:", task]
        if history:
            lines += ["", "Turns so far:"]
            for i, turn in enumerate(history, 1):
                args = json.dumps(turn["args"], default=str)
                lines.append(f"{i}. thought: {turn['thought']}")
                lines.append(f"   action: {turn['action']} {args}")
                lines.append(f"   observation: {turn['observation']}")
        return "\n".join(lines)

    def uses_native_tools(self, llm: Any, tools: dict[str, ToolResource]) -> bool:
        """Whether this run goes through the provider's tool API (see ``native``)."""
        if self.native is not None:
            return self.native
        supports = getattr(llm, "supports_tools", None)
        return bool(tools) and callable(supports) and supports(self.llm_options.get("model"))

    async def arun(
        self, task: str, context: ExecutionContext, *, llm: Any = None, output_type: Any = None
    ) -> StrategyResult:
        llm = llm if llm is not None else reasoning_llm(context)
        tools = self.available_tools(context)
        if self.uses_native_tools(llm, tools):
            return await self._arun_native(task, context, llm, tools, output_type)
        model = self.turn_model(list(tools), self._type(output_type))
        history: list[dict[str, Any]] = []
        for _ in range(self.max_iterations):
            turn = await llm.agenerate(self.prompt(task, tools, history), model, **self.llm_options)
            if turn.action == "finish":
                if turn.answer is not None:
                    return StrategyResult(
                        answer=turn.answer, reasoning=turn.thought, trace=history, strategy=self.name
                    )
                observation = 'error: "finish" needs an "answer"'
            else:
                observation = await self._observe(tools[turn.action], turn.args)
            history.append(
                {
                    "thought": turn.thought,
                    "action": turn.action,
                    "args": turn.args,
                    "observation": observation,
                }
            )
        called = ", ".join(t["action"] for t in history) or "none"
        raise ComponentError(
            f"ReAct found no final answer within max_iterations={self.max_iterations} "
            f"(actions: {called}); want a 'finish' action, or a larger max_iterations",
            path=context.path,
        )

    async def _arun_native(
        self,
        task: str,
        context: ExecutionContext,
        llm: Any,
        tools: dict[str, ToolResource],
        output_type: Any,
    ) -> StrategyResult:
        if not hasattr(llm, "arun_tools"):
            raise ComponentError(
                f"ReActStrategy(native=True): got an LLM of type {type(llm).__name__}, want an LLMResource",
                path=context.path,
            )
        options = {"system": _NATIVE_SYSTEM, **self.llm_options}
        try:
            run = await llm.arun_tools(
                task,
                list(tools.values()),
                max_tool_rounds=self.max_iterations,
                output_type=self._type(output_type),
                on_call=tool_event_recorder(context),
                **options,
            )
        except ToolLoopError as exc:
            called = ", ".join(c.name for c in exc.calls) or "none"
            raise ComponentError(
                f"ReAct found no final answer within max_iterations={self.max_iterations} "
                f"(actions: {called}); want a final answer, or a larger max_iterations",
                path=context.path,
            ) from exc
        thoughts = [m.get("content") or "" for m in run.messages if m.get("tool_calls")]
        limit = self.max_observation_chars
        trace = [
            {
                "thought": thoughts[c.round - 1] if c.round <= len(thoughts) else "",
                "action": c.name,
                "args": c.arguments,
                "observation": c.text if len(c.text) <= limit else c.text[:limit] + "...",
            }
            for c in run.calls
        ]
        reasoning = "\n".join(t for t in thoughts if t) or None
        return StrategyResult(answer=run.value, reasoning=reasoning, trace=trace, strategy=self.name)

    async def _observe(self, tool: ToolResource, args: dict[str, Any]) -> str:
        try:
            value = await tool.acall(**args)
        except ResourceError as exc:
            return f"error: {exc}"
        text = to_text(value)
        limit = self.max_observation_chars
        return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"

    def __repr__(self) -> str:
        return (
            f"ReActStrategy(tools={self.tools!r}, max_iterations={self.max_iterations}, native={self.native})"
        )


_NATIVE_SYSTEM = (
    "Solve the task. Call the tools you need (several at once when they do not depend on each "
    "other); when you know the answer, reply with it and call no tool."
)
