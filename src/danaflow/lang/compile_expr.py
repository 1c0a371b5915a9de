"""Compiles Dana expressions (and assignment targets) to Python ``ast``.

The half of the compiler that programs and templates share: names and scoped names, literals,
operators, comprehensions, calls, attribute access with the sandbox's static checks, and the
resolution of free names. ``compiler.py`` adds statements and whole programs on top.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from danaflow.errors import DanaSyntaxError, Location

from . import ast as na
from .builtins import BUILTIN_NAMES
from .names import py_name
from .policy import ALLOWED_DUNDER_ATTRS, BLOCKED_ATTRIBUTES, GUARDED_ATTRIBUTES
from .resolve import FREE, resolve_expression

__all__ = [
    "ALLOWED_DUNDER_ATTRS",
    "BINOPS",
    "BLOCKED_ATTRIBUTES",
    "DESIRED_TYPE_KEY",
    "EMPTY_REFS",
    "GUARDED_ATTRIBUTES",
    "ExpressionCompiler",
    "ProgramRefs",
    "is_bounded",
]

DESIRED_TYPE_KEY = "__dana_desired_type"
BINOPS = {
    "+": ast.Add,
    "-": ast.Sub,
    "*": ast.Mult,
    "/": ast.Div,
    "//": ast.FloorDiv,
    "%": ast.Mod,
    "@": ast.MatMult,
    "**": ast.Pow,
    "<<": ast.LShift,
    ">>": ast.RShift,
    "|": ast.BitOr,
    "^": ast.BitXor,
    "&": ast.BitAnd,
}
_UNARY = {"+": ast.UAdd, "-": ast.USub, "~": ast.Invert}
_CMPOPS = {
    "<": ast.Lt,
    ">": ast.Gt,
    "==": ast.Eq,
    ">=": ast.GtE,
    "<=": ast.LtE,
    "!=": ast.NotEq,
    "in": ast.In,
    "not in": ast.NotIn,
    "is": ast.Is,
    "is not": ast.IsNot,
}
_SCOPE_DICTS = {"private": "_P", "public": "_U", "system": "_S"}


@dataclass(frozen=True, slots=True)
class ProgramRefs:
    """What state a compiled program or expression can touch, known before it runs.

    A worker gets a snapshot of exactly these names (DESIGN §8): Dana has no dynamic access to
    scopes (no ``globals()``, no ``vars()``), so a name the compiler did not see cannot be read.
    """

    scoped: frozenset[tuple[str, str]] = frozenset()
    """Explicit ``scope:name`` reads and writes."""
    free: frozenset[str] = frozenset()
    """Unscoped names no function binds: read from ``local:``, then the other scopes."""
    imports: tuple[str, ...] = ()
    """Dotted module names of every ``import`` / ``from ... import`` statement, in order."""


EMPTY_REFS = ProgramRefs()

_BOUNDED_BINOPS = frozenset({"+", "-", "/", "//", "&", "|", "^"})


def is_bounded(e: na.Expr) -> bool:
    """Whether ``e`` finishes in time and memory proportional to its size and its inputs' size.

    True for names, attributes, subscripts, literals, comparisons, boolean logic, ``+ - / //`` and
    f-strings without format specs; False once it calls anything, loops (comprehensions), or uses
    ``*``, ``**``, ``<<``, ``%`` or a format spec, each of which can ask C code for unbounded work
    (``"a" * 10**10``, ``f"{x:10000000000}"``). Templates evaluate bounded expressions in the host
    and send the rest to a worker process.
    """
    if isinstance(e, (na.Name, na.ScopedName, na.Const, na.PipeValue)):
        return True
    if isinstance(e, na.Attribute):
        return is_bounded(e.value)
    if isinstance(e, na.Subscript):
        return is_bounded(e.value) and is_bounded(e.index)
    if isinstance(e, na.Slice):
        return all(is_bounded(x) for x in (e.lower, e.upper, e.step) if x is not None)
    if isinstance(e, (na.Tuple, na.List, na.Set)):
        return all(is_bounded(x) for x in e.elts)
    if isinstance(e, na.Starred):
        return is_bounded(e.value)
    if isinstance(e, na.Dict):
        return all(is_bounded(x) for x in (*e.keys, *e.values) if x is not None)
    if isinstance(e, na.BinOp):
        return e.op in _BOUNDED_BINOPS and is_bounded(e.left) and is_bounded(e.right)
    if isinstance(e, (na.UnaryOp, na.Not)):
        return is_bounded(e.operand)
    if isinstance(e, na.BoolOp):
        return all(is_bounded(x) for x in e.values)
    if isinstance(e, na.Compare):
        return is_bounded(e.left) and all(is_bounded(x) for x in e.comparators)
    if isinstance(e, na.IfExp):
        return is_bounded(e.test) and is_bounded(e.body) and is_bounded(e.orelse)
    if isinstance(e, na.FString):
        return all(isinstance(p, str) or is_bounded(p) for p in e.parts)
    if isinstance(e, na.FormattedValue):
        return e.spec is None and is_bounded(e.value)
    return False


class ExpressionCompiler:
    """Translates expressions; ``steps`` adds step-budget checks, ``expression_mode`` is for templates."""

    def __init__(
        self,
        filename: str,
        *,
        steps: bool = False,
        expression_mode: bool = False,
        mapping_attrs: bool = False,
    ):
        self.filename = filename
        self.steps = steps
        self.expression_mode = expression_mode
        self.mapping_attrs = mapping_attrs
        self._ids = itertools.count(1)
        self.loop_depth = 0
        self.store_sites = 0
        """How many attribute-store sites (each with its cache globals ``_sc<n>``/``_st<n>``)."""
        self.pending_stores: list[tuple[na.Attribute, str]] = []
        """Attribute targets lowered to a temporary, whose stores follow the statement."""
        self._scoped: set[tuple[str, str]] = set()
        self._free: set[str] = set()
        self._imports: list[str] = []

    def refs(self) -> ProgramRefs:
        """The state this compilation referenced (call after compiling)."""
        return ProgramRefs(frozenset(self._scoped), frozenset(self._free), tuple(self._imports))

    # ---- helpers
    def tmp(self, stem: str) -> str:
        return f"_{stem}{next(self._ids)}"

    def at(self, node: ast.AST, loc: Location) -> ast.AST:
        node.lineno = loc.line or 1
        node.col_offset = max(loc.col - 1, 0)
        node.end_lineno = node.lineno
        node.end_col_offset = node.col_offset + 1
        return node

    def syntax(self, message: str, loc: Location) -> DanaSyntaxError:
        return DanaSyntaxError(message, location=loc)

    def load(self, name: str, loc: Location) -> ast.Name:
        return self.at(ast.Name(name, ast.Load()), loc)

    def call(self, func: str, args: list[ast.expr], loc: Location, keywords=None) -> ast.Call:
        return self.at(ast.Call(self.load(func, loc), args, keywords or []), loc)

    def const(self, value, loc: Location) -> ast.Constant:
        return self.at(ast.Constant(value), loc)

    # ---- statements
    def target(self, t: na.Expr) -> ast.expr:
        if isinstance(t, na.Name):
            return self.at(ast.Name(py_name(t.id), ast.Store()), t.loc)
        if isinstance(t, na.ScopedName):
            self._scoped.add((t.scope, t.name))
            if t.scope == "local":
                return self.at(ast.Name(py_name(t.name), ast.Store()), t.loc)
            if t.scope == "system":
                # Through a guard that refuses the runtime's reserved keys.
                return self.at(
                    ast.Subscript(self.load("_SW", t.loc), self.const(t.name, t.loc), ast.Store()), t.loc
                )
            return self.at(
                ast.Subscript(
                    self.load(_SCOPE_DICTS[t.scope], t.loc), self.const(t.name, t.loc), ast.Store()
                ),
                t.loc,
            )
        if isinstance(t, na.Attribute):
            # Bound to a temporary here; the validated store follows the statement.
            tmp = self.tmp("a")
            self.pending_stores.append((t, tmp))
            return self.at(ast.Name(tmp, ast.Store()), t.loc)
        if isinstance(t, na.Subscript):
            return self.at(ast.Subscript(self.expr(t.value), self.expr(t.index), ast.Store()), t.loc)
        if isinstance(t, (na.Tuple, na.List)):
            return self.at(ast.Tuple([self.target(e) for e in t.elts], ast.Store()), t.loc)
        if isinstance(t, na.Starred):
            return self.at(ast.Starred(self.target(t.value), ast.Store()), t.loc)
        raise self.syntax(f"cannot assign to {_describe(t)}", t.loc)

    def attr_store(self, t: na.Attribute, value: ast.expr) -> list[ast.stmt]:
        """``obj.attr = value`` with struct validation, as statements (value first, as Python)."""
        loc = t.loc
        v = self.tmp("v")
        out: list[ast.stmt] = [self.at(ast.Assign([self.at(ast.Name(v, ast.Store()), loc)], value), loc)]
        if isinstance(t.value, na.Name) and t.value.scope != FREE:
            name, where = py_name(t.value.id), t.value.loc
        else:
            name, where = self.tmp("o"), loc
            out.append(
                self.at(ast.Assign([self.at(ast.Name(name, ast.Store()), loc)], self.expr(t.value)), loc)
            )
        return [*out, *self.cached_store(lambda: self.load(name, where), t.attr, self.load(v, loc), loc)]

    def cached_store(
        self, obj: Callable[[], ast.expr], attr: str, value: ast.Name, loc: Location
    ) -> list[ast.stmt]:
        """The store itself. Each site caches the last struct class and plain field type it stored:
        when both match (``type(v) is _st<n> and type(obj) is _sc<n>``) it is a plain attribute
        store; anything else goes through ``_store_miss``, which validates (and refuses classes).
        """
        site = self.store_sites
        self.store_sites += 1
        same_value = ast.Compare(self.call("_T", [value], loc), [ast.Is()], [self.load(f"_st{site}", loc)])
        same_class = ast.Compare(self.call("_T", [obj()], loc), [ast.Is()], [self.load(f"_sc{site}", loc)])
        test = self.at(ast.BoolOp(ast.And(), [same_value, same_class]), loc)
        fast = self.at(ast.Assign([self.at(ast.Attribute(obj(), attr, ast.Store()), loc)], value), loc)
        miss = self.call("_store_miss", [self.const(site, loc), obj(), self.const(attr, loc), value], loc)
        return [self.at(ast.If(test, [fast], [self.at(ast.Expr(miss), loc)]), loc)]

    def flush_stores(self) -> list[ast.stmt]:
        """The validated stores of the attribute targets lowered since the last flush."""
        pending, self.pending_stores = self.pending_stores, []
        out: list[ast.stmt] = []
        for t, tmp in pending:
            out += self.attr_store(t, self.load(tmp, t.loc))
        return out

    def arguments(self, params: tuple[na.Param, ...]) -> ast.arguments:
        args, defaults, kwonly, kw_defaults = [], [], [], []
        vararg = kwarg = None
        for p in params:
            a = self.at(ast.arg(py_name(p.name)), p.loc)
            if p.kind == "star":
                vararg = a
            elif p.kind == "starstar":
                kwarg = a
            elif vararg is not None:
                kwonly.append(a)
                kw_defaults.append(self.expr(p.default) if p.default is not None else None)
            else:
                if p.default is None and defaults:
                    raise self.syntax(
                        f"parameter {p.name!r} without a default follows one with a default", p.loc
                    )
                args.append(a)
                if p.default is not None:
                    defaults.append(self.expr(p.default))
        return ast.arguments([], args, vararg, kwonly, kw_defaults, kwarg, defaults)

    def expr(self, e: na.Expr) -> ast.expr:
        node = getattr(self, f"e_{type(e).__name__}")(e)
        if not hasattr(node, "lineno"):
            self.at(node, e.loc)
        return node

    def e_Name(self, e: na.Name):
        if not e.scope:
            raise AssertionError(f"name {e.id!r} at {e.loc} was never resolved")
        if e.scope == FREE:
            return self._fallback(e.id)
        return ast.Name(py_name(e.id), ast.Load())

    def e_ScopedName(self, e: na.ScopedName):
        self._scoped.add((e.scope, e.name))
        if e.scope == "local":
            return self._fallback(e.name) if e.resolved == FREE else ast.Name(py_name(e.name), ast.Load())
        if e.scope == "system" and e.name == DESIRED_TYPE_KEY:
            return self.call("_desired", [], e.loc)
        return ast.Subscript(self.load(_SCOPE_DICTS[e.scope], e.loc), self.const(e.name, e.loc), ast.Load())

    def e_Const(self, e: na.Const):
        return ast.Constant(e.value)

    def e_FString(self, e: na.FString):
        values = []
        for p in e.parts:
            if isinstance(p, str):
                values.append(self.const(p, e.loc))
            else:
                values.append(self.expr(p))
        return ast.JoinedStr(values)

    def e_FormattedValue(self, e: na.FormattedValue):
        conv = {"r": 114, "s": 115, "a": 97}.get(e.conversion or "", -1)
        spec = self.expr(e.spec) if e.spec is not None else None
        return ast.FormattedValue(self.expr(e.value), conv, spec)

    def e_Tuple(self, e):
        return ast.Tuple([self.expr(x) for x in e.elts], ast.Load())

    def e_List(self, e):
        return ast.List([self.expr(x) for x in e.elts], ast.Load())

    def e_Set(self, e):
        return ast.Set([self.expr(x) for x in e.elts])

    def e_Dict(self, e: na.Dict):
        return ast.Dict(
            [self.expr(k) if k is not None else None for k in e.keys], [self.expr(v) for v in e.values]
        )

    def e_Starred(self, e):
        return ast.Starred(self.expr(e.value), ast.Load())

    def comprehensions(self, gens) -> list[ast.comprehension]:
        out = []
        for g in gens:
            ifs = [self.expr(c) for c in g.ifs]
            if self.steps:
                # Each iteration counts: `_tick()` spends a step and is always true.
                ifs.insert(0, self.call("_tick", [], g.loc))
            target = self.target(g.target)
            if self.pending_stores:
                t, _ = self.pending_stores[0]
                raise self.syntax("cannot assign to an attribute in a comprehension", t.loc)
            out.append(ast.comprehension(target, self.expr(g.iter), ifs, 0))
        return out

    def e_ListComp(self, e):
        return ast.ListComp(self.expr(e.elt), self.comprehensions(e.generators))

    def e_SetComp(self, e):
        return ast.SetComp(self.expr(e.elt), self.comprehensions(e.generators))

    def e_GenExp(self, e):
        return ast.GeneratorExp(self.expr(e.elt), self.comprehensions(e.generators))

    def e_DictComp(self, e):
        return ast.DictComp(self.expr(e.key), self.expr(e.value), self.comprehensions(e.generators))

    def e_BinOp(self, e: na.BinOp):
        return ast.BinOp(self.expr(e.left), BINOPS[e.op](), self.expr(e.right))

    def e_UnaryOp(self, e: na.UnaryOp):
        return ast.UnaryOp(_UNARY[e.op](), self.expr(e.operand))

    def e_BoolOp(self, e: na.BoolOp):
        return ast.BoolOp(ast.And() if e.op == "and" else ast.Or(), [self.expr(v) for v in e.values])

    def e_Not(self, e):
        return ast.UnaryOp(ast.Not(), self.expr(e.operand))

    def e_Compare(self, e: na.Compare):
        if (
            len(e.ops) == 1
            and e.ops[0] in ("==", "!=")
            and (_is_type_call(e.left) or _is_type_call(e.comparators[0]))
        ):
            # `type(x) == "int"`: a type compares equal to its name too (the reference's rule),
            # while `type(x) == int` keeps its meaning.
            same = self.call("_type_eq", [self.expr(e.left), self.expr(e.comparators[0])], e.loc)
            return same if e.ops[0] == "==" else ast.UnaryOp(ast.Not(), same)
        return ast.Compare(
            self.expr(e.left), [_CMPOPS[o]() for o in e.ops], [self.expr(c) for c in e.comparators]
        )

    def e_IfExp(self, e):
        return ast.IfExp(self.expr(e.test), self.expr(e.body), self.expr(e.orelse))

    def e_Lambda(self, e: na.Lambda):
        body = self.expr(e.body)
        if self.steps:
            # Count the call: evaluate _step() first, then the body (a tuple's last element).
            body = self.at(
                ast.Subscript(
                    self.at(ast.Tuple([self.call("_step", [], e.loc), body], ast.Load()), e.loc),
                    self.const(1, e.loc),
                    ast.Load(),
                ),
                e.loc,
            )
        return ast.Lambda(self.arguments(e.params), body)

    def keyword(self, k: na.Keyword) -> ast.keyword:
        return self.at(ast.keyword(k.name, self.expr(k.value)), k.loc)

    def call_with(self, func: ast.expr, args: list[ast.expr], keywords, loc: Location) -> ast.expr:
        """``func(*args, **keywords)``. A keyword starting with ``_`` (``f(_a=1)``) goes through
        ``_kwcall``, which renames it only for a Dana function's own ``_a`` parameter (names.py),
        so ``dict(_a=1)`` still has the key ``_a``; so does ``f(**d)``, whose keys may be such."""
        if not any(k.name is None or (k.name[:1] == "_" and k.name != DESIRED_TYPE_KEY) for k in keywords):
            return self.at(ast.Call(func, args, [self.keyword(k) for k in keywords]), loc)
        kw = self.at(
            ast.Dict(
                [self.const(k.name, k.loc) if k.name is not None else None for k in keywords],
                [self.expr(k.value) for k in keywords],
            ),
            loc,
        )
        return self.call("_kwcall", [func, self.at(ast.Tuple(args, ast.Load()), loc), kw], loc)

    def e_Call(self, e: na.Call):
        return self.call_with(self.expr(e.func), [self.expr(a) for a in e.args], e.keywords, e.loc)

    def e_Attribute(self, e: na.Attribute):
        value = self.expr(e.value)
        if self.mapping_attrs or e.attr in GUARDED_ATTRIBUTES:
            helper = "_mattr" if self.mapping_attrs else "_attr"
            return self.call(helper, [value, self.const(e.attr, e.loc)], e.loc)
        # Dot access on a dict reads its key when dict has no such attribute (obj.value for
        # {"value": 5}). A plain name is cheap to read twice, so the common case stays an
        # attribute load behind one type check; any other base goes through the helper.
        if isinstance(e.value, na.Name) or (isinstance(e.value, na.ScopedName) and e.value.scope == "local"):
            is_dict = ast.Compare(
                self.call("_T", [self.expr(e.value)], e.loc), [ast.Is()], [self.load("_D", e.loc)]
            )
            key = self.call("_dk", [self.expr(e.value), self.const(e.attr, e.loc)], e.loc)
            return ast.IfExp(is_dict, key, ast.Attribute(value, e.attr, ast.Load()))
        return self.call("_dattr", [value, self.const(e.attr, e.loc)], e.loc)

    def e_Subscript(self, e: na.Subscript):
        return ast.Subscript(self.expr(e.value), self.expr(e.index), ast.Load())

    def e_Slice(self, e: na.Slice):
        f = self.expr
        return ast.Slice(
            f(e.lower) if e.lower else None, f(e.upper) if e.upper else None, f(e.step) if e.step else None
        )

    _pipe_value: ast.expr | None = None

    def e_PipeValue(self, e: na.PipeValue):
        if self._pipe_value is None:
            raise self.syntax("'$$' is only allowed in a pipeline stage of a declarative function", e.loc)
        return self._pipe_value

    # ---- programs
    def _fallback(self, n: str) -> ast.expr:
        """The load of a name that is not lexically bound (``n`` as the user spells it).

        Builtins (and registered functions) come first, then ``local:`` (the program's top-level
        state), ``private:``, ``public:``, ``system:``. Builtins before state is deliberate: data
        keys such as ``type``, ``filter`` or ``sum`` are common in state, and must not silently
        replace the builtin; ``private:type`` still reads the state. A ``_`` name is never a
        builtin and reads ``local:`` only (the shared scopes' ``_`` keys are the host's, as
        ``scoped_refusal`` says); ``__name__`` is the running module's name.
        """
        if n == "__name__":
            return ast.Name("_modname", ast.Load())
        if self.expression_mode:
            self._free.add(n)
            return ast.Call(ast.Name("_lk", ast.Load()), [ast.Constant(n)], [])
        if n in BUILTIN_NAMES:
            return ast.Name(n, ast.Load())
        self._free.add(n)
        node: ast.expr = ast.Call(ast.Name("_undefined", ast.Load()), [ast.Constant(n)], [])
        private = n[:1] == "_"
        for scope in ("_L",) if private else ("_S", "_U", "_P", "_L"):
            test = ast.Compare(ast.Constant(n), [ast.In()], [ast.Name(scope, ast.Load())])
            node = ast.IfExp(
                test, ast.Subscript(ast.Name(scope, ast.Load()), ast.Constant(n), ast.Load()), node
            )
        if private:
            return node  # _G holds the runtime's helpers: never reachable by a user's name
        # Registered functions live in the run's globals (_G) with the builtins.
        test = ast.Compare(ast.Constant(n), [ast.In()], [ast.Name("_G", ast.Load())])
        return ast.IfExp(test, ast.Name(n, ast.Load()), node)

    def expression(self, e: na.Expr) -> ast.Module:
        resolve_expression(e, self.filename)
        body = [self.at(ast.Return(self.expr(e)), e.loc)]
        fn = ast.FunctionDef(
            "_dana_expr", ast.arguments([], [], None, [], [], None, []), body, [], None, None
        )
        self.at(fn, e.loc)
        module = ast.Module([fn], [])
        ast.fix_missing_locations(module)
        return module


def _is_type_call(e: na.Expr) -> bool:
    return isinstance(e, na.Call) and isinstance(e.func, na.Name) and e.func.id == "type" and len(e.args) == 1


def _describe(e: na.Expr) -> str:
    return {na.Call: "a function call", na.Const: "a literal", na.BinOp: "an operator expression"}.get(
        type(e), "this expression"
    )
