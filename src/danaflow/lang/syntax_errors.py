"""Turns Lark's parse errors into DanaSyntaxError: "got X, want Y" at file:line:col.

Kept apart from the parser because it is about wording: which terminals to name, and how to fold
the dozen tokens that can start an expression into the single word "expression".
"""

from __future__ import annotations

from collections.abc import Callable

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from danaflow.errors import DanaSyntaxError, Location

__all__ = ["syntax_error"]

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
    local_lines = text.splitlines()
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
