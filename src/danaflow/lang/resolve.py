"""Name resolution over Dana's own tree: each name stamped with its scope, each static name rule of
the sandbox checked, and every refusal of a program reported at once.

Dana scopes names as Python does (the compiler makes each def, lambda and comprehension a Python
function, and the program body one more), so a name is lexical when the function, lambda or
comprehension it is in, or one around it, binds it: assigns it anywhere in its body, takes it as
a parameter, defines, imports or catches it. Any other name is free, and the runtime looks it up
in builtins and registered functions, then ``local:``, ``private:``, ``public:``, ``system:``
(DESIGN §3). Deciding this on our tree, not on the generated Python, lets the compiler emit the
final Python in one pass and lets one walk apply policy.py's rules with Dana positions.

Errors are collected, like Starlark's ErrorList: a program with several refused names hears of
all of them (up to ``MAX_ERRORS``) from one ``danaflow check``.
"""

from __future__ import annotations

from dataclasses import dataclass

from danaflow.errors import DanaflowError, DanaSyntaxError, Location, SandboxError

from . import ast as na
from .builtins import BUILTIN_NAMES
from .policy import (
    attribute_refusal,
    field_refusal,
    identifier_refusal,
    method_refusal,
    scoped_refusal,
)

__all__ = [
    "ENCLOSING",
    "FREE",
    "LOCAL",
    "MAX_ERRORS",
    "TOP",
    "DanaSyntaxErrors",
    "Resolution",
    "SandboxErrors",
    "resolve_expression",
    "resolve_program",
]

MAX_ERRORS = 10
"""The most errors one resolution reports (the rest are counted)."""

LOCAL, ENCLOSING, TOP, FREE = "local", "enclosing", "top", "free"
"""The stamps of ``na.Name.scope``: bound by the innermost function, lambda or comprehension; by
one around it; by the program's body (seen from a function); by nothing lexical."""

_STRUCTS = (na.StructDef, na.AgentBlueprintDef, na.ResourceDef, na.AgentDef, na.InterfaceDef)
_WHAT = {
    na.StructDef: "struct",
    na.AgentBlueprintDef: "agent",
    na.AgentDef: "agent",
    na.ResourceDef: "resource",
    na.InterfaceDef: "interface",
}


@dataclass(frozen=True, slots=True)
class Resolution:
    """What resolution learnt of a program besides the stamps on its names."""

    top_level: frozenset[str]
    """Names the program body binds (loaded from, and saved back to, ``local:``)."""
    bound: frozenset[str]
    """Every name bound anywhere: definitions, imports, targets, parameters."""


class _ErrorList:
    """The part of an error that stands for several: ``errors`` holds each, ``str()`` shows each
    with its file:line:col and excerpt (what ``danaflow check`` prints)."""

    errors: tuple[DanaflowError, ...] = ()
    more: int = 0

    def __str__(self) -> str:
        parts = [str(e) for e in self.errors]
        if self.more:
            parts.append(f"... and {self.more} more errors not shown")
        return "\n".join(parts)


class SandboxErrors(_ErrorList, SandboxError):
    """Several refusals of one program; the first is the error's own location and type."""


class DanaSyntaxErrors(_ErrorList, DanaSyntaxError):
    """Several compile errors of one program, the first a syntax error."""


def _listing(errors: list[DanaflowError], more: int) -> DanaflowError:
    first = errors[0]
    if len(errors) == 1 and not more:
        return first
    # The message alone says it all too: a worker sends errors across as message and location.
    others = [f"{e.where}: {getattr(e, 'error_type', 'SyntaxError')}: {e.message}" for e in errors[1:]]
    if more:
        others.append(f"... and {more} more errors not shown")
    message = "\n".join([first.message, *others])
    if isinstance(first, DanaSyntaxError):
        err: DanaflowError = DanaSyntaxErrors(message, location=first.location)
    else:
        err = SandboxErrors(message, location=first.location, error_type="SandboxError")
    err.errors, err.more = tuple(errors), more  # type: ignore[attr-defined]
    return err


class _Scope:
    __slots__ = ("names", "parent", "top")

    def __init__(self, names: set[str], parent: _Scope | None, top: bool = False):
        self.names = names
        self.parent = parent
        self.top = top


def _stages(value: na.Expr) -> list[na.Expr]:
    if isinstance(value, na.BinOp) and value.op == "|":
        return [*_stages(value.left), *_stages(value.right)]
    return [value]


