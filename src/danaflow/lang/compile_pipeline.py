"""Compiles declarative definitions' pipelines (``def f(x) = g | h(2) as y | k(y)``) to Python.

A pipeline is not an expression evaluated at run time: each stage becomes one statement of the
generated function, ``_v = <stage applied to the previous value>``, so a pipeline costs what the
calls it makes cost. The stage forms (a name, a call with the value first or at ``$$``, a lambda,
a list, the conditional ``case((pred, f), ..., default)``, a capture ``stage as name``) and their
compile-time checks live here, apart from the statements of compiler.py.
"""

from __future__ import annotations

import ast
import dataclasses

from danaflow.errors import Location

from . import ast as na
from .compile_expr import ExpressionCompiler
from .names import py_name

__all__ = ["PipelineCompiler", "pipeline_stages"]


def pipeline_stages(value: na.Expr) -> list[na.Expr]:
    """The stages of a declarative definition's value: the operands of its top-level ``|``."""
    if isinstance(value, na.BinOp) and value.op == "|":
        return [*pipeline_stages(value.left), *pipeline_stages(value.right)]
    return [value]


def _has_pipe_value(call: na.Call) -> bool:
    return any(isinstance(a, na.PipeValue) for a in call.args) or any(
        isinstance(k.value, na.PipeValue) for k in call.keywords
    )


def _names_in(node: object) -> set[str]:
    """Every plain name a Dana subtree reads."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, na.Name):
            out.add(n.id)
        if isinstance(n, na.Node):
            for f in dataclasses.fields(n):
                v = getattr(n, f.name)
                if isinstance(v, na.Node):
                    stack.append(v)
                elif isinstance(v, tuple):
                    stack.extend(x for x in v if isinstance(x, (na.Node, tuple)))
        elif isinstance(n, tuple):
            stack.extend(x for x in n if isinstance(x, (na.Node, tuple)))
    return out


def _is_pair(e: na.Expr) -> bool:
    return isinstance(e, na.Tuple) and len(e.elts) == 2


class PipelineCompiler(ExpressionCompiler):
    """The pipeline half of the program compiler (``known_names`` comes from the program)."""

    known_names: frozenset[str] = frozenset()

    def pipeline_body(
        self, stages: list[na.Expr], inputs: list[ast.expr], params: set[str], loc: Location
    ) -> list[ast.stmt]:
        """The statements that run ``stages`` on ``inputs`` (the function's parameters, none for
        a source pipeline) and return the last stage's value."""
        captures: dict[str, int] = {}
        for i, stage in enumerate(stages):
            if isinstance(stage, na.CapturedStage):
                if stage.name in params:
                    raise self.syntax(
                        f"capture {stage.name!r} would hide the parameter {stage.name}", stage.loc
                    )
                if stage.name in captures:
                    raise self.syntax(f"{stage.name!r} is captured twice in this pipeline", stage.loc)
                captures[stage.name] = i
        value_name = self.tmp("v")
        body: list[ast.stmt] = []
        current = inputs
        for i, stage in enumerate(stages):
            inner = stage.value if isinstance(stage, na.CapturedStage) else stage
            for n in sorted(_names_in(inner)):
                if captures.get(n, -1) >= i:
                    raise self.syntax(f"{n!r} is read before the stage that captures it", inner.loc)
            seen = frozenset(n for n, j in captures.items() if j < i)
            value = self.stage(inner, current, seen)
            body.append(self._bind(value_name, value, stage.loc))
            if isinstance(stage, na.CapturedStage):
                body.append(self._bind(py_name(stage.name), self.load(value_name, stage.loc), stage.loc))
            current = [self.load(value_name, stage.loc)]
        body.append(self.at(ast.Return(self.load(value_name, loc)), loc))
        return body

    def _bind(self, name: str, value: ast.expr, loc: Location) -> ast.stmt:
        return self.at(ast.Assign([self.at(ast.Name(name, ast.Store()), loc)], value), loc)

    def stage(
        self, stage: na.Expr, inputs: list[ast.expr], captured: frozenset[str] = frozenset()
    ) -> ast.expr:
        """One stage applied to ``inputs`` (the previous stage's value). A call that reads ``$$``
        or a capture is evaluated as written; any other call gets the value as its first argument."""
        loc = stage.loc
        if isinstance(stage, na.List):
            return self.at(ast.List([self.stage(e, inputs, captured) for e in stage.elts], ast.Load()), loc)
        if (
            isinstance(stage, na.Call)
            and isinstance(stage.func, na.Name)
            and stage.func.id == "case"
            and "case" not in self.known_names
        ):
            return self._case(stage, inputs, captured)
        if isinstance(stage, na.Call) and _has_pipe_value(stage):
            if len(inputs) != 1:
                what = "no value" if not inputs else "several arguments"
                raise self.syntax(f"'$$' needs a single value; this stage receives {what}", loc)
            saved, self._pipe_value = self._pipe_value, inputs[0]
            try:
                return self.expr(stage)
            finally:
                self._pipe_value = saved
        if isinstance(stage, na.Call) and captured & _names_in((stage.args, stage.keywords)):
            return self.expr(stage)
        if isinstance(stage, na.Call):
            func = self.expr(stage.func)
            args = [*inputs, *(self.expr(a) for a in stage.args)]
            return self.call_with(func, args, stage.keywords, loc)
        return self.at(ast.Call(self.expr(stage), list(inputs), []), loc)

    def _case(self, call: na.Call, inputs: list[ast.expr], captured: frozenset[str]) -> ast.expr:
        """``case((pred, f), ..., default)``: the stage of the first pair whose predicate holds for
        the value, else ``default`` (without one, a ValueError naming the value)."""
        want = "want case((condition, stage), ..., default)"
        if call.keywords or not call.args:
            raise self.syntax(f"case() takes (condition, stage) pairs and a default: {want}", call.loc)
        *pairs, last = call.args
        default: na.Expr | None = None
        if _is_pair(last):
            pairs.append(last)
        else:
            default = last
        for p in pairs:
            if not _is_pair(p):
                raise self.syntax(f"case(): got {_what(p)} before the default, {want}", p.loc)
        if default is not None:
            result = self.stage(default, inputs, captured)
        else:
            result = self.call("_no_case", list(inputs), call.loc)
        for pair in reversed(pairs):
            assert isinstance(pair, na.Tuple)
            cond, branch = pair.elts
            test = self.stage(cond, inputs, captured)
            result = self.at(ast.IfExp(test, self.stage(branch, inputs, captured), result), pair.loc)
        return result


def _what(e: na.Expr) -> str:
    if isinstance(e, na.Tuple):
        return f"a tuple of {len(e.elts)}"
    return {na.Name: "a name", na.Call: "a call", na.Lambda: "a lambda"}.get(type(e), "an expression")
