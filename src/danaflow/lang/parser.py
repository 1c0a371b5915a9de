"""Parses Dana source into the syntax tree of ``ast.py``, every node stamped with its Location.

Lark's LALR table and lexer do the parsing, with an Indenter for Python-style blocks; lalr.py
drives the table and calls the builder here on each reduction, which only builds tree nodes.
f-strings are split here too, because their embedded expressions are parsed with the same grammar
(start symbol ``eval_input``) and must report positions inside the string.
"""

from __future__ import annotations

import ast as pyast
import contextvars
import functools
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedInput

from danaflow.errors import DanaSyntaxError, Location

from . import ast as na
from .fstring_scan import match_brace, top_level_split
from .lalr import Pos, Tables, drive
from .nesting import DanaIndenter, Scan, scanning
from .syntax_errors import refuse_nul, syntax_error, text_lines

__all__ = ["MAX_KEYWORDS", "parse", "parse_expression"]

MAX_KEYWORDS = 1000
"""The most keyword arguments one call may pass."""


_REF_LAMBDAS: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "danaflow_ref_lambdas", default=frozenset()
)
"""Offsets of the ``lambda`` keywords of the text being parsed that start the reference form."""

_LAMBDA_SCAN = re.compile(
    r"""(?P<str>[rRbBuUfF]{0,2}(?:"{3}(?:\\.|[^\\])*?"{3}|'{3}(?:\\.|[^\\])*?'{3}"""
    r"""|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))"""
    r"""|(?P<comment>\#[^\n]*)|(?P<dc>::)|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<end>[\n;])"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"""
)


def reference_lambdas(text: str) -> frozenset[int]:
    """The offsets of the ``lambda`` keywords in ``text`` whose parameters a ``::`` ends.

    A lambda is the reference form when the next ``::`` at its own bracket depth comes before the
    brackets around it close, the statement ends, or another lambda starts at that depth: that is
    the only place a ``::`` can be (a slice's is inside its own brackets). Strings and comments
    are skipped. Linear, and only run on text that has both ``lambda`` and ``::``.
    """
    if "::" not in text or "lambda" not in text:
        return frozenset()
    found: set[int] = set()
    pending: dict[int, int] = {}  # bracket depth -> offset of a lambda not yet decided
    depth = 0
    for m in _LAMBDA_SCAN.finditer(text):
        kind = m.lastgroup
        if kind == "word":
            if m.group() == "lambda":
                pending[depth] = m.start()
        elif kind == "dc":
            start = pending.pop(depth, None)
            if start is not None:
                found.add(start)
        elif kind == "open":
            depth += 1
        elif kind == "close":
            pending.pop(depth, None)
            depth = max(depth - 1, 0)
        elif kind == "end" and (depth == 0 or m.group() == ";"):
            pending.pop(depth, None)
    return frozenset(found)


class _Postlex(DanaIndenter):
    """The indenter, then the one retyping the grammar needs: the ``lambda`` of the reference
    form becomes LAMBDA_REF (decided from the text by ``reference_lambdas``)."""

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        tokens = super().process(stream)
        refs = _REF_LAMBDAS.get()
        return _retype(tokens, refs) if refs else tokens


def _retype(tokens: Iterator[Token], refs: frozenset[int]) -> Iterator[Token]:
    for tok in tokens:
        if tok.type == "LAMBDA" and tok.start_pos in refs:
            tok = Token.new_borrow_pos("LAMBDA_REF", tok.value, tok)
        yield tok


@functools.cache
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    parser = Lark(
        grammar,
        parser="lalr",
        start=["file_input", "eval_input"],
        postlex=_Postlex(),
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )
    return parser


@functools.cache
def _tables() -> Tables:
    return Tables(_lark())


def _syntax_error(
    err: UnexpectedInput,
    text: str,
    filename: str,
    source_lines: list[str],
    line_offset: int = 0,
    col_offset: int = 0,
) -> DanaSyntaxError:
    return syntax_error(err, text, filename, source_lines, _lark().get_terminal, line_offset, col_offset)


