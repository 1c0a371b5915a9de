"""Turns an exception raised by running Dana code into a DanaRuntimeError with Dana positions.

Compiled Dana code objects carry the .na filename and Dana line/column on every instruction, so
the traceback already holds the Dana call stack; this module reads it (``co_positions``) and
drops the frames of danaflow's own Python code.
"""

from __future__ import annotations

import types
from collections import OrderedDict

from danaflow.errors import (
    DanaflowError,
    DanaNameError,
    DanaRuntimeError,
    Location,
    ResourceLimitError,
    SandboxError,
)

from .names import user_name, user_text
from .runtime import StepLimitExceeded, TimeoutExpired

__all__ = ["register_source", "source_line", "to_dana_error"]

_SOURCES: OrderedDict[str, list[str]] = OrderedDict()


def register_source(filename: str, source: str) -> None:
    """Remembers a compiled program's lines so errors can show them."""
    _SOURCES[filename] = source.splitlines()
    _SOURCES.move_to_end(filename)
    if len(_SOURCES) > 256:
        _SOURCES.popitem(last=False)


def source_line(filename: str, line: int) -> str | None:
    """The text of ``line`` of a registered Dana source, or None."""
    lines = _SOURCES.get(filename)
    if lines is None or not 0 < line <= len(lines):
        return None
    return lines[line - 1]


def _is_dana(code: types.CodeType) -> bool:
    return code.co_filename in _SOURCES


def _location(tb: types.TracebackType) -> Location:
    code = tb.tb_frame.f_code
    line, col = tb.tb_lineno, 0
    try:
        positions = list(code.co_positions())
        pos = positions[tb.tb_lasti // 2]
        if pos[0] is not None:
            line = pos[0]
        col = (pos[2] or 0) + 1
    except (IndexError, ValueError):
        pass
    lines = _SOURCES.get(code.co_filename, [])
    text = lines[line - 1] if 0 < line <= len(lines) else None
    return Location(code.co_filename, line, col, text)


def dana_stack(tb: types.TracebackType | None) -> list[tuple[str, Location]]:
    stack = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if _is_dana(code):
            name = "<main>" if code.co_name == "_dana_main" else user_name(code.co_name)
            if name == "_dana_expr":
                name = "<expression>"
            stack.append((name, _location(tb)))
        tb = tb.tb_next
    return stack


_MAX_MESSAGE = 4000


def _message(exc: BaseException) -> str:
    """The text of ``exc``, cut to a readable length, without trusting its args to print.

    An exception whose args nest 200,000 levels deep makes ``str()`` raise RecursionError; the
    host's error reporting must never be the thing that fails.
    """
    try:
        if isinstance(exc, KeyError) and len(exc.args) == 1:
            arg = exc.args[0]
            text = arg if isinstance(arg, str) and arg.startswith("no ") else repr(arg)
        else:
            text = str(exc)
    except (RecursionError, MemoryError):
        text = f"<a {type(exc).__name__} whose message is nested too deeply to show>"
    except Exception as inner:
        text = f"<a {type(exc).__name__} whose message could not be shown: {type(inner).__name__}>"
    text = user_text(text)  # Python's words about `dana·_x` are about the user's `_x`
    if len(text) > _MAX_MESSAGE:
        text = f"{text[:_MAX_MESSAGE]}... ({len(text) - _MAX_MESSAGE} more characters not shown)"
    return text or type(exc).__name__


def to_dana_error(
    exc: BaseException, *, timeout: float | None = None, max_steps: int | None = None
) -> DanaflowError:
    """The DanaflowError to report for ``exc`` raised while Dana code ran."""
    stack = dana_stack(exc.__traceback__)
    location = stack[-1][1] if stack else None
    if isinstance(exc, TimeoutExpired):
        return ResourceLimitError(
            f"timeout: the program ran longer than {timeout:g} s",
            location=location,
            stack=stack,
            error_type="TimeoutError",
        )
    if isinstance(exc, StepLimitExceeded):
        return ResourceLimitError(
            f"step budget of {max_steps} steps (loop iterations and calls) exhausted",
            location=location,
            stack=stack,
            error_type="StepLimitError",
        )
    if isinstance(exc, DanaRuntimeError):
        if exc.location is None and location is not None:
            exc.location = location
        if not exc.stack:
            exc.stack = stack
        return exc
    if isinstance(exc, DanaflowError):
        if exc.location is None and location is not None:
            exc.location = location
        return exc
    cls: type[DanaRuntimeError] = DanaRuntimeError
    if isinstance(exc, NameError):
        cls = DanaNameError
    elif isinstance(exc, PermissionError):
        cls = SandboxError
    err = cls(_message(exc), location=location, stack=stack, error_type=type(exc).__name__)
    err.__cause__ = exc
    return err
