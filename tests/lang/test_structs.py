"""Structs: slotted values validated through a shadow pydantic model; the fast store path must not
change what is stored."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from danaflow.lang.api import run
from danaflow.lang.runtime import NO_DEFAULT
from danaflow.lang.structs import DanaStruct, ReceiverFunction, attach_receiver, make_interface, make_struct


def point() -> type[DanaStruct]:
    return make_struct("Point", {"x": (int, NO_DEFAULT), "y": (float, 0.0), "tags": (list[str], [])})


def test_construction_validates_and_accepts_positional_fields() -> None:
    P = point()
    assert repr(P(1, 2.5)) == "Point(x=1, y=2.5, tags=[])"
    assert str(P(x=1)) == "Point(x=1, y=0.0, tags=[])"
    with pytest.raises(TypeError, match=r"Point\.x: Input should be a valid integer"):
        P(x="abc")
    with pytest.raises(TypeError, match="field required"):
        P()
    with pytest.raises(TypeError, match="got field 'x' twice"):
        P(1, x=2)


def test_dana_assignment_is_validated_on_both_paths() -> None:
    # The compiled store caches (class, plain type) per site; the first store and any other type
    # go through validation, and both paths must store what pydantic would.
    src = (
        "struct Point:\n    x: int\n    y: float = 0.0\n    tags: list[str] = []\n"
        "p = Point(x=1)\n"
        "for v in [5, 6, '7']:\n    p.x = v\n"  # cached fast path, then a str coerced by validation
        "p.y = 3\n"  # int into a float field: coerced
        "p.tags += ['t']\n"  # in place: the same list
        "seen = [p.x, p.y, type(p.y).__name__, p.tags]\n"
        "p.x = 'seven'\n"
    )
    outcome = run(src, print_sink=lambda s: None)
    assert outcome.context.local["seen"] == [7, 3.0, "float", ["t"]]
    assert outcome.error is not None and outcome.error.location.line == 11
    assert "Point.x: Input should be a valid integer" in outcome.error.message
    p = outcome.context.local["p"]
    assert p.model_dump() == {"x": 7, "y": 3.0, "tags": ["t"]}


def test_validate_field_and_host_side_helpers() -> None:
    P = point()
    assert P.validate_field("x", "5") == 5
    with pytest.raises(TypeError, match=r"Point\.tags"):
        P.validate_field("tags", [1, {}])
    with pytest.raises(AttributeError, match="no field 'z'"):
        P.validate_field("z", 1)
    assert P.model_validate({"x": 2}) == P(x=2)
    assert P.model_json_schema()["required"] == ["x"]


def test_structs_work_as_pydantic_types() -> None:
    P = point()
    adapter = TypeAdapter(list[P])
    items = adapter.validate_json('[{"x": 1}, {"x": 2, "tags": ["a"]}]')
    assert items == [P(x=1), P(x=2, tags=["a"])]

    class Holder(BaseModel):
        value: Any

    assert Holder(value=P(x=3)).model_dump(mode="json") == {"value": {"x": 3, "y": 0.0, "tags": []}}


def test_mutable_defaults_are_not_shared() -> None:
    P = point()
    a, b = P(x=1), P(x=2)
    a.tags.append("t")
    assert b.tags == []


def test_receivers_dispatch_on_type_and_attach_as_methods() -> None:
    Circle = make_struct("Circle", {"r": (float, NO_DEFAULT)})
    Square = make_struct("Square", {"side": (float, NO_DEFAULT)})
    registry: dict[str, ReceiverFunction] = {}
    attach_receiver(registry, "area", Circle, lambda c: 3.0 * c.r * c.r)
    area = attach_receiver(registry, "area", Square, lambda s: s.side * s.side)
    assert Circle(r=1.0).area() == 3.0
    assert area(Square(side=2.0)) == 4.0
    with pytest.raises(TypeError, match="area\\(\\) got a int, want Circle \\| Square"):
        area(3)


def test_interfaces_are_structural() -> None:
    Named = make_interface("Named", {"name": (str, NO_DEFAULT)}, ["greet"], None)
    Person = make_struct("Person", {"name": (str, NO_DEFAULT)})
    attach_receiver({}, "greet", Person, lambda p: f"hi {p.name}")
    Rock = make_struct("Rock", {"name": (str, NO_DEFAULT)})
    assert isinstance(Person(name="a"), Named)
    assert not isinstance(Rock(name="r"), Named)
    assert Named.missing(Rock(name="r")) == ["greet()"]
