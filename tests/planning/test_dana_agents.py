"""Agents a Dana program declares, run as danaflow agents through the planning layer: the program
runs in a worker process (the default), its agent methods are calls to the host, and the host's
DanaAgents drafts plans and runs strategies on the fake LLM server."""

from __future__ import annotations

from danaflow import run
from danaflow.context import ExecutionContext
from danaflow.lang.sandbox import SandboxContext
from danaflow.planning import StrategyResult

AGENTS = """
agent_blueprint Inspector:
    domain: str = "semiconductor"
    level: int = 1
agent Alice(Inspector):
    domain = "optics"
"""

STEPS = [
    {"name": "Look closely", "description": "Look at every wafer", "expected_duration": "1h"},
    {"name": "report", "description": "Write the report", "expected_duration": ""},
]


def quiet(_text: str) -> None:
    pass


def test_plan_is_drafted_in_the_agents_own_context(ctx, fake_llm):
    fake_llm.add_rule("Break it into", STEPS)
    src = AGENTS + 'for step in Alice.plan("Inspect batch 7"):\n    print(step.name, "-", step.description)\n'
    outcome = run(src, ctx, print_sink=quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "look_closely - Look at every wafer\nreport - Write the report\n"
    (request,) = fake_llm.requests
    assert "Objective: Inspect batch 7" in request.prompt
    assert request.system.startswith("You are Alice, an agent.")
    assert "- domain: 'optics'" in request.system and "- level: 1" in request.system
    # The agent is a subagent of the context the program ran in; its private: is its fields.
    child = ctx.children["Alice"]
    assert child.path == "root.Alice" and child.executable_type.value == "agent"
    assert dict(child.agent_state) == {"domain": "optics", "level": 1}
    assert child.execution_status.value == "completed"
    assert "domain" not in ctx.agent_state  # the program's own private: is untouched


def test_solve_runs_chain_of_thought_for_the_desired_type(ctx, fake_llm, cot):
    fake_llm.reply(cot(7, reasoning="Three on A, four on B."))
    src = AGENTS + 'n: int = Alice.solve("How many defects?", {"batch": 7})\nprint(n + 1)\n'
    outcome = run(src, ctx, print_sink=quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "8\n"
    (request,) = fake_llm.requests
    assert "Think step by step" in request.prompt
    assert "You are Alice, an agent." in request.prompt
    assert "- batch: 7" in request.prompt and "Problem: How many defects?" in request.prompt
    schema = request.body["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == ["reasoning", "answer"]
    assert schema["properties"]["answer"]["type"] == "integer"


class Recording:
    """A strategy of the program's host: answers from the agent's state, and remembers the task."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict, object]] = []

    async def arun(self, task, context, *, llm=None, output_type=None):
        return self.run(task, context, llm=llm, output_type=output_type)

    def run(self, task, context, *, llm=None, output_type=None):
        self.seen.append((task, context.path, dict(context.agent_state), output_type))
        return StrategyResult(answer=f"{context.agent_state['domain']} says ok", strategy=self.name)


def test_registered_strategies_replace_the_builtins_by_name(ctx, fake_llm):
    direct, mine = Recording(), Recording()
    ctx.register_reasoning_strategy("direct", direct)
    ctx.register_reasoning_strategy("mine", mine)
    src = AGENTS + (
        'print(Alice.reason("Status?"))\n'
        "Alice.level = 3\n"
        'print(Alice.solve("Why?", strategy="mine"))\n'
        'print(Inspector().reason("And you?"))\n'
    )
    outcome = run(src, ctx, print_sink=quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "optics says ok\noptics says ok\nsemiconductor says ok\n"
    assert fake_llm.requests == []
    (task, path, state, wanted), (_, other_path, other_state, _) = direct.seen
    assert path == "root.Alice" and state == {"domain": "optics", "level": 1} and wanted is None
    assert task.endswith("Status?") and task.startswith("You are Alice, an agent.")
    # An instance that was not declared with a name is known by its type's.
    assert other_path == "root.Inspector" and other_state == {"domain": "semiconductor", "level": 1}
    ((task, path, state, _),) = mine.seen
    assert path == "root.Alice" and state == {"domain": "optics", "level": 3}  # the fields as they are now
    assert "Problem: Why?" in task


def test_chat_sends_the_conversation_so_far(ctx, fake_llm):
    fake_llm.reply("Hello, I inspect optics.", "Start with the lenses.")
    src = AGENTS + 'print(Alice.chat("Hi"))\nprint(Alice.chat("What first?"))\n'
    outcome = run(src, ctx, print_sink=quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "Hello, I inspect optics.\nStart with the lenses.\n"
    first, second = fake_llm.requests
    assert [m["role"] for m in first.messages] == ["system", "user"]
    assert [(m["role"], m["content"]) for m in second.messages[1:]] == [
        ("user", "Hi"),
        ("assistant", "Hello, I inspect optics."),
        ("user", "What first?"),
    ]
    assert second.messages[0]["content"].startswith("You are Alice, an agent.")


def test_an_unknown_strategy_is_an_error_at_its_line(ctx, fake_llm):
    src = AGENTS + 'x = 1\nanswer = Alice.solve("Why?", strategy="psychic")\n'
    outcome = run(src, ctx, print_sink=quiet)
    assert outcome.error is not None
    assert outcome.error.location.line == AGENTS.count("\n") + 2
    assert "no reasoning strategy named 'psychic'" in outcome.error.message
    assert "chain_of_thought" in outcome.error.message and "react" in outcome.error.message
    assert fake_llm.requests == []


def test_with_a_sandbox_context_the_agents_use_its_llm_and_scopes(fake_llm):
    llm = fake_llm.resource(name="reasoning")
    fake_llm.reply("fine")
    sandbox = SandboxContext(reasoner=llm)
    src = AGENTS + 'public:batch = 7\nprivate:mine = 1\nprint(Alice.reason("How is it?"))\n'
    outcome = run(src, sandbox, print_sink=quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "fine\n"
    assert len(llm.calls) == 1  # the context's own LLM, not the configured default
    assert sandbox.public["batch"] == 7 and sandbox.private["mine"] == 1
    # The agent functions served this run only: the caller's registry is as it was.
    assert "agent_plan" not in sandbox.registry


def test_agents_of_an_execution_context_without_a_planning_llm_plan_on_its_reasoning_llm(fake_llm):
    llm = fake_llm.resource(name="reasoning")
    fake_llm.add_rule("Break it into", STEPS[:1])
    parent = ExecutionContext(reasoning_llm=llm)
    outcome = run(AGENTS + 'print(len(Alice.plan("Inspect")))\n', parent, print_sink=quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "1\n"
    assert len(llm.calls) == 1


def test_an_embedder_registers_the_agent_functions_for_the_language_run(ctx, fake_llm):
    from danaflow.lang.api import run as run_dana
    from danaflow.planning.dana_agents import register_dana_agents

    fake_llm.reply("noted")
    sandbox = SandboxContext()
    register_dana_agents(sandbox.registry, parent=ctx)
    outcome = run_dana(AGENTS + 'print(Alice.reason("Note this"))\n', sandbox, print_sink=quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "noted\n"
    assert ctx.children["Alice"].agent_state["domain"] == "optics"
