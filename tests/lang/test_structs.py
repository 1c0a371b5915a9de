"""Structs are validated pydantic models; the fast assignment path must not change what is stored."""

from __future__ import annotations

import pytest

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


def test_assignment_fast_path_and_validated_path_store_the_same_thing() -> None:
    P = point()
    p = P(x=1)
    p.x = 5  # exact type: stored directly
    assert p.x == 5 and "x" in p.model_fields_set
    p.y = 3  # int into a float field: validated, coerced like pydantic would
    assert p.y == 3.0 and type(p.y) is float
    p.x = "7"  # lax coercion through the validator
    assert p.x == 7
    with pytest.raises(TypeError, match=r"Point\.x"):
        p.x = "seven"
    with pytest.raises(TypeError, match=r"Point\.tags"):
        p.tags = [1, {}]
    assert p.model_dump() == {"x": 7, "y": 3.0, "tags": []}


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
