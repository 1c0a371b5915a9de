"""Python modules as Dana imports them: curated namespaces, not module objects.

``import re`` in Dana binds a Namespace holding exactly the members policy.CURATED_MODULES lists,
so nothing a module happens to import (``statistics.repeat``, ``json.codecs``) or define
(``collections.UserString``) is reachable. ``random`` is the run's own ``random.Random``, so
``random.seed()`` never changes the process's generator. Modules the embedding program allows
explicitly (``allow_python_modules``) are exposed whole, but still without ``_`` names or
module-valued attributes.
"""

from __future__ import annotations

import importlib
import itertools
import random as _random
import types
from collections.abc import Callable
from typing import Any

from danaflow.errors import SandboxError

from .policy import CURATED_MODULES

__all__ = ["Namespace", "load_module"]


def _stoppable(make: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps an infinite C iterator (itertools.count/cycle/repeat) in a Python generator, so the
    interpreter's checks (the in-process timeout) run while ``sum(count())`` consumes it."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Not `yield from`: only resuming after a plain yield runs the interpreter's checks.
        for item in make(*args, **kwargs):  # noqa: UP028
            yield item

    wrapper.__name__ = make.__name__
    return wrapper


_WRAPPED: dict[str, dict[str, Callable[..., Any]]] = {
    "itertools": {name: _stoppable(getattr(itertools, name)) for name in ("count", "cycle", "repeat")},
}


class Namespace:
    """A read-only bag of functions and constants that reads like a module (``math.sqrt``)."""

    __slots__ = ("_hidden", "_members", "_name")

    def __init__(self, name: str, members: dict[str, Any], hidden: frozenset[str] = frozenset()):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", members)
        object.__setattr__(self, "_hidden", hidden)
        """Names the real module has that Dana is not offered (refused, not merely missing)."""

    def __getattr__(self, attr: str) -> Any:
        members = object.__getattribute__(self, "_members")
        try:
            return members[attr]
        except KeyError:
            name = object.__getattribute__(self, "_name")
            if attr in object.__getattribute__(self, "_hidden"):
                offered = ", ".join(sorted(members))
                raise SandboxError(
                    f"{name}.{attr} is not available in the Dana sandbox; {name} offers: {offered}",
                    error_type="SandboxError",
                ) from None
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise SandboxError("modules are read-only in Dana", error_type="SandboxError")

    def __delattr__(self, attr: str) -> None:
        raise SandboxError("modules are read-only in Dana", error_type="SandboxError")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_members"))

    def __repr__(self) -> str:
        return f"<module {object.__getattribute__(self, '_name')}>"


def _curated(name: str) -> Namespace:
    if name == "random":
        rng = _random.Random()
        members = {m: getattr(rng, m) for m in CURATED_MODULES["random"]}
        return Namespace(name, members, _hidden(_random, members))
    module = importlib.import_module(name)
    wrapped = _WRAPPED.get(name, {})
    members = {m: wrapped.get(m) or getattr(module, m) for m in CURATED_MODULES[name] if hasattr(module, m)}
    return Namespace(name, members, _hidden(module, members))


def _hidden(module: types.ModuleType, members: dict[str, Any]) -> frozenset[str]:
    return frozenset(a for a in dir(module) if a not in members)


def _whole(name: str, allowed: frozenset[str]) -> Namespace:
    module = importlib.import_module(name)
    members: dict[str, Any] = {}
    for attr in dir(module):
        if attr.startswith("_"):
            continue
        value = getattr(module, attr)
        if isinstance(value, types.ModuleType):
            if value.__name__ in allowed:
                members[attr] = load_module(value.__name__, allowed)
            continue
        members[attr] = value
    return Namespace(name, members, _hidden(module, members))


def load_module(name: str, allowed: frozenset[str]) -> Namespace:
    """The namespace ``import name`` binds; the caller has checked that ``name`` is allowed."""
    if name in CURATED_MODULES:
        return _curated(name)
    return _whole(name, allowed)
