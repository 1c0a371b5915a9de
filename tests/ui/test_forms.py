"""The input form: fields from a schema, and the value a submission makes (or why it is bad)."""

from __future__ import annotations

import re
from enum import Enum

import pytest
from pydantic import BaseModel, TypeAdapter

from danaflow.ui.forms import FormError, fields_for, parse_submission


class Level(Enum):
    low = 1
    high = 2


class Review(BaseModel):
    approved: bool
    reviewer: str
    score: float = 0.5
    level: Level = Level.low
    tags: list[str] = []


def test_a_flat_object_schema_becomes_one_field_each() -> None:
    fields = {f.name: f for f in fields_for(TypeAdapter(Review).json_schema())}
    assert [fields[n].kind for n in ("approved", "reviewer", "score", "tags")] == [
        "boolean", "string", "number", "json",
    ]  # fmt: skip
    assert fields["reviewer"].required and not fields["score"].required and fields["score"].default == "0.5"


def test_a_submission_validates_against_the_declared_type() -> None:
    fields = fields_for(TypeAdapter(Review).json_schema())
    form = {"field.approved": "true", "field.reviewer": "Ada", "field.score": "0.9", "field.tags": '["a"]'}
    value = parse_submission(fields, form, "f.n", Review)
    assert value == {"approved": True, "reviewer": "Ada", "score": 0.9, "level": 1, "tags": ["a"]}
    assert parse_submission(fields, {"field.reviewer": "Bo"}, "f.n", Review)["approved"] is False


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"field.score": "1"}, "reviewer: got nothing, want a value (required)"),
        ({"field.reviewer": "A", "field.score": "lots"}, "score: got 'lots', want a number"),
        ({"field.reviewer": "A", "field.tags": "[1,"}, "tags: got '[1,', want JSON"),
    ],
)
def test_bad_fields_name_themselves(form: dict[str, str], message: str) -> None:
    with pytest.raises(FormError, match="^" + re.escape(message)):
        parse_submission(fields_for(TypeAdapter(Review).json_schema()), form, "f.n", Review)


def test_enum_choices_keep_their_json_type() -> None:
    schema = {"type": "object", "properties": {"n": {"enum": [1, 2]}, "s": {"enum": ["a", "b"]}}}
    fields = fields_for(schema)
    assert parse_submission(fields, {"field.n": "2", "field.s": "b"}, "p") == {"n": 2, "s": "b"}
    with pytest.raises(FormError, match="want one of 1, 2"):
        parse_submission(fields, {"field.n": "3"}, "p")


def test_without_a_schema_the_value_reads_like_the_cli_input() -> None:
    fields = fields_for(None)
    assert [f.kind for f in fields] == ["json"]
    assert parse_submission(fields, {"field.value": '{"a": [1]}'}, "p") == {"a": [1]}
    assert parse_submission(fields, {"field.value": "plain words"}, "p") == "plain words"
    with pytest.raises(FormError, match="got nothing"):
        parse_submission(fields, {"field.value": "  "}, "p")
