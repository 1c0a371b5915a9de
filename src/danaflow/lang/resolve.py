"""Scope resolution: decides which unscoped names are lexical and rewrites the rest.

Runs over the Python ``ast`` the compiler generated, because there Python's own scoping rules
(functions, lambdas, comprehensions, closures) are explicit. A name bound in the current function
or an enclosing one stays a Python name, so closures and fresh per-call locals come for free; any
other name is rewritten to the runtime fallback: the program's top-level ``local:`` dict, then
``private:``, ``public:``, ``system:``, then registered functions and builtins (DESIGN §3).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

__all__ = ["bound_names", "resolve_free_names"]

_SCOPES = (ast.FunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class _Binder(ast.NodeVisitor):
    """Collects the names one scope binds, without entering nested scopes."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.names.add(node.name)
        for d in [*node.args.defaults, *node.args.kw_defaults]:
            if d is not None:
                self.visit(d)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for d in [*node.args.defaults, *node.args.kw_defaults]:
            if d is not None:
                self.visit(d)

    def _comp(self, node) -> None:
        self.visit(node.generators[0].iter)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comp

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)


def _args(a: ast.arguments) -> set[str]:
    names = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    if a.vararg:
        names.add(a.vararg.arg)
    if a.kwarg:
        names.add(a.kwarg.arg)
    return names


def bound_names(scope: ast.AST) -> set[str]:
    """The names a function, lambda or comprehension binds in its own scope."""
    b = _Binder()
    if isinstance(scope, ast.FunctionDef):
        b.names |= _args(scope.args)
        for stmt in scope.body:
            b.visit(stmt)
    elif isinstance(scope, ast.Lambda):
        b.names |= _args(scope.args)
        b.visit(scope.body)
    else:
        for gen in scope.generators:
            b.visit(gen.target)
            for cond in gen.ifs:
                b.visit(cond)
        for gen in scope.generators[1:]:
            b.visit(gen.iter)
    return b.names


class _Rewriter(ast.NodeTransformer):
    def __init__(self, fallback: Callable[[ast.Name], ast.expr], is_internal: Callable[[str], bool]):
        self.stack: list[set[str]] = []
        self.fallback = fallback
        self.is_internal = is_internal

    def _lexical(self, name: str) -> bool:
        return any(name in s for s in self.stack)

    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load) and not self.is_internal(node.id) and not self._lexical(node.id):
            return ast.copy_location(self.fallback(node), node)
        return node

    def _scoped(self, node):
        # Defaults and the first iterable are evaluated in the enclosing scope.
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            node.args.defaults = [self.visit(d) for d in node.args.defaults]
            node.args.kw_defaults = [self.visit(d) if d is not None else None for d in node.args.kw_defaults]
            self.stack.append(bound_names(node))
            if isinstance(node, ast.FunctionDef):
                node.body = [self.visit(s) for s in node.body]
            else:
                node.body = self.visit(node.body)
        else:
            first = node.generators[0]
            first.iter = self.visit(first.iter)
            self.stack.append(bound_names(node))
            for i, gen in enumerate(node.generators):
                gen.target = self.visit(gen.target)
                if i:
                    gen.iter = self.visit(gen.iter)
                gen.ifs = [self.visit(c) for c in gen.ifs]
            if isinstance(node, ast.DictComp):
                node.key = self.visit(node.key)
                node.value = self.visit(node.value)
            else:
                node.elt = self.visit(node.elt)
        self.stack.pop()
        return node

    visit_FunctionDef = visit_Lambda = _scoped
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _scoped


def resolve_free_names(
    root: ast.FunctionDef,
    fallback: Callable[[ast.Name], ast.expr],
    is_internal: Callable[[str], bool],
) -> ast.FunctionDef:
    """Rewrites, in place, every non-lexical name load under ``root`` with ``fallback(name)``."""
    return _Rewriter(fallback, is_internal).visit(root)
