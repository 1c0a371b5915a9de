"""Dana structs, interfaces and receiver methods.

A struct is a pydantic model class, so construction and assignment are validated and ``reason()``
gets a JSON schema for free. Assignment of a value whose type already matches a plain field type
(int, str, float, bool) skips pydantic's validator: the result is the same, and field updates in
loops stay cheap. Interfaces are structural: a value satisfies one when it has the fields and
methods, checked by ``isinstance`` (and so by pydantic where an interface annotates a field).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from .runtime import NO_DEFAULT

__all__ = [
    "NO_DEFAULT",
    "DanaInterface",
    "DanaStruct",
    "ReceiverFunction",
    "attach_receiver",
    "make_interface",
    "make_struct",
]


_SIMPLE = (int, str, float, bool)


def _validation_message(cls_name: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(x) for x in e.get("loc", ()))
        got = e.get("input")
        detail = f"{e.get('msg')}, got {got!r}" if e.get("type") != "missing" else "field required"
        parts.append(f"{cls_name}.{where}: {detail}" if where else f"{cls_name}: {detail}")
    return "; ".join(parts)


class DanaStruct(BaseModel):
    """Base of every Dana struct: validated, printed as ``Name(x=1, y=2)``."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", arbitrary_types_allowed=True)

    def __init__(self, *args: Any, **kwargs: Any):
        if args:
            names = list(type(self).model_fields)
            if len(args) > len(names):
                raise TypeError(
                    f"{type(self).__name__}() takes {len(names)} fields, got {len(args)} positional values"
                )
            for name, value in zip(names, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got field {name!r} twice")
                kwargs[name] = value
        try:
            super().__init__(**kwargs)
        except ValidationError as err:
            raise TypeError(_validation_message(type(self).__name__, err)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            raise TypeError(_validation_message(type(self).__name__, err)) from None

    def __str__(self) -> str:
        return self.__repr__()


def make_struct(name: str, fields: dict[str, tuple[Any, Any]], doc: str | None = None) -> type[DanaStruct]:
    """Builds the model class for ``struct name:`` with {field: (type, default or NO_DEFAULT)}."""
    spec = {f: (t, ... if d is NO_DEFAULT else d) for f, (t, d) in fields.items()}
    cls = create_model(name, __base__=DanaStruct, __doc__=doc, __module__="dana", **spec)
    fast = {f: t for f, (t, _) in fields.items() if t in _SIMPLE}
    if fast:
        cls.__setattr__ = _fast_setattr(fast)
    return cls


def _fast_setattr(fast: dict[str, type]) -> Callable[[DanaStruct, str, Any], None]:
    """A ``__setattr__`` that stores a value whose type is exactly the field's plain type directly
    (what validation would store anyway) and validates everything else."""
    validated = DanaStruct.__setattr__

    def __setattr__(self: DanaStruct, name: str, value: Any) -> None:
        if fast.get(name) is type(value):
            self.__dict__[name] = value
            self.__pydantic_fields_set__.add(name)
            return
        validated(self, name, value)

    return __setattr__


class DanaInterface(type):
    """The metaclass of ``interface`` types: ``isinstance`` checks fields and methods."""

    _fields: tuple[str, ...]
    _methods: tuple[str, ...]

    def __instancecheck__(cls, obj: Any) -> bool:
        return all(hasattr(obj, f) for f in cls._fields) and all(
            callable(getattr(obj, m, None)) for m in cls._methods
        )

    def missing(cls, obj: Any) -> list[str]:
        """What ``obj`` lacks to satisfy this interface (empty when it does)."""
        return [f for f in cls._fields if not hasattr(obj, f)] + [
            f"{m}()" for m in cls._methods if not callable(getattr(obj, m, None))
        ]

    def __repr__(cls) -> str:
        return f"<interface {cls.__name__}>"


def make_interface(
    name: str, fields: dict[str, tuple[Any, Any]], methods: list[str], doc: str | None
) -> type:
    return DanaInterface(name, (), {"_fields": tuple(fields), "_methods": tuple(methods), "__doc__": doc})


class ReceiverFunction:
    """A receiver method that is also callable as a function: ``area(c)`` as well as ``c.area()``.

    Dispatches on the first argument's type, so ``def (c: Circle) area()`` and
    ``def (r: Rect) area()`` can share the name.
    """

    def __init__(self, name: str):
        self.__name__ = name
        self._impls: dict[type, Callable[..., Any]] = {}

    def add(self, types_: tuple[type, ...], fn: Callable[..., Any]) -> None:
        for t in types_:
            self._impls[t] = fn

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        for cls in type(obj).__mro__:
            fn = self._impls.get(cls)
            if fn is not None:
                return fn(obj, *args, **kwargs)
        want = " | ".join(t.__name__ for t in self._impls)
        raise TypeError(f"{self.__name__}() got a {type(obj).__name__}, want {want}")

    def __repr__(self) -> str:
        return f"<receiver function {self.__name__}>"


def receiver_types(annotation: Any) -> tuple[type, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(a for a in typing.get_args(annotation) if isinstance(a, type))
    if isinstance(annotation, type):
        return (annotation,)
    raise TypeError(f"receiver type must be a struct or a union of structs, got {annotation!r}")


def attach_receiver(
    registry: dict[str, ReceiverFunction], name: str, annotation: Any, fn: Callable[..., Any]
) -> ReceiverFunction:
    """Attaches ``fn`` as method ``name`` of the receiver's struct types; returns the dispatcher."""
    types_ = receiver_types(annotation)
    for t in types_:
        if issubclass(t, DanaStruct):
            setattr(t, name, fn)
    dispatcher = registry.get(name)
    if dispatcher is None:
        dispatcher = registry[name] = ReceiverFunction(name)
    dispatcher.add(types_, fn)
    return dispatcher
