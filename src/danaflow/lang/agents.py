"""What a Dana agent's methods ask of the layer that runs the program, and how they ask it.

``agent Alice(Inspector)`` is a struct instance (structs.DanaAgent); its ``.plan()``, ``.solve()``,
``.reason()`` and ``.chat()`` need the planning layer and an LLM, which sit above the language.
So each method calls a registered function (``agent_plan``, ...): in a worker process that is a
call to the host like any registered function, and the host's planning layer answers it
(``AgentHost``, implemented by danaflow.planning.dana_agents and registered by ``danaflow.run``).
This module imports nothing heavy: ``danaflow.run`` registers the functions on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .builtins import DESIRED_TYPE
from .registry import FunctionRegistry

__all__ = ["AGENT_FUNCTIONS", "MAX_CHAT_TURNS", "AgentHost", "call_agent_method", "register_agent_host"]

AGENT_FUNCTIONS: dict[str, str] = {
    "plan": "agent_plan",
    "solve": "agent_solve",
    "reason": "agent_reason",
    "chat": "agent_chat",
}
"""Each agent method and the registered function that carries it out."""

MAX_CHAT_TURNS = 10
"""How many earlier exchanges ``.chat()`` sends along by default (a conversation stays bounded)."""


class AgentHost(Protocol):
    """The planning layer's side of Dana's agent methods. Every method gets the running
    SandboxContext and the agent (a struct: its type and its fields); ``name`` is the name it was
    declared with (``agent Alice(Inspector)``: "Alice"; None: its type's name), ``context`` an
    optional dict the program adds to the task, ``desired`` the type the caller wants (None: str)."""

    def plan(
        self,
        ctx: Any,
        agent: Any,
        objective: str,
        context: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Any: ...

    def solve(
        self,
        ctx: Any,
        agent: Any,
        problem: str,
        context: Mapping[str, Any] | None = None,
        strategy: str | None = None,
        desired: Any = None,
        name: str | None = None,
    ) -> Any: ...

    def reason(
        self,
        ctx: Any,
        agent: Any,
        prompt: str,
        context: Mapping[str, Any] | None = None,
        strategy: str | None = None,
        desired: Any = None,
        name: str | None = None,
    ) -> Any: ...

    def chat(
        self,
        ctx: Any,
        agent: Any,
        message: str,
        history: list[dict[str, str]] | None = None,
        context: Mapping[str, Any] | None = None,
        desired: Any = None,
        name: str | None = None,
    ) -> Any: ...


def register_agent_host(registry: FunctionRegistry, host: Callable[[], AgentHost]) -> FunctionRegistry:
    """Registers the four agent functions in ``registry``; ``host()`` builds the implementation on
    the first call, so a program that declares no agent never imports the planning layer."""
    made: list[AgentHost] = []

    def impl() -> AgentHost:
        if not made:
            made.append(host())
        return made[0]

    def bound(method: str, fname: str) -> Callable[..., Any]:
        # A closure, not a default argument: keyword arguments arrive from untrusted code.
        def call(ctx: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(impl(), method)(ctx, *args, **kwargs)

        call.__name__ = fname
        call.__doc__ = f"Carries out ``agent.{method}(...)`` of a Dana agent (the planning layer's side)."
        return call

    for method, fname in AGENT_FUNCTIONS.items():
        registry.register(fname, bound(method, fname), pass_context=True)
    return registry


def call_agent_method(agent: Any, name: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Runs ``agent.method(*args)`` (the agent declared as ``name``) through the registered
    function its type was given."""
    fname = AGENT_FUNCTIONS[method]
    lookup = getattr(type(agent), "__dana_host__", None)
    fn = lookup(fname) if lookup is not None else None
    if fn is None:
        raise RuntimeError(
            f"{name}.{method}() needs the planning layer: run the program with danaflow.run(), "
            f"which provides {fname}(), or register {fname} in the FunctionRegistry"
        )
    return fn(agent, *args, name=name, **kwargs)


def desired_type() -> Any:
    """The type the caller of an agent method wants (``n: int = a.solve(...)``), or None."""
    return DESIRED_TYPE.get()