def parse(source: str, filename: str = "<string>") -> na.Program:
    """Parses a whole program or module; raises DanaSyntaxError with file:line:col."""
    text = source if source.endswith("\n") else source + "\n"
    lines = text_lines(text)
    refuse_nul(text, filename, lines)
    scan = Scan(filename, lines)
    refs = _REF_LAMBDAS.set(reference_lambdas(text))
    builder = _Builder(filename, lines, fstring_depths=scan.fstring_depths)
    try:
        with scanning(scan):
            body = drive(_tables(), text, "file_input", builder.method)
    except UnexpectedInput as err:
        raise _syntax_error(err, text, filename, lines) from None
    finally:
        _REF_LAMBDAS.reset(refs)
    return na.Program(tuple(body), filename, source, loc=Location(filename, 1, 1))


def parse_expression(
    source: str,
    filename: str = "<expr>",
    line: int = 1,
    col: int = 1,
    source_lines: list[str] | None = None,
    depth: int = 0,
) -> na.Expr:
    """Parses one expression (templates and f-strings) that starts at (line, col) of its file.

    ``source_lines`` are the whole file's lines, for carets; by default the expression's own.
    ``depth`` is the nesting the expression starts at (an f-string field's is its string's).
    """
    text = source.replace("\n", " ")
    if source_lines is None:
        source_lines = [""] * (line - 1) + [" " * (col - 1) + text]
    refuse_nul(text, filename, source_lines, line - 1, col - 1)
    scan = Scan(filename, source_lines, line - 1, col - 1, base_depth=depth, outermost=depth == 0)
    refs = _REF_LAMBDAS.set(reference_lambdas(text))
    builder = _Builder(filename, source_lines, line - 1, col - 1, fstring_depths=scan.fstring_depths)
    try:
        with scanning(scan):
            return drive(_tables(), text, "eval_input", builder.method)
    except UnexpectedInput as err:
        raise _syntax_error(err, source, filename, source_lines, line - 1, col - 1) from None
    finally:
        _REF_LAMBDAS.reset(refs)


