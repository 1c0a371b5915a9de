"""Resolves scanned templates against an execution context: the ``$var/$expr/$hier`` semantics.

Expressions are Dana expressions compiled by ``danaflow.lang`` (one expression language for the
whole system) with ``mapping_attrs`` on, so ``a.b`` reads key ``b`` of a dict result. Nested
``$var{}``/``$hier{}`` inside ``$expr{}`` are resolved first and passed to the expression as
internal placeholder names, so they never leak into the output. Lookups go through the
``TemplateScope`` protocol, which ExecutionContext implements (context/ sits above template/).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any, Protocol

from pydantic import BaseModel

from danaflow.errors import DanaflowError, Location, TemplateError
from danaflow.lang.sandbox import SandboxContext

from .scanner import Ref, ScanError, Text, scan

__all__ = ["ObjectTemplate", "TemplateEngine", "TemplateScope", "to_text"]

_MISSING: Any = object()


class TemplateScope(Protocol):
    """What resolving a template needs from its context (ExecutionContext satisfies it)."""

    path: str

    @property
    def sandbox(self) -> SandboxContext: ...

    @property
    def allow_python_templates(self) -> bool: ...

    def lookup_variable(self, name: str) -> Any:
        """A component variable visible here; raises KeyError when there is none."""

    def find_component(self, segments: list[str]) -> tuple[Any, int] | None:
        """The result of the component a dotted path names and how many segments it used."""


class TemplateEngine:
    """Renders DAD-style templates; all methods are static so the seeds' call shapes work."""

    @staticmethod
    def render_template(
        template: str,
        variables: Mapping[str, Any] | None = None,
        execution_context: TemplateScope | None = None,
        *,
        name: str = "<template>",
        allow_python: bool | None = None,
    ) -> Any:
        """Renders ``template``. A template that is exactly one ``$expr{}`` keeps its value's type;
        anything else renders to a string.
        """
        r = _Resolver(template, variables, execution_context, name, allow_python)
        segs = r.segments
        if len(segs) == 1 and isinstance(segs[0], Ref) and segs[0].kind == "expr":
            return r.value(segs[0])
        return r.text()

    @staticmethod
    def render_text(
        template: str,
        variables: Mapping[str, Any] | None = None,
        execution_context: TemplateScope | None = None,
        *,
        name: str = "<template>",
        allow_python: bool | None = None,
    ) -> str:
        """Renders ``template`` to a string, whatever its references hold."""
        return _Resolver(template, variables, execution_context, name, allow_python).text()

    @staticmethod
    def evaluate(
        template: str,
        variables: Mapping[str, Any] | None = None,
        execution_context: TemplateScope | None = None,
        *,
        name: str = "<template>",
        allow_python: bool | None = None,
    ) -> Any:
        """Like render_template, but a template that is one reference of any kind (surrounding
        whitespace ignored) returns the referenced value itself — what ObjectTemplate needs.
        """
        r = _Resolver(template.strip(), variables, execution_context, name, allow_python)
        segs = r.segments
        if len(segs) == 1 and isinstance(segs[0], Ref):
            return r.value(segs[0])
        return r.text()


class ObjectTemplate(BaseModel):
    """A template that evaluates to an object: ``ObjectTemplate(expression="$expr{...}")``."""

    expression: str

    def evaluate(
        self,
        execution_context: TemplateScope | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        name: str = "<object template>",
    ) -> Any:
        return TemplateEngine.evaluate(self.expression, variables, execution_context, name=name)


def to_text(value: Any) -> str:
    """How a referenced value reads inside text: strings as-is, None as '', containers as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    if _serializer(value) is not None:  # a Dana struct
        return json.dumps(_json_default(value), indent=2, ensure_ascii=False)
    if isinstance(value, Mapping | list | tuple):
        try:
            return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _serializer(value: Any) -> Any:
    """The pydantic serializer of a value's type (Dana structs carry one), if any."""
    return getattr(type(value), "__pydantic_serializer__", None)


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if (serializer := _serializer(value)) is not None:
        return serializer.to_python(value, mode="json")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


