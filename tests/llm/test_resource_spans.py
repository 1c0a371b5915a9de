"""An LLM call made inside a node is traced as that node's child span, with its tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path

from danaflow.flow import AIModelNode, AIModelNodeSettings, FlowDefinition, FlowRunner
from danaflow.observability import ObservabilitySettings
from danaflow.runs import RunContext
from danaflow.template import Prompt


def test_llm_call_span_is_a_child_of_the_node_span(fake_llm, tmp_path: Path) -> None:
    fake_llm.reply("hello there")
    flow = FlowDefinition("f")
    flow.node("ask", AIModelNode(settings=AIModelNodeSettings(prompt=Prompt.with_dad_text(text="Say hi"))))
    rc = RunContext(
        "f",
        project_root=tmp_path,
        run_root=tmp_path / "runs",
        llm=fake_llm.resource(),
        observability_settings=ObservabilitySettings(exporters=("memory",)),
    )
    rc.setup_run("t")
    try:
        result = asyncio.run(FlowRunner(flow, rc).run())
        spans = rc.telemetry.spans()
    finally:
        rc.close()
    assert result.execution_status.value == "completed"
    node = next(s for s in spans if s.kind == "node" and s.path == "f.ask")
    llm = [s for s in spans if s.kind == "llm"]
    assert len(llm) == 1
    assert llm[0].parent_id == node.span_id
    model = fake_llm.spec.rpartition("#")[2]
    assert llm[0].name == f"chat {model}"
    assert llm[0].attributes["gen_ai.request.model"] == llm[0].attributes["gen_ai.response.model"] == model
    assert llm[0].attributes["gen_ai.usage.input_tokens"] > 0
    assert llm[0].attributes["gen_ai.usage.output_tokens"] > 0
    assert llm[0].status == "ok"


def test_typed_reasks_are_one_span_each_and_structured(fake_llm, tmp_path: Path) -> None:
    fake_llm.reply_json("not a number")
    fake_llm.reply_json({"value": 42})
    rc = RunContext(
        "f",
        project_root=tmp_path,
        run_root=tmp_path / "runs",
        observability_settings=ObservabilitySettings(exporters=("memory",)),
    )
    rc.setup_run("t")
    llm = fake_llm.resource()
    try:
        with rc.telemetry.activate(), rc.telemetry.span("node", "f.n"):
            assert llm.generate("How many?", int, temperature=0.5, max_tokens=9) == 42
        spans = [s for s in rc.telemetry.spans() if s.kind == "llm"]
    finally:
        rc.close()
    assert len(spans) == 2 and {s.path for s in spans} == {"f.n"}
    for s in spans:
        assert s.attributes["gen_ai.output.type"] == "json"
        assert s.attributes["gen_ai.request.temperature"] == 0.5
        assert s.attributes["gen_ai.request.max_tokens"] == 9
        assert s.attributes["gen_ai.response.finish_reasons"] == ["stop"]
