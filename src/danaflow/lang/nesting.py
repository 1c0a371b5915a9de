"""How deeply Dana source may nest, measured between the lexer and the parser.

The LALR parser never recurses, but the tree builder, the compiler and CPython's ``compile()``
recurse once per level of nesting, so a deep program used to end in a RecursionError (or a C stack
overflow). The token pass here (the indenter: it turns leading whitespace into _INDENT/_DEDENT)
also counts depth — open brackets, blocks, and the operator chains that build left-nested trees —
and refuses a program past ``MAX_DEPTH`` at the token that goes too deep, before any recursive
pass runs. Programs within the limit that still outgrow the caller's stack run again in a thread
with a large stack and a raised recursion limit (``call_with_deep_stack``).
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from lark import Token
from lark.lark import PostLex

from danaflow.errors import DanaSyntaxError, Location

__all__ = [
    "MAX_DEPTH",
    "DanaIndenter",
    "Scan",
    "call_with_deep_stack",
    "scanning",
    "too_deep",
]

T = TypeVar("T")

MAX_DEPTH = 1000
"""The deepest nesting a program may have; each bracket, block and chained operator is a level."""

_FRAMES_PER_LEVEL = 12
"""Python frames the recursive passes need per level (measured: depth 1,000 of every kind
compiles with a limit of 8,000; 5,000 is too few for nested lambdas and dicts)."""
_DEEP_RECURSION_LIMIT = 4000 + _FRAMES_PER_LEVEL * MAX_DEPTH
_DEEP_STACK_BYTES = 64 * 1024 * 1024
"""The deep thread's stack: virtual memory, only the pages the recursion touches are used
(depth 1,000 of every kind compiles in 4 MiB; the rest is margin)."""

_OPEN = frozenset({"LPAR", "LSQB", "LBRACE"})
_CLOSE = frozenset({"RPAR", "RSQB", "RBRACE"})
# Tokens that make the tree one level deeper than their left neighbour: binary operators fold
# left, `not`, unary signs, `lambda` and `if ... else` nest to the right, `.` and a closing bracket
# followed by more postfix (`f()()`, `a[0][0]`) nest to the left. `and`/`or` and comparisons are
# flat lists in the tree, so they do not count.
_CHAIN = frozenset(
    {"ADD_OP", "MUL_OP", "SHIFT_OP", "POW", "UNARY_OP", "VBAR", "CIRCUMFLEX", "AMPERSAND", "DOT", "NOT"}
    | {"IF", "LAMBDA"}
)
# Tokens after which a new expression starts at the same bracket level (list items, arguments,
# statements, the value of an assignment).
_RESET = frozenset({"COMMA", "SEMICOLON", "EQUAL", "AUGOP"})
_FSTRING_TYPES = frozenset({"STRING", "LONG_STRING"})


@dataclass(slots=True)
class Scan:
    """The state of one parse that the token pass reads and writes (the indenter is shared)."""

    filename: str = "<string>"
    lines: list[str] = field(default_factory=list)
    """The whole file's lines, for carets."""
    line_offset: int = 0
    col_offset: int = 0
    """Where the scanned text starts in its file (f-string fields, template expressions)."""
    base_depth: int = 0
    """The depth the scanned text starts at (an f-string field is as deep as its string)."""
    max_depth: int = 0
    deepest: tuple[int, int] = (1, 1)
    """Where ``max_depth`` was reached, in the scanned text's own coordinates."""
    fstring_depths: dict[int, int] = field(default_factory=dict)
    """Depth at each f-string token, keyed by its offset in the text."""
    outermost: bool = True
    """False for the fields of an f-string, so the program's own deepest point is remembered."""

    def location(self, line: int, col: int) -> Location:
        if line == 1:
            col += self.col_offset
        line += self.line_offset
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return Location(self.filename, line, col, text)

    def error(self, message: str, line: int, col: int) -> DanaSyntaxError:
        return DanaSyntaxError(message, location=self.location(line, col))


_CURRENT: contextvars.ContextVar[Scan | None] = contextvars.ContextVar("danaflow_scan", default=None)
_last_deepest = threading.local()


class scanning:
    """Context manager: makes ``scan`` the state the indenter uses for parses in this thread."""

    def __init__(self, scan: Scan):
        self.scan = scan
        self._token: contextvars.Token | None = None

    def __enter__(self) -> Scan:
        self._token = _CURRENT.set(self.scan)
        return self.scan

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _CURRENT.reset(self._token)
        if not self.scan.outermost:
            return
        _last_deepest.location = self.scan.location(*self.scan.deepest)
        _last_deepest.depth = self.scan.max_depth


def too_deep(depth: int, where: Location) -> DanaSyntaxError:
    """The one wording for a program nested past the limit."""
    return DanaSyntaxError(
        f"nesting too deep: got depth {depth}, want at most {MAX_DEPTH} "
        "(each bracket, block and chained operator is one level)",
        location=where,
    )


