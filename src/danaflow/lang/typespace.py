"""Dana's type namespace: which values are types, and how a type travels between processes.

pydantic resolves a string annotation (or a string inside ``list["..."]``) by ``eval`` with real
builtins, so a Dana value that becomes a type must be checked before pydantic sees it. ``check_type``
is that gate: builtins, structs, interfaces, ``list[...]``/``dict[...]``/unions of those, ``None``;
anything else (a string above all) is a TypeError naming the place. ``encode_type``/``decode_type``
give a type a plain-data form (a descriptor) so the host and a worker agree on it without either
evaluating text.
"""

from __future__ import annotations

import datetime as _dt
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["TYPE_NAMES", "check_type", "decode_type", "describe", "encode_type", "is_type"]

_BUILTIN_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "bytes": bytes,
    "list": list,
    "dict": dict,
    "set": set,
    "tuple": tuple,
    "frozenset": frozenset,
    "complex": complex,
    "None": type(None),
    "datetime.date": _dt.date,
    "datetime.datetime": _dt.datetime,
    "datetime.time": _dt.time,
    "datetime.timedelta": _dt.timedelta,
}
_TYPE_NAME = {v: k for k, v in _BUILTIN_TYPES.items()}
TYPE_NAMES = frozenset(_BUILTIN_TYPES)
_GENERIC_ORIGINS = (list, dict, set, tuple, frozenset)


def describe(value: Any) -> str:
    """A short, safe description of a value for error messages (never calls its own __repr__)."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {text!r}"
    return f"a {type(value).__name__}"


def _struct_bases() -> tuple[type, type]:
    from .structs import DanaInterface, DanaStruct  # deferred: pydantic loads only when structs exist

    return DanaStruct, DanaInterface


def is_type(value: Any) -> bool:
    """Whether ``value`` is a type Dana may use (see check_type)."""
    try:
        check_type(value, "")
    except TypeError:
        return False
    return True


def check_type(value: Any, where: str) -> Any:
    """Returns ``value`` if it is a Dana type, else raises TypeError saying what ``where`` got.

    The check is structural and recursive: nothing inside a generic or a union may be a string,
    a ForwardRef or any other object pydantic would evaluate.
    """
    if value is None or value in _TYPE_NAME:
        return value
    if isinstance(value, types.GenericAlias):
        origin = typing.get_origin(value)
        if origin not in _GENERIC_ORIGINS:
            raise TypeError(f"{where}: got {describe(value)}, want a type")
        for arg in typing.get_args(value):
            if arg is Ellipsis and origin is tuple:
                continue
            check_type(arg, where)
        return value
    if isinstance(value, types.UnionType):
        for arg in typing.get_args(value):
            check_type(arg, where)
        return value
    if isinstance(value, type) or type(value).__name__ == "DanaInterface":
        struct, interface = _struct_bases()
        if isinstance(value, interface) or (isinstance(value, type) and issubclass(value, struct)):
            return value
    prefix = f"{where}: " if where else ""
    raise TypeError(
        f"{prefix}got {describe(value)}, want a type (int, str, a struct, list[int], A | None, ...)"
    )


def encode_type(value: Any) -> Any:
    """The descriptor of a checked type: plain lists and strings only."""
    if value is None:
        return "None"
    name = _TYPE_NAME.get(value)
    if name is not None:
        return name
    if isinstance(value, types.GenericAlias):
        args = ["..." if a is Ellipsis else encode_type(a) for a in typing.get_args(value)]
        return ["generic", _TYPE_NAME[typing.get_origin(value)], args]
    if isinstance(value, types.UnionType):
        return ["union", [encode_type(a) for a in typing.get_args(value)]]
    struct, interface = _struct_bases()
    if isinstance(value, interface):
        return [
            "interface",
            value.__name__,
            [[f, encode_type(t)] for f, t in value._field_types],
            list(value._methods),
        ]
    if isinstance(value, type) and issubclass(value, struct):
        return ["struct", value.__name__, [[f, encode_type(t)] for f, t in value.__dana_types__.items()]]
    raise TypeError(f"got {describe(value)}, want a type")


def decode_type(desc: Any, struct_class: Callable[[str, list[tuple[str, Any]]], type]) -> Any:
    """The type a descriptor names; ``struct_class(name, fields)`` supplies struct classes.

    Only the shapes ``encode_type`` makes are accepted: a descriptor from a worker is data, and
    a malformed one is a TypeError, never a lookup of an arbitrary name.
    """
    if isinstance(desc, str):
        if desc in _BUILTIN_TYPES:
            t = _BUILTIN_TYPES[desc]
            return None if desc == "None" else t
        raise TypeError(f"unknown type {desc[:60]!r} in a type descriptor")
    if not isinstance(desc, (list, tuple)) or not desc:
        raise TypeError("malformed type descriptor")
    kind = desc[0]
    if kind == "generic" and len(desc) == 3 and desc[1] in ("list", "dict", "set", "tuple", "frozenset"):
        args = tuple(Ellipsis if a == "..." else decode_type(a, struct_class) for a in desc[2])
        origin = _BUILTIN_TYPES[desc[1]]
        return origin[args] if len(args) != 1 else origin[args[0]]
    if kind == "union" and len(desc) == 2 and desc[1]:
        members = [decode_type(a, struct_class) for a in desc[1]]
        members = [type(None) if m is None else m for m in members]
        result = members[0]
        for m in members[1:]:
            result = result | m
        return result
    if kind == "struct" and len(desc) == 3 and isinstance(desc[1], str):
        fields = [(str(f), decode_type(t, struct_class)) for f, t in desc[2]]
        return struct_class(desc[1], fields)
    if kind == "interface" and len(desc) == 4 and isinstance(desc[1], str):
        from .structs import make_interface

        fields = {str(f): (decode_type(t, struct_class), None) for f, t in desc[2]}
        return make_interface(desc[1], fields, [str(m) for m in desc[3]], None)
    raise TypeError("malformed type descriptor")
