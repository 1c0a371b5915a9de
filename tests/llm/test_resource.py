"""LLMResource: options, per-call model, accounting, hooks, cache, streaming, async."""

from __future__ import annotations

import pytest

from danaflow.errors import ConfigurationError
from danaflow.llm import CallRecord, LLMResource, ResponseCache, Usage


def test_construction_is_cheap_and_named():
    llm = LLMResource()
    assert llm.name == "llm"
    assert "resolved on first call" in repr(llm)
    assert LLMResource(name="planner").name == "planner"
    assert "model='openai:gpt-4o-mini'" in repr(LLMResource(model="openai:gpt-4o-mini"))


def test_model_and_provider_are_exclusive(fake_llm):
    with pytest.raises(ConfigurationError, match="want one of them"):
        LLMResource(model="local:smollm2", provider=fake_llm.provider())


def test_unknown_option_is_named(fake_llm):
    llm = fake_llm.resource()
    with pytest.raises(ConfigurationError, match=r"unknown reason\(\) option 'temprature': want one of"):
        llm.reason("hi", temprature=0.2)
    assert fake_llm.requests == []


def test_options_reach_the_server(fake_llm):
    llm = fake_llm.resource(system="Be terse.", temperature=0.7)
    llm.reason("hi", max_tokens=12)
    body = fake_llm.requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert (body["temperature"], body["max_tokens"]) == (0.7, 12)
    llm.reason("hi", system="Be verbose.", temperature=0.0)
    body = fake_llm.requests[1].body
    assert body["messages"][0]["content"] == "Be verbose."
    assert body["temperature"] == 0.0


def test_per_call_model_option(fake_llm):
    llm = fake_llm.resource()
    other = f"openai-compatible:{fake_llm.base_url}#bigger-model"
    llm.reason("hi", model=other)
    llm.reason("hi")
    assert [r.model for r in fake_llm.requests] == ["bigger-model", "fake-model"]
    assert [c.model for c in llm.calls] == ["bigger-model", "fake-model"]


def test_dana_desired_type_keyword_is_understood(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply("12")
    assert llm.reason("how many?", __dana_desired_type=int) == 12


def test_usage_latency_and_hooks_are_recorded(fake_llm):
    llm = fake_llm.resource()
    seen: list[CallRecord] = []
    llm.on_call.append(seen.append)
    fake_llm.reply("one two three")
    response = llm.complete([{"role": "user", "content": "count to three"}])
    assert response.usage == Usage(prompt_tokens=3, completion_tokens=3)
    assert response.model == "fake-model"
    llm.complete("again")
    assert len(llm.calls) == 2 and seen == list(llm.calls)
    first = llm.calls[0]
    assert (first.provider, first.model, first.operation, first.attempts) == (
        "openai-compatible",
        "fake-model",
        "complete",
        1,
    )
    assert first.latency_s > 0 and first.error is None
    assert llm.usage == Usage(prompt_tokens=4, completion_tokens=4)


def test_a_failing_hook_is_not_hidden(fake_llm):
    llm = fake_llm.resource()

    def broken(record):
        raise RuntimeError("exporter down")

    llm.on_call.append(broken)
    with pytest.raises(RuntimeError, match="exporter down"):
        llm.complete("hi")


def test_cache_answers_repeats_without_a_call(fake_llm):
    llm = fake_llm.resource(cache=True)
    fake_llm.reply("first", "second")
    assert llm.reason("same question") == "first"
    assert llm.reason("same question") == "first"
    assert llm.reason("same question", temperature=0.9) == "second"  # other options, other key
    assert len(fake_llm.requests) == 2
    assert [c.cached for c in llm.calls] == [False, True, False]
    assert llm.cache.hits == 1


def test_cache_file_replays_a_run_offline(fake_llm, tmp_path):
    path = tmp_path / "replay.jsonl"
    fake_llm.reply_json({"value": 7})
    assert fake_llm.resource(cache=path).reason("days in a week?", int) == 7
    fresh = fake_llm.resource(cache=ResponseCache(path))
    assert fresh.reason("days in a week?", int) == 7
    assert len(fake_llm.requests) == 1


def test_cache_key_includes_the_schema(fake_llm):
    llm = fake_llm.resource(cache=True)
    fake_llm.reply("7", "7")
    assert llm.reason("n?", int) == 7
    assert llm.reason("n?", float) == 7.0
    assert len(fake_llm.requests) == 2


def test_stream_yields_deltas_and_records_the_call(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply("Paris is the capital")
    deltas = list(llm.stream("capital?"))
    assert deltas == ["Paris", " is", " the", " capital"]
    assert fake_llm.requests[0].stream
    assert llm.calls[-1].operation == "stream"


async def test_async_complete_and_stream(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply("async hello", "streamed reply")
    assert (await llm.acomplete("hi")).text == "async hello"
    assert [d async for d in llm.astream("hi")] == ["streamed", " reply"]


def test_generate_is_the_typed_entry_point(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply('["x", "y"]')
    assert llm.generate("letters?", list[str]) == ["x", "y"]
