"""The FunctionRegistry: the Python functions a host program exposes to Dana code.

Dana's own functions are ordinary lexical names and never live here; builtins live in
``builtins.py``. An unscoped name resolves to the program's own (lexical) names first, then to
builtins and registered functions, and only then falls back to the ``local:``/``private:``/
``public:``/``system:`` state; a program's own definitions always win.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from danaflow.errors import DanaflowError

__all__ = ["FunctionRegistry", "RegisteredFunction"]


@dataclass(frozen=True, slots=True)
class RegisteredFunction:
    """A Python callable exposed to Dana under ``name``."""

    name: str
    func: Callable[..., Any]
    pass_context: bool = False
    """When true the callable gets the running SandboxContext as its first argument."""
    description: str = ""


class FunctionRegistry:
    """Maps Dana-visible names to Python callables.

    Names must be valid Dana identifiers that do not start with ``_`` (the sandbox refuses those
    names in source, so such a function could never be called).
    """

    def __init__(self, functions: dict[str, Callable[..., Any]] | None = None):
        self._functions: dict[str, RegisteredFunction] = {}
        for name, func in (functions or {}).items():
            self.register(name, func)

    def register(
        self,
        name: str,
        func: Callable[..., Any],
        *,
        pass_context: bool = False,
        description: str = "",
        overwrite: bool = True,
    ) -> Callable[..., Any]:
        """Registers ``func`` as ``name``; returns ``func`` so it can serve as a decorator body."""
        if not name.isidentifier() or name.startswith("_"):
            raise DanaflowError(
                f"cannot register function {name!r}: want an identifier not starting with '_'"
            )
        if not callable(func):
            raise DanaflowError(f"cannot register {name!r}: got {type(func).__name__}, want a callable")
        if not overwrite and name in self._functions:
            raise DanaflowError(f"function {name!r} is already registered")
        self._functions[name] = RegisteredFunction(
            name, func, pass_context, description or (func.__doc__ or "")
        )
        return func

    def function(self, name: str | None = None, *, pass_context: bool = False):
        """A decorator form of ``register``."""

        def deco(func: Callable[..., Any]) -> Callable[..., Any]:
            return self.register(name or func.__name__, func, pass_context=pass_context)

        return deco

    def unregister(self, name: str) -> None:
        self._functions.pop(name, None)

    def get(self, name: str) -> RegisteredFunction | None:
        return self._functions.get(name)

    def has(self, name: str) -> bool:
        return name in self._functions

    def names(self) -> list[str]:
        return sorted(self._functions)

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __iter__(self) -> Iterator[RegisteredFunction]:
        return iter(list(self._functions.values()))

    def __len__(self) -> int:
        return len(self._functions)

    def copy(self) -> FunctionRegistry:
        new = FunctionRegistry()
        new._functions = dict(self._functions)
        return new
