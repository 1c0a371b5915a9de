"""Token listeners (llm/streaming.py): model calls stream their text to whoever listens, over real
HTTP from the fake server, with the same answer, usage and span a plain call has."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from danaflow.errors import LLMError
from danaflow.llm.streaming import bind_tokens, listening, token_callback
from danaflow.observability import ObservabilitySettings
from danaflow.runs import RunContext
from danaflow.testing.fake_llm import Reply

TEXT = "The capital of France is Paris, and it has been for a while."


class Calls:
    """A listener that keeps each call's deltas apart, as a flow stream does."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()

    def open_call(self):
        deltas: list[str] = []
        self.calls.append(deltas)

        def on_token(text: str) -> None:
            self.threads.add(threading.current_thread().name)
            deltas.append(text)

        return on_token

    @property
    def texts(self) -> list[str]:
        return ["".join(d) for d in self.calls]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_deltas_arrive_in_order_and_join_to_the_answer(fake_llm, api: str) -> None:
    fake_llm.reply(TEXT, TEXT)
    llm = fake_llm.resource(api=api)
    plain = llm.complete("capital?")
    heard = Calls()
    with listening(heard.open_call):
        streamed = llm.complete("capital?")
    assert fake_llm.requests[-1].stream and not fake_llm.requests[-2].stream
    assert heard.calls[0] == [w for w in TEXT.replace(" ", "\0 ").split("\0")]  # word by word, in order
    assert heard.texts == [TEXT] == [streamed.text]
    assert (streamed.usage, streamed.finish_reason, streamed.model) == (
        plain.usage,
        plain.finish_reason,
        plain.model,
    )
    assert streamed.usage.completion_tokens > 0


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_async_calls_stream_too(fake_llm, api: str) -> None:
    fake_llm.reply(TEXT)
    llm = fake_llm.resource(api=api)
    heard = Calls()

    async def ask() -> str:
        with listening(heard.open_call):
            return (await llm.acomplete("capital?")).text

    assert asyncio.run(ask()) == TEXT
    assert heard.texts == [TEXT] and len(heard.calls[0]) > 5
    assert llm.calls[-1].usage.completion_tokens == len(TEXT.split())


def test_a_typed_answer_streams_its_json_and_each_reask_is_a_call(fake_llm) -> None:
    fake_llm.reply_json({"value": "not a number"})
    fake_llm.reply_json({"value": 42})
    llm = fake_llm.resource()
    heard = Calls()
    with listening(heard.open_call):
        assert llm.generate("How many?", int) == 42
    assert heard.texts == ['{"value": "not a number"}', '{"value": 42}']
    assert all(r.stream for r in fake_llm.requests)


def test_a_failure_before_the_first_delta_is_retried_and_heard_once(fake_llm) -> None:
    fake_llm.fail(status=503, times=2)
    fake_llm.reply(TEXT)
    llm = fake_llm.resource()
    heard = Calls()
    with listening(heard.open_call):
        assert llm.complete("capital?").text == TEXT
    assert len(fake_llm.requests) == 3
    assert heard.texts == [TEXT]
    assert llm.calls[-1].attempts == 3


def test_a_cache_hit_is_heard_as_one_delta(fake_llm) -> None:
    fake_llm.reply(TEXT)
    llm = fake_llm.resource(cache=True)
    llm.complete("capital?")
    heard = Calls()
    with listening(heard.open_call):
        assert llm.complete("capital?").text == TEXT
    assert len(fake_llm.requests) == 1
    assert heard.calls == [[TEXT]]


def test_a_listener_that_raises_fails_the_call_with_its_own_error_unretried(fake_llm) -> None:
    fake_llm.reply(TEXT, TEXT)
    llm = fake_llm.resource()

    def open_call():
        def on_token(text: str) -> None:
            raise KeyError("listener bug")

        return on_token

    with listening(open_call), pytest.raises(KeyError, match="listener bug"):
        llm.complete("capital?")
    assert len(fake_llm.requests) == 1


def test_nobody_listening_means_no_stream(fake_llm) -> None:
    fake_llm.reply(TEXT)
    assert token_callback() is None
    assert fake_llm.resource().complete("capital?").text == TEXT
    assert not fake_llm.requests[-1].stream