class DanaIndenter(PostLex):
    """Turns leading whitespace into _INDENT/_DEDENT, ignores newlines inside brackets, and
    refuses nesting past ``MAX_DEPTH``.

    Unlike lark's ``Indenter`` it keeps no state on itself: one instance serves every parse of the
    cached parser, from any thread. _NEWLINE also swallows comments, so a comment line never
    changes indentation.
    """

    always_accept = ("_NEWLINE",)
    tab_len = 8

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return _layout(stream, _CURRENT.get() or Scan())


def _layout(stream: Iterator[Token], scan: Scan) -> Iterator[Token]:
    levels = [0]  # the indentation of each open block
    chains = [0]  # chained operators at each open bracket level; [0] is the statement level
    depth = scan.base_depth  # blocks + open brackets + sum(chains)
    max_depth = scan.max_depth
    token = None
    for token in stream:
        t = token.type
        if t in _CHAIN:
            chains[-1] += 1
            depth += 1
        elif t in _RESET:
            depth -= chains[-1]
            chains[-1] = 0
        elif t in _OPEN:
            chains.append(0)
            depth += 1
        elif t in _CLOSE:
            if len(chains) > 1:
                depth -= chains.pop() + 1
            # A closing bracket followed by postfix nests to the left: count it as a chain link.
            chains[-1] += 1
            depth += 1
        elif t == "_NEWLINE":
            if len(chains) > 1:
                continue  # inside brackets a newline is only whitespace
            depth -= chains[0]
            chains[0] = 0
            yield token
            indent_str = token.rsplit("\n", 1)[-1]
            indent = indent_str.count(" ") + indent_str.count("\t") * DanaIndenter.tab_len
            if indent > levels[-1]:
                levels.append(indent)
                depth += 1
                if depth > max_depth:
                    max_depth = depth
                    scan.max_depth, scan.deepest = depth, (token.end_line, token.end_column)
                    if depth > MAX_DEPTH:
                        raise too_deep(depth, scan.location(token.end_line, token.end_column))
                yield Token.new_borrow_pos("_INDENT", indent_str, token)
                continue
            above = levels[-1]
            while indent < levels[-1]:
                above = levels.pop()
                depth -= 1
                yield Token.new_borrow_pos("_DEDENT", indent_str, token)
            if indent != levels[-1]:
                want = f"{levels[-1] + 1} or {above + 1}"
                raise scan.error(
                    f"got a dedent to column {indent + 1}, want column {want} "
                    "(the indentation of an enclosing block)",
                    token.end_line,
                    token.end_column,
                )
            continue
        elif t in _FSTRING_TYPES and token[0] not in "'\"" and "f" in token[:2].lower():
            scan.fstring_depths[token.start_pos] = depth
        if depth > max_depth:
            max_depth = depth
            scan.max_depth, scan.deepest = depth, (token.line, token.column)
            if depth > MAX_DEPTH:
                raise too_deep(depth, scan.location(token.line, token.column))
        yield token
    while len(levels) > 1:
        levels.pop()
        yield (
            Token.new_borrow_pos("_DEDENT", "", token)
            if token is not None
            else Token("_DEDENT", "", 0, 1, 1, 1, 1, 0)
        )


class _DeepThread(threading.local):
    active = False


_deep = _DeepThread()
_deep_lock = threading.Lock()


def call_with_deep_stack(fn: Callable[[], T]) -> T:
    """Calls ``fn`` again with room for ``MAX_DEPTH`` levels: in a thread with a large stack and a
    raised recursion limit; a RecursionError there becomes "nesting too deep".

    The recursion limit is process-wide, so it is raised only for the duration of the call and
    one deep call runs at a time. Called from inside a deep call, it reports the error at once.
    """
    if _deep.active:
        raise _nesting_error()
    box: dict[str, object] = {}
    deepest = getattr(_last_deepest, "location", None), getattr(_last_deepest, "depth", 0)

    def target() -> None:
        _deep.active = True
        _last_deepest.location, _last_deepest.depth = deepest  # until fn parses again
        try:
            box["value"] = fn()
        except RecursionError:
            box["error"] = _nesting_error()
        except BaseException as exc:  # handed to the calling thread as it is
            box["error"] = exc

    with _deep_lock:
        old_limit = sys.getrecursionlimit()
        old_size = threading.stack_size()
        sys.setrecursionlimit(max(old_limit, _DEEP_RECURSION_LIMIT))
        try:
            threading.stack_size(_DEEP_STACK_BYTES)
            try:
                thread = threading.Thread(target=target, name="danaflow-deep-compile")
                thread.start()
            finally:
                threading.stack_size(old_size)
            thread.join()
        finally:
            sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _nesting_error() -> DanaSyntaxError:
    where = getattr(_last_deepest, "location", None) or Location()
    depth = getattr(_last_deepest, "depth", 0)
    return DanaSyntaxError(
        f"nesting too deep to compile: got depth {depth}, want less nesting around here",
        location=where,
    )
