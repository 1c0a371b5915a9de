"""The builtins Dana code can call, and the safe ``str.format``.

Two kinds: ``SAFE_BUILTINS`` are plain Python objects shared by every run (len, range, the type
names, the exception classes); ``context_builtins`` are bound to one run's SandboxContext (print,
log, reason, use, cast). Deliberately absent: open, eval, exec, compile, getattr, setattr,
globals, vars, locals, input, ``__import__`` — each is a known sandbox escape or a side channel.
"""

from __future__ import annotations

import builtins as _py
import contextvars
import logging
import string
from collections.abc import Callable, Mapping
from typing import Any

from danaflow.errors import DanaflowError, SandboxError

from .sandbox import SandboxContext

__all__ = [
    "BUILTIN_NAMES",
    "DESIRED_TYPE",
    "FORBIDDEN_NAMES",
    "SAFE_BUILTINS",
    "context_builtins",
    "safe_format",
    "safe_format_map",
]

DESIRED_TYPE: contextvars.ContextVar[Any] = contextvars.ContextVar("dana_desired_type", default=None)
"""The caller's desired type while a typed assignment's call runs (``system:__dana_desired_type``)."""

_LOG = logging.getLogger("danaflow.dana")
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class _SafeFormatter(string.Formatter):
    """A formatter that allows ``{0}``, ``{name}`` and ``{0[key]}`` but no ``{0.attr}``."""

    def get_field(self, field_name: str, args, kwargs):
        import _string  # the stdlib's own field-name splitter

        first, rest = _string.formatter_field_name_split(field_name)
        rest = list(rest)
        if any(is_attr for is_attr, _ in rest):
            raise SandboxError(
                f"format field {field_name!r} is not allowed: attribute access in format strings is refused",
                error_type="SandboxError",
            )
        obj = self.get_value(first, args, kwargs)
        for _, key in rest:
            obj = obj[key]
        return obj, first


_FORMATTER = _SafeFormatter()


def safe_format(template: str, /, *args: Any, **kwargs: Any) -> str:
    if not isinstance(template, str):
        raise TypeError(f"format() got {type(template).__name__}, want str")
    return _FORMATTER.vformat(template, args, kwargs)


def safe_format_map(template: str, mapping: Mapping[str, Any], /) -> str:
    if not isinstance(template, str):
        raise TypeError(f"format_map() got {type(template).__name__}, want str")
    return _FORMATTER.vformat(template, (), mapping)


def _type(obj: Any, /, *more: Any) -> type:
    """``type(x)`` with one argument only: creating classes at run time is not Dana's business."""
    if more:
        raise SandboxError(
            "type() with several arguments (creating a class) is not allowed in the sandbox",
            error_type="SandboxError",
        )
    result = _py.type(obj)
    if issubclass(result, _py.type):
        # A metaclass (type itself, pydantic's) would create classes when called: hand back this
        # one-argument function instead, which reads the same (`type(int).__name__ == "type"`).
        return _type
    return result


_type.__name__ = "type"

_EXCEPTIONS = [
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
]

SAFE_BUILTINS: dict[str, Any] = {
    **{
        f.__name__: f
        for f in [
            abs,
            all,
            any,
            bin,
            bool,
            callable,
            chr,
            dict,
            divmod,
            enumerate,
            filter,
            float,
            format,
            frozenset,
            hex,
            int,
            isinstance,
            issubclass,
            iter,
            len,
            list,
            map,
            max,
            min,
            next,
            oct,
            ord,
            pow,
            range,
            repr,
            reversed,
            round,
            set,
            slice,
            sorted,
            str,
            sum,
            tuple,
            zip,
        ]
    },
    **{e.__name__: e for e in _EXCEPTIONS},
    "type": _type,
}


FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "globals",
        "vars",
        "locals",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "memoryview",
        "object",
        "super",
        "classmethod",
        "staticmethod",
        "property",
    }
)
"""Python builtins Dana refuses by name (escapes, side channels or class machinery)."""

CONTEXT_BUILTIN_NAMES = frozenset({"print", "log", "log_level", "reason", "use", "cast"})
BUILTIN_NAMES = frozenset(SAFE_BUILTINS) | CONTEXT_BUILTIN_NAMES
"""Names every run defines; the compiler resolves them without consulting the scopes."""


def _cast(target: Any, value: Any, /) -> Any:
    """Converts ``value`` to ``target``: Python's conversion for the scalar types, pydantic otherwise."""
    if target is bool and isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0", ""):
            return False
        raise ValueError(f"cast(bool, {value!r}): want true/false/yes/no/1/0")
    if target in (int, float, str, bool, list, tuple, set, dict):
        return target(value)
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(target).validate_python(value)
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(
            f"cast({getattr(target, '__name__', target)}, ...): {first.get('msg')}, got {value!r}"
        ) from None


def context_builtins(
    ctx: SandboxContext, output: list[str], logs: list[dict[str, Any]]
) -> dict[str, Callable]:
    """The builtins bound to one run: output and logs are appended to the given lists."""

    def print_(*args: Any, sep: str = " ", end: str = "\n") -> None:
        text = sep.join(str(a) for a in args) + end
        output.append(text)
        ctx.write_output(text)

    def log(message: Any, level: str = "info", **fields: Any) -> None:
        num = _LEVELS.get(str(level).lower())
        if num is None:
            raise ValueError(f"log level {level!r}: want one of {', '.join(_LEVELS)}")
        if _LOG.getEffectiveLevel() > num:
            return
        record = {"level": str(level).lower(), "message": str(message), **fields}
        logs.append(record)
        _LOG.log(num, str(message), extra={"dana_fields": fields})

    def log_level(level: str, namespace: str | None = None) -> None:
        num = _LEVELS.get(str(level).lower())
        if num is None:
            raise ValueError(f"log level {level!r}: want one of {', '.join(_LEVELS)}")
        logging.getLogger(f"danaflow.dana.{namespace}" if namespace else "danaflow.dana").setLevel(num)

    def reason(prompt: Any, *, __dana_desired_type: Any = None, **options: Any) -> Any:
        desired = __dana_desired_type if __dana_desired_type is not None else DESIRED_TYPE.get()
        if ctx.reasoner is None:
            raise DanaflowError(
                "reason() has no LLM configured: run the program through danaflow.run(), or set "
                "SandboxContext(reasoner=LLMResource(...))"
            )
        return ctx.reasoner.reason(str(prompt), desired, **options)

    def use(name: str) -> Any:
        try:
            return ctx.resources[name]
        except KeyError:
            available = ", ".join(sorted(ctx.resources)) or "none"
            raise KeyError(f"no resource named {name!r}; available: {available}") from None

    print_.__name__ = "print"
    return {"print": print_, "log": log, "log_level": log_level, "reason": reason, "use": use, "cast": _cast}


if _LOG.level == logging.NOTSET:
    _LOG.setLevel(logging.INFO)
