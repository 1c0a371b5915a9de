"""Reasoning strategies over HTTP to the fake LLM server: direct, chain of thought, ReAct with real
tools (a Python function and a subprocess command), in the JSON turn protocol and natively through
the providers' tool APIs."""

from __future__ import annotations

import json
import sys

import pytest

from danaflow.context import ToolResource
from danaflow.context.resources import DatabaseResource
from danaflow.errors import ComponentError
from danaflow.planning import ChainOfThoughtStrategy, DirectStrategy, ReActStrategy, ReasoningStrategy


def schema_of(request) -> dict:
    """The JSON schema a typed request carried (native structured output)."""
    return request.body["response_format"]["json_schema"]["schema"]


def turn(thought, action, args=None, answer=None) -> str:
    return json.dumps({"thought": thought, "action": action, "args": args or {}, "answer": answer})


async def test_direct_strategy_asks_once_for_a_typed_answer(ctx, fake_llm):
    fake_llm.reply("42")
    result = await DirectStrategy().arun("How many units failed?", ctx, output_type=int)
    assert result.answer == 42 and result.reasoning is None and result.strategy == "direct"
    assert len(fake_llm.requests) == 1
    assert fake_llm.requests[0].prompt.startswith("How many units failed?")
    assert "step by step" not in fake_llm.requests[0].prompt


async def test_chain_of_thought_returns_reasoning_and_a_typed_answer(ctx, fake_llm, cot):
    fake_llm.reply(cot(["line B", "night shift"], reasoning="B has 7 defects; most at night."))
    assert isinstance(ChainOfThoughtStrategy(), ReasoningStrategy)
    result = await ChainOfThoughtStrategy().arun("Which factors drive defects?", ctx, output_type=list[str])
    assert result.answer == ["line B", "night shift"]
    assert result.reasoning == "B has 7 defects; most at night."
    request = fake_llm.requests[0]
    assert "Think step by step" in request.prompt and "Which factors drive defects?" in request.prompt
    schema = schema_of(request)
    # Reasoning comes first, so a model generating in order thinks before it answers.
    assert list(schema["properties"]) == ["reasoning", "answer"]
    assert schema["properties"]["answer"]["type"] == "array"


async def test_chain_of_thought_reasks_when_the_answer_does_not_validate(ctx, fake_llm, cot):
    fake_llm.reply(cot("many"), cot(12))
    result = await ChainOfThoughtStrategy(output_type=int).arun("Count the defects", ctx)
    assert result.answer == 12
    assert len(fake_llm.requests) == 2
    assert "answer" in fake_llm.requests[1].messages[-1]["content"]  # the validation error was sent back


def test_chain_of_thought_bounds_reasoning_in_the_schema_and_runs_sync(ctx, fake_llm, cot):
    fake_llm.reply(cot("ok", reasoning="short"))
    strategy = ChainOfThoughtStrategy(min_reasoning_chars=3, max_reasoning_chars=200, max_tokens=300)
    result = strategy.run("Summarize", ctx)
    assert result.answer == "ok"
    request = fake_llm.requests[0]
    reasoning = schema_of(request)["properties"]["reasoning"]
    assert reasoning["minLength"] == 3 and reasoning["maxLength"] == 200
    assert request.body["max_tokens"] == 300


async def test_react_calls_a_python_function_tool_until_finish(ctx, fake_llm):
    calls = []

    def defects(line: str) -> dict:
        """Counts defects per line, from a fixed table."""
        calls.append(line)
        return {"line": line, "defects": {"A": 3, "B": 7}[line]}

    ctx.register_resource(ToolResource("defects", "Defect count of a production line", func=defects))
    fake_llm.reply(
        turn("I need line B's defects", "defects", {"line": "B"}),
        turn("B has 7, that is the answer", "finish", answer="7 defects on line B"),
    )
    result = await ReActStrategy(max_iterations=3, native=False).arun("How many defects on line B?", ctx)
    assert calls == ["B"]
    assert result.answer == "7 defects on line B" and result.reasoning == "B has 7, that is the answer"
    assert result.trace == [
        {
            "thought": "I need line B's defects",
            "action": "defects",
            "args": {"line": "B"},
            "observation": json.dumps({"line": "B", "defects": 7}, indent=2),
        }
    ]
    first, second = fake_llm.requests
    assert "- defects: Defect count of a production line" in first.prompt
    assert schema_of(first)["properties"]["action"]["enum"] == ["defects", "finish"]
    assert '"defects": 7' in second.prompt and "Turns so far:" in second.prompt


async def test_react_calls_a_command_tool_in_a_real_subprocess(ctx, fake_llm, tmp_path):
    data = tmp_path / "shifts.csv"
    data.write_text("day,12\nnight,31\n")
    ctx.register_resource(
        ToolResource(
            "grep_shift",
            "Finds a shift's row in the shift report",
            command=[
                sys.executable,
                "-c",
                "import sys; print([l for l in open(sys.argv[2]) if sys.argv[1] in l][0])",
                "{shift}",
                str(data),
            ],
        )
    )
    fake_llm.reply(
        turn("look up the night shift", "grep_shift", {"shift": "night"}),
        turn("night has 31", "finish", answer=31),
    )
    result = await ReActStrategy(output_type=int, native=False).arun("Defects on the night shift?", ctx)
    assert result.answer == 31
    assert result.trace[0]["observation"].startswith("night,31")
    assert "observation: night,31" in fake_llm.requests[1].prompt