def _def_binds(name: str, receiver: na.Receiver | None) -> str | None:
    """The user name a def binds; None for a receiver named like a builtin (``def (a: Agent)
    log()``), which the compiler binds to a private name so the builtin stays visible."""
    return None if receiver is not None and name in BUILTIN_NAMES else name


class _Resolver:
    def __init__(self, filename: str, max_errors: int):
        self.filename = filename
        self.max_errors = max_errors
        self.errors: list[DanaflowError] = []
        self.more = 0
        self.bound: set[str] = set()

    # ---- errors
    def _add(self, err: DanaflowError) -> None:
        if len(self.errors) < self.max_errors:
            self.errors.append(err)
        else:
            self.more += 1

    def refuse(self, message: str, loc: Location) -> None:
        self._add(SandboxError(message, location=loc, error_type="SandboxError"))

    def finish(self) -> None:
        if self.errors:
            self.errors.sort(key=lambda e: (e.location.line, e.location.col) if e.location else (0, 0))
            raise _listing(self.errors, self.more)

    def ident(self, name: str | None, loc: Location, store: bool = True) -> None:
        """Checks an identifier the program binds (or, without ``store``, reads)."""
        if name is not None and (why := identifier_refusal(name, store)) is not None:
            self._add(DanaSyntaxError(why, location=loc))

    def attribute(self, attr: str, loc: Location, store: bool) -> None:
        if (why := attribute_refusal(attr, store)) is not None:
            self.refuse(why, loc)

    # ---- what a scope binds
    def bindings(self, stmts: tuple[na.Stmt, ...], out: set[str]) -> set[str]:
        """The names ``stmts`` bind in their own scope (nested defs bind only their name)."""
        for s in stmts:
            t = type(s)
            if t is na.Assign:
                for target in s.targets:
                    _target_names(target, out)
            elif t is na.AnnAssign:
                if s.value is not None:  # a bare annotation stores nothing
                    _target_names(s.target, out)
            elif t is na.AugAssign:
                _target_names(s.target, out)
            elif t is na.For:
                _target_names(s.target, out)
                self.bindings(s.body, out)
                self.bindings(s.orelse, out)
            elif t is na.If or t is na.While:
                self.bindings(s.body, out)
                self.bindings(s.orelse, out)
            elif t is na.Try:
                self.bindings(s.body, out)
                for h in s.handlers:
                    if h.name:
                        out.add(h.name)
                    self.bindings(h.body, out)
                self.bindings(s.orelse, out)
                self.bindings(s.finalbody, out)
            elif t is na.With:
                for _, target in s.items:
                    if target is not None:
                        _target_names(target, out)
                self.bindings(s.body, out)
            elif t is na.FuncDef or t is na.DeclFuncDef:
                name = _def_binds(s.name, s.receiver)
                if name is not None:
                    out.add(name)
            elif t is na.Decorated:
                self.bindings((s.definition,), out)
            elif isinstance(s, _STRUCTS):
                out.add(s.name)
            elif t is na.Import:
                out.update(alias or dotted.split(".")[0] for dotted, alias in s.names)
            elif t is na.FromImport:
                out.update(alias or name for name, alias in s.names)
        self.bound |= out
        return out

    # ---- statements
    def block(self, stmts: tuple[na.Stmt, ...], scope: _Scope) -> None:
        for s in stmts:
            self.stmt(s, scope)

    def stmt(self, s: na.Stmt, scope: _Scope) -> None:
        t = type(s)
        expr = self.expr
        if t is na.ExprStmt:
            expr(s.value, scope)
        elif t is na.Assign:
            expr(s.value, scope)
            for target in s.targets:
                self.target(target, scope)
        elif t is na.AnnAssign:
            expr(s.annotation, scope)
            if s.value is not None:
                expr(s.value, scope)
            self.target(s.target, scope)
        elif t is na.AugAssign:
            expr(s.value, scope)
            self.target(s.target, scope)
        elif t is na.Return:
            if s.value is not None:
                expr(s.value, scope)
        elif t is na.Raise:
            for e in (s.exc, s.cause):
                if e is not None:
                    expr(e, scope)
        elif t is na.Assert:
            expr(s.test, scope)
            if s.msg is not None:
                expr(s.msg, scope)
        elif t is na.Import:
            for dotted, alias in s.names:
                self.ident(alias or dotted.split(".")[0], s.loc)
        elif t is na.FromImport:
            for name, alias in s.names:
                self.ident(alias or name, s.loc)
        elif t is na.If or t is na.While:
            expr(s.test, scope)
            self.block(s.body, scope)
            self.block(s.orelse, scope)
        elif t is na.For:
            expr(s.iter, scope)
            self.target(s.target, scope)
            self.block(s.body, scope)
            self.block(s.orelse, scope)
        elif t is na.Try:
            self.block(s.body, scope)
            for h in s.handlers:
                if h.type is not None:
                    expr(h.type, scope)
                self.ident(h.name, h.loc)
                self.block(h.body, scope)
            self.block(s.orelse, scope)
            self.block(s.finalbody, scope)
        elif t is na.With:
            for e, target in s.items:
                expr(e, scope)
                if target is not None:
                    self.target(target, scope)
            self.block(s.body, scope)
        elif t is na.FuncDef or t is na.DeclFuncDef:
            self.function(s, scope)
        elif t is na.Decorated:
            for d in s.decorators:
                expr(d, scope)
            self.stmt(s.definition, scope)
        elif isinstance(s, _STRUCTS):
            self.declaration(s, scope)

    def params(self, params: tuple[na.Param, ...], outer: _Scope) -> set[str]:
        """Checks parameters and resolves their annotations and defaults (evaluated outside)."""
        for p in params:
            self.ident(p.name, p.loc)
            for e in (p.annotation, p.default):
                if e is not None:
                    self.expr(e, outer)
        names = {p.name for p in params}
        self.bound |= names
        return names

    def function(self, s: na.FuncDef | na.DeclFuncDef, scope: _Scope) -> None:
        self.ident(s.name, s.loc)
        names = self.params(s.params, scope)
        if s.receiver is not None:
            if (why := method_refusal(s.name)) is not None:
                self.refuse(why, s.loc)
            self.ident(s.receiver.name, s.receiver.loc)
            self.expr(s.receiver.type, scope)
            names.add(s.receiver.name)
        if s.returns is not None:
            self.expr(s.returns, scope)
        inner = _Scope(names, scope)
        if isinstance(s, na.FuncDef):
            self.bindings(s.body, names)
            self.block(s.body, inner)
            return
        for stage in _stages(s.value):
            if isinstance(stage, na.CapturedStage):
                self.ident(stage.name, stage.loc)
                names.add(stage.name)
        self.bound |= names
        self.expr(s.value, inner)

    def declaration(self, s: na.Stmt, scope: _Scope) -> None:
        what = _WHAT[type(s)]
        self.ident(s.name, s.loc)  # type: ignore[attr-defined]
        for f in s.fields:  # type: ignore[attr-defined]
            why = field_refusal(f.name, what)
            if why is not None:
                self.refuse(why, f.loc)
            self.expr(f.annotation, scope)
            if f.default is not None:
                self.expr(f.default, scope)
        if isinstance(s, na.AgentDef):
            if s.blueprint is not None:
                self.expr(s.blueprint, scope)
            for o in s.overrides:
                if (why := field_refusal(o.name, "agent")) is not None:
                    self.refuse(why, o.loc)
                self.expr(o.value, scope)
        elif isinstance(s, na.InterfaceDef):
            for m in s.methods:
                self.params(m.params, scope)
                if m.returns is not None:
                    self.expr(m.returns, scope)
            for e in s.embeds:
                self.expr(e, scope)

    # ---- assignment targets
    def target(self, t: na.Expr, scope: _Scope) -> None:
        tt = type(t)
        if tt is na.Name:
            self.name(t, scope, store=True)
        elif tt is na.ScopedName:
            if t.scope == "local":
                self.ident(t.name, t.loc)  # `local:x` is the identifier x
            elif (why := scoped_refusal(t.scope, t.name, store=True)) is not None:
                self.refuse(why, t.loc)
        elif tt is na.Attribute:
            self.expr(t.value, scope)
            self.attribute(t.attr, t.loc, store=True)
        elif tt is na.Tuple or tt is na.List:
            for e in t.elts:
                self.target(e, scope)
        elif tt is na.Starred:
            self.target(t.value, scope)
        else:  # a subscript, or what the compiler reports as "cannot assign to"
            self.expr(t, scope)

    # ---- expressions
    def name(self, e: na.Name, scope: _Scope, store: bool = False) -> None:
        self.ident(e.id, e.loc, store)
        object.__setattr__(e, "scope", _where(e.id, scope))

    def expr(self, e: na.Expr, scope: _Scope) -> None:
        t = type(e)
        if t is na.Name:
            self.name(e, scope)
        elif t is na.Const or t is na.PipeValue:
            pass
        elif t is na.Attribute:
            self.expr(e.value, scope)  # first, so the leftmost refused attribute comes first
            self.attribute(e.attr, e.loc, store=False)
        elif t is na.Call:
            self.expr(e.func, scope)
            for a in e.args:
                self.expr(a, scope)
            for k in e.keywords:
                self.expr(k.value, scope)
        elif t is na.BinOp:
            self.expr(e.left, scope)
            self.expr(e.right, scope)
        elif t is na.ScopedName:
            if (why := scoped_refusal(e.scope, e.name, store=False)) is not None:
                self.refuse(why, e.loc)
            if e.scope == "local":
                object.__setattr__(e, "resolved", _where(e.name, scope))
        elif t is na.Tuple or t is na.List or t is na.Set:
            for x in e.elts:
                self.expr(x, scope)
        elif t is na.Subscript:
            self.expr(e.value, scope)
            self.expr(e.index, scope)
        elif t is na.Compare:
            self.expr(e.left, scope)
            for x in e.comparators:
                self.expr(x, scope)
        elif t is na.Dict:
            for k in e.keys:
                if k is not None:
                    self.expr(k, scope)
            for v in e.values:
                self.expr(v, scope)
        elif t is na.UnaryOp or t is na.Not:
            self.expr(e.operand, scope)
        elif t is na.BoolOp:
            for x in e.values:
                self.expr(x, scope)
        elif t is na.IfExp:
            self.expr(e.test, scope)
            self.expr(e.body, scope)
            self.expr(e.orelse, scope)
        elif t is na.FString:
            for p in e.parts:
                if not isinstance(p, str):
                    self.expr(p, scope)
        elif t is na.FormattedValue:
            self.expr(e.value, scope)
            if e.spec is not None:
                self.expr(e.spec, scope)
        elif t is na.Starred:
            self.expr(e.value, scope)
        elif t is na.Slice:
            for x in (e.lower, e.upper, e.step):
                if x is not None:
                    self.expr(x, scope)
        elif t is na.Lambda:
            names = self.params(e.params, scope)
            self.expr(e.body, _Scope(names, scope))
        elif t is na.ListComp or t is na.SetComp or t is na.GenExp or t is na.DictComp:
            self.comprehension(e, scope)
        elif t is na.CapturedStage:
            self.expr(e.value, scope)
        else:
            raise TypeError(f"resolve: no rule for {t.__name__}")

    def comprehension(self, e, scope: _Scope) -> None:
        gens = e.generators
        self.expr(gens[0].iter, scope)  # the first iterable is evaluated outside, as in Python
        names: set[str] = set()
        for g in gens:
            _target_names(g.target, names)
        inner = _Scope(names, scope)
        for i, g in enumerate(gens):
            self.target(g.target, inner)
            if i:
                self.expr(g.iter, inner)
            for c in g.ifs:
                self.expr(c, inner)
        if isinstance(e, na.DictComp):
            self.expr(e.key, inner)
            self.expr(e.value, inner)
        else:
            self.expr(e.elt, inner)


