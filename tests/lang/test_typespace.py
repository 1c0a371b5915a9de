"""The type namespace: which values are Dana types (check_type), and the plain-data descriptors
that let the host and a worker agree on a type without evaluating text (encode/decode)."""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

import pytest

from danaflow.lang import structs
from danaflow.lang.typespace import TYPE_NAMES, check_type, decode_type, describe, encode_type, is_type

Point = structs.make_struct("Point", {"x": (int, structs.NO_DEFAULT), "y": (int, 0)})
Named = structs.make_interface("Named", {"name": (str, None)}, ["greet"], None)


def _registry_struct_class() -> tuple[dict, Any]:
    registry: dict = {}

    def struct_class(name: str, fields: list[tuple[str, Any]]) -> type:
        return structs.make_struct(name, {f: (t, structs.NO_DEFAULT) for f, t in fields}, canonical=registry)

    return registry, struct_class


def _never(name: str, fields: list[tuple[str, Any]]) -> type:
    raise AssertionError(f"no struct expected, got {name}")


ACCEPTED = [
    int,
    float,
    str,
    bool,
    bytes,
    list,
    dict,
    set,
    tuple,
    frozenset,
    complex,
    None,
    type(None),
    dt.date,
    dt.datetime,
    dt.time,
    dt.timedelta,
    list[int],
    dict[str, list[int]],
    tuple[int, ...],
    tuple[int, str],
    frozenset[str],
    set[float],
    int | None,
    int | str | None,
    list[int | None],
    dict[str, Point],
    Point,
    Point | None,
    Named,
]


@pytest.mark.parametrize("t", ACCEPTED, ids=repr)
def test_check_type_accepts_dana_types(t: Any) -> None:
    assert check_type(t, "private:x") is t
    assert is_type(t)


_INT, _SYSTEM = "int", "os.system"  # strings pydantic would evaluate as annotations

REFUSED = [
    (_INT, "the string 'int'"),
    (list[_INT], "the string 'int'"),
    (dict[str, _SYSTEM], "the string 'os.system'"),
    (int | list[_SYSTEM], "the string 'os.system'"),
    (typing.ForwardRef("int"), "a ForwardRef"),
    (typing.List[int], "a _GenericAlias"),  # noqa: UP006
    (typing.Optional[int], "a _UnionGenericAlias"),  # noqa: UP045
    (typing.Any, "a _AnyMeta"),
    (object, "a type"),
    (type, "a type"),
    (list[object], "a type"),
    (typing.Callable, "a _CallableType"),
    (dict[str, typing.Any], "a _AnyMeta"),
    (3, "a int"),
    (lambda: int, "a function"),
]


@pytest.mark.parametrize(("t", "got"), REFUSED, ids=lambda v: repr(v)[:40])
def test_check_type_refuses_everything_else_naming_the_place(t: Any, got: str) -> None:
    with pytest.raises(TypeError) as info:
        check_type(t, "private:x")
    message = str(info.value)
    assert message.startswith("private:x: ")
    assert f"got {got}" in message
    assert "want a type" in message
    assert not is_type(t)


def test_check_type_without_a_place_has_no_prefix() -> None:
    with pytest.raises(TypeError, match=r"^got the string 'int', want a type"):
        check_type("int", "")


def test_describe_never_prints_long_strings_or_reprs() -> None:
    assert describe("x" * 500) == f"the string {'x' * 57 + '...'!r}"

    class Loud:
        def __repr__(self) -> str:
            raise AssertionError("repr called")

    assert describe(Loud()) == "a Loud"


@pytest.mark.parametrize(
    ("t", "desc"),
    [
        (int, "int"),
        (None, "None"),
        (dt.datetime, "datetime.datetime"),
        (list[int], ["generic", "list", ["int"]]),
        (dict[str, list[int]], ["generic", "dict", ["str", ["generic", "list", ["int"]]]]),
        (tuple[int, ...], ["generic", "tuple", ["int", "..."]]),
        (int | None, ["union", ["int", "None"]]),
    ],
    ids=repr,
)
def test_descriptors_are_plain_data(t: Any, desc: Any) -> None:
    assert encode_type(t) == desc
    assert decode_type(desc, _never) == t


@pytest.mark.parametrize(
    "t",
    [t for t in ACCEPTED if t is not type(None) and "Point" not in repr(t) and t is not Named],
    ids=repr,
)
def test_builtin_types_round_trip(t: Any) -> None:
    assert decode_type(encode_type(t), _never) == t


def test_none_type_decodes_as_none() -> None:
    assert encode_type(type(None)) == "None"
    assert decode_type("None", _never) is None


def test_a_struct_descriptor_names_its_fields_and_types() -> None:
    desc = encode_type(Point)
    assert desc == ["struct", "Point", [["x", "int"], ["y", "int"]]]
    registry, struct_class = _registry_struct_class()
    cls = decode_type(desc, struct_class)
    assert cls is not Point
    assert cls.__name__ == "Point"
    assert cls.__dana_types__ == {"x": int, "y": int}
    assert decode_type(desc, struct_class) is cls  # the same descriptor, the same class
    assert len(registry) == 1


def test_structs_inside_generics_and_unions_use_the_struct_class() -> None:
    _, struct_class = _registry_struct_class()
    t = decode_type(encode_type(dict[str, list[Point]] | None), struct_class)
    args = typing.get_args(t)
    assert args[1] is type(None)
    inner = typing.get_args(typing.get_args(args[0])[1])[0]
    assert inner.__name__ == "Point" and inner.__dana_fields__ == ("x", "y")


def test_an_interface_round_trips() -> None:
    desc = encode_type(Named)
    assert desc == ["interface", "Named", [["name", "str"]], ["greet"]]
    back = decode_type(desc, _never)
    assert repr(back) == "<interface Named>"
    assert back._field_types == (("name", str),)
    assert back._methods == ("greet",)


def test_encode_type_refuses_what_is_not_a_type() -> None:
    with pytest.raises(TypeError, match="got a type, want a type"):
        encode_type(object)


@pytest.mark.parametrize(
    "desc",
    [
        "os.system",
        "builtins.eval",
        "INT",
        42,
        None,
        [],
        ["generic", "os", []],
        ["generic", "list"],
        ["generic", "list", ["os.system"]],
        ["union", []],
        ["union"],
        ["struct", 5, []],
        ["struct", "P", [["x", "subprocess.Popen"]]],
        ["struct", "P", [["x", "str"]], "extra"],
        ["interface", "I", [], ["m"], "extra"],
        ["lambda", "x"],
        {"kind": "struct"},
    ],
    ids=repr,
)
def test_a_malformed_descriptor_is_a_type_error_not_a_lookup(desc: Any) -> None:
    _, struct_class = _registry_struct_class()
    with pytest.raises(TypeError):
        decode_type(desc, struct_class)


def test_type_names_cover_the_builtin_table() -> None:
    assert {"int", "str", "None", "datetime.date", "frozenset"} <= TYPE_NAMES
    for name in TYPE_NAMES:
        decoded = decode_type(name, _never)
        assert name == "None" or encode_type(decoded) == name
