"""What crosses into Dana from the host: values, records and capabilities, never live objects.

A host object handed to Dana as itself is a door: ``use("tool").argv = [...]`` rewrites a tool,
``type(path)`` is ``PosixPath``, ``llm.provider.base_url`` redirects a bearer token. So every host
value crosses as one of three things:

- a **value**: plain data copied (None, bool, int, float, complex, str, bytes, lists, tuples,
  dicts, sets, dates and times), or a Dana struct instance;
- a **Record**: a read-only dict whose keys read as attributes, for host objects with fields
  (pydantic models, dataclasses, node results);
- a **Capability**: a handle with an explicit allow-list of methods and no settable attribute,
  for resources and other things that act.

Exceptions raised by host code cross as fresh builtin exceptions carrying a message only.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from danaflow.errors import DanaflowError, SandboxError

__all__ = [
    "SAFE_EXCEPTIONS",
    "Capability",
    "Record",
    "capability_of",
    "safe_exception",
    "to_dana_value",
]

_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes})
_TIMES = (_dt.date, _dt.time, _dt.timedelta, _dt.timezone, Decimal, uuid.UUID)
_MAX_DEPTH = 200


class Record(dict):
    """A host object's fields as Dana sees them: keys read as attributes, nothing can be changed.

    ``r.outcome.text`` and ``r["outcome"]["text"]`` both work; a real dict method (``r.items()``)
    wins over a key of the same name, as in templates.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"record has no field {name!r}") from None

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a record from the host is read-only: copy it with dict(...) to change it")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Record({dict.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (Record, (dict(self),))


