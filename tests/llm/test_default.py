"""DefaultReasoner: one reasoner for 'no LLM given', used by danaflow.run and by flows alike."""

from __future__ import annotations

import danaflow
from danaflow import SandboxContext
from danaflow.flow import _llm as flow_llm
from danaflow.llm import default_llm
from danaflow.llm.default import DefaultReasoner


def test_flows_and_the_llm_layer_share_one_class_and_one_instance() -> None:
    assert flow_llm.DefaultReasoner is DefaultReasoner
    assert DefaultReasoner.shared() is DefaultReasoner.shared()
    assert repr(DefaultReasoner.shared()) == "DefaultReasoner(<the configured default model>)"


def test_it_follows_the_configured_model_on_each_call(monkeypatch, fake_llm) -> None:
    monkeypatch.setenv("DANAFLOW_LLM", fake_llm.spec)
    assert DefaultReasoner.target() is default_llm()
    assert DefaultReasoner.target().model == fake_llm.spec
    fake_llm.reply("from the default")
    assert DefaultReasoner.shared().reason("hi") == "from the default"


def test_danaflow_run_answers_reason_through_the_shared_default(monkeypatch, fake_llm) -> None:
    monkeypatch.setenv("DANAFLOW_LLM", fake_llm.spec)
    fake_llm.reply("forty-two")
    ctx = SandboxContext()
    outcome = danaflow.run('reason("the answer?")', ctx)
    assert outcome.error is None, outcome.error
    assert outcome.value == "forty-two"
    assert ctx.reasoner is DefaultReasoner.shared()
    calls = default_llm().calls
    assert len(calls) == 1 and calls[0].model == fake_llm.model
    assert fake_llm.prompts == ["the answer?"]


def test_a_context_with_its_own_reasoner_keeps_it(fake_llm) -> None:
    own = fake_llm.resource()
    fake_llm.reply("mine")
    ctx = SandboxContext(reasoner=own)
    assert danaflow.run('reason("q")', ctx).value == "mine"
    assert ctx.reasoner is own and len(own.calls) == 1
