"""The fake server's own contract, which other layers' tests rely on."""

from __future__ import annotations

import re

import httpx

from danaflow.testing.fake_llm import FakeLLMServer, Reply


def test_order_is_faults_then_rules_then_queue_then_default(fake_llm):
    llm = fake_llm.resource(retry=None)
    fake_llm.default_reply = "default"
    fake_llm.reply("queued")
    fake_llm.add_rule("weather", "sunny")
    assert llm.reason("weather today?") == "sunny"
    assert llm.reason("anything") == "queued"
    assert llm.reason("anything") == "default"
    assert fake_llm.prompts == ["weather today?", "anything", "anything"]


def test_rules_by_regex_predicate_function_and_times(fake_llm):
    llm = fake_llm.resource()
    fake_llm.add_rule(re.compile(r"^add (\d+)"), lambda req: str(int(req.prompt.split()[1]) + 1))
    fake_llm.add_rule(lambda req: req.system == "json", {"ok": True})
    fake_llm.add_rule("once", "only once", times=1)
    assert llm.reason("add 41") == "42"
    assert llm.reason("x", system="json") == '{"ok": true}'
    assert llm.reason("once") == "only once"
    assert llm.reason("once") == "OK"


def test_reply_carries_finish_reason_and_usage(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply(Reply("cut", finish_reason="length", prompt_tokens=100, completion_tokens=7))
    response = llm.complete("hi")
    assert response.finish_reason == "length"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (100, 7)


def test_requests_record_status_body_and_headers(fake_llm):
    llm = fake_llm.resource()
    fake_llm.fail(500, times=1)
    llm.complete("hello")
    first, second = fake_llm.requests
    assert (first.status, second.status) == (500, 200)
    assert second.body["messages"] == [{"role": "user", "content": "hello"}]
    assert second.headers["authorization"] == "Bearer test-key"
    assert second.time >= first.time


def test_unknown_routes_are_404_and_models_are_listed(fake_llm):
    assert httpx.post(f"{fake_llm.base_url}/embeddings", json={}).status_code == 404
    models = httpx.get(f"{fake_llm.base_url}/models").json()
    assert models["data"][0]["id"] == "fake-model"


def test_reset_and_independent_instances():
    with FakeLLMServer(model="a") as one, FakeLLMServer(model="b") as two:
        assert one.port != two.port
        one.reply("x")
        one.resource().complete("hi")
        one.reset()
        assert one.requests == [] and two.requests == []
        assert one.resource().complete("hi").text == "OK"