def _where(name: str, scope: _Scope) -> str:
    if name in scope.names:
        return TOP if scope.top else LOCAL
    s = scope.parent
    while s is not None and name not in s.names:
        s = s.parent
    return FREE if s is None else TOP if s.top else ENCLOSING


def _target_names(t: na.Expr, out: set[str]) -> None:
    if isinstance(t, na.Name):
        out.add(t.id)
    elif isinstance(t, na.ScopedName) and t.scope == "local":
        out.add(t.name)  # `local:x = 1` is the plain name x
    elif isinstance(t, (na.Tuple, na.List)):
        for e in t.elts:
            _target_names(e, out)
    elif isinstance(t, na.Starred):
        _target_names(t.value, out)


def resolve_program(prog: na.Program, *, max_errors: int = MAX_ERRORS) -> Resolution:
    """Stamps every name of ``prog``; raises its errors (up to ``max_errors``) as one."""
    r = _Resolver(prog.filename, max_errors)
    top = _Scope(r.bindings(prog.body, set()), None, top=True)
    r.block(prog.body, top)
    r.finish()
    return Resolution(frozenset(top.names), frozenset(r.bound))


def resolve_expression(e: na.Expr, filename: str = "<expr>") -> Resolution:
    """Stamps every name of one expression (a template's): nothing outside it is lexical."""
    r = _Resolver(filename, MAX_ERRORS)
    r.expr(e, _Scope(set(), None))
    r.finish()
    return Resolution(frozenset(), frozenset(r.bound))
