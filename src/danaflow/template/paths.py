"""Parses the paths of ``$var{}`` and ``$hier{}``: dotted names and ``[index]``, never expressions.

Template text is untrusted (DESIGN §8), so a path is read by this small strict parser and walked by
the engine; nothing in it reaches the expression compiler. An index is an integer literal, a quoted
string literal or a nested ``$var{path}`` (``files[$var{i}].path``). Names starting with ``_`` are
refused here, so a definition with one fails validation before anything runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_NESTING", "Key", "Name", "Path", "PathError", "Step", "VarKey", "parse_path"]

MAX_NESTING = 8
"""How deep ``$var{}`` may nest inside indexes (``a[$var{b[$var{c}]}]`` is depth 2)."""
_MAX_DIGITS = 18
_WANT_PATH = "want a path: names, [0], ['key'] or [$var{i}]"
_WANT_INDEX = "want an index: an integer, a quoted string or $var{...}"
_NAME = re.compile(r"[^\W\d]\w*")
_INT = re.compile(r"-?\d+")
_WS = re.compile(r"\s*")
_TOKEN = re.compile(r"\$\w*\{?|[^\W\d]\w*|-?\d+|\S")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


class PathError(ValueError):
    """A malformed path; ``offset`` is where (0-based) in the text the parser stopped."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Name:
    """``.name`` (or the first name): a mapping key, else a non-callable attribute."""

    name: str
    offset: int


@dataclass(frozen=True, slots=True)
class Key:
    """``[0]`` or ``['key']``: a literal index."""

    key: int | str
    offset: int


@dataclass(frozen=True, slots=True)
class VarKey:
    """``[$var{path}]``: an index read from a variable (it must hold an int or a str)."""

    target: Path
    offset: int
    """Where the nested ``$`` is."""

    @property
    def source(self) -> str:
        return f"$var{{{self.target}}}"


