"""The Dana syntax tree: frozen dataclasses, one per grammar rule, each with a ``loc``.

The parser builds these; the compiler turns them into Python ``ast``. Nothing here evaluates:
keeping the tree inert is what lets a program be compiled once and cached by its source hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from danaflow.errors import Location

__all__ = [
    "AgentBlueprintDef",
    "AgentDef",
    "AnnAssign",
    "Assert",
    "Assign",
    "Attribute",
    "AugAssign",
    "BinOp",
    "BoolOp",
    "Break",
    "Call",
    "CapturedStage",
    "Compare",
    "Comprehension",
    "Const",
    "Continue",
    "DeclFuncDef",
    "Dict",
    "DictComp",
    "ExceptHandler",
    "Expr",
    "ExprStmt",
    "FString",
    "FieldDef",
    "FieldOverride",
    "For",
    "FormattedValue",
    "FromImport",
    "FuncDef",
    "GenExp",
    "If",
    "IfExp",
    "Import",
    "InterfaceDef",
    "Keyword",
    "Lambda",
    "List",
    "ListComp",
    "MethodSig",
    "Name",
    "Node",
    "Not",
    "Param",
    "Pass",
    "PipeValue",
    "Program",
    "Raise",
    "Receiver",
    "ResourceDef",
    "Return",
    "ScopedName",
    "Set",
    "SetComp",
    "Slice",
    "Starred",
    "Stmt",
    "StructDef",
    "Subscript",
    "Try",
    "Tuple",
    "UnaryOp",
    "While",
    "With",
]

_NOWHERE = Location()


@dataclass(frozen=True, slots=True)
class Node:
    loc: Location = field(default=_NOWHERE, kw_only=True, compare=False, repr=False)


class Expr(Node):
    __slots__ = ()


class Stmt(Node):
    __slots__ = ()


# ------------------------------------------------------------------ expressions
@dataclass(frozen=True, slots=True)
class Name(Expr):
    id: str
    scope: str = field(default="", kw_only=True, compare=False, repr=False)
    """Where the name resolves, stamped by resolve.py: ``local`` (bound by the function, lambda
    or comprehension it is in), ``enclosing`` (by one around it), ``top`` (by the program's body,
    from a function) or ``free`` (by nothing lexical: the runtime looks it up); ``""`` until then."""


@dataclass(frozen=True, slots=True)
class ScopedName(Expr):
    """``scope:name`` — ``local:x`` compiles to the plain local ``x``."""

    scope: str
    name: str
    resolved: str = field(default="", kw_only=True, compare=False, repr=False)
    """For ``local:x``, where ``x`` resolves (the stamps of ``Name.scope``)."""


@dataclass(frozen=True, slots=True)
class Const(Expr):
    value: Any


@dataclass(frozen=True, slots=True)
class FormattedValue(Expr):
    value: Expr
    conversion: str | None
    spec: FString | None


@dataclass(frozen=True, slots=True)
class FString(Expr):
    parts: tuple[str | FormattedValue, ...]


@dataclass(frozen=True, slots=True)
class Tuple(Expr):
    elts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class List(Expr):
    elts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Set(Expr):
    elts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Dict(Expr):
    """``keys[i] is None`` marks a ``**mapping`` entry."""

    keys: tuple[Expr | None, ...]
    values: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Starred(Expr):
    value: Expr


@dataclass(frozen=True, slots=True)
class Comprehension(Node):
    target: Expr
    iter: Expr
    ifs: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ListComp(Expr):
    elt: Expr
    generators: tuple[Comprehension, ...]


@dataclass(frozen=True, slots=True)
class SetComp(Expr):
    elt: Expr
    generators: tuple[Comprehension, ...]


@dataclass(frozen=True, slots=True)
class GenExp(Expr):
    elt: Expr
    generators: tuple[Comprehension, ...]


@dataclass(frozen=True, slots=True)
class DictComp(Expr):
    key: Expr
    value: Expr
    generators: tuple[Comprehension, ...]


@dataclass(frozen=True, slots=True)
class BinOp(Expr):
    left: Expr
    op: str
    right: Expr


@dataclass(frozen=True, slots=True)
class UnaryOp(Expr):
    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: str  # "and" | "or"
    values: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class IfExp(Expr):
    test: Expr
    body: Expr
    orelse: Expr


@dataclass(frozen=True, slots=True)
class Param(Node):
    name: str
    kind: str = "plain"  # "plain" | "star" | "starstar"
    annotation: Expr | None = None
    default: Expr | None = None


@dataclass(frozen=True, slots=True)
class Lambda(Expr):
    params: tuple[Param, ...]
    body: Expr


@dataclass(frozen=True, slots=True)
class Keyword(Node):
    """``name is None`` marks ``**mapping``."""

    name: str | None
    value: Expr


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: Expr
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True, slots=True)
class Attribute(Expr):
    value: Expr
    attr: str


@dataclass(frozen=True, slots=True)
class Slice(Expr):
    lower: Expr | None
    upper: Expr | None
    step: Expr | None


@dataclass(frozen=True, slots=True)
class Subscript(Expr):
    value: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class CapturedStage(Expr):
    """``stage as name`` in a pipeline: later stages read the stage's value as ``name``."""

    value: Expr
    name: str