def test_a_bound_reasoner_streams_from_a_thread_that_inherited_nothing(fake_llm) -> None:
    # The sandbox host answers a worker's reason() on a pool thread: no context variables there.
    fake_llm.reply(TEXT)
    llm = fake_llm.resource()
    heard = Calls()
    with listening(heard.open_call):
        reasoner = bind_tokens(llm)
    assert bind_tokens(llm) is llm  # nobody listens out here
    answers: list[str] = []
    worker = threading.Thread(target=lambda: answers.append(reasoner.reason("capital?")), name="host-call")
    worker.start()
    worker.join()
    assert answers == [TEXT] and heard.texts == [TEXT]
    assert heard.threads == {"host-call"}
    assert reasoner.model_aliases() == llm.model_aliases()  # the rest is the wrapped reasoner's


def test_plain_streams_have_a_span_and_count_as_model_calls(fake_llm, tmp_path: Path) -> None:
    fake_llm.reply(TEXT, Reply("stopped early by the caller"))
    rc = RunContext(
        "f",
        project_root=tmp_path,
        run_root=tmp_path / "runs",
        observability_settings=ObservabilitySettings(exporters=("memory",), capture_content=True),
    )
    rc.setup_run("t")
    llm = fake_llm.resource()
    heard = Calls()
    try:
        with rc.telemetry.activate(), rc.telemetry.span("node", "f.n"):
            with listening(heard.open_call):
                assert "".join(llm.stream("capital?")) == TEXT
            for _ in llm.stream("again?"):
                break
        spans = [s for s in rc.telemetry.spans() if s.kind == "llm"]
        calls = rc.telemetry.metrics.llm_calls
    finally:
        rc.close()
    assert heard.texts == [TEXT]
    assert calls == 2
    assert len(spans) == 2 and {s.path for s in spans} == {"f.n"}
    assert [s.status for s in spans] == ["ok", "ok"]  # stopping early is no error
    assert spans[0].name == f"chat {fake_llm.model}"
    assert spans[0].attributes["gen_ai.response.model"] == fake_llm.model
    assert TEXT in spans[0].attributes["gen_ai.output.messages"]
    assert [r.operation for r in llm.calls] == ["stream", "stream"]


def test_a_stream_that_fails_for_good_says_so_on_its_span(fake_llm, tmp_path: Path) -> None:
    fake_llm.fail(status=400, message="bad request")
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
            with pytest.raises(LLMError, match="bad request"):
                list(llm.stream("capital?"))
        (span,) = [s for s in rc.telemetry.spans() if s.kind == "llm"]
    finally:
        rc.close()
    assert span.status == "error"
    assert llm.calls[-1].error is not None


@pytest.mark.slow
async def test_the_embedded_model_streams_as_it_decodes_constraints_kept() -> None:
    from pydantic import BaseModel

    from danaflow.flow import AIModelCallConfig, AIModelNode, AIModelNodeSettings, FlowDefinition, FlowRunner
    from danaflow.flow.seam import InMemoryRun
    from danaflow.llm import LLMResource

    class City(BaseModel):
        name: str
        country: str

    llm = LLMResource(model="local:smollm2")
    heard = Calls()
    with listening(heard.open_call):
        said = (await llm.acomplete("Say hello to the world.", max_tokens=12)).text
        city = await llm.agenerate("Name a city in France and its country.", City, max_tokens=40)
    assert heard.texts[0] == said and len(heard.calls[0]) > 1  # token by token, not one piece
    assert City.model_validate_json(heard.texts[-1]) == city  # the schema still constrained it
    assert heard.threads and "MainThread" not in heard.threads  # decoded on a worker thread

    flow = FlowDefinition("f").node(
        "ask",
        AIModelNode(
            settings=AIModelNodeSettings(
                prompt="What is the capital of France?",
                model_call_config=AIModelCallConfig(max_output_tokens=16),
            )
        ),
    )
    runner = FlowRunner(flow, InMemoryRun(llm=llm))
    deltas = [d async for d in runner.stream(mode="tokens")]
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == runner.result.get_result("ask").outcome.text
