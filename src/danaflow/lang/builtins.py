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

from .policy import FORBIDDEN_NAMES
from .sandbox import SandboxContext
from .typespace import check_type
from .values import SAFE_EXCEPTIONS, capability_of, safe_exception, to_dana_value

__all__ = [
    "BUILTIN_NAMES",
    "DESIRED_TYPE",
    "FORBIDDEN_NAMES",
    "REASON_OPTIONS",
    "SAFE_BUILTINS",
    "check_model_choice",
    "checked_reason_options",
    "context_builtins",
    "host_call",
    "refuse_unnamed_model",
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


def poet(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@poet(...)``: accepted as a documented pass-through. The reference implementation's
    POET rewrites a function (and reverses its positional arguments, a defect); danaflow keeps
    the function as written."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]  # bare @poet
    return lambda fn: fn


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
    **SAFE_EXCEPTIONS,
    "type": _type,
    "poet": poet,
}


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
    check_type(target, "cast()")
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


def host_call(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    """``fn`` (host code) as Dana calls it: its result crosses as a value, its errors as fresh
    builtin exceptions, so no host object (a client, a path, a traceback) reaches the program."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except SandboxError:
            raise
        except Exception as exc:
            raise safe_exception(exc) from None
        return to_dana_value(result, f"{label}()")

    call.__name__ = label.rsplit(".", 1)[-1]
    return call


def check_model_choice(ctx: SandboxContext, options: dict[str, Any]) -> None:
    """``reason(model=...)`` from untrusted code names one of the host's aliases, never a spec.

    A spec or URL would send the host's API key (and the prompt) wherever the program says.
    """
    aliases_of = getattr(ctx.reasoner, "model_aliases", None)
    aliases = tuple(aliases_of()) if callable(aliases_of) else ()
    refuse_unnamed_model(options.get("model"), aliases, allow_specs=ctx.policy.allow_model_specs)


def refuse_unnamed_model(model: Any, aliases: tuple[str, ...], *, allow_specs: bool = False) -> None:
    """Raises SandboxError unless ``model`` is None, one of ``aliases``, or (``allow_specs``) a str."""
    if model is None or (isinstance(model, str) and (model in aliases or allow_specs)):
        return
    offered = ", ".join(aliases) or "none (the host offers no model aliases)"
    raise SandboxError(
        f"reason(model={str(model)[:80]!r}) is refused: Dana may only pick a model the host named; "
        f"want one of: {offered}",
        error_type="SandboxError",
    )


REASON_OPTIONS = frozenset({"system", "temperature", "max_tokens", "model", "timeout", "max_reasks"})
_MAX_REASKS = 5
_MAX_REASON_TIMEOUT = 600.0
_MAX_TOKENS = 32_768


def checked_reason_options(options: dict[str, Any], remaining: float | None = None) -> dict[str, Any]:
    """The options of a ``reason()`` from untrusted code, refused or capped.

    Only the documented options pass (a ``__dana_desired_type`` smuggled in here would reach
    pydantic as a string); ``max_reasks`` is at most 5 and ``timeout`` at most 600 s and the
    time the program has left, so a program stopped at its deadline cannot keep the host calling
    the model.
    """
    out = {}
    for key, value in options.items():
        if not isinstance(key, str) or key not in REASON_OPTIONS:
            raise SandboxError(
                f"reason() option {str(key)[:60]!r} is not allowed: "
                f"want one of {', '.join(sorted(REASON_OPTIONS))}",
                error_type="SandboxError",
            )
        out[key] = value
    if "max_reasks" in out:
        out["max_reasks"] = max(0, min(int(out["max_reasks"]), _MAX_REASKS))
    if "max_tokens" in out and out["max_tokens"] is not None:
        out["max_tokens"] = max(1, min(int(out["max_tokens"]), _MAX_TOKENS))
    limit = _MAX_REASON_TIMEOUT if remaining is None else max(min(_MAX_REASON_TIMEOUT, remaining), 0.1)
    if "timeout" in out:
        out["timeout"] = min(float(out["timeout"] or limit), limit)
    elif remaining is not None and remaining < _MAX_REASON_TIMEOUT:
        out["timeout"] = limit
    for key in ("system",):  # model= is checked against the host's aliases (check_model_choice)
        if key in out and out[key] is not None and not isinstance(out[key], str):
            raise TypeError(f"reason() option {key!r}: got {type(out[key]).__name__}, want str")
    return out


def context_builtins(
    ctx: SandboxContext, output: list[str], logs: list[dict[str, Any]], levels: dict[str, int] | None = None
) -> dict[str, Callable]:
    """The builtins bound to one run: output and logs are appended to the given lists.

    ``levels`` is the run's own log thresholds (``log_level()`` changes only this run's).
    """
    levels = levels if levels is not None else {}
    levels.setdefault("", _LOG.getEffectiveLevel())

    def print_(*args: Any, sep: str = " ", end: str = "\n") -> None:
        text = sep.join(str(a) for a in args) + end
        output.append(text)
        ctx.write_output(text)

    def log(message: Any, level: str = "info", **fields: Any) -> None:
        num = _LEVELS.get(str(level).lower())
        if num is None:
            raise ValueError(f"log level {level!r}: want one of {', '.join(_LEVELS)}")
        if levels[""] > num:
            return
        record = {"level": str(level).lower(), "message": str(message), **fields}
        logs.append(record)
        ctx.emit_log(record)

    def log_level(level: str, namespace: str | None = None) -> None:
        num = _LEVELS.get(str(level).lower())
        if num is None:
            raise ValueError(f"log level {level!r}: want one of {', '.join(_LEVELS)}")
        levels[str(namespace) if namespace else ""] = num

    def reason(prompt: Any, *, __dana_desired_type: Any = None, **options: Any) -> Any:
        desired = __dana_desired_type if __dana_desired_type is not None else DESIRED_TYPE.get()
        if desired is not None:
            check_type(desired, "reason(): the desired type")
        options = checked_reason_options(options)
        check_model_choice(ctx, options)
        if ctx.reasoner is None:
            raise DanaflowError(
                "reason() has no LLM configured: run the program through danaflow.run(), or set "
                "SandboxContext(reasoner=LLMResource(...))"
            )
        return to_dana_value(ctx.reasoner.reason(str(prompt), desired, **options), "reason()")

    capabilities: dict[str, Any] = {}

    def use(name: str) -> Any:
        if not isinstance(name, str):
            raise TypeError(f"use() got {type(name).__name__}, want a resource name (str)")
        cap = capabilities.get(name)
        if cap is not None:
            return cap
        try:
            resource = ctx.resources[name]
        except KeyError:
            available = ", ".join(sorted(ctx.resources)) or "none"
            raise KeyError(f"no resource named {name!r}; available: {available}") from None
        cap = capabilities[name] = capability_of(name, resource, host_call)
        return cap

    print_.__name__ = "print"
    return {"print": print_, "log": log, "log_level": log_level, "reason": reason, "use": use, "cast": _cast}


if _LOG.level == logging.NOTSET:
    _LOG.setLevel(logging.INFO)
