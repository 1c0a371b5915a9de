"""Model-call spans in the GenAI conventions and component spans with danaflow.* attributes, checked
on what a run exports over OTLP/HTTP to a receiver the test runs on 127.0.0.1 (conftest.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from danaflow.flow import AIModelNode, AIModelNodeSettings, FlowDefinition, FlowRunner
from danaflow.observability import ObservabilitySettings, read_trace
from danaflow.runs import RunContext
from danaflow.template import Prompt
from danaflow.testing.fake_llm import Reply

CLIENT, INTERNAL = 3, 1  # OTLP SpanKind numbers
OK, ERROR = 1, 2


def _run(tmp_path: Path, llm, settings: ObservabilitySettings, prompt: str = "Say hi") -> RunContext:
    flow = FlowDefinition("f")
    flow.node(
        "ask",
        AIModelNode(
            settings=AIModelNodeSettings(
                prompt=Prompt.with_dad_text(text=prompt), system_instructions="Be brief."
            )
        ),
    )
    rc = RunContext(
        "f", project_root=tmp_path, run_root=tmp_path / "runs", llm=llm, observability_settings=settings
    )
    rc.setup_run("otlp")
    try:
        asyncio.run(FlowRunner(flow, rc).run())
    finally:
        rc.close()  # shuts the batch processor down: every span has been posted
    return rc


def test_spans_reach_the_receiver_with_genai_and_danaflow_attributes(tmp_path, fake_llm, otlp_receiver):
    fake_llm.reply(Reply("hello there", finish_reason="length", prompt_tokens=11, completion_tokens=2))
    rc = _run(tmp_path, fake_llm.resource(), ObservabilitySettings(otlp_endpoint=otlp_receiver.url))

    assert {path for path, _ in otlp_receiver.requests} == {"/v1/traces"}
    assert {h["content-type"] for _, h in otlp_receiver.requests} == {"application/x-protobuf"}
    spans = otlp_receiver.by_name()
    assert set(spans) == {f"run {rc.run_id}", "flow f", "node f.ask", "chat fake-model"}
    run, flow, node, llm = (spans[n] for n in (f"run {rc.run_id}", "flow f", "node f.ask", "chat fake-model"))

    assert llm.kind == CLIENT and llm.status_code == OK and llm.scope == "danaflow"
    assert llm.parent_span_id == node.span_id and node.parent_span_id == flow.span_id
    assert flow.parent_span_id == run.span_id and run.parent_span_id == ""
    assert {s.trace_id for s in spans.values()} == {run.trace_id}
    assert llm.attributes == {
        "danaflow.kind": "llm",
        "danaflow.run_id": rc.run_id,
        "danaflow.path": "f.ask",
        "danaflow.status": "ok",
        "danaflow.llm.attempts": 1,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai-compatible",
        "gen_ai.request.model": "fake-model",
        "gen_ai.output.type": "text",
        "gen_ai.response.model": "fake-model",
        "gen_ai.response.finish_reasons": ["length"],
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 2,
    }  # no prompt or answer: content is recorded only when opted in
    assert node.kind == INTERNAL and node.attributes == {
        "danaflow.kind": "node",
        "danaflow.run_id": rc.run_id,
        "danaflow.path": "f.ask",
        "danaflow.status": "ok",
    }
    assert flow.attributes["danaflow.kind"] == "flow" and flow.attributes["danaflow.path"] == "f"
    assert run.attributes["danaflow.kind"] == "run" and run.attributes["danaflow.root"] == "f"
    assert run.attributes["danaflow.status"] == "ok"
    assert llm.resource["service.name"] == "danaflow" and llm.resource["danaflow.run_id"] == rc.run_id

    # trace.jsonl holds the same spans (ids, names, attributes) in OTLP JSON.
    on_disk = read_trace((rc.run_dir.root / "trace.jsonl").read_text().splitlines())
    by_id = {s.span_id: s for s in on_disk}
    assert set(by_id) == {s.span_id for s in spans.values()}
    disk_llm = by_id[llm.span_id]
    assert disk_llm.name == "chat fake-model" and disk_llm.parent_id == node.span_id
    assert disk_llm.kind == "llm" and disk_llm.path == "f.ask"
    assert {**disk_llm.attributes, "danaflow.kind": "llm", "danaflow.path": "f.ask"} == llm.attributes


def test_prompt_and_answer_are_recorded_only_when_opted_in(tmp_path, fake_llm, otlp_receiver):
    fake_llm.reply("<b>ciao</b>")
    settings = ObservabilitySettings(otlp_endpoint=otlp_receiver.url, capture_content=True)
    _run(tmp_path, fake_llm.resource(api="anthropic"), settings, prompt="Greet in Italian")
    llm = otlp_receiver.by_name()["chat fake-model"]
    assert llm.attributes["gen_ai.provider.name"] == "anthropic"
    assert llm.attributes["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert json.loads(llm.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Greet in Italian"}]},
    ]
    assert json.loads(llm.attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "<b>ciao</b>"}],
            "finish_reason": "end_turn",
        }
    ]


def test_a_failed_call_has_an_error_span_with_its_type_and_attempts(tmp_path, fake_llm, otlp_receiver):
    fake_llm.fail(500, times=10)
    _run(tmp_path, fake_llm.resource(), ObservabilitySettings(otlp_endpoint=otlp_receiver.url))
    spans = otlp_receiver.by_name()
    llm, node = spans["chat fake-model"], spans["node f.ask"]
    assert llm.status_code == ERROR and "HTTP 500" in llm.status_message
    assert llm.attributes["error.type"] == "LLMError"
    assert llm.attributes["danaflow.llm.attempts"] == 4  # the first try and 3 retries
    assert "gen_ai.response.model" not in llm.attributes and "gen_ai.usage.input_tokens" not in llm.attributes
    assert node.status_code == ERROR and node.attributes["danaflow.status"] == "error"


def test_a_cache_hit_is_marked_and_spends_no_tokens(tmp_path, fake_llm, otlp_receiver):
    fake_llm.reply("first")
    llm = fake_llm.resource(cache=True)
    settings = ObservabilitySettings(otlp_endpoint=otlp_receiver.url)
    _run(tmp_path / "a", llm, settings)
    _run(tmp_path / "b", llm, settings)
    calls = [s for s in otlp_receiver.spans if s.name == "chat fake-model"]
    assert len(calls) == 2 and len(fake_llm.requests) == 1
    fresh, hit = sorted(calls, key=lambda s: "danaflow.llm.cached" in s.attributes)
    assert fresh.attributes["gen_ai.usage.output_tokens"] > 0
    assert hit.attributes["danaflow.llm.cached"] is True
    assert hit.attributes["gen_ai.response.model"] == "fake-model"
    assert "gen_ai.usage.input_tokens" not in hit.attributes


def test_tool_turns_are_recorded_as_tool_parts():
    from danaflow.observability import Telemetry, chat_span, record_chat_response

    messages = [
        {"role": "user", "content": "weather in Rome?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "weather", "arguments": {"city": "Rome"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": "sunny"},
    ]
    for capture in (False, True):
        settings = ObservabilitySettings(exporters=("memory",), capture_content=capture)
        telemetry = Telemetry("r", None, settings).start()
        with telemetry.activate(), telemetry.span("node", "n"):
            with chat_span("openai", "m", messages=messages) as span:
                record_chat_response(span, model="m-1", finish_reason="stop", text="It is sunny.")
        (llm,) = [s for s in telemetry.spans() if s.kind == "llm"]
        assert llm.name == "chat m" and llm.path == "n"
        assert llm.attributes["gen_ai.response.model"] == "m-1"
        if not capture:
            assert "gen_ai.input.messages" not in llm.attributes
            assert "gen_ai.output.messages" not in llm.attributes
            continue
        assert json.loads(llm.attributes["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "weather in Rome?"}]},
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Rome"}}
                ],
            },
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}]},
        ]
        assert (
            json.loads(llm.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "It is sunny."
        )
