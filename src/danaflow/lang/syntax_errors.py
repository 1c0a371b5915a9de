"""Turns Lark's parse errors into DanaSyntaxError: "got X, want Y" at file:line:col.

Kept apart from the parser because it is about wording: which terminals to name, and how to fold
the dozen tokens that can start an expression into the single word "expression". The text-level
refusals that come before parsing live here too: bytes that are not UTF-8 and NUL characters.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import TypeVar

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from danaflow.errors import DanaflowError, DanaSyntaxError, Location

from .nesting import call_with_deep_stack

__all__ = ["decode_source", "front_end", "refuse_nul", "syntax_error", "text_lines"]

T = TypeVar("T")

_FRIENDLY = {
    "_NEWLINE": "newline",
    "_INDENT": "an indented block",
    "_DEDENT": "end of block",
    "$END": "end of input",
    "NAME": "name",
    "SCOPED_NAME": "scoped name",
    "AUGOP": "augmented assignment",
}
_EXPRESSION_STARTS = {
    "NAME",
    "SCOPED_NAME",
    "DEC_NUMBER",
    "HEX_NUMBER",
    "OCT_NUMBER",
    "BIN_NUMBER",
    "FLOAT_NUMBER",
    "STRING",
    "LONG_STRING",
    "PIPE_VALUE",
    "UNARY_OP",
    "LPAR",
    "LSQB",
    "LBRACE",
    "TRUE",
    "FALSE",
    "NULL",
    "NONE",
    "LAMBDA",
    "NOT",
}


def _describe(token_type: str, terminal: Callable[[str], object]) -> str:
    if token_type in _FRIENDLY:
        return _FRIENDLY[token_type]
    try:
        pattern = terminal(token_type).pattern
    except KeyError:
        return token_type.lower()
    if pattern.type == "str":
        return repr(pattern.value)
    return token_type.lower().replace("_", " ")


def _want(expected: set[str], terminal: Callable[[str], object]) -> str:
    names = set()
    collapse = len(expected & _EXPRESSION_STARTS) >= 3
    for t in expected:
        desc = _describe(t, terminal)
        if (collapse and t in _EXPRESSION_STARTS) or (
            collapse
            and desc
            in ("'True'", "'False'", "'None'", "'true'", "'false'", "'null'", "'none'", "'lambda'", "'not'")
        ):
            desc = "expression"
        names.add(desc)
    ordered = sorted(names, key=lambda n: (n != "expression", n))
    if len(ordered) > 6:
        ordered = [*ordered[:6], "…"]
    return ", ".join(ordered)


def syntax_error(
    err: UnexpectedInput,
    text: str,
    filename: str,
    source_lines: list[str],
    terminal: Callable[[str], object],
    line_offset: int = 0,
    col_offset: int = 0,
) -> DanaSyntaxError:
    """Converts Lark's error into ours; (line_offset, col_offset) place ``text`` in its file."""
    local_lines = text_lines(text)
    if local_lines and not local_lines[-1] and len(local_lines) > 1:
        local_lines.pop()
    line = getattr(err, "line", 0) or 0
    col = getattr(err, "column", 0) or 0
    at_end = False
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            got, at_end = "end of input", True
        elif tok.type in ("_INDENT", "_DEDENT"):
            got = "unexpected indentation" if tok.type == "_INDENT" else "unexpected dedent"
            # The indenter places these on the newline before them; report the indented line.
            if tok.end_line is not None and tok.end_column is not None:
                line, col = tok.end_line, tok.end_column
        elif tok.type == "_NEWLINE":
            got = "end of line"
        else:
            got = repr(str(tok))
        msg = f"got {got}, want {_want(err.expected, terminal)}"
    elif isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        msg = f"got unexpected character {text[pos]!r}" if pos < len(text) else "got unexpected end of input"
        if err.allowed:
            msg += f", want {_want(set(err.allowed), terminal)}"
    elif isinstance(err, UnexpectedEOF):
        msg, at_end = f"got end of input, want {_want(set(err.expected), terminal)}", True
    else:  # pragma: no cover - lark has no other subclasses today
        msg = str(err)
    if at_end or line <= 0:
        line = max(len(local_lines), 1)
        col = len(local_lines[-1]) + 1 if local_lines else 1
    if line == 1:
        col += col_offset
    line += line_offset
    source_line = source_lines[line - 1] if 0 < line <= len(source_lines) else None
    return DanaSyntaxError(msg, location=Location(filename, line, col, source_line))


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` as Lark numbers them: split at "\\n" only (``str.splitlines`` also
    splits at form feeds and other separators, which would shift every later line)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


def refuse_nul(
    text: str, filename: str, source_lines: list[str], line_offset: int = 0, col_offset: int = 0
) -> None:
    """Raises DanaSyntaxError at the first NUL character (Python refuses them too) or lone UTF-16
    surrogate (text that came through JSON as ``"\\ud800"``, which no file can hold) of ``text``."""
    m = _BAD_CHARACTER.search(text)
    if m is None:
        return
    index = m.start()
    line, col = _position(text, index)
    if line == 1:
        col += col_offset
    line += line_offset
    source_line = source_lines[line - 1] if 0 < line <= len(source_lines) else None
    if source_line is not None:
        source_line = _BAD_CHARACTER.sub(" ", source_line)
    got = "a NUL character (\\x00)" if m.group() == "\0" else f"a lone surrogate (U+{ord(m.group()):04X})"
    raise DanaSyntaxError(
        f"got {got}, want program text", location=Location(filename, line, col, source_line)
    )


def decode_source(data: bytes, filename: str) -> str:
    """Decodes a .na file's bytes as UTF-8 (a leading BOM is dropped); bytes that are not UTF-8
    are a DanaSyntaxError at the line and column of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8-sig")
        line, col = _position(good, len(good))
        bad = data[exc.start : exc.end].hex(" ")
        rest = data[exc.start :].split(b"\n", 1)[0].decode("utf-8", "replace")
        source_line = good[good.rfind("\n") + 1 :] + rest
        raise DanaSyntaxError(
            f"got bytes that are not UTF-8 (0x{bad}: {exc.reason}), want UTF-8 text",
            location=Location(filename, line, col, source_line),
        ) from None


# CPython's compile() refusals that Dana source can reach, reworded as "got X, want Y".
_PYTHON_MESSAGES = {
    "too many statically nested blocks": (
        "too many nested loops, try and with blocks: got more than CPython allows, want at most 20 "
        "counting the program's own"
    ),
    "multiple starred expressions in assignment": (
        "got more than one starred target in an assignment, want at most one"
    ),
}


def front_end(fn: Callable[[], T], filename: str, source: str = "") -> T:
    """Runs a parse-and-compile step so that only DanaflowErrors come out of it.

    A RecursionError runs the step again with a deep stack (``nesting.call_with_deep_stack``);
    a SyntaxError from CPython's ``compile()`` keeps its position (the compiler copies Dana lines
    and columns onto the Python tree); a ValueError or MemoryError is reported at the file.
    CPython's SyntaxWarnings ("perhaps you missed a comma?") are Python advice about generated
    code, so they are silenced (``catch_warnings`` is process-wide: a warning another thread
    raises meanwhile may be silenced too).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            try:
                return fn()
            except RecursionError:
                return call_with_deep_stack(fn)
    except DanaflowError:
        raise
    except SyntaxError as exc:
        message = _PYTHON_MESSAGES.get(exc.msg, f"cannot compile: {exc.msg}")
        line, col = exc.lineno or 0, exc.offset or 0
        lines = text_lines(source)
        text = lines[line - 1] if 0 < line <= len(lines) else None
        raise DanaSyntaxError(message, location=Location(filename, line, col, text)) from None
    except MemoryError:
        raise DanaSyntaxError(
            "program too large to compile: got out of memory, want a smaller program",
            location=Location(filename, 1, 1),
        ) from None
    except ValueError as exc:
        raise DanaSyntaxError(f"cannot compile: {exc}", location=Location(filename, 1, 1)) from None
