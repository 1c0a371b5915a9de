"""Typed answers: every kind of desired type, parsed leniently and validated, over real HTTP."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from pydantic import BaseModel

from danaflow.errors import ReasonError
from danaflow.llm.typed import output_spec, parse_answer


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    age: int
    address: Address | None = None


# ---- parsing without a server --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tp", "text", "want"),
    [
        (str, "  Paris \n", "Paris"),
        (str, '"Paris"', "Paris"),
        (int, "7", 7),
        (int, "There are 7 days in a week.", 7),
        (int, "seven", 7),
        (int, '{"value": 7}', 7),
        (float, "about 3.5 kg", 3.5),
        (bool, "Yes.", True),
        (bool, "false", False),
        (bool, '{"value": true}', True),
        (list[int], "```json\n[1, 2, 3]\n```", [1, 2, 3]),
        (dict[str, int], 'Sure! {"a": 1, "b": 2} hope that helps', {"a": 1, "b": 2}),
        (Literal["low", "high"], "I would say High.", "high"),
        (Color, '"green"', Color.GREEN),
        (Color, "RED", Color.RED),
        (int | None, "null", None),
        (str | None, "Paris", "Paris"),
    ],
)
def test_parse_answer_is_lenient(tp, text, want):
    assert parse_answer(text, output_spec(tp)) == want


def test_parse_answer_nested_model_from_fenced_json():
    text = 'Here:\n```json\n{"name": "Ada", "age": 36, "address": {"city": "London"}}\n```'
    got = parse_answer(text, output_spec(Person))
    assert got == Person(name="Ada", age=36, address=Address(city="London"))


def test_parse_answer_error_says_what_was_wanted():
    with pytest.raises(ValueError, match="want a single integer"):
        parse_answer("no idea", output_spec(int))
    with pytest.raises(ValueError, match=r"not a valid Person: age"):
        parse_answer('{"name": "Ada", "age": "old"}', output_spec(Person))


def test_output_spec_wraps_non_object_roots_and_keeps_defs():
    spec = output_spec(list[Person])
    assert spec.wrapped
    assert spec.wire_schema["type"] == "object"
    assert spec.wire_schema["required"] == ["value"]
    assert "Person" in spec.wire_schema["$defs"]
    assert "$defs" not in spec.wire_schema["properties"]["value"]
    assert not output_spec(Person).wrapped
    assert output_spec(bool).choices == ("true", "false")
    assert output_spec(Color).choices == ('"red"', '"green"')
    assert output_spec(None).kind == output_spec("str").kind == "str"


# ---- through the fake server ------------------------------------------------------------------
@pytest.mark.parametrize("structured", [True, False], ids=["native", "in-prompt"])
@pytest.mark.parametrize(
    ("tp", "reply", "want"),
    [
        (int, "7", 7),
        (float, "2.5", 2.5),
        (bool, "yes", True),
        (list[str], '["a", "b"]', ["a", "b"]),
        (dict[str, float], '{"x": 1.5}', {"x": 1.5}),
        (Literal["a", "b"], '"b"', "b"),
        (Color, "red", Color.RED),
        (
            Person,
            '{"name": "Ada", "age": 36, "address": {"city": "London", "zip": null}}',
            Person(name="Ada", age=36, address=Address(city="London")),
        ),
        (list[Person], '{"value": [{"name": "Bo", "age": 3}]}', [Person(name="Bo", age=3)]),
        (Person | None, "null", None),
    ],
)
def test_reason_every_type_kind(fake_llm, structured, tp, reply, want):
    llm = fake_llm.resource(structured_output=structured)
    fake_llm.reply(reply)
    assert llm.reason("question", tp) == want
    body = fake_llm.requests[-1].body
    if structured:
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"]["type"] == "object"
    else:
        assert "response_format" not in body


def test_in_prompt_mode_writes_the_schema_into_the_prompt(fake_llm):
    llm = fake_llm.resource(structured_output=False)
    fake_llm.reply_json({"name": "Ada", "age": 36})
    llm.reason("Describe Ada", Person)
    prompt = fake_llm.requests[0].prompt
    assert prompt.startswith("Describe Ada")
    assert '"age":{"title":"Age","type":"integer"}' in prompt


def test_str_answers_send_no_schema_and_return_text(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply("The capital is Paris.")
    assert llm.reason("capital of France?") == "The capital is Paris."
    assert "response_format" not in fake_llm.requests[0].body
    assert fake_llm.requests[0].prompt == "capital of France?"


def test_bad_answer_is_reasked_with_the_validation_error(fake_llm):
    llm = fake_llm.resource(structured_output=False)
    fake_llm.reply('{"name": "Ada", "age": "very old"}', '{"name": "Ada", "age": 36}')
    assert llm.reason("Describe Ada", Person) == Person(name="Ada", age=36)
    assert len(fake_llm.requests) == 2
    second = fake_llm.requests[1].messages
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == '{"name": "Ada", "age": "very old"}'
    assert "not a valid Person: age" in second[2]["content"]


def test_reasks_are_bounded_then_reason_error_keeps_the_raw_answer(fake_llm):
    llm = fake_llm.resource(max_reasks=2)
    fake_llm.reply("lots", times=5)
    with pytest.raises(ReasonError, match=r"never validated as int after 3 attempts") as info:
        llm.reason("how many?", int)
    assert info.value.raw == "lots"
    assert len(fake_llm.requests) == 3


def test_max_reasks_option_per_call(fake_llm):
    llm = fake_llm.resource()
    fake_llm.add_rule("how many", "lots")
    with pytest.raises(ReasonError):
        llm.reason("how many?", int, max_reasks=0)
    assert len(fake_llm.requests) == 1


async def test_areason_typed(fake_llm):
    llm = fake_llm.resource()
    fake_llm.reply("maybe", "42")
    assert await llm.areason("answer?", int) == 42
    assert len(fake_llm.requests) == 2