@dataclass(frozen=True, slots=True)
class PipeValue(Expr):
    """``$$`` — where a pipeline stage puts the value it receives."""


# ------------------------------------------------------------------ statements
@dataclass(frozen=True, slots=True)
class ExprStmt(Stmt):
    value: Expr


@dataclass(frozen=True, slots=True)
class Assign(Stmt):
    targets: tuple[Expr, ...]
    value: Expr


@dataclass(frozen=True, slots=True)
class AnnAssign(Stmt):
    target: Expr
    annotation: Expr
    value: Expr | None


@dataclass(frozen=True, slots=True)
class AugAssign(Stmt):
    target: Expr
    op: str
    value: Expr


@dataclass(frozen=True, slots=True)
class Pass(Stmt):
    pass


@dataclass(frozen=True, slots=True)
class Break(Stmt):
    pass


@dataclass(frozen=True, slots=True)
class Continue(Stmt):
    pass


@dataclass(frozen=True, slots=True)
class Return(Stmt):
    value: Expr | None


@dataclass(frozen=True, slots=True)
class Raise(Stmt):
    exc: Expr | None
    cause: Expr | None


@dataclass(frozen=True, slots=True)
class Assert(Stmt):
    test: Expr
    msg: Expr | None


@dataclass(frozen=True, slots=True)
class Import(Stmt):
    names: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class FromImport(Stmt):
    module: str
    names: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class If(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class While(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class For(Stmt):
    target: Expr
    iter: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class ExceptHandler(Node):
    type: Expr | None
    name: str | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Try(Stmt):
    body: tuple[Stmt, ...]
    handlers: tuple[ExceptHandler, ...]
    orelse: tuple[Stmt, ...]
    finalbody: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class With(Stmt):
    items: tuple[tuple[Expr, Expr | None], ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Receiver(Node):
    name: str
    type: Expr


@dataclass(frozen=True, slots=True)
class FuncDef(Stmt):
    name: str
    receiver: Receiver | None
    params: tuple[Param, ...]
    returns: Expr | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Decorated(Stmt):
    """``@d1`` ``@d2(x)`` above a def: the def's value becomes ``d1(d2(x)(f))``."""

    decorators: tuple[Expr, ...]
    definition: Stmt


@dataclass(frozen=True, slots=True)
class DeclFuncDef(Stmt):
    """``def f(x) = g | h``: ``value`` is the pipeline, its top-level ``|`` separating stages
    (each a stage expression or a CapturedStage)."""

    name: str
    receiver: Receiver | None
    params: tuple[Param, ...]
    returns: Expr | None
    value: Expr


@dataclass(frozen=True, slots=True)
class FieldDef(Node):
    name: str
    annotation: Expr
    default: Expr | None


@dataclass(frozen=True, slots=True)
class StructDef(Stmt):
    name: str
    fields: tuple[FieldDef, ...]
    doc: str | None


@dataclass(frozen=True, slots=True)
class AgentBlueprintDef(Stmt):
    """``agent_blueprint Name:`` with typed fields: a struct type whose instances are agents."""

    name: str
    fields: tuple[FieldDef, ...]
    doc: str | None


@dataclass(frozen=True, slots=True)
class FieldOverride(Node):
    """``name = value`` in an agent body: a new default for a field of its blueprint."""

    name: str
    value: Expr


@dataclass(frozen=True, slots=True)
class AgentDef(Stmt):
    """``agent Name``, ``agent Name(Blueprint)`` or either with a body: binds ``Name`` to the one
    instance of its own agent type (the blueprint's fields, ``overrides``' defaults, new ``fields``)."""

    name: str
    blueprint: Expr | None
    fields: tuple[FieldDef, ...]
    overrides: tuple[FieldOverride, ...]
    doc: str | None


@dataclass(frozen=True, slots=True)
class ResourceDef(Stmt):
    """``resource Name:`` with typed fields: a struct type for the things agents use."""

    name: str
    fields: tuple[FieldDef, ...]
    doc: str | None


@dataclass(frozen=True, slots=True)
class MethodSig(Node):
    name: str
    params: tuple[Param, ...]
    returns: Expr | None


@dataclass(frozen=True, slots=True)
class InterfaceDef(Stmt):
    name: str
    fields: tuple[FieldDef, ...]
    methods: tuple[MethodSig, ...]
    doc: str | None
    embeds: tuple[Expr, ...] = ()
    """Interfaces named on a line of their own (``IReadable``): their fields and methods join these."""


@dataclass(frozen=True, slots=True)
class Program(Node):
    body: tuple[Stmt, ...]
    filename: str
    source: str
