"""lang/agents.py: an agent's methods reach the registered AgentHost, across the worker boundary.

The host here is a small AgentHost of the test's own (the planning layer's is tested in
tests/planning/test_dana_agents.py); the program runs in a worker process, as by default."""

from __future__ import annotations

from typing import Any

from danaflow.lang.agents import AGENT_FUNCTIONS, register_agent_host
from danaflow.lang.api import run
from danaflow.lang.sandbox import SandboxContext


class EchoHost:
    """Answers each method with what it received, and keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _record(self, method: str, ctx: Any, agent: Any, text: str, **kw: Any) -> dict[str, Any]:
        fields = {f: getattr(agent, f) for f in type(agent).__dana_fields__}
        self.calls.append((method, {"type": type(agent).__name__, "fields": fields, "text": text, **kw}))
        return kw

    def plan(self, ctx, agent, objective, context=None, name=None):
        self._record("plan", ctx, agent, objective, context=context, name=name)
        return [{"name": "step_1", "description": objective}]

    def solve(self, ctx, agent, problem, context=None, strategy=None, desired=None, name=None):
        self._record(
            "solve", ctx, agent, problem, context=context, strategy=strategy, desired=desired, name=name
        )
        if desired is int:
            return 41
        return desired(n=3) if desired is not None else f"solved {problem}"

    def reason(self, ctx, agent, prompt, context=None, strategy=None, desired=None, name=None):
        self._record("reason", ctx, agent, prompt, strategy=strategy, name=name)
        if prompt == "fail":
            raise ValueError("the host could not answer")
        return f"{name}: {prompt}"

    def chat(self, ctx, agent, message, history=None, context=None, desired=None, name=None):
        self._record("chat", ctx, agent, message, history=history, name=name)
        return f"reply {len(history or []) // 2 + 1}"


def context_with(host: EchoHost, made: list[int]) -> SandboxContext:
    ctx = SandboxContext()

    def factory() -> EchoHost:
        made.append(1)
        return host

    register_agent_host(ctx.registry, factory)
    return ctx


PROGRAM = """
agent_blueprint Inspector:
    domain: str = "semiconductor"
struct Count:
    n: int
agent Alice(Inspector):
    domain = "optics"
print(Alice.plan("look")[0].description)
n: int = Alice.solve("how many?", {"batch": 7})
print(n + 1)
c: Count = Inspector().solve("count")
print(c, type(c) is Count)
print(Alice.reason("status", strategy="direct"))
print(Alice.chat("hi"), Alice.chat("again"), Alice.chat("third", max_turns=1))
"""


def test_methods_reach_the_host_with_name_fields_and_desired_type() -> None:
    host, made = EchoHost(), []
    ctx = context_with(host, made)
    outcome = run(PROGRAM, ctx, print_sink=lambda s: None)
    assert outcome.error is None, outcome.error
    assert outcome.output == "look\n42\nCount(n=3) True\nAlice: status\nreply 1 reply 2 reply 2\n"
    assert made == [1]  # built once, on the first call
    by_method = [(m, kw) for m, kw in host.calls]
    plan = by_method[0][1]
    assert plan == {
        "type": "Inspector",
        "fields": {"domain": "optics"},
        "text": "look",
        "context": None,
        "name": "Alice",
    }
    solve = by_method[1][1]
    assert solve["desired"] is int and solve["context"] == {"batch": 7} and solve["name"] == "Alice"
    # A struct type crosses as a type: the host gets its own class for it, by name and fields.
    struct_solve = by_method[2][1]
    assert struct_solve["name"] == "Inspector" and struct_solve["desired"].__name__ == "Count"
    assert list(struct_solve["desired"].__dana_fields__) == ["n"]
    chats = [kw["history"] for m, kw in by_method if m == "chat"]
    assert chats[0] == []
    assert chats[1] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "reply 1"}]
    assert chats[2] == [{"role": "user", "content": "again"}, {"role": "assistant", "content": "reply 2"}]


def test_a_program_without_agent_calls_never_builds_the_host() -> None:
    host, made = EchoHost(), []
    outcome = run("agent Bob\nprint(Bob)\n", context_with(host, made), print_sink=lambda s: None)
    assert outcome.error is None and outcome.output == "Bob()\n"
    assert made == [] and host.calls == []


def test_a_host_error_is_a_dana_error_at_the_calling_line() -> None:
    src = (
        "agent Bob\nx = 1\ntry:\n    Bob.reason('fail')\nexcept ValueError as e:\n"
        "    print('caught', e)\nBob.reason('fail')\n"
    )
    outcome = run(src, context_with(EchoHost(), []), print_sink=lambda s: None)
    assert outcome.output == "caught the host could not answer\n"
    assert outcome.error is not None and outcome.error.location.line == 7
    assert outcome.error.error_type == "ValueError"


def test_the_functions_are_ordinary_registered_functions() -> None:
    host = EchoHost()
    ctx = context_with(host, [])
    assert sorted(AGENT_FUNCTIONS.values()) == sorted(
        n for n in ctx.registry.names() if n.startswith("agent_")
    )
    # Called directly they take the same arguments; an argument the host does not take is refused,
    # never turned into a choice of what to call on the host.
    src = "agent Bob\nprint(agent_reason(Bob, 'x', name='Zed'))\nagent_reason(Bob, 'x', method='__init__')\n"
    outcome = run(src, ctx, print_sink=lambda s: None)
    assert outcome.output == "Zed: x\n"
    assert outcome.error is not None and outcome.error.location.line == 3
    assert outcome.error.error_type == "TypeError" and "method" in outcome.error.message
