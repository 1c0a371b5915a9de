"""AIModelNode against the fake OpenAI-compatible HTTP server."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from pydantic import BaseModel

from danaflow.context import ExecutionStatusEnum as S
from danaflow.context import MCPResource, NodeInput, NodeOutput, ToolResource
from danaflow.flow import (
    AIModelCallConfig,
    AIModelNode,
    AIModelNodeSettings,
    FlowDefinition,
    FlowRunner,
    InMemoryRun,
    PythonNode,
)
from danaflow.flow.nodes import AIModelNodeInput
from danaflow.runs import RunContext
from danaflow.template import Prompt


class FileOp(BaseModel):
    type: str
    path: str
    content: str


class TaskImplementation(BaseModel):
    summary: str
    file_operations: list[FileOp]


async def test_text_answer_with_rendered_prompt_and_usage(fake_llm):
    fake_llm.reply("Use a hash map.")
    flow = FlowDefinition("f").vars(task="dedupe a list")
    flow.node("analysis", PythonNode(lambda ctx: "3 files"))
    flow.node(
        "advisor",
        AIModelNode(
            AIModelNodeSettings(
                prompt=Prompt.with_dad_text(text="Task: $var{task}\nRepo: $hier{analysis.outcome.text}"),
                system_instructions=["You are terse."],
            ),
            llm=fake_llm.resource(),
        ),
    )
    result = await FlowRunner(flow).run()
    advisor = result.get_result("advisor")
    assert advisor.execution_status is S.completed, advisor.error
    assert advisor.outcome.text == "Use a hash map."
    request = fake_llm.requests[-1]
    assert request.prompt == "Task: dedupe a list\nRepo: 3 files"
    assert request.system == "You are terse."
    assert (
        advisor.usage is not None and advisor.usage.prompt_tokens > 0 and advisor.usage.completion_tokens > 0
    )
    assert advisor.input["prompt"] == request.prompt


async def test_structured_output_lands_in_structured(fake_llm):
    fake_llm.reply_json(
        {"summary": "one file", "file_operations": [{"type": "create_file", "path": "a.py", "content": "x"}]}
    )
    node = AIModelNode(
        AIModelNodeSettings(
            prompt="Implement it",
            model_call_config=AIModelCallConfig(structured_output=TaskImplementation),
        ),
        llm=fake_llm.resource(),
    )
    flow = FlowDefinition("f").node("code_generator", node)
    flow.node(
        "count",
        PythonNode(lambda ctx: len(ctx.get_result("code_generator").outcome.structured.file_operations)),
    )
    result = await FlowRunner(flow).run()
    gen = result.get_result("code_generator")
    assert isinstance(gen.outcome.structured, TaskImplementation)
    assert gen.outcome.structured.file_operations[0].path == "a.py"
    assert result.get_result("count").outcome.value == 1
    assert gen.model_dump(mode="json")["outcome"]["structured"]["summary"] == "one file"


async def test_run_llm_is_used_when_the_node_names_none(fake_llm):
    fake_llm.reply("from the run's model")
    flow = FlowDefinition("f").node("ask", AIModelNode(AIModelNodeSettings(prompt="hi")))
    result = await FlowRunner(flow, InMemoryRun(llm=fake_llm.resource())).run()
    assert result.get_result("ask").outcome.text == "from the run's model"


async def test_model_spec_builds_a_resource(fake_llm):
    fake_llm.reply("via spec")
    flow = FlowDefinition("f").node("ask", AIModelNode(AIModelNodeSettings(prompt="hi", model=fake_llm.spec)))
    result = await FlowRunner(flow).run()
    assert result.get_result("ask").outcome.text == "via spec"


async def test_concurrent_nodes_get_their_own_usage(fake_llm):
    fake_llm.add_rule("short", "a")
    fake_llm.add_rule("long", "b " * 40)
    llm = fake_llm.resource()
    flow = FlowDefinition("f")
    flow.node("short", AIModelNode(AIModelNodeSettings(prompt="short"), llm=llm))
    flow.node("long", AIModelNode(AIModelNodeSettings(prompt="long"), llm=llm))
    flow.node("join", PythonNode(lambda ctx: None)).connect("short", "join").connect("long", "join")
    result = await FlowRunner(flow).run()
    short, long_ = result.get_result("short").usage, result.get_result("long").usage
    assert short.completion_tokens < long_.completion_tokens
    assert short.completion_tokens + long_.completion_tokens == llm.usage.completion_tokens


async def test_provider_failure_fails_the_node(fake_llm):
    fake_llm.fail(status=400, times=5, message="bad request")
    flow = FlowDefinition("f").node(
        "ask", AIModelNode(AIModelNodeSettings(prompt="hi"), llm=fake_llm.resource())
    )
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.failed
    assert result.get_result("ask").error.path == "f.ask"


def _asking_flow() -> FlowDefinition:
    return FlowDefinition("f").node(
        "ai_processor",
        AIModelNode(
            AIModelNodeSettings(
                prompt=Prompt.with_dad_text(text="Answer: $var{query}"),
                system_instructions=["Speak as $var{persona}."],
            ),
            input_required=True,
        ),
    )


async def test_seed004_input_handler_feeds_the_prompt_variables(fake_llm, tmp_path):
    fake_llm.reply("answered")
    run_context = RunContext(
        root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs", llm=fake_llm.resource()
    )
    run_context.setup_run(run_id_prefix="test")

    async def handle_input_required(event):
        if event.node_id == "ai_processor":
            event.input = AIModelNodeInput(
                prompt_variables={"query": "user input"}, instruction_variables={"persona": "a pirate"}
            )
            event.handled = True

    run_context.register_node_input_handler(handle_input_required)
    try:
        result = await FlowRunner(_asking_flow(), run_context).run()
    finally:
        run_context.close()
    node = result.get_result("ai_processor")
    assert node.execution_status is S.completed, node.error
    assert fake_llm.requests[-1].prompt == "Answer: user input"
    assert fake_llm.requests[-1].system == "Speak as a pirate."
    assert isinstance(node.output, NodeOutput) and node.output["text"] == "answered"
    assert node.output.get("model") == node.outcome.model


async def test_an_input_in_json_form_still_reads_as_an_ai_model_input(fake_llm):
    fake_llm.reply("ok")
    stored = AIModelNodeInput(prompt_variables={"query": "q"}, variables={"persona": "terse"}).model_dump(
        mode="json"
    )
    run = InMemoryRun(llm=fake_llm.resource(), inputs={"f.ai_processor": stored})
    result = await FlowRunner(_asking_flow(), run).run()
    assert result.get_result("ai_processor").ok
    assert (fake_llm.requests[-1].prompt, fake_llm.requests[-1].system) == ("Answer: q", "Speak as terse.")


async def test_a_plain_node_input_gives_its_variables_to_prompt_and_instructions(fake_llm):
    fake_llm.reply("ok")
    run = InMemoryRun(llm=fake_llm.resource())

    def answer(event):
        event.input, event.handled = NodeInput(variables={"query": "v", "persona": "calm"}), True

    run.register_node_input_handler(answer)
    result = await FlowRunner(_asking_flow(), run).run()
    assert result.get_result("ai_processor").ok
    assert (fake_llm.requests[-1].prompt, fake_llm.requests[-1].system) == ("Answer: v", "Speak as calm.")


async def test_an_unanswered_input_request_waits():
    result = await FlowRunner(_asking_flow(), InMemoryRun()).run()
    assert result.execution_status is S.waiting_input


# ---- native tool calling -----------------------------------------------------------------------------
def _tool_run(tmp_path, llm, **settings):
    from danaflow.observability import ObservabilitySettings

    rc = RunContext(
        "f",
        project_root=tmp_path,
        run_root=tmp_path / "runs",
        llm=llm,
        observability_settings=ObservabilitySettings(exporters=("memory",), capture_content=True),
    )
    rc.setup_run("tools")
    return rc


def _events(rc) -> list[dict]:
    lines = (rc.run_dir.root / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_tool_calls_are_run_recorded_as_events_and_spans_and_land_in_the_outcome(fake_llm, tmp_path):
    looked_up: list[str] = []

    def defects(line: str) -> int:
        """Defects counted on a production line."""
        looked_up.append(line)
        return {"A": 3, "B": 7}[line]

    fake_llm.reply_tool_calls(("defects", {"line": "A"}), ("defects", {"line": "B"}))
    fake_llm.reply("B has more defects (7 against 3).")
    rc = _tool_run(tmp_path, fake_llm.resource())
    rc.register_resource("defects", ToolResource("defects", "Defects of a line", func=defects))
    flow = FlowDefinition("f").node(
        "compare",
        AIModelNode(AIModelNodeSettings(prompt="Which line has more defects?", tools=["defects"])),
    )
    try:
        result = asyncio.run(FlowRunner(flow, rc).run())
        spans = rc.telemetry.spans()
        events = _events(rc)
    finally:
        rc.close()
    node = result.get_result("compare")
    assert node.execution_status is S.completed, node.error
    assert node.outcome.text == "B has more defects (7 against 3)."
    assert sorted(looked_up) == ["A", "B"]
    calls = node.outcome.get("tool_calls")
    assert [(c["tool"], c["arguments"], c["result"]) for c in calls] == [
        ("defects", {"line": "A"}, "3"),
        ("defects", {"line": "B"}, "7"),
    ]
    assert node.outcome.get("tool_rounds") == 1
    assert node.usage.prompt_tokens > 0  # both model calls counted for the node
    tool_events = [e for e in events if e["type"] == "tool_called"]
    assert [e["path"] for e in tool_events] == ["f.compare", "f.compare"]
    assert [e["payload"]["arguments"] for e in tool_events] == [{"line": "A"}, {"line": "B"}]
    assert [e["payload"]["result"] for e in tool_events] == ["3", "7"]
    node_span = next(s for s in spans if s.kind == "node" and s.path == "f.compare")
    tool_spans = [s for s in spans if s.kind == "tool"]
    assert len(tool_spans) == 2 and all(s.parent_id == node_span.span_id for s in tool_spans)
    assert {s.attributes["gen_ai.tool.call.result"] for s in tool_spans} == {"3", "7"}


class Verdict(BaseModel):
    line: str
    defects: int


async def test_tools_with_structured_output_and_an_invalid_call_re_asked(fake_llm):
    tool = ToolResource("defects", func=lambda line: {"A": 3, "B": 7}[line])
    fake_llm.reply_tool_calls(("defects", {"lines": "B"}))  # wrong argument name
    fake_llm.reply_tool_calls(("defects", {"line": "B"}))
    fake_llm.reply_json({"line": "B", "defects": 7})
    node = AIModelNode(
        AIModelNodeSettings(
            prompt="Defects of line B?",
            tools=[tool],
            model_call_config=AIModelCallConfig(structured_output=Verdict),
        ),
        llm=fake_llm.resource(api="anthropic"),
    )
    result = await FlowRunner(FlowDefinition("f").node("ask", node)).run()
    ask = result.get_result("ask")
    assert ask.execution_status is S.completed, ask.error
    assert ask.outcome.structured == Verdict(line="B", defects=7)
    assert json.loads(ask.outcome.text) == {"line": "B", "defects": 7}
    first, second = ask.outcome.get("tool_calls")
    assert "refused its arguments" in first["error"] and first["result"] is None
    assert second["result"] == "7"
    assert fake_llm.requests[1].tool_results[0]["is_error"] is True


async def test_the_round_bound_fails_the_node_naming_it(fake_llm):
    fake_llm.default_reply = fake_llm.tool_calls(("ping", {}))
    node = AIModelNode(
        AIModelNodeSettings(
            prompt="ping forever", tools=[ToolResource("ping", func=lambda: "pong")], max_tool_rounds=1
        ),
        llm=fake_llm.resource(),
    )
    result = await FlowRunner(FlowDefinition("f").node("ask", node)).run()
    ask = result.get_result("ask")
    assert ask.execution_status is S.failed
    assert ask.error.type == "ToolLoopError" and ask.error.path == "f.ask"
    assert "after max_tool_rounds=1" in ask.error.message
    assert len(fake_llm.requests) == 2


async def test_a_tool_name_nobody_registered_fails_the_node_listing_what_is(fake_llm):
    node = AIModelNode(AIModelNodeSettings(prompt="hi", tools=["nope"]), llm=fake_llm.resource())
    result = await FlowRunner(FlowDefinition("f").node("ask", node)).run()
    ask = result.get_result("ask")
    assert ask.execution_status is S.failed
    assert "AIModelNode: no resource named 'nope' to offer as a tool" in ask.error.message
    assert fake_llm.requests == []


MCP_SERVER = '''
from mcp.server import MCPServer

server = MCPServer("stock")


@server.tool()
def stock(item: str) -> int:
    """Units of an item in stock."""
    return {"bolts": 120, "nuts": 40}[item]


if __name__ == "__main__":
    server.run("stdio")
'''


async def test_an_mcp_servers_tools_are_offered_and_called(fake_llm, tmp_path):
    pytest.importorskip("mcp")
    (tmp_path / "stock_server.py").write_text(MCP_SERVER, encoding="utf-8")
    stock = MCPResource("stock", command=[sys.executable, "stock_server.py"], cwd=tmp_path)
    fake_llm.reply_tool_calls(("stock", {"item": "nuts"}))
    fake_llm.reply("40 nuts.")
    node = AIModelNode(AIModelNodeSettings(prompt="How many nuts?", tools=[stock]), llm=fake_llm.resource())
    try:
        result = await FlowRunner(FlowDefinition("f").node("ask", node)).run()
    finally:
        stock.close()
    ask = result.get_result("ask")
    assert ask.execution_status is S.completed, ask.error
    assert ask.outcome.text == "40 nuts." and ask.outcome.get("tool_calls")[0]["result"] == "40"
    assert fake_llm.requests[0].tools == ["stock"]