class _Names(Mapping[str, Any]):
    """The free names an expression sees: placeholders, explicit variables, component variables."""

    __slots__ = ("_ctx", "_internal", "_variables")

    def __init__(self, internal: dict[str, Any], variables: Mapping[str, Any], ctx: TemplateScope | None):
        self._internal = internal
        self._variables = variables
        self._ctx = ctx

    def __getitem__(self, key: str) -> Any:
        if key in self._internal:
            return self._internal[key]
        if key in self._variables:
            return self._variables[key]
        if self._ctx is not None:
            return self._ctx.lookup_variable(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self._internal
        yield from self._variables

    def __len__(self) -> int:
        return len(self._internal) + len(self._variables)


class _Resolver:
    __slots__ = ("allow_python", "ctx", "name", "segments", "template", "variables")

    def __init__(
        self,
        template: str,
        variables: Mapping[str, Any] | None,
        ctx: TemplateScope | None,
        name: str,
        allow_python: bool | None,
    ):
        if not isinstance(template, str):
            raise TemplateError(f"template {name!r}: got {type(template).__name__}, want str")
        self.template = template
        self.variables = variables or {}
        self.ctx = ctx
        self.name = name
        self.allow_python = allow_python
        try:
            self.segments = scan(template)
        except ScanError as exc:
            raise self.error(exc.message, exc.offset) from None

    # ---- errors ------------------------------------------------------------------------------
    def location(self, offset: int) -> Location:
        t = self.template
        line = t.count("\n", 0, offset) + 1
        line_start = t.rfind("\n", 0, offset) + 1
        line_end = t.find("\n", offset)
        source_line = t[line_start : line_end if line_end >= 0 else len(t)]
        return Location(self.name, line, offset - line_start + 1, source_line)

    def error(self, message: str, offset: int, ref: Ref | None = None) -> TemplateError:
        path = self.ctx.path if self.ctx is not None else None
        where = f" in node {path}" if path else ""
        what = f"{ref.source}: " if ref is not None else ""
        return TemplateError(
            f"template {self.name!r}{where}: {what}{message}", location=self.location(offset), path=path
        )

    # ---- rendering ---------------------------------------------------------------------------
    def text(self) -> str:
        out: list[str] = []
        for seg in self.segments:
            if isinstance(seg, Text):
                out.append(seg.text)
            else:
                out.append(to_text(self.value(seg)))
        return "".join(out)

    def value(self, ref: Ref) -> Any:
        if ref.kind == "var":
            return self.var(ref)
        if ref.kind == "hier":
            return self.hier(ref)
        return self.expr(ref)

    def var(self, ref: Ref) -> Any:
        head, rest = ref.path()
        if not head:
            raise self.error("want a variable name", ref.offset, ref)
        name = head[0]
        if name in self.variables:
            value = self.variables[name]
        else:
            value = _MISSING
            if self.ctx is not None:
                try:
                    value = self.ctx.lookup_variable(name)
                except KeyError:
                    value = _MISSING
            if value is _MISSING:
                raise self.error(f"variable {name!r} is not defined", ref.offset, ref)
        return self.walk(value, head[1:], rest, ref)

    def hier(self, ref: Ref) -> Any:
        head, rest = ref.path()
        if not head:
            raise self.error("want a component path like node.outcome.text", ref.offset, ref)
        if self.ctx is None:
            raise self.error("$hier{} needs an execution context", ref.offset, ref)
        found = self.ctx.find_component(head)
        if found is None:
            raise self.error(f"no component named {head[0]!r} is visible from here", ref.offset, ref)
        result, used = found
        if result is None:
            raise self.error(
                f"component {'.'.join(head[:used])!r} has no result yet (it has not run)", ref.offset, ref
            )
        return self.walk(result, head[used:], rest, ref)

    def walk(self, value: Any, attrs: list[str], rest: str, ref: Ref) -> Any:
        """Follows an attribute path: mapping keys first, then attributes (DESIGN §5)."""
        done: list[str] = []
        for attr in attrs:
            if attr.startswith("_"):
                raise self.error(
                    f"cannot read {attr!r}: names starting with '_' are private", ref.offset, ref
                )
            if isinstance(value, Mapping) and attr in value:
                value = value[attr]
            elif hasattr(value, attr) and not callable(getattr(type(value), attr, None)):
                value = getattr(value, attr)
            else:
                at = ".".join(done) or "the value"
                raise self.error(f"{at} ({type(value).__name__}) has no field {attr!r}", ref.offset, ref)
            done.append(attr)
        if rest:
            value = self.compiled(f"_ref{rest}", ref, {"_ref": value})
        return value

    def expr(self, ref: Ref) -> Any:
        internal: dict[str, Any] = {}
        pieces: list[str] = []
        for part in ref.parts:
            if isinstance(part, str):
                pieces.append(part)
            else:
                placeholder = f"_{part.kind}_{len(internal)}"
                internal[placeholder] = self.value(part)
                pieces.append(placeholder)
        source = "".join(pieces).strip()
        if source.startswith("py:"):
            return self.python(source[3:].strip(), ref, internal)
        if not source:
            raise self.error("empty expression", ref.offset, ref)
        return self.compiled(source, ref, internal)

    def compiled(self, source: str, ref: Ref, internal: dict[str, Any]) -> Any:
        # Deferred: the Dana compiler loads lark, which plain-text templates never need.
        from danaflow.lang.api import compile_expression

        loc = self.location(ref.body_offset)
        names = _Names(internal, self.variables, self.ctx)
        sandbox = self.ctx.sandbox if self.ctx is not None else None
        try:
            compiled = compile_expression(
                source,
                filename=self.name,
                line=loc.line,
                col=loc.col,
                mapping_attrs=True,
                internal_names=tuple(internal),
            )
            return compiled.evaluate(names, sandbox)
        except NameError as exc:
            raise self.error(f"missing reference: {_message(exc)}", ref.offset, ref) from exc
        except DanaflowError as exc:
            raise self.error(_message(exc), ref.offset, ref) from exc

    def python(self, source: str, ref: Ref, internal: dict[str, Any]) -> Any:
        allowed = self.allow_python
        if allowed is None:
            allowed = self.ctx.allow_python_templates if self.ctx is not None else False
        if not allowed:
            raise self.error(
                "Python expressions are off in this run: want allow_python_templates=True on the run",
                ref.offset,
                ref,
            )
        names = _Names(internal, self.variables, self.ctx)
        try:
            code = compile(source, self.name, "eval")
            return eval(code, {"__builtins__": builtins}, names)
        except NameError as exc:
            raise self.error(f"missing reference: {exc}", ref.offset, ref) from exc
        except Exception as exc:
            raise self.error(f"{type(exc).__name__}: {exc}", ref.offset, ref) from exc


def _message(exc: BaseException) -> str:
    if isinstance(exc, DanaflowError):
        return exc.message
    return str(exc)