class _Builder:
    """Builds ast.py nodes as the parser reduces (lalr.drive); each method is named for its
    grammar rule and takes the rule's position (lalr.Pos) and its already built children."""

    def __init__(
        self,
        filename: str,
        source_lines: list[str],
        line_offset: int = 0,
        col_offset: int = 0,
        fstring_depths: dict[int, int] | None = None,
    ):
        self.filename = filename
        self.lines = source_lines
        """The whole file's lines; parsed text starts at (line_offset + 1, col_offset + 1)."""
        self.line_offset = line_offset
        self.col_offset = col_offset
        self.fstring_depths = fstring_depths if fstring_depths is not None else {}
        """Nesting depth at each f-string token (by offset), where its fields' depth starts."""

    def method(self, rule: str):
        """The method that builds ``rule``'s node."""
        return getattr(self, rule)

    # ---- positions
    def _global(self, line: int, col: int) -> tuple[int, int]:
        return line + self.line_offset, col + (self.col_offset if line == 1 else 0)

    def _loc(self, line: int, col: int) -> Location:
        gline, gcol = self._global(line, col)
        text = self.lines[gline - 1] if 0 < gline <= len(self.lines) else None
        return Location(self.filename, gline, gcol, text)

    def loc(self, pos: Pos) -> Location:
        if pos is None:
            return Location(self.filename)
        return self._loc(pos[0], pos[1])

    def tloc(self, tok: Token) -> Location:
        return self._loc(tok.line, tok.column)

    def error(self, message: str, loc: Location) -> DanaSyntaxError:
        return DanaSyntaxError(message, location=loc)

    # ---- program & suites
    def file_input(self, meta, children):
        return [c for c in children if c is not None]

    def eval_input(self, meta, children):
        return children[0]

    def suite(self, meta, children):
        return tuple(children)

    # ---- simple statements
    def expr_stmt(self, meta, c):
        return na.ExprStmt(c[0], loc=self.loc(meta))

    def assign(self, meta, c):
        return na.Assign(tuple(c[:-1]), c[-1], loc=self.loc(meta))

    def ann_assign(self, meta, c):
        return na.AnnAssign(c[0], c[1], c[2], loc=self.loc(meta))

    def aug_assign(self, meta, c):
        return na.AugAssign(c[0], str(c[1])[:-1], c[2], loc=self.loc(meta))

    def pass_stmt(self, meta, c):
        return na.Pass(loc=self.loc(meta))

    def break_stmt(self, meta, c):
        return na.Break(loc=self.loc(meta))

    def continue_stmt(self, meta, c):
        return na.Continue(loc=self.loc(meta))

    def return_stmt(self, meta, c):
        return na.Return(c[0], loc=self.loc(meta))

    def raise_stmt(self, meta, c):
        return na.Raise(c[0], c[1], loc=self.loc(meta))

    def assert_stmt(self, meta, c):
        return na.Assert(c[0], c[1], loc=self.loc(meta))

    def dotted_name(self, meta, c):
        return ".".join(str(t) for t in c)

    def dotted_as_name(self, meta, c):
        return (c[0], str(c[1]) if c[1] is not None else None)

    def import_as_name(self, meta, c):
        return (str(c[0]), str(c[1]) if c[1] is not None else None)

    def import_names(self, meta, c):
        return tuple(c)

    def import_stmt(self, meta, c):
        return na.Import(tuple(c), loc=self.loc(meta))

    def from_import(self, meta, c):
        return na.FromImport(c[0], c[1], loc=self.loc(meta))

    # ---- compound statements
    def if_stmt(self, meta, c):
        test, body, *rest = c
        orelse: tuple = ()
        elifs = [x for x in rest if isinstance(x, na.If)]
        else_ = rest[-1] if rest and not isinstance(rest[-1], na.If) else None
        orelse = else_ or ()
        for clause in reversed(elifs):
            orelse = (na.If(clause.test, clause.body, orelse, loc=clause.loc),)
        return na.If(test, body, orelse, loc=self.loc(meta))

    def elif_clause(self, meta, c):
        return na.If(c[0], c[1], (), loc=self.loc(meta))

    def else_clause(self, meta, c):
        return c[0]

    def finally_clause(self, meta, c):
        return c[0]

    def while_stmt(self, meta, c):
        return na.While(c[0], c[1], c[2] or (), loc=self.loc(meta))

    def for_targets(self, meta, c):
        if len(c) == 1 and not self._trailing_comma(meta):
            return c[0]
        return na.Tuple(tuple(c), loc=self.loc(meta))

    def _trailing_comma(self, pos: Pos) -> bool:
        if pos is None:
            return False
        gline, gcol = self._global(pos[2], pos[3])
        line = self.lines[gline - 1] if 0 < gline <= len(self.lines) else ""
        return line[gcol - 2 : gcol - 1] == ","

    def for_stmt(self, meta, c):
        return na.For(c[0], c[1], c[2], c[3] or (), loc=self.loc(meta))

    def except_clause(self, meta, c):
        return na.ExceptHandler(c[0], str(c[1]) if c[1] is not None else None, c[2], loc=self.loc(meta))

    def try_stmt(self, meta, c):
        body = c[0]
        handlers = tuple(x for x in c[1:] if isinstance(x, na.ExceptHandler))
        orelse, final = c[-2], c[-1]
        return na.Try(body, handlers, orelse or (), final or (), loc=self.loc(meta))

    def try_finally(self, meta, c):
        return na.Try(c[0], (), (), c[1], loc=self.loc(meta))

    def with_item(self, meta, c):
        return (c[0], c[1])

    def with_stmt(self, meta, c):
        return na.With(tuple(c[:-1]), c[-1], loc=self.loc(meta))

    def receiver(self, meta, c):
        return na.Receiver(str(c[0]), c[1], loc=self.loc(meta))

    def parameters(self, meta, c):
        seen: set[str] = set()
        for p in c:
            if p.name in seen:
                raise self.error(f"duplicate parameter {p.name!r}", p.loc)
            seen.add(p.name)
        return tuple(c)

    lambda_params = ref_lambda_params = parameters

    def plain_param(self, meta, c):
        if len(c) == 2:  # lambda parameter: NAME [= default]
            return na.Param(str(c[0]), "plain", None, c[1], loc=self.tloc(c[0]))
        return na.Param(str(c[0]), "plain", c[1], c[2], loc=self.tloc(c[0]))

    def star_param(self, meta, c):
        return na.Param(str(c[0]), "star", c[1] if len(c) > 1 else None, None, loc=self.tloc(c[0]))

    def starstar_param(self, meta, c):
        return na.Param(str(c[0]), "starstar", c[1] if len(c) > 1 else None, None, loc=self.tloc(c[0]))

    def funcdef(self, meta, c):
        receiver, name, params, returns, body = c
        return na.FuncDef(str(name), receiver, params or (), returns, body, loc=self.loc(meta))

    def decorator(self, meta, c):
        return c[0]

    def decorated(self, meta, c):
        return na.Decorated(tuple(c[:-1]), c[-1], loc=self.loc(meta))

    def decl_funcdef(self, meta, c):
        receiver, name, params, returns, value = c
        return na.DeclFuncDef(str(name), receiver, params or (), returns, value, loc=self.loc(meta))

    def field_def(self, meta, c):
        return na.FieldDef(str(c[0]), c[1], c[2], loc=self.loc(meta))

    def docstring_line(self, meta, c):
        parts: list = []
        for tok in c:
            parts.extend(self._string_parts(tok))
        if not all(isinstance(p, str) for p in parts):
            raise self.error("a docstring cannot be an f-string", self.tloc(c[0]))
        return ("doc", "".join(parts))

    def pass_line(self, meta, c):
        return None

    def struct_def(self, meta, c):
        name, *members = c
        fields = tuple(m for m in members if isinstance(m, na.FieldDef))
        self._no_duplicates([f.name for f in fields], fields, "field")
        doc = next((m[1] for m in members if isinstance(m, tuple)), None)
        return na.StructDef(str(name), fields, doc, loc=self.loc(meta))

    def _fields_and_doc(self, members) -> tuple[tuple[na.FieldDef, ...], str | None]:
        fields = tuple(m for m in members if isinstance(m, na.FieldDef))
        doc = next((m[1] for m in members if isinstance(m, tuple)), None)
        return fields, doc

    def agent_blueprint_def(self, meta, c):
        _kw, name, *members = c
        fields, doc = self._fields_and_doc(members)
        self._no_duplicates([f.name for f in fields], fields, "field")
        return na.AgentBlueprintDef(str(name), fields, doc, loc=self.loc(meta))

    def resource_def(self, meta, c):
        _kw, name, *members = c
        fields, doc = self._fields_and_doc(members)
        self._no_duplicates([f.name for f in fields], fields, "field")
        return na.ResourceDef(str(name), fields, doc, loc=self.loc(meta))

    def field_override(self, meta, c):
        return na.FieldOverride(str(c[0]), c[1], loc=self.loc(meta))

    def agent_def(self, meta, c):
        _kw, name, blueprint, *members = c
        fields, doc = self._fields_and_doc(members)
        overrides = tuple(m for m in members if isinstance(m, na.FieldOverride))
        named = [*fields, *overrides]
        self._no_duplicates([m.name for m in named], named, "field")
        base = None
        if blueprint is not None:
            first, *rest = blueprint.split(".")
            base = na.Name(first, loc=self.loc(meta))
            for part in rest:
                base = na.Attribute(base, part, loc=self.loc(meta))
        return na.AgentDef(str(name), base, fields, overrides, doc, loc=self.loc(meta))

    def method_sig(self, meta, c):
        return na.MethodSig(str(c[0]), c[1] or (), c[2], loc=self.loc(meta))

    def embedded_interface(self, meta, c):
        first, *rest = c[0].split(".")
        node: na.Expr = na.Name(first, loc=self.loc(meta))
        for part in rest:
            node = na.Attribute(node, part, loc=self.loc(meta))
        return node

    def interface_def(self, meta, c):
        name, *members = c
        fields = tuple(m for m in members if isinstance(m, na.FieldDef))
        methods = tuple(m for m in members if isinstance(m, na.MethodSig))
        embeds = tuple(m for m in members if isinstance(m, na.Expr))
        doc = next((m[1] for m in members if isinstance(m, tuple)), None)
        return na.InterfaceDef(str(name), fields, methods, doc, embeds, loc=self.loc(meta))

    def _no_duplicates(self, names, nodes, what):
        seen = set()
        for n, node in zip(names, nodes, strict=True):
            if n in seen:
                raise self.error(f"duplicate {what} {n!r}", node.loc)
            seen.add(n)

    # ---- expressions
    def testlist_tuple(self, meta, c):
        return na.Tuple(tuple(x for x in c if x is not None), loc=self.loc(meta))

    def test(self, meta, c):
        return na.IfExp(c[1], c[0], c[2], loc=self.loc(meta))

    def lambdef(self, meta, c):
        params = c[0] or ()
        return na.Lambda(params, c[-1], loc=self.loc(meta))

    def ref_lambdef(self, meta, c):
        _kw, params, body = c
        return na.Lambda(params or (), body, loc=self.loc(meta))

    def or_test(self, meta, c):
        return na.BoolOp("or", tuple(c), loc=self.loc(meta))

    def and_test(self, meta, c):
        return na.BoolOp("and", tuple(c), loc=self.loc(meta))

    def not_test(self, meta, c):
        return na.Not(c[0], loc=self.loc(meta))

    def comp_op(self, meta, c):
        return " ".join(str(t) for t in c)

    def comparison(self, meta, c):
        return na.Compare(c[0], tuple(c[1::2]), tuple(c[2::2]), loc=self.loc(meta))

    def _fold(self, meta, c, op):
        node = c[0]
        for right in c[1:]:
            node = na.BinOp(node, op, right, loc=node.loc)
        return node

    def expr(self, meta, c):
        return self._fold(meta, c, "|")

    def pipeline(self, meta, c):
        return self._fold(meta, c, "|")

    def captured_stage(self, meta, c):
        return na.CapturedStage(c[0], str(c[1]), loc=self.tloc(c[1]))

    def xor_expr(self, meta, c):
        return self._fold(meta, c, "^")

    def and_bits(self, meta, c):
        return self._fold(meta, c, "&")

    def arith_expr(self, meta, c):
        node = c[0]
        for op, right in zip(c[1::2], c[2::2], strict=True):
            node = na.BinOp(node, str(op), right, loc=node.loc)
        return node

    shift_expr = term = arith_expr

    def factor(self, meta, c):
        return na.UnaryOp(str(c[0]), c[1], loc=self.loc(meta))

    def power(self, meta, c):
        return na.BinOp(c[0], "**", c[2], loc=self.loc(meta))

    def call(self, meta, c):
        func, args = c
        pos, kws = [], []
        for a in args or ():
            if isinstance(a, na.Keyword):
                kws.append(a)
            else:
                if kws and not isinstance(a, na.Starred):
                    raise self.error("got a positional argument after keyword arguments", a.loc)
                pos.append(a)
        if len(kws) > MAX_KEYWORDS:
            # CPython's compile() takes time quadratic in a call's keywords (20,000: 10 s).
            raise self.error(
                f"got {len(kws)} keyword arguments in one call, want at most {MAX_KEYWORDS} "
                "(pass a dict with **)",
                kws[MAX_KEYWORDS].loc,
            )
        names = [k.name for k in kws if k.name is not None]
        if len(names) != len(set(names)):
            dup = next(n for n in names if names.count(n) > 1)
            raise self.error(f"keyword argument {dup!r} repeated", self.loc(meta))
        return na.Call(func, tuple(pos), tuple(kws), loc=self.loc(meta))

    def arguments(self, meta, c):
        return c

    def pos_arg(self, meta, c):
        return c[0]

    def genexp_arg(self, meta, c):
        return na.GenExp(c[0], c[1], loc=self.loc(meta))

    def kw_arg(self, meta, c):
        return na.Keyword(str(c[0]), c[1], loc=self.tloc(c[0]))

    def star_arg(self, meta, c):
        return na.Starred(c[0], loc=self.loc(meta))

    def starstar_arg(self, meta, c):
        return na.Keyword(None, c[0], loc=self.loc(meta))

    def getitem(self, meta, c):
        return na.Subscript(c[0], c[1], loc=self.loc(meta))

    def getattr(self, meta, c):
        return na.Attribute(c[0], str(c[1]), loc=self.tloc(c[1]))

    def subscript_tuple(self, meta, c):
        return na.Tuple(tuple(x for x in c if x is not None), loc=self.loc(meta))

    def slice(self, meta, c):
        return na.Slice(c[0], c[1], c[2], loc=self.loc(meta))

    def step_slice(self, meta, c):
        return na.Slice(c[0], None, c[2], loc=self.loc(meta))

    def name(self, meta, c):
        return na.Name(str(c[0]), loc=self.tloc(c[0]))

    def scoped_name(self, meta, c):
        scope, _, name = str(c[0]).partition(":")
        return na.ScopedName(scope, name, loc=self.tloc(c[0]))

    def number(self, meta, c):
        tok = c[0]
        if tok.type == "FLOAT_NUMBER":
            return na.Const(float(tok), loc=self.tloc(tok))
        try:
            return na.Const(int(tok, 0), loc=self.tloc(tok))
        except ValueError:  # past Python's int-to-text limit (only decimal literals have one)
            digits = sum(ch.isdigit() for ch in tok)
            raise self.error(
                f"integer literal too long: got {digits} digits, want at most {sys.get_int_max_str_digits()}",
                self.tloc(tok),
            ) from None

    def string(self, meta, c):
        return c[0]

    def strings(self, meta, c):
        parts: list = []
        for tok in c:
            parts.extend(self._string_parts(tok))
        if all(isinstance(p, str) for p in parts):
            return na.Const("".join(parts), loc=self.tloc(c[0]))
        merged: list = []
        for p in parts:
            if isinstance(p, str) and merged and isinstance(merged[-1], str):
                merged[-1] += p
            else:
                merged.append(p)
        return na.FString(tuple(merged), loc=self.tloc(c[0]))

    def empty_tuple(self, meta, c):
        return na.Tuple((), loc=self.loc(meta))

    def paren(self, meta, c):
        return c[0]

    def genexp(self, meta, c):
        return na.GenExp(c[0], c[1], loc=self.loc(meta))

    def list_items(self, meta, c):
        return tuple(x for x in c if x is not None)

    set_items = list_items

    def list_lit(self, meta, c):
        return na.List(c[0] or (), loc=self.loc(meta))

    def set_lit(self, meta, c):
        return na.Set(c[0], loc=self.loc(meta))

    def starred(self, meta, c):
        return na.Starred(c[0], loc=self.loc(meta))

    def dict_items(self, meta, c):
        return tuple(x for x in c if x is not None)

    def kv_pair(self, meta, c):
        return (c[0], c[1])

    def dict_unpack(self, meta, c):
        return (None, c[0])

    def dict_lit(self, meta, c):
        items = c[0] or ()
        return na.Dict(tuple(k for k, _ in items), tuple(v for _, v in items), loc=self.loc(meta))

    def listcomp(self, meta, c):
        return na.ListComp(c[0], c[1], loc=self.loc(meta))

    def setcomp(self, meta, c):
        return na.SetComp(c[0], c[1], loc=self.loc(meta))

    def dictcomp(self, meta, c):
        return na.DictComp(c[0], c[1], c[2], loc=self.loc(meta))

    def comp_for(self, meta, c):
        gens: list[na.Comprehension] = []
        for clause in c:
            if isinstance(clause, na.Comprehension):
                gens.append(clause)
            else:
                last = gens[-1]
                gens[-1] = na.Comprehension(last.target, last.iter, (*last.ifs, clause), loc=last.loc)
        return tuple(gens)

    def comp_loop(self, meta, c):
        return na.Comprehension(c[0], c[1], (), loc=self.loc(meta))

    def comp_if(self, meta, c):
        return c[0]

    def const_true(self, meta, c):
        return na.Const(True, loc=self.loc(meta))

    def const_false(self, meta, c):
        return na.Const(False, loc=self.loc(meta))

    def const_none(self, meta, c):
        return na.Const(None, loc=self.loc(meta))

    def pipe_value(self, meta, c):
        return na.PipeValue(loc=self.tloc(c[0]))

    # ---- strings and f-strings
    def _string_parts(self, tok: Token) -> list:
        raw = str(tok)
        m = re.match(r"[A-Za-z]*", raw)
        prefix = m.group(0).lower() if m else ""
        if "b" in prefix:
            raise self.error("bytes literals are not supported", self.tloc(tok))
        if "f" not in prefix:
            try:
                return [pyast.literal_eval(raw)]
            except (SyntaxError, ValueError) as exc:
                raise self.error(f"bad string literal: {exc}", self.tloc(tok)) from None
        quote_len = 3 if raw[len(prefix) : len(prefix) + 3] in ('"""', "'''") else 1
        quote = raw[len(prefix) : len(prefix) + quote_len]
        body_start = len(prefix) + quote_len
        body = raw[body_start:-quote_len]
        plain_prefix = prefix.replace("f", "")
        return self._fstring_parts(body, tok, body_start, plain_prefix, quote)

    def _literal(self, text: str, prefix: str, quote: str, tok: Token) -> str:
        text = text.replace("{{", "{").replace("}}", "}")
        try:
            return pyast.literal_eval(f"{prefix}{quote}{text}{quote}")
        except (SyntaxError, ValueError) as exc:
            raise self.error(f"bad string literal: {exc}", self.tloc(tok)) from None

    def _position_in(self, tok: Token, offset: int) -> tuple[int, int]:
        raw = str(tok)[:offset]
        newlines = raw.count("\n")
        if newlines:
            return tok.line + newlines, len(raw) - raw.rfind("\n")
        return tok.line, tok.column + offset

    def _fstring_parts(self, body: str, tok: Token, base: int, prefix: str, quote: str) -> list:
        parts: list = []
        i, n, lit_start = 0, len(body), 0
        while i < n:
            ch = body[i]
            if ch in "{}" and i + 1 < n and body[i + 1] == ch:
                i += 2
                continue
            if ch == "}":
                raise self.error("f-string: single '}' is not allowed", self._tok_loc(tok, base + i))
            if ch != "{":
                i += 1
                continue
            if i > lit_start:
                parts.append(self._literal(body[lit_start:i], prefix, quote, tok))
            end = match_brace(body, i)
            if end < 0:
                raise self.error("f-string: got '{' without a closing '}'", self._tok_loc(tok, base + i))
            parts.extend(self._formatted(body[i + 1 : end], tok, base + i + 1, prefix, quote))
            i = lit_start = end + 1
        if lit_start < n:
            parts.append(self._literal(body[lit_start:], prefix, quote, tok))
        return parts

    def _tok_loc(self, tok: Token, offset: int) -> Location:
        line, col = self._position_in(tok, offset)
        return self._loc(line, col)

    def _formatted(self, inner: str, tok: Token, offset: int, prefix: str, quote: str) -> list:
        """One ``{...}`` of an f-string: its FormattedValue, after the text ``expr=`` for the
        self-documenting form ``{x=}`` (which, like Python, shows ``repr`` unless told otherwise)."""
        expr_end = top_level_split(inner)
        expr_text = inner[:expr_end]
        rest = inner[expr_end:]
        shown = None
        trimmed = expr_text.rstrip()
        if trimmed.endswith("=") and not trimmed.endswith(("==", "!=", "<=", ">=")) and trimmed[:-1].strip():
            shown = expr_text
            expr_text = trimmed[:-1]
        conversion = spec = None
        if rest.startswith("!"):
            conversion = rest[1:2]
            if conversion not in ("r", "s", "a"):
                raise self.error(
                    f"f-string: got conversion {rest[:2]!r}, want !r, !s or !a",
                    self._tok_loc(tok, offset + expr_end),
                )
            rest = rest[2:]
        if rest.startswith(":"):
            spec_parts = self._fstring_parts(
                rest[1:], tok, offset + expr_end + 1 + (2 if conversion else 0), prefix, quote
            )
            spec = na.FString(tuple(spec_parts), loc=self._tok_loc(tok, offset + expr_end))
        elif rest.strip():
            raise self.error(
                f"f-string: got {rest!r}, want '!conversion' or ':format'",
                self._tok_loc(tok, offset + expr_end),
            )
        if not expr_text.strip():
            raise self.error("f-string: empty expression", self._tok_loc(tok, offset))
        line, col = self._global(*self._position_in(tok, offset))
        stripped = expr_text.lstrip()
        col += len(expr_text) - len(stripped)
        depth = self.fstring_depths.get(tok.start_pos, 0) + 1
        text = stripped.rstrip()
        try:
            expr = parse_expression(text, self.filename, line, col, self.lines, depth)
        except DanaSyntaxError:
            if "," not in text:
                raise
            # `{2, 4, 6}` is a tuple, as in Python: parse it parenthesised, one column to the left.
            expr = parse_expression(f"({text})", self.filename, line, max(col - 1, 1), self.lines, depth)
        if shown is not None and conversion is None and spec is None:
            conversion = "r"
        value = na.FormattedValue(expr, conversion, spec, loc=self._tok_loc(tok, offset))
        return [shown, value] if shown is not None else [value]