Step = Name | Key | VarKey


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path; it always starts with a Name."""

    steps: tuple[Step, ...]

    def names(self) -> list[str]:
        """The leading dotted names (what ``$hier{}`` matches against component ids)."""
        out: list[str] = []
        for step in self.steps:
            if not isinstance(step, Name):
                break
            out.append(step.name)
        return out

    def __str__(self) -> str:
        return describe(self.steps)


def describe(steps: tuple[Step, ...] | list[Step]) -> str:
    """Steps written back as path text (``a.b[0]['k'][$var{i}]``), for messages."""
    out: list[str] = []
    for step in steps:
        if isinstance(step, Name):
            out.append(f".{step.name}" if out else step.name)
        elif isinstance(step, Key):
            out.append(f"[{step.key!r}]")
        else:
            out.append(f"[{step.source}]")
    return "".join(out)


def parse_path(text: str, start: int = 0, *, kind: str | None = None, ref_start: int = 0) -> tuple[Path, int]:
    """Parses a path from ``text[start:]``.

    With ``kind`` ('var' or 'hier') the path is the body of ``$kind{`` at ``ref_start`` and ends at
    its closing brace, whose index is returned. Without it the path must fill the rest of ``text``
    (``result("node.outcome.text")``), and ``len(text)`` is returned.
    """
    return _Parser(text, kind, ref_start).path(start, kind, ref_start, 0)


class _Parser:
    __slots__ = ("kind", "ref_start", "text")

    def __init__(self, text: str, kind: str | None, ref_start: int):
        self.text = text
        self.kind = kind
        self.ref_start = ref_start

    def path(self, i: int, kind: str | None, ref_start: int, depth: int) -> tuple[Path, int]:
        text = self.text
        first, i = self.name(self.ws(i), _WANT_PATH, kind, ref_start)
        steps: list[Step] = [first]
        while True:
            i = self.ws(i)
            if i >= len(text):
                if kind is None:
                    return Path(tuple(steps)), i
                raise self.bad(i, _WANT_PATH, kind, ref_start)
            c = text[i]
            if c == "}" and kind is not None:
                return Path(tuple(steps)), i
            if c == ".":
                step, i = self.name(self.ws(i + 1), "want a name after '.'", kind, ref_start)
            elif c == "[":
                step, i = self.index(i, kind, ref_start, depth)
            else:
                want = _WANT_PATH + (" (expressions belong in $expr{})" if c in "(+-*/%<>=!&|^~," else "")
                raise self.bad(i, want, kind, ref_start)
            steps.append(step)

    def name(self, i: int, want: str, kind: str | None, ref_start: int) -> tuple[Name, int]:
        m = _NAME.match(self.text, i)
        if m is None:
            raise self.bad(i, want, kind, ref_start)
        if m.group().startswith("_"):
            raise PathError(
                f"got {m.group()!r} in {self.shown(i)}, want a public name "
                "(names starting with '_' are private)",
                i,
            )
        return Name(m.group(), i), m.end()

    def index(self, i: int, kind: str | None, ref_start: int, depth: int) -> tuple[Step, int]:
        text = self.text
        j = self.ws(i + 1)
        c = text[j] if j < len(text) else ""
        step: Step
        if c.isdigit() or c == "-":
            m = _INT.match(text, j)
            if m is None:
                raise self.bad(j, _WANT_INDEX, kind, ref_start)
            if len(m.group().lstrip("-")) > _MAX_DIGITS:
                raise PathError(
                    f"got a {len(m.group())}-digit index in {self.shown(j)}, "
                    f"want at most {_MAX_DIGITS} digits",
                    j,
                )
            step, k = Key(int(m.group()), j), m.end()
        elif c in ("'", '"'):
            value, k = self.string(j)
            step = Key(value, j)
        elif text.startswith("$var{", j):
            if depth >= MAX_NESTING:
                raise PathError(
                    f"got $var{{}} nested {depth + 1} deep in {self.shown(j)}, want at most {MAX_NESTING}", j
                )
            target, k = self.path(j + 5, "var", j, depth + 1)
            step, k = VarKey(target, j), k + 1
        else:
            raise self.bad(j, _WANT_INDEX, kind, ref_start)
        k = self.ws(k)
        if k >= len(text) or text[k] != "]":
            raise self.bad(
                k, "want ']' (an index is one literal or $var{...}, not an expression)", kind, ref_start
            )
        return step, k + 1

    def string(self, j: int) -> tuple[str, int]:
        text = self.text
        quote = text[j]
        buf: list[str] = []
        k = j + 1
        while k < len(text):
            c = text[k]
            if c == "\\":
                esc = text[k + 1 : k + 2]
                if esc not in _ESCAPES:
                    raise PathError(f"got '\\{esc}' in {self.shown(k)}, want one of \\\\ \\' \\\" \\n \\t", k)
                buf.append(_ESCAPES[esc])
                k += 2
                continue
            if c == quote:
                return "".join(buf), k + 1
            if c == "\n":
                break
            buf.append(c)
            k += 1
        raise PathError(f"unterminated string in {self.shown(j)}: want a closing {quote}", j)

    def ws(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m is not None else i

    def bad(self, i: int, want: str, kind: str | None, ref_start: int) -> PathError:
        if i >= len(self.text):
            if kind is not None:
                return PathError(f"unterminated ${kind}{{: want a closing '}}'", ref_start)
            return PathError(f"got end of path in {self.shown(i)}, {want}", i)
        m = _TOKEN.match(self.text, i)
        token = m.group() if m is not None else self.text[i]
        return PathError(f"got {token!r} in {self.shown(i)}, {want}", i)

    def shown(self, i: int) -> str:
        """The reference being parsed, up to the brace that closes it (cut at 80 characters)."""
        text = self.text
        if self.kind is None:
            shown = repr(text)
        else:
            depth, end = 0, len(text)
            for k in range(self.ref_start, len(text)):
                c = text[k]
                if c == "\n":
                    end = k
                    break
                depth += (c == "{") - (c == "}")
                if c == "}" and depth <= 0:
                    end = k + 1
                    break
            shown = text[self.ref_start : end]
        return shown if len(shown) <= 80 else shown[:77] + "..."
