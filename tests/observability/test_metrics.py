"""metrics.jsonl of real runs: each LLM call and its tokens count once, at the node that made it,
and composites roll them up without the summary counting them again (agent > flow > subflow >
node used to report three or four times the tokens, and never a call)."""

from __future__ import annotations

import json

import pytest

from danaflow import (
    AgentDefinition,
    AIModelCallConfig,
    AIModelNode,
    AIModelNodeSettings,
    FlowDefinition,
    Prompt,
    RunContext,
)
from danaflow.flow.runner import AgentRunner, FlowRunner
from danaflow.observability import ObservabilitySettings


def read_metrics(run_context: RunContext) -> list[dict]:
    text = (run_context.run_dir.root / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def ask(text: str) -> AIModelNode:
    return AIModelNode(settings=AIModelNodeSettings(prompt=Prompt.with_dad_text(text=text)))


def nested_agent() -> AgentDefinition:
    inner = FlowDefinition().node("second", ask("two words please"))
    outer = FlowDefinition().node("first", ask("one")).subflow("inner", inner)
    return AgentDefinition("nest").flow("main", outer)


def run_and_read(tmp_path, fake_llm, **settings) -> tuple[dict, dict]:
    run_context = RunContext(
        "nest",
        project_root=tmp_path,
        llm=fake_llm.resource(),
        observability_settings=ObservabilitySettings(**settings),
    )
    run_context.setup_run("m")
    try:
        result = AgentRunner(nested_agent(), run_context).run_sync()
    finally:
        run_context.close()
    assert result.ok, result.error
    rows = read_metrics(run_context)
    by_path = {r["path"]: r for r in rows if r["type"] == "component"}
    (summary,) = [r for r in rows if r["type"] == "summary"]
    return by_path, summary


@pytest.mark.parametrize("tracing", [True, False], ids=["tracing", "no-tracing"])
def test_calls_and_tokens_count_once_at_their_node_and_roll_up(tmp_path, fake_llm, tracing):
    fake_llm.reply("alpha beta", "gamma")
    by_path, summary = run_and_read(tmp_path, fake_llm, tracing=tracing, exporters=("memory",))
    first, second = by_path["nest.main.first"], by_path["nest.main.inner.second"]
    node_prompt = first["prompt_tokens"] + second["prompt_tokens"]
    node_completion = first["completion_tokens"] + second["completion_tokens"]
    assert node_prompt > 0 and node_completion == 3  # "alpha beta" + "gamma", one token a word
    # The summary is the sum over nodes, not over every level of nesting.
    assert summary["prompt_tokens"] == node_prompt
    assert summary["completion_tokens"] == node_completion
    assert summary["total_tokens"] == node_prompt + node_completion
    assert summary["llm_calls"] == len(fake_llm.requests) == 2
    # Composites show what happened under them.
    assert by_path["nest.main.inner"]["completion_tokens"] == second["completion_tokens"]
    assert by_path["nest"]["completion_tokens"] == node_completion
    if tracing:  # which node made a call is known from the span it was made under
        assert (first["llm_calls"], second["llm_calls"]) == (1, 1)
        assert by_path["nest.main.inner"]["llm_calls"] == 1
        assert by_path["nest.main"]["llm_calls"] == by_path["nest"]["llm_calls"] == 2


def test_a_node_that_asks_again_counts_each_call(tmp_path, fake_llm):
    typed = AIModelNode(
        settings=AIModelNodeSettings(
            prompt=Prompt.with_dad_text(text="a number"),
            model_call_config=AIModelCallConfig(structured_output=int),
        )
    )
    flow = FlowDefinition().node("n", typed)
    fake_llm.reply("not a number", "42")
    run_context = RunContext("f", project_root=tmp_path, llm=fake_llm.resource())
    run_context.setup_run("m")
    try:
        result = FlowRunner(flow, run_context).run_sync()
    finally:
        run_context.close()
    assert result.ok, result.error
    rows = read_metrics(run_context)
    summary = rows[-1]
    assert summary["llm_calls"] == len(fake_llm.requests) == 2
