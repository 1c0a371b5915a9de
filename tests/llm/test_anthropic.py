"""The Anthropic adapter through the real anthropic SDK against the fake server."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from danaflow.errors import LLMError
from danaflow.llm import LLMResource, Usage


class City(BaseModel):
    name: str
    country: str


def test_complete_moves_system_to_its_own_field(fake_llm):
    llm = fake_llm.resource(api="anthropic", system="Be terse.")
    fake_llm.reply("Paris")
    response = llm.complete("capital of France?", max_tokens=50)
    assert response.text == "Paris"
    assert response.usage == Usage(prompt_tokens=5, completion_tokens=1)
    req = fake_llm.requests[0]
    assert req.api == "anthropic" and req.path == "/v1/messages"
    assert req.body["system"] == "Be terse."
    assert req.body["messages"] == [{"role": "user", "content": "capital of France?"}]
    assert req.body["max_tokens"] == 50
    assert "anthropic-version" in req.headers
    assert "test-key" in req.headers.get("x-api-key", "") + req.headers.get("authorization", "")


def test_typed_answer_uses_a_forced_tool(fake_llm):
    llm = fake_llm.resource(api="anthropic")
    fake_llm.reply_json({"name": "Paris", "country": "France"})
    assert llm.reason("a city?", City) == City(name="Paris", country="France")
    body = fake_llm.requests[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert body["tools"][0]["input_schema"]["required"] == ["name", "country"]


def test_typed_scalar_is_wrapped_in_the_tool_input(fake_llm):
    llm = fake_llm.resource(api="anthropic")
    fake_llm.reply("7")
    assert llm.reason("days?", int) == 7
    schema = fake_llm.requests[0].body["tools"][0]["input_schema"]
    assert schema["properties"]["value"]["type"] == "integer"


def test_typed_answer_falls_back_to_text_and_reasks(fake_llm):
    llm = fake_llm.resource(api="anthropic")
    fake_llm.reply("I cannot say", '{"name": "Rome", "country": "Italy"}')
    assert llm.reason("a city?", City) == City(name="Rome", country="Italy")
    assert len(fake_llm.requests) == 2


def test_stream(fake_llm):
    llm = fake_llm.resource(api="anthropic")
    fake_llm.reply("one two")
    assert list(llm.stream("count")) == ["one", " two"]


async def test_async_and_async_stream(fake_llm):
    llm = fake_llm.resource(api="anthropic")
    fake_llm.reply("hello", "a b")
    assert await llm.areason("hi") == "hello"
    assert [d async for d in llm.astream("hi")] == ["a", " b"]


def test_overloaded_is_retried_then_reported(fake_llm):
    llm = fake_llm.resource(api="anthropic")
    fake_llm.fail(529, times=10, message="Overloaded")
    with pytest.raises(
        LLMError, match=r"anthropic model fake-model failed after 4 attempts.*HTTP 529: Overloaded"
    ):
        llm.complete("hi")
    assert len(fake_llm.requests) == 4


def test_spec_with_url_selects_the_fake_server(fake_llm):
    llm = LLMResource(model=fake_llm.anthropic_spec)
    fake_llm.reply("via spec")
    assert llm.reason("hi") == "via spec"
    assert fake_llm.requests[0].api == "anthropic"
