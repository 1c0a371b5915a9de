"""The LALR driver: runs Lark's parse table and calls the tree builder's methods on each reduction.

Lark's own loop (``ParserState.feed_token``) builds a ``Tree`` per reduction through a chain of
wrappers (child filter, single-child expansion, position propagation), hashes a ``Rule`` per
reduction, and then the builder walked the whole tree once more. For a 100,000-statement program
that was most of the compile time. Here the table is flattened once into ints, a reduction of a
one-symbol pass-through rule (``?term: factor``: most reductions of an expression) only swaps the
state on top of the stack, and every other reduction calls the builder method for its rule with
the children Lark would have given it (the same filtering, inlining of ``_rules`` and ``[x]``
placeholders) and the rule's position, tracked on a parallel stack as Lark's
``propagate_positions`` tracks it (a node starts where the first of its children's text starts).

Lexing uses Lark's contextual lexer's own compiled scanners (the terminals allowed in the state on
top of our stack) in one local loop, as ``BasicLexer.next_token`` does but without its per-token
attribute traffic. Errors stay Lark's: where no terminal matches, Lark's lexer is asked to lex
from that very position and raises what it would have; a missing action raises ``UnexpectedToken``;
syntax_errors.py words both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedToken
from lark.lexer import LexerState
from lark.parsers.lalr_analysis import Shift
from lark.utils import TextSlice

__all__ = ["Pos", "Tables", "drive"]

Pos = tuple[int, int, int, int] | None
"""(line, column, end line, end column) of a value's text, as Lark counts; None for none."""

_INLINE, _EXPAND1, _BUILD = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Rule:
    size: int
    origin: str
    kind: int
    include: tuple[tuple[int, bool, int], ...]
    """(child index, inline its list, Nones to put before it) for each kept child."""
    trailing: int
    """Nones after the last kept child (absent ``[x]`` at the end)."""
    method: str
    passthrough: bool
    """A one-symbol rule whose value is its child's, position and all (only the state changes)."""
    pick: tuple[int, ...] | None
    """The kept children's indices when nothing is inlined or inserted (the common case)."""


class Tables:
    """The parse table of one Lark instance, flattened for ``drive``."""

    def __init__(self, lark: Lark):
        frontend = lark.parser
        table = frontend.parser.parser.parse_table
        self.frontend = frontend
        self.start_states: dict[str, int] = dict(table.start_states)
        self.end_states: dict[str, int] = dict(table.end_states)
        rules: list[_Rule] = []
        index: dict[Any, int] = {}
        self.actions: dict[int, dict[str, int]] = {}
        self.gotos: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            acts: dict[str, int] = {}
            gotos: dict[str, int] = {}
            for symbol, (action, arg) in row.items():
                if action is Shift:
                    (acts if symbol.isupper() or symbol.startswith("$") else gotos)[symbol] = arg
                else:
                    if arg not in index:
                        index[arg] = len(rules)
                        rules.append(_compile_rule(arg, lark.options.maybe_placeholders))
                    acts[symbol] = ~index[arg]
            self.actions[state] = acts
            self.gotos[state] = gotos
        self.rules = tuple(rules)
        self.chains: dict[tuple[int, int, str], int] = {}
        """``chain`` results, filled as programs are parsed (bounded by the table's size)."""
        connector = frontend.lexer  # PostLexConnector(ContextualLexer, the indenter)
        self.contextual = connector.lexer
        self.postlex = connector.postlexer
        scanners: dict[int, tuple] = {}
        self.scanners: dict[int, tuple] = {}
        for state, lexer in self.contextual.lexers.items():
            key = id(lexer)
            if key not in scanners:
                mres = tuple(lexer.scanner._mres)  # builds the scanner and lexer.callback
                scanners[key] = (mres, lexer.ignore_types, lexer.newline_types, dict(lexer.callback))
            self.scanners[state] = scanners[key]

    def chain(self, below: int, top: int, token: str) -> int:
        """The state after every pass-through reduction ``token`` causes from ``top`` over
        ``below`` (each swaps the top state for the goto of ``below``)."""
        while True:
            act = self.actions[top].get(token)
            if act is None or act >= 0 or not self.rules[~act].passthrough:
                return top
            top = self.gotos[below][self.rules[~act].origin]

    def expected(self, state: int) -> set[str]:
        return {s for s in self.actions[state] if s.isupper()}


def _compile_rule(rule: Any, placeholders: bool) -> _Rule:
    """What Lark's ParseTreeBuilder does for ``rule`` (maybe_create_child_filter and friends)."""
    opts = rule.options
    expansion = rule.expansion
    empty = opts.empty_indices if placeholders else ()
    if empty:
        runs = "".join(str(int(b)) for b in empty).split("0")
        before = [len(r) for r in runs]
    else:
        before = [0] * (len(expansion) + 1)
    include = []
    pending = 0
    for i, sym in enumerate(expansion):
        pending += before[i]
        if opts.keep_all_tokens or not (sym.is_term and sym.filter_out):
            include.append((i, not sym.is_term and sym.name.startswith("_"), pending))
            pending = 0
    pending += before[len(expansion)]
    origin = rule.origin.name
    if origin.startswith("_"):
        kind = _INLINE
    elif opts.expand1 and not rule.alias:
        kind = _EXPAND1
    else:
        kind = _BUILD
    plain = not pending and not any(inline or nones for _, inline, nones in include)
    # `?term: factor` passes its child on; so does `_stmt: _simple_stmt` (one inlined list).
    passthrough = (
        len(expansion) == 1
        and len(include) == 1
        and not include[0][2]
        and not pending
        and ((kind == _EXPAND1 and not include[0][1]) or (kind == _INLINE and include[0][1]))
    )
    method = str(rule.alias or opts.template_source or origin)
    pick = tuple(i for i, _, _ in include) if plain else None
    return _Rule(len(expansion), origin, kind, tuple(include), pending, method, passthrough, pick)


