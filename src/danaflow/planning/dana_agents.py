"""Dana's declared agents as danaflow agents: the planning layer's side of their methods.

``agent Alice(Inspector)`` in a Dana program calls ``agent_plan``, ``agent_solve``,
``agent_reason`` and ``agent_chat`` (named in lang/agents.py, which sits below this layer and
cannot import it); ``DanaAgents`` answers them. Each call runs in the agent's own
ExecutionContext, whose ``private:`` holds the agent's fields: a subagent of the context the
program runs in, or, without one, a root agent sharing the program's ``public:`` and ``system:``.
``.plan()`` drafts with the planning LLM, ``.solve()`` and ``.reason()`` run a registered reasoning
strategy, ``.chat()`` is one multi-turn call to the reasoning LLM. Everything here arrives from
untrusted code (through the worker), so each argument is checked before it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from danaflow.context.context import ExecutionContext
from danaflow.context.state import AgentState
from danaflow.context.status import ExecutionStatusEnum
from danaflow.errors import ComponentError
from danaflow.lang.agents import register_agent_host
from danaflow.lang.registry import FunctionRegistry
from danaflow.lang.typespace import check_type

from .drafting import draft_plan
from .strategies import ChainOfThoughtStrategy, DirectStrategy, ReActStrategy, reasoning_llm

if TYPE_CHECKING:
    from danaflow.lang.sandbox import SandboxContext

__all__ = ["DEFAULT_STRATEGIES", "DanaAgents", "register_dana_agents"]

DEFAULT_STRATEGIES = {"solve": "chain_of_thought", "reason": "direct"}
"""The strategy each method runs unless the program names one (``a.solve(p, strategy="react")``)."""

_BUILTIN_STRATEGIES = {
    "direct": DirectStrategy,
    "chain_of_thought": ChainOfThoughtStrategy,
    "react": ReActStrategy,
}
_MAX_VALUE_CHARS = 500
_MAX_TEXT_CHARS = 100_000
_ROLES = frozenset({"user", "assistant"})


def _short(text: str, limit: int = _MAX_VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fields(agent: Any, where: str) -> dict[str, Any]:
    names = getattr(type(agent), "__dana_fields__", None)
    if names is None:
        raise TypeError(f"{where}: got a {type(agent).__name__}, want an agent")
    return {name: getattr(agent, name) for name in names}


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: the {what} must be a str, got a {type(value).__name__}")
    if len(value) > _MAX_TEXT_CHARS:
        raise ValueError(f"{where}: the {what} has {len(value)} characters, want at most {_MAX_TEXT_CHARS}")
    return value


def _context_block(context: Any, where: str) -> str:
    if context is None:
        return ""
    if not isinstance(context, Mapping):
        raise TypeError(f"{where}: context must be a dict, got a {type(context).__name__}")
    lines = [f"- {_short(str(k), 100)}: {_short(repr(v))}" for k, v in context.items()]
    return "Context:\n" + "\n".join(lines) + "\n\n"


def _desired(desired: Any, where: str) -> Any:
    return check_type(desired, f"{where}: the desired type") if desired is not None else None


def _name(agent: Any, name: Any, where: str) -> str:
    """The agent's component id: its declared name, else its type's name."""
    name = type(agent).__name__ if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"{where}: an agent's name must be an identifier, got {_short(repr(name), 60)}")
    return name


def persona(name: str, fields: Mapping[str, Any]) -> str:
    """Who the model speaks as: the agent's name and its state (its ``private:`` fields)."""
    lines = [f"You are {name}, an agent."]
    if fields:
        lines.append("Your state:")
        lines += [f"- {name}: {_short(repr(value))}" for name, value in fields.items()]
    return "\n".join(lines)


