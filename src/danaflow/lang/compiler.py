"""Compiles the Dana syntax tree to a Python code object.

Each Dana construct becomes the Python ``ast`` that means the same thing, with the Dana line and
column copied onto every node and ``filename`` set to the .na path, so Python's own tracebacks point
at Dana source. The program body becomes a function (``_dana_main``) so top-level variables are fast
locals and user functions close over them. Before any of that, resolve.py stamps each name with its
scope and applies the sandbox's static rules (policy.py), so a free name becomes its runtime
lookup right here; the dynamic rules are in runtime.py. Generated helper names all start with
``_``, which Dana source can never spell.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from types import CodeType

from danaflow.errors import Location

from . import ast as na
from .builtins import BUILTIN_NAMES
from .compile_expr import (
    BINOPS,
    BLOCKED_ATTRIBUTES,
    EMPTY_REFS,
    ProgramRefs,
    is_bounded,
)
from .compile_pipeline import PipelineCompiler, pipeline_stages
from .names import py_name
from .parser import parse, parse_expression
from .resolve import resolve_program
from .syntax_errors import front_end

__all__ = [
    "BLOCKED_ATTRIBUTES",
    "CompiledExpression",
    "CompiledProgram",
    "compile_expression_code",
    "compile_program",
]

MAIN = "_dana_main"


@dataclass(frozen=True, slots=True)
class CompiledProgram:
    """A compiled program: ``code`` defines ``_dana_main`` when executed in fresh globals."""

    code: CodeType
    filename: str
    source: str
    top_level_names: frozenset[str]
    """Names the program body binds (loaded from, and saved back to, ``local:``)."""
    counts_steps: bool
    store_sites: int = 0
    """Attribute-store sites; the runtime gives each its cache globals (``_sc<n>``, ``_st<n>``)."""
    refs: ProgramRefs = EMPTY_REFS
    """The state and modules the program can reach (what a worker's snapshot must hold)."""


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    """A compiled expression: ``code`` defines ``_dana_expr``; free names go through ``_lk``."""

    code: CodeType
    source: str
    filename: str
    refs: ProgramRefs = EMPTY_REFS
    bounded: bool = False
    """Whether evaluating it is bounded by its size and its inputs (compile_expr.is_bounded)."""


class _Compiler(PipelineCompiler):
    """Translates one program: statements, functions, structs and the program's main function."""

    def block(self, stmts) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for s in stmts:
            r = self.stmt(s)
            if isinstance(r, list):
                out.extend(r)
            else:
                out.append(r)
        return out or [ast.Pass()]

    def stmt(self, s: na.Stmt):
        method = getattr(self, f"s_{type(s).__name__}")
        result = method(s)
        for node in result if isinstance(result, list) else [result]:
            if not hasattr(node, "lineno"):
                self.at(node, s.loc)
        return result

    def s_ExprStmt(self, s: na.ExprStmt):
        return ast.Expr(self.expr(s.value))

    def s_Assign(self, s: na.Assign):
        if len(s.targets) == 1 and isinstance(s.targets[0], na.Attribute):
            return self.attr_store(s.targets[0], self.expr(s.value))  # the common case, no temporary
        value = self.expr(s.value)
        return [self.at(ast.Assign([self.target(t) for t in s.targets], value), s.loc), *self.flush_stores()]

    def s_AnnAssign(self, s: na.AnnAssign):
        self._check_annotation(s.annotation, s.target)
        target = self.target(s.target)
        if s.value is None:
            self.pending_stores.clear()  # a bare annotation stores nothing
            return ast.Pass()
        loc = s.loc
        ann = self.tmp("at")
        keep = self.at(ast.Assign([self.at(ast.Name(ann, ast.Store()), loc)], self.expr(s.annotation)), loc)
        value = self.expr(s.value)
        # Dana's typed assignment: the value is coerced to the annotation (runtime._coerce).
        coerced = self.call("_coerce", [self.load(ann, loc), value], loc)
        assign = self.at(ast.Assign([target], coerced), loc)
        if not isinstance(s.value, na.Call):
            return [keep, assign, *self.flush_stores()]
        # The annotation is also the desired type of the call (reason() and typed user functions).
        tok = self.tmp("dt")
        push = self.at(
            ast.Assign(
                [self.at(ast.Name(tok, ast.Store()), loc)],
                self.call("_push_desired", [self.load(ann, loc)], loc),
            ),
            loc,
        )
        pop = self.at(ast.Expr(self.call("_pop_desired", [self.load(tok, loc)], loc)), loc)
        return [keep, push, self.at(ast.Try([assign], [], [], [pop]), loc), *self.flush_stores()]

    def _check_annotation(self, ann: na.Expr, target: na.Expr) -> None:
        """An annotation must name a type: a builtin type, a name the program binds (a struct, an
        import, an alias), or ``list[...]``/``A | B`` of those. ``privat:x = 1`` parses as an
        annotation, so a near-miss of a scope name gets the hint it deserves."""
        bad = _unknown_type_name(ann, self.known_names)
        if bad is None:
            return
        if isinstance(target, na.Name):
            close = difflib.get_close_matches(target.id, ("local", "private", "public", "system"), 1, 0.6)
            if close:
                raise self.syntax(f"unknown scope {target.id!r} — did you mean '{close[0]}:'?", target.loc)
        what = bad[0] if bad[0].startswith("the ") else f"unknown type {bad[0]!r}"
        raise self.syntax(
            f"{what} in an annotation: want int, float, str, bool, list[...], dict[...], a struct, or A | B",
            bad[1],
        )

    def s_AugAssign(self, s: na.AugAssign):
        if not isinstance(s.target, na.Attribute):
            return ast.AugAssign(self.target(s.target), BINOPS[s.op](), self.expr(s.value))
        # Read, operate in place on a temporary (so `p.items += [1]` extends the same list), then
        # the validated store.
        t, loc = s.target, s.loc
        holder, current = self.tmp("o"), self.tmp("v")
        stmts = [
            self.at(ast.Assign([self.at(ast.Name(holder, ast.Store()), loc)], self.expr(t.value)), loc),
            self.at(
                ast.Assign(
                    [self.at(ast.Name(current, ast.Store()), loc)],
                    self.at(ast.Attribute(self.load(holder, loc), t.attr, ast.Load()), loc),
                ),
                loc,
            ),
            self.at(
                ast.AugAssign(
                    self.at(ast.Name(current, ast.Store()), loc), BINOPS[s.op](), self.expr(s.value)
                ),
                loc,
            ),
        ]
        return stmts + self.cached_store(lambda: self.load(holder, loc), t.attr, self.load(current, loc), loc)

    def s_Pass(self, s):
        return ast.Pass()

    def s_Break(self, s):
        if not self.loop_depth:
            raise self.syntax("'break' outside a loop", s.loc)
        return ast.Break()

    def s_Continue(self, s):
        if not self.loop_depth:
            raise self.syntax("'continue' outside a loop", s.loc)
        return ast.Continue()

    def s_Return(self, s: na.Return):
        return ast.Return(self.expr(s.value) if s.value is not None else None)

    def s_Raise(self, s: na.Raise):
        return ast.Raise(self.expr(s.exc) if s.exc else None, self.expr(s.cause) if s.cause else None)

    def s_Assert(self, s: na.Assert):
        # Compiled as an explicit raise so `python -O` cannot strip Dana assertions.
        args = [self.expr(s.msg)] if s.msg is not None else []
        exc = self.call("AssertionError", args, s.loc)
        test = self.at(ast.UnaryOp(ast.Not(), self.expr(s.test)), s.test.loc)
        return ast.If(test, [self.at(ast.Raise(exc, None), s.loc)], [])

    def s_Import(self, s: na.Import):
        out = []
        for dotted, alias in s.names:
            self._imports.append(dotted)
            bind = py_name(alias or dotted.split(".")[0])
            value = self.call("_import", [self.const(dotted, s.loc), self.const(alias is None, s.loc)], s.loc)
            out.append(self.at(ast.Assign([self.at(ast.Name(bind, ast.Store()), s.loc)], value), s.loc))
        return out

    def s_FromImport(self, s: na.FromImport):
        self._imports.append(s.module)
        mod = self.tmp("mod")
        out = [
            self.at(
                ast.Assign(
                    [self.at(ast.Name(mod, ast.Store()), s.loc)],
                    self.call("_import", [self.const(s.module, s.loc), self.const(False, s.loc)], s.loc),
                ),
                s.loc,
            )
        ]
        for name, alias in s.names:
            value = self.call("_from_import", [self.load(mod, s.loc), self.const(name, s.loc)], s.loc)
            out.append(
                self.at(
                    ast.Assign([self.at(ast.Name(py_name(alias or name), ast.Store()), s.loc)], value), s.loc
                )
            )
        return out

    def s_If(self, s: na.If):
        return ast.If(self.expr(s.test), self.block(s.body), self.block(s.orelse) if s.orelse else [])

    def _loop_body(self, body, loc: Location) -> list[ast.stmt]:
        self.loop_depth += 1
        try:
            stmts = self.block(body)
        finally:
            self.loop_depth -= 1
        if self.steps:
            stmts.insert(0, self.at(ast.Expr(self.call("_step", [], loc)), loc))
        return stmts

    def s_While(self, s: na.While):
        return ast.While(
            self.expr(s.test), self._loop_body(s.body, s.loc), self.block(s.orelse) if s.orelse else []
        )

    def s_For(self, s: na.For):
        target = self.target(s.target)
        stores = self.flush_stores()
        return ast.For(
            target,
            self.expr(s.iter),
            stores + self._loop_body(s.body, s.loc),
            self.block(s.orelse) if s.orelse else [],
        )

    def s_Try(self, s: na.Try):
        handlers = []
        for h in s.handlers:
            typ = self.expr(h.type) if h.type is not None else self.load("Exception", h.loc)
            body = self.block(h.body)
            name = None
            if h.name:
                # Bind through a temporary so `e` outlives the handler (Python would delete it).
                name = self.tmp("exc")
                keep = self.at(
                    ast.Assign(
                        [self.at(ast.Name(py_name(h.name), ast.Store()), h.loc)], self.load(name, h.loc)
                    ),
                    h.loc,
                )
                body = [keep, *body]
            handlers.append(self.at(ast.ExceptHandler(typ, name, body), h.loc))
        return ast.Try(
            self.block(s.body),
            handlers,
            self.block(s.orelse) if s.orelse else [],
            self.block(s.finalbody) if s.finalbody else [],
        )

    def s_With(self, s: na.With):
        items = [ast.withitem(self.expr(e), self.target(t) if t is not None else None) for e, t in s.items]
        stores = self.flush_stores()
        return ast.With(items, stores + self.block(s.body))

    # ---- functions
    def _function(self, name: str, params, body: list[ast.stmt], loc: Location) -> ast.FunctionDef:
        if self.steps:
            # Placed on the first statement, so a runaway recursion reports the recursive line.
            first = getattr(body[0], "lineno", None)
            at = Location(loc.file, first, getattr(body[0], "col_offset", 0) + 1) if first else loc
            body.insert(0, self.at(ast.Expr(self.call("_step", [], at)), at))
        return self.at(ast.FunctionDef(name, self.arguments(params), body, [], None, None), loc)

    def _with_receiver(self, name: str, receiver: na.Receiver | None, params, loc: Location):
        if receiver is None:
            return params
        return (na.Param(receiver.name, "plain", receiver.type, None, loc=receiver.loc), *params)

    @staticmethod
    def _def_name(name: str, receiver: na.Receiver | None) -> str:
        """The Python name a def binds: a receiver named like a builtin (``def (a: Agent) log()``)
        must not shadow the builtin for the whole program, so it binds a private name instead."""
        return f"_rcv_{name}" if receiver is not None and name in BUILTIN_NAMES else py_name(name)

    def _bind_function(
        self,
        fn: ast.FunctionDef,
        name: str,
        receiver: na.Receiver | None,
        loc: Location,
        params: tuple[na.Param, ...] = (),
    ):
        named = []
        if fn.name != name and not fn.name.startswith("_rcv_"):
            # `_helper` is `dana·_helper` in Python; the function itself says `_helper`.
            named = [
                self.at(
                    ast.Expr(self.call("_named", [self.load(fn.name, loc), self.const(name, loc)], loc)), loc
                )
            ]
        if receiver is None:
            first = params[0] if params else None
            if first is None or first.kind != "plain" or first.annotation is None or name[:1] == "_":
                return [fn, *named]  # (`c._f()` is a refused attribute, so `_f` is no method)
            # `def increment(c: Counter, n: int)` is also callable as `c.increment(n)` when
            # Counter is a struct without a field or method of that name (runtime.method_of).
            thunk = self.at(
                ast.Lambda(ast.arguments([], [], None, [], [], None, []), self.expr(first.annotation)), loc
            )
            attach = self.call(
                "_method_of", [self.const(name, loc), thunk, self.load(py_name(name), loc)], loc
            )
            return [fn, *named, self.at(ast.Expr(attach), loc)]
        bound = fn.name
        attach = self.call(
            "_receiver", [self.const(name, loc), self.expr(receiver.type), self.load(bound, loc)], loc
        )
        return [fn, *named, self.at(ast.Assign([self.at(ast.Name(bound, ast.Store()), loc)], attach), loc)]

    def s_FuncDef(self, s: na.FuncDef):
        depth, self.loop_depth = self.loop_depth, 0
        try:
            body = self.block(s.body)
        finally:
            self.loop_depth = depth
        params = self._with_receiver(s.name, s.receiver, s.params, s.loc)
        fn = self._function(self._def_name(s.name, s.receiver), params, body, s.loc)
        return self._bind_function(fn, s.name, s.receiver, s.loc, s.params)

    def s_Decorated(self, s: na.Decorated):
        definition = s.definition
        if getattr(definition, "receiver", None) is not None:
            raise self.syntax("decorators on receiver methods are not supported", s.loc)
        out = self.stmt(definition)
        out = out if isinstance(out, list) else [out]
        name = py_name(definition.name)  # type: ignore[attr-defined]
        value: ast.expr = self.load(name, s.loc)
        for deco in reversed(s.decorators):  # the nearest decorator applies first, as in Python
            value = self.at(ast.Call(self.expr(deco), [value], []), deco.loc)
        return [*out, self.at(ast.Assign([self.at(ast.Name(name, ast.Store()), s.loc)], value), s.loc)]

    def s_DeclFuncDef(self, s: na.DeclFuncDef):
        params = self._with_receiver(s.name, s.receiver, s.params, s.loc)
        plain = [p for p in params if p.kind == "plain"]
        loc = s.loc
        if len(params) == 1 and plain:
            first_in = [self.load(py_name(plain[0].name), loc)]
        else:
            first_in = [
                self.load(py_name(p.name), loc)
                if p.kind == "plain"
                else self.at(ast.Starred(self.load(py_name(p.name), loc), ast.Load()), loc)
                for p in params
                if p.kind != "starstar"
            ]
        body = self.pipeline_body(pipeline_stages(s.value), first_in, {p.name for p in params}, loc)
        fn = self._function(self._def_name(s.name, s.receiver), params, body, loc)
        return self._bind_function(fn, s.name, s.receiver, loc)

    def _delegate_default(self, f: na.FieldDef) -> tuple[bool, na.Expr | None]:
        """Whether ``f`` is a delegate field (``engine: Engine = delegate`` or ``= delegate(v)``),
        and its real default. A program that binds ``delegate`` itself means its own value."""
        d = f.default
        if "delegate" in self.known_names:
            return False, d
        if isinstance(d, na.Name) and d.id == "delegate":
            return True, None
        if isinstance(d, na.Call) and isinstance(d.func, na.Name) and d.func.id == "delegate":
            if len(d.args) != 1 or d.keywords:
                raise self.syntax(
                    "delegate(...) takes the field's default value: want delegate(value)", d.loc
                )
            return True, d.args[0]
        return False, d

    def _struct_fields(self, fields, what: str = "struct") -> tuple[ast.expr, list[str]]:
        """The ``{name: (type, default)}`` a struct-like declaration passes to the runtime, and the
        names of its delegate fields (in declaration order)."""
        loc_keys, values, delegates = [], [], []
        for f in fields:
            is_delegate, default_expr = self._delegate_default(f)
            if is_delegate:
                if what == "interface":
                    raise self.syntax(
                        "an interface field cannot delegate: only structs and agents can", f.loc
                    )
                delegates.append(f.name)
            default = self.expr(default_expr) if default_expr is not None else self.load("_NO_DEFAULT", f.loc)
            loc_keys.append(self.const(f.name, f.loc))
            values.append(self.at(ast.Tuple([self.expr(f.annotation), default], ast.Load()), f.loc))
        return ast.Dict(loc_keys, values), delegates

    def _fields_args(self, fields, loc: Location, what: str = "struct") -> tuple[ast.expr, list[ast.keyword]]:
        spec, delegates = self._struct_fields(fields, what)
        keywords = []
        if delegates:
            names = self.at(ast.Tuple([self.const(n, loc) for n in delegates], ast.Load()), loc)
            keywords.append(self.at(ast.keyword("delegates", names), loc))
        return self.at(spec, loc), keywords

    def _declaration(
        self,
        helper: str,
        name: str,
        args: list[ast.expr],
        loc: Location,
        keywords: list[ast.keyword] | None = None,
    ) -> ast.stmt:
        value = self.call(helper, [self.const(name, loc), *args], loc, keywords)
        return ast.Assign([self.at(ast.Name(py_name(name), ast.Store()), loc)], value)

    def s_StructDef(self, s: na.StructDef):
        fields, kw = self._fields_args(s.fields, s.loc)
        return self._declaration("_struct", s.name, [fields, self.const(s.doc, s.loc)], s.loc, kw)

    def s_AgentBlueprintDef(self, s: na.AgentBlueprintDef):
        fields, kw = self._fields_args(s.fields, s.loc, "agent")
        return self._declaration("_agent_blueprint", s.name, [fields, self.const(s.doc, s.loc)], s.loc, kw)

    def s_ResourceDef(self, s: na.ResourceDef):
        fields, kw = self._fields_args(s.fields, s.loc, "resource")
        return self._declaration("_resource", s.name, [fields, self.const(s.doc, s.loc)], s.loc, kw)

    def s_AgentDef(self, s: na.AgentDef):
        if s.blueprint is None and s.overrides:
            o = s.overrides[0]
            raise self.syntax(
                f"agent {s.name} has no blueprint, so {o.name!r} needs a type: {o.name}: T = ...", o.loc
            )
        if s.blueprint is not None and s.fields:
            f = s.fields[0]
            raise self.syntax(
                f"agent {s.name} gives its blueprint's fields values ({f.name} = ...): "
                "declare new fields in the agent_blueprint",
                f.loc,
            )
        blueprint = self.expr(s.blueprint) if s.blueprint is not None else self.const(None, s.loc)
        overrides = ast.Dict(
            [self.const(o.name, o.loc) for o in s.overrides], [self.expr(o.value) for o in s.overrides]
        )
        fields, kw = self._fields_args(s.fields, s.loc, "agent")
        args = [blueprint, fields, self.at(overrides, s.loc), self.const(s.doc, s.loc)]
        return self._declaration("_agent", s.name, args, s.loc, kw)

    def s_InterfaceDef(self, s: na.InterfaceDef):
        methods = self.at(ast.List([self.const(m.name, m.loc) for m in s.methods], ast.Load()), s.loc)
        fields, _ = self._fields_args(s.fields, s.loc, "interface")
        embeds = self.at(ast.Tuple([self.expr(e) for e in s.embeds], ast.Load()), s.loc)
        args = [fields, methods, self.const(s.doc, s.loc), embeds]
        return self._declaration("_interface", s.name, args, s.loc)

    # ---- expressions
    known_names: frozenset[str] = frozenset()
    """Every name the program binds anywhere (what an annotation may name besides builtins)."""

    def program(self, prog: na.Program) -> tuple[ast.Module, frozenset[str]]:
        resolution = resolve_program(prog)  # stamps every name; raises the program's refusals
        self.known_names = resolution.bound
        body = list(prog.body)
        stmts = self.block(body)
        if body and isinstance(body[-1], na.ExprStmt) and isinstance(stmts[-1], ast.Expr):
            last = stmts[-1]
            stmts[-1] = self.at(ast.Return(last.value), body[-1].loc)
        main = ast.FunctionDef(MAIN, ast.arguments([], [], None, [], [], None, []), stmts, [], None, None)
        self.at(main, prog.loc)
        top_names = resolution.top_level
        # Prologue: names the body binds start from local: (initial state, earlier REPL lines).
        prologue = []
        loc = prog.loc
        for n in sorted(top_names):
            test = self.at(ast.Compare(self.const(n, loc), [ast.In()], [self.load("_L", loc)]), loc)
            load = self.at(ast.Subscript(self.load("_L", loc), self.const(n, loc), ast.Load()), loc)
            prologue.append(
                self.at(
                    ast.If(
                        test,
                        [self.at(ast.Assign([self.at(ast.Name(py_name(n), ast.Store()), loc)], load), loc)],
                        [],
                    ),
                    loc,
                )
            )
        sync = self.at(ast.Expr(self.call("_sync", [self.call("_locals", [], loc)], loc)), loc)
        main.body = [*prologue, self.at(ast.Try(stmts, [], [], [sync]), loc)]
        module = ast.Module([main], [])
        ast.fix_missing_locations(module)
        return module, top_names


_TYPE_WORDS = frozenset(
    {"int", "float", "str", "bool", "bytes", "list", "dict", "set", "tuple", "frozenset", "complex", "None"}
)


def _unknown_type_name(ann: na.Expr, known: frozenset[str]) -> tuple[str, Location] | None:
    """The first name in an annotation that names no type the program can know, with its place."""
    if isinstance(ann, na.Name):
        return (
            None if ann.id in _TYPE_WORDS or ann.id in known or ann.id in BUILTIN_NAMES else (ann.id, ann.loc)
        )
    if isinstance(ann, na.Const):
        if ann.value is None:
            return None
        return (f"the {type(ann.value).__name__} {repr(ann.value)[:40]}", ann.loc)
    if isinstance(ann, na.Attribute):
        return _unknown_type_name(ann.value, known) if isinstance(ann.value, na.Name) else None
    if isinstance(ann, na.Subscript):
        index = ann.index.elts if isinstance(ann.index, na.Tuple) else (ann.index,)
        for part in (ann.value, *index):
            if isinstance(part, na.Const) and part.value is Ellipsis:
                continue
            bad = _unknown_type_name(part, known)
            if bad is not None:
                return bad
        return None
    if isinstance(ann, na.BinOp) and ann.op == "|":
        return _unknown_type_name(ann.left, known) or _unknown_type_name(ann.right, known)
    return None  # other expressions are checked when they run (check_type)


_CACHE: OrderedDict[tuple, object] = OrderedDict()
_CACHE_SIZE = 512


def _cached(key: tuple, build):
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    value = build()
    _CACHE[key] = value
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def compile_program(source: str, filename: str = "<string>", *, steps: bool = False) -> CompiledProgram:
    """Parses and compiles a program; cached by (source hash, filename, steps).

    The parsed and translated tree is cached by source hash alone, so the same program under
    another file name (a DanaNode in a ``for_each`` names each iteration) only pays ``compile()``.
    """
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def translate() -> tuple[ast.Module, frozenset[str], int, ProgramRefs]:
        def work() -> tuple[ast.Module, frozenset[str], int, ProgramRefs]:
            tree = parse(source, filename)
            compiler = _Compiler(filename, steps=steps)
            module, top = compiler.program(tree)
            return module, top, compiler.store_sites, compiler.refs()

        return front_end(work, filename, source)  # only DanaflowErrors leave the front end

    def build() -> CompiledProgram:
        module, top, sites, refs = _cached(("tree", digest, steps), translate)
        code = front_end(lambda: compile(module, filename, "exec", dont_inherit=True), filename, source)
        return CompiledProgram(code, filename, source, top, steps, sites, refs)

    return _cached(("prog", digest, filename, steps), build)


def compile_expression_code(
    source: str,
    *,
    filename: str = "<expr>",
    line: int = 1,
    col: int = 1,
    mapping_attrs: bool = False,
    internal_names: frozenset[str] = frozenset(),
) -> CompiledExpression:
    """Compiles one expression whose free names are looked up through ``_lk`` at run time.

    ``internal_names`` (the ``_`` placeholders a template's caller supplies) is accepted as before;
    ``_`` names are ordinary identifiers now, so it changes nothing."""
    del internal_names
    key = ("expr", source, filename, line, col, mapping_attrs)

    def build() -> CompiledExpression:
        def work() -> CompiledExpression:
            tree = parse_expression(source, filename, line, col)
            compiler = _Compiler(
                filename,
                steps=True,
                expression_mode=True,
                mapping_attrs=mapping_attrs,
            )
            module = compiler.expression(tree)
            code = compile(module, filename, "exec", dont_inherit=True)
            return CompiledExpression(code, source, filename, compiler.refs(), is_bounded(tree))

        return front_end(work, filename)

    return _cached(key, build)