class Capability:
    """A resource as Dana reaches it: ``name``, ``description`` and the allow-listed methods.

    Built from plain functions (the host's wrappers, or a worker's stubs that call the host), so
    nothing behind it is reachable; setting any attribute is a SandboxError.
    """

    __slots__ = ("_description", "_kind", "_methods", "_name")

    def __init__(
        self, name: str, methods: Mapping[str, Callable[..., Any]], description: str = "", kind: str = ""
    ):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_methods", dict(methods))
        object.__setattr__(self, "_description", description)
        object.__setattr__(self, "_kind", kind)

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    def __getattr__(self, attr: str) -> Any:
        methods = object.__getattribute__(self, "_methods")
        if attr in methods:
            return methods[attr]
        offered = ", ".join(sorted(methods)) or "none"
        raise AttributeError(f"resource {self._name!r} has no method {attr!r}; it offers: {offered}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        methods = object.__getattribute__(self, "_methods")
        if "call" not in methods:
            raise TypeError(f"resource {self._name!r} is not callable; it offers: {', '.join(self.methods)}")
        return methods["call"](*args, **kwargs)

    def __enter__(self) -> Any:
        methods = object.__getattribute__(self, "_methods")
        if "enter" not in methods:
            raise TypeError(f"resource {self._name!r} cannot be used in 'with': it offers no enter()")
        return methods["enter"]()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        methods = object.__getattribute__(self, "_methods")
        if "exit" in methods:
            methods["exit"](exc_type is not None)
        return False  # an error inside the block always propagates

    def __setattr__(self, attr: str, value: Any) -> None:
        raise SandboxError(
            f"cannot set {attr!r} on resource {self._name!r}: resources are read-only in Dana",
            error_type="SandboxError",
        )

    def __delattr__(self, attr: str) -> None:
        raise SandboxError(f"cannot delete {attr!r} of resource {self._name!r}", error_type="SandboxError")

    def __repr__(self) -> str:
        kind = f"{self._kind} " if self._kind else ""
        return f"<{kind}resource {self._name!r}: {', '.join(self.methods)}>"


SAFE_EXCEPTIONS: dict[str, type[BaseException]] = {
    e.__name__: e
    for e in (
        ArithmeticError,
        AssertionError,
        AttributeError,
        Exception,
        ImportError,
        IndexError,
        KeyError,
        LookupError,
        NameError,
        NotImplementedError,
        OverflowError,
        PermissionError,
        RecursionError,
        RuntimeError,
        StopIteration,
        TimeoutError,
        TypeError,
        UnboundLocalError,
        ValueError,
        ZeroDivisionError,
        MemoryError,
        ConnectionError,
        FileNotFoundError,
        OSError,
        UnicodeError,
    )
}
"""The exception classes Dana can see and catch; anything else a host raises arrives as RuntimeError."""


def _short(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def safe_exception(exc: BaseException) -> BaseException:
    """A fresh exception that says what ``exc`` said, holding no host object.

    Its class is the same when that class is a plain builtin Dana knows, else RuntimeError (or the
    nearest builtin base), so ``except ValueError`` keeps working on a host's ValueError subclass.
    """
    if isinstance(exc, DanaflowError):
        message = exc.message
    elif isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        message = exc.args[0]  # str() of a KeyError would add a layer of quotes each time it crosses
    else:
        try:
            message = str(exc)
        except Exception:
            message = f"<{type(exc).__name__}>"
    message = _short(message)
    for cls in type(exc).__mro__:
        if SAFE_EXCEPTIONS.get(cls.__name__) is cls and cls is not Exception:
            if cls is type(exc):
                return cls(message)
            return cls(f"{type(exc).__name__}: {message}")
    return RuntimeError(f"{type(exc).__name__}: {message}")


def to_dana_value(
    value: Any, where: str = "value", _depth: int = 0, _memo: dict[int, Any] | None = None
) -> Any:
    """``value`` as Dana may hold it (see the module docstring); TypeError for what cannot cross.

    Containers are copied, so Dana's changes never reach host objects. Shared sub-objects stay
    shared and cycles are kept (the memo), which also bounds the work to the value's size.
    """
    t = type(value)
    if t in _SCALARS:
        return value
    if _depth > _MAX_DEPTH:
        raise TypeError(f"{where}: nested more than {_MAX_DEPTH} levels deep")
    if _memo is None:
        _memo = {}
    key = id(value)
    if key in _memo:
        return _memo[key]
    d = _depth + 1
    if t is list:
        out: Any = []
        _memo[key] = out
        out.extend(to_dana_value(v, where, d, _memo) for v in value)
        return out
    if t is dict:
        out = {}
        _memo[key] = out
        for k, v in value.items():
            out[to_dana_value(k, where, d, _memo)] = to_dana_value(v, where, d, _memo)
        return out
    if t is tuple:
        return tuple(to_dana_value(v, where, d, _memo) for v in value)
    if t in (set, frozenset):
        return t(to_dana_value(v, where, d, _memo) for v in value)
    if isinstance(value, Record):  # copied too: Dana could change one through dict.update(r, ...)
        out = Record()
        _memo[key] = out
        dict.update(
            out,
            {to_dana_value(k, where, d, _memo): to_dana_value(v, where, d, _memo) for k, v in value.items()},
        )
        return out
    if _is_struct(value) or isinstance(value, Capability):
        return value
    if isinstance(value, enum.Enum):
        return to_dana_value(value.value, where, d, _memo)
    for base in (bool, int, float, complex, str, bytes):  # subclasses of the scalars
        if isinstance(value, base):
            return base(value)
    if isinstance(value, _TIMES):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return Record(
            {to_dana_value(k, where, d, _memo): to_dana_value(v, where, d, _memo) for k, v in value.items()}
        )
    dump = getattr(value, "model_dump", None)
    if callable(dump) and hasattr(type(value), "model_fields"):
        return Record({k: to_dana_value(v, where, d, _memo) for k, v in dump().items()})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return Record({k: to_dana_value(v, where, d, _memo) for k, v in fields.items()})
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return Record(
            {k: to_dana_value(v, where, d, _memo) for k, v in zip(value._fields, value, strict=True)}
        )
    for base in (list, tuple, set, frozenset):  # subclasses of the containers
        if isinstance(value, base):
            return to_dana_value(base(value), where, d, _memo)
    if isinstance(value, BaseException):
        return safe_exception(value)
    raise TypeError(
        f"{where}: a {t.__name__} cannot cross into Dana; only data crosses (str, numbers, lists, "
        "dicts, structs, records) — expose behaviour as a registered function or a resource"
    )


def _is_struct(value: Any) -> bool:
    return getattr(type(value), "__dana_fields__", None) is not None and hasattr(
        type(value), "__dana_model__"
    )


def capability_of(
    name: str, resource: Any, wrap: Callable[[Callable[..., Any], str], Callable[..., Any]]
) -> Capability:
    """The Capability for a host resource: its ``dana_methods``, each wrapped by ``wrap(fn, name)``.

    A resource that declares no ``dana_methods`` offers nothing: the allow-list is the host's
    explicit choice, never inferred from what happens to be public.
    """
    if isinstance(resource, Capability):
        return resource
    allowed: Iterable[str] | Mapping[str, str] = getattr(resource, "dana_methods", ()) or ()
    # A mapping names, for each method Dana sees, the attribute that implements it (so a resource
    # can offer Dana a checked variant: LLMResource's "reason" is its dana_reason).
    pairs = allowed.items() if isinstance(allowed, Mapping) else ((m, m) for m in allowed)
    methods = {}
    for method, attr in sorted(pairs):
        fn = getattr(resource, attr, None)
        if callable(fn):
            methods[method] = wrap(fn, f"{name}.{method}")
    description = getattr(resource, "description", "")
    kind = getattr(resource, "kind", "")
    return Capability(
        name,
        methods,
        description if isinstance(description, str) else "",
        kind if isinstance(kind, str) else "",
    )