class DanaAgents:
    """Carries out Dana agents' methods (lang.agents.AgentHost) under ``parent``, the
    ExecutionContext the program runs in (None: each agent is a root agent over the program's
    scopes). Strategies are looked up by name in the agent's context, so one registered with
    ``parent.register_reasoning_strategy`` replaces the built-in of that name."""

    def __init__(self, parent: ExecutionContext | None = None):
        self.parent = parent
        self._builtin: dict[str, Any] = {}

    # ---- the agent's context -----------------------------------------------------------------
    def agent_context(self, ctx: SandboxContext, agent: Any, name: str, where: str) -> ExecutionContext:
        """A fresh ExecutionContext ``name`` for one call of ``agent``; ``private:`` is its fields."""
        state = AgentState(_fields(agent, where))
        llm = ctx.reasoner if hasattr(ctx.reasoner, "agenerate") else None
        if self.parent is not None:
            has_planner = any(c.planning_llm is not None for c in self.parent.ancestry())
            child = ExecutionContext(
                "agent",
                name,
                parent=self.parent,
                agent_state=state,
                reasoning_llm=llm,
                planning_llm=None if has_planner else llm,
            )
        else:
            child = ExecutionContext(
                "agent",
                name,
                agent_state=state,
                world_state=ctx.public,
                execution_state=ctx.system,
                reasoning_llm=llm,
                planning_llm=llm,
            )
        child.execution_status = ExecutionStatusEnum.running
        return child

    def strategy(self, context: ExecutionContext, name: Any, method: str) -> Any:
        """The strategy ``name`` (default: the method's) registered in ``context``, else the
        built-in one; ComponentError lists what there is."""
        name = DEFAULT_STRATEGIES[method] if name is None else name
        if not isinstance(name, str):
            raise TypeError(f"agent {method}(): strategy must be a str, got a {type(name).__name__}")
        found = context.get_reasoning_strategy(name, None)
        if found is not None:
            return found
        if name in _BUILTIN_STRATEGIES:
            if name not in self._builtin:
                self._builtin[name] = _BUILTIN_STRATEGIES[name]()
            return self._builtin[name]
        known = ", ".join(sorted({*context.reasoning_strategies(), *_BUILTIN_STRATEGIES}))
        raise ComponentError(f"no reasoning strategy named {name!r} (known: {known})", path=context.path)

    def _finish(self, context: ExecutionContext, ok: bool) -> None:
        context.execution_status = ExecutionStatusEnum.completed if ok else ExecutionStatusEnum.failed

    # ---- the methods -------------------------------------------------------------------------
    def plan(
        self, ctx: SandboxContext, agent: Any, objective: Any, context: Any = None, name: Any = None
    ) -> list[dict[str, Any]]:
        """``agent.plan(objective)``: the steps the planning LLM drafts, as plain dicts."""
        who = _name(agent, name, "agent_plan()")
        where = f"{who}.plan()"
        task = _text(objective, "objective", where)
        extra = _context_block(context, where)
        fields = _fields(agent, where)
        actx = self.agent_context(ctx, agent, who, where)
        ok = False
        try:
            drafted = draft_plan(f"{extra}{task}" if extra else task, actx, system=persona(who, fields))
            ok = True
        finally:
            self._finish(actx, ok)
        return [
            {"name": s.name, "description": s.description, "expected_duration": s.expected_duration or ""}
            for s in drafted.steps
        ]

    def _strategy_call(
        self,
        method: str,
        ctx: SandboxContext,
        agent: Any,
        text: Any,
        context: Any,
        strategy: Any,
        desired: Any,
        name: Any,
    ) -> Any:
        who = _name(agent, name, f"agent_{method}()")
        where = f"{who}.{method}()"
        body = _text(text, "problem" if method == "solve" else "prompt", where)
        output_type = _desired(desired, where)
        extra = _context_block(context, where)
        fields = _fields(agent, where)
        actx = self.agent_context(ctx, agent, who, where)
        ok = False
        try:
            chosen = self.strategy(actx, strategy, method)
            head = "Problem: " if method == "solve" else ""
            task = f"{persona(who, fields)}\n\n{extra}{head}{body}"
            result = chosen.run(task, actx, output_type=output_type)
            ok = True
        finally:
            self._finish(actx, ok)
        return result.answer

    def solve(
        self,
        ctx: SandboxContext,
        agent: Any,
        problem: Any,
        context: Any = None,
        strategy: Any = None,
        desired: Any = None,
        name: Any = None,
    ) -> Any:
        """``agent.solve(problem)``: the answer of a reasoning strategy (chain of thought unless told)."""
        return self._strategy_call("solve", ctx, agent, problem, context, strategy, desired, name)

    def reason(
        self,
        ctx: SandboxContext,
        agent: Any,
        prompt: Any,
        context: Any = None,
        strategy: Any = None,
        desired: Any = None,
        name: Any = None,
    ) -> Any:
        """``agent.reason(prompt)``: the answer of a reasoning strategy (direct unless told)."""
        return self._strategy_call("reason", ctx, agent, prompt, context, strategy, desired, name)

    def chat(
        self,
        ctx: SandboxContext,
        agent: Any,
        message: Any,
        history: Any = None,
        context: Any = None,
        desired: Any = None,
        name: Any = None,
    ) -> Any:
        """``agent.chat(message)``: the reasoning LLM's reply, the earlier exchanges sent as turns."""
        who = _name(agent, name, "agent_chat()")
        where = f"{who}.chat()"
        text = _text(message, "message", where)
        output_type = _desired(desired, where)
        turns: list[dict[str, str]] = []
        for turn in history or ():
            if not isinstance(turn, Mapping) or turn.get("role") not in _ROLES:
                raise TypeError(f"{where}: a conversation turn must be a dict with role user or assistant")
            turns.append({"role": str(turn["role"]), "content": _text(turn.get("content"), "turn", where)})
        fields = _fields(agent, where)
        system = persona(who, fields) + ("\n\n" + _context_block(context, where).rstrip() if context else "")
        actx = self.agent_context(ctx, agent, who, where)
        ok = False
        try:
            messages = [{"role": "system", "content": system}, *turns, {"role": "user", "content": text}]
            reply = reasoning_llm(actx).generate(messages, output_type if output_type is not None else str)
            ok = True
        finally:
            self._finish(actx, ok)
        return reply


def register_dana_agents(
    registry: FunctionRegistry, parent: ExecutionContext | None = None
) -> FunctionRegistry:
    """Registers ``agent_plan``/``agent_solve``/``agent_reason``/``agent_chat`` answered by a
    ``DanaAgents(parent)``; returns ``registry``."""
    return register_agent_host(registry, lambda: DanaAgents(parent))