async def test_react_turns_tool_errors_into_observations(ctx, fake_llm):
    ctx.register_resource(
        ToolResource(
            "units",
            "Units made on a line",
            func=lambda line: {"A": 100}[line],
            parameters={"type": "object", "properties": {"line": {"type": "string"}}, "required": ["line"]},
        )
    )
    fake_llm.reply(
        turn("call without args", "units", {}),
        turn("now properly", "units", {"line": "A"}),
        turn("done", "finish", answer="100"),
    )
    result = await ReActStrategy(native=False).arun("Units on A?", ctx)
    assert result.answer == "100"
    assert result.trace[0]["observation"].startswith("error: tool 'units' refused its arguments")
    assert result.trace[1]["observation"] == "100"


async def test_react_stops_after_max_iterations_with_a_clear_error(ctx, fake_llm):
    ctx.register_resource(ToolResource("ping", "Answers pong", func=lambda: "pong"))
    fake_llm.default_reply = turn("again", "ping")
    with pytest.raises(
        ComponentError, match=r"no final answer within max_iterations=2 \(actions: ping, ping\)"
    ):
        await ReActStrategy(max_iterations=2, native=False).arun("Loop forever", ctx)
    assert len(fake_llm.requests) == 2


async def test_react_finish_without_answer_is_an_observation(ctx, fake_llm):
    fake_llm.reply(turn("done?", "finish"), turn("done", "finish", answer="yes"))
    result = await ReActStrategy(tools=[]).arun("Are we done?", ctx)
    assert result.answer == "yes"
    assert result.trace[0]["observation"] == 'error: "finish" needs an "answer"'


def test_react_tool_selection(ctx):
    ctx.register_resource(ToolResource("a", func=lambda: 1))
    ctx.register_resource(ToolResource("described_only"))  # no implementation: not offered
    ctx.register_resource(DatabaseResource("db", "", "sqlite:///:memory:"))
    assert list(ReActStrategy().available_tools(ctx)) == ["a"]
    with pytest.raises(ComponentError, match="resource 'db' is a DatabaseResource, want a ToolResource"):
        ReActStrategy(tools=["db"]).available_tools(ctx)
    with pytest.raises(ComponentError, match="want at least 1"):
        ReActStrategy(max_iterations=0)


# ---- ReAct through the provider's tool API ----------------------------------------------------------
@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_native_react_offers_the_tools_and_answers_with_a_typed_value(fake_llm, api):
    from danaflow.context import ExecutionContext

    def defects(line: str) -> int:
        """Defects counted on a production line."""
        return {"A": 3, "B": 7}[line]

    llm = fake_llm.resource(api=api)
    fake_llm.reply_tool_calls(("defects", {"line": "A"}), ("defects", {"line": "B"}), text="Both lines.")
    fake_llm.reply("10")
    with ExecutionContext(reasoning_llm=llm) as ctx:
        ctx.register_resource(ToolResource("defects", "Defects of a line", func=defects))
        strategy = ReActStrategy(output_type=int)
        assert strategy.uses_native_tools(llm, strategy.available_tools(ctx))
        result = await strategy.arun("Defects on A and B together?", ctx)
    assert result.answer == 10 and result.strategy == "react" and result.reasoning == "Both lines."
    assert result.trace == [
        {"thought": "Both lines.", "action": "defects", "args": {"line": "A"}, "observation": "3"},
        {"thought": "Both lines.", "action": "defects", "args": {"line": "B"}, "observation": "7"},
    ]
    first, second = fake_llm.requests
    assert first.tools == ["defects"] and "Call the tools you need" in first.system
    assert [r["content"] for r in second.tool_results] == ["3", "7"]


async def test_native_react_out_of_turns_is_the_same_clear_error(ctx, fake_llm):
    ctx.register_resource(ToolResource("ping", "Answers pong", func=lambda: "pong"))
    fake_llm.default_reply = fake_llm.tool_calls(("ping", {}))
    with pytest.raises(
        ComponentError, match=r"no final answer within max_iterations=2 \(actions: ping, ping\)"
    ):
        await ReActStrategy(max_iterations=2).arun("Loop forever", ctx)
    assert len(fake_llm.requests) == 3


async def test_react_falls_back_to_json_turns_when_the_provider_takes_no_tools(ctx, fake_llm, llm):
    llm.provider.supports_tools = False
    ctx.register_resource(ToolResource("ping", "Answers pong", func=lambda: "pong"))
    fake_llm.reply(turn("ping it", "ping"), turn("got it", "finish", answer="pong"))
    result = await ReActStrategy().arun("Ping?", ctx)
    assert result.answer == "pong" and result.trace[0]["observation"] == "pong"
    assert fake_llm.requests[0].tools == []