def _span(ps: list[Pos]) -> Pos:
    """The text a reduction covers: its first positioned child's start to its last one's end."""
    first = next((p for p in ps if p is not None), None)
    if first is None:
        return None
    last = next(p for p in reversed(ps) if p is not None)
    return (first[0], first[1], last[2], last[3])


def _lex(tables: Tables, text: str, stack: list[int]):
    """The tokens of ``text``, each lexed with the terminals of the state on top of ``stack``
    (Lark's ContextualLexer and BasicLexer.next_token, line for line, in one loop)."""
    scanners = tables.scanners
    new = Token._future_new
    pos, line, line_start, end = 0, 1, 0, len(text)
    last = None
    while pos < end:
        mres, ignore, newlines, callback = scanners[stack[-1]]
        for mre in mres:
            m = mre.match(text, pos)
            if m:
                break
        else:
            _lark_error(tables, text, stack, pos, line, line_start, last)
        value = m.group(0)
        kind = m.lastgroup
        column = pos - line_start + 1
        start, start_line = pos, line
        if kind in newlines:
            n = value.count("\n")
            if n:
                line += n
                line_start = pos + value.rindex("\n") + 1
        pos += len(value)
        if kind in ignore and kind not in callback:
            continue
        tok = new(kind, value, start, start_line, column, line, pos - line_start + 1, pos)
        if kind in callback:
            tok = callback[kind](tok)
        if kind not in ignore:
            last = tok
            yield tok


def _lark_error(tables: Tables, text: str, stack: list[int], pos: int, line: int, line_start: int, last):
    """Raises what Lark's lexer raises at ``pos`` (UnexpectedCharacters, or UnexpectedToken for a
    terminal that exists but is not allowed here)."""
    state = LexerState(TextSlice.cast_from(text), last_token=last)
    counter = state.line_ctr
    counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
    counter.column = pos - line_start + 1
    for _ in tables.contextual.lex(state, _Top(stack)):
        break
    raise AssertionError(f"Lark's lexer accepts what ours did not at {line}:{pos - line_start + 1}")


class _Top:
    """What Lark's contextual lexer asks the parser: the state on top of the stack."""

    __slots__ = ("stack",)

    def __init__(self, stack: list[int]):
        self.stack = stack

    @property
    def position(self) -> int:
        return self.stack[-1]


def drive(tables: Tables, text: str, start: str, build: Callable[[str], Callable[[Pos, list], Any]]) -> Any:
    """Parses ``text`` from ``start``; ``build(method)`` is the builder method for a rule name,
    called as ``method(position, children)``. Raises Lark's UnexpectedInput errors."""
    actions, gotos, rules = tables.actions, tables.gotos, tables.rules
    end_state = tables.end_states[start]
    stack = [tables.start_states[start]]
    vals: list[Any] = []
    poss: list[Pos] = []
    methods: dict[str, Callable[[Pos, list], Any]] = {}
    tokens = tables.postlex.process(_lex(tables, text, stack))

    def reduce(r: _Rule) -> None:
        size = r.size
        if size:
            kids = vals[-size:]
            ps = poss[-size:]
            del vals[-size:], poss[-size:], stack[-size:]
            pos, last = ps[0], ps[-1]
            if pos is None or last is None:
                pos = _span(ps)
            elif size > 1:
                pos = (pos[0], pos[1], last[2], last[3])
        else:
            kids, pos = [], None
        pick = r.pick
        if pick is not None:
            children = kids if len(pick) == size else [kids[i] for i in pick]
        else:
            children = []
            for i, inline, nones in r.include:
                if nones:
                    children += [None] * nones
                if inline:
                    if children:
                        children += kids[i]
                    else:
                        children = kids[i]  # reused: left-recursive lists grow in place
                else:
                    children.append(kids[i])
            if r.trailing:
                children += [None] * r.trailing
        if r.kind == _INLINE:
            value = children
        elif r.kind == _EXPAND1 and len(children) == 1:
            value = children[0]
        else:
            method = methods.get(r.method)
            if method is None:
                method = methods[r.method] = build(r.method)
            value = method(pos, children)
        stack.append(gotos[stack[-1]][r.origin])
        vals.append(value)
        poss.append(pos)

    chains = tables.chains
    token = None
    for token in tokens:
        ttype = token.type
        while True:
            top = stack[-1]
            act = actions[top].get(ttype)
            if act is None:
                raise UnexpectedToken(token, tables.expected(top), state=None)
            if act >= 0:
                stack.append(act)
                vals.append(token)
                poss.append((token.line, token.column, token.end_line, token.end_column))
                break
            r = rules[~act]
            if r.passthrough:
                # A run of pass-through reductions keeps the state below and so ends in the same
                # state for the same (below, top, token): looked up once, then remembered.
                key = (stack[-2], top, ttype)
                final = chains.get(key)
                if final is None:
                    final = chains[key] = tables.chain(stack[-2], top, ttype)
                stack[-1] = final
            else:
                reduce(r)
    end = Token.new_borrow_pos("$END", "", token) if token is not None else Token("$END", "", 0, 1, 1)
    while True:
        act = actions[stack[-1]].get("$END")
        if act is None:
            raise UnexpectedToken(end, tables.expected(stack[-1]), state=None)
        if act >= 0:  # pragma: no cover - the end is never shifted in an LALR table
            raise UnexpectedToken(end, tables.expected(stack[-1]), state=None)
        r = rules[~act]
        if r.passthrough:
            stack[-1] = gotos[stack[-2]][r.origin]
        else:
            reduce(r)
        if stack[-1] == end_state:
            return vals[-1]
