"""Resolves scanned templates against an execution context: the ``$var/$expr/$hier`` semantics.

``$var{}``/``$hier{}`` are paths (``template.paths``) walked here: mapping keys first, then
non-callable attributes, ``[index]`` on lists and mappings; no path text reaches a compiler.
Only ``$expr{}`` bodies are Dana expressions, compiled by ``danaflow.lang`` with ``mapping_attrs``
on, so ``a.b`` reads key ``b`` of a dict result. Nested ``$var{}``/``$hier{}`` inside ``$expr{}``
are resolved first and passed to the expression as internal placeholder names, so they never leak
into the output. Lookups go through the ``TemplateScope`` protocol, which ExecutionContext
implements (context/ sits above template/).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from pydantic import BaseModel

from danaflow.errors import DanaflowError, Location, TemplateError
from danaflow.lang.sandbox import SandboxContext

from .paths import Key, Name, Path, PathError, Step, VarKey, describe, parse_path
from .scanner import Ref, ScanError, Text, scan

__all__ = ["ObjectTemplate", "Part", "TemplateEngine", "TemplateScope", "to_text"]

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


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a rendered template: text the author wrote, or the text of one reference's value.

    Callers that must treat the two differently (CommandNode quotes values for the shell) render
    with ``TemplateEngine.render_parts``.
    """

    text: str
    ref: str | None = None
    """The reference whose value this is (``$var{name}``); None for the template's own text."""


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
    def render_parts(
        template: str,
        variables: Mapping[str, Any] | None = None,
        execution_context: TemplateScope | None = None,
        *,
        name: str = "<template>",
        allow_python: bool | None = None,
    ) -> list[Part]:
        """Renders ``template`` into its literal text and one Part per reference (as text)."""
        r = _Resolver(template, variables, execution_context, name, allow_python)
        return [
            Part(seg.text) if isinstance(seg, Text) else Part(to_text(r.value(seg)), seg.source)
            for seg in r.segments
        ]

    @staticmethod
    def resolve_path(
        path: str,
        execution_context: TemplateScope | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        kind: str = "hier",
        name: str | None = None,
    ) -> Any:
        """The value a bare path names, as ``$hier{path}`` (or ``$var{path}``) would read it.

        ``path`` is only ever a path, never template text, so a caller holding an untrusted
        string (Dana's ``result("node.outcome.text")``) cannot smuggle a reference into it.
        """
        if kind not in ("var", "hier"):
            raise TemplateError(f"resolve_path: got kind {kind!r}, want 'var' or 'hier'")
        label = name or f"{kind} path"
        r = _Resolver(path, variables, execution_context, label, False, scan_template=False)
        try:
            target, _ = parse_path(path)
        except PathError as exc:
            raise r.error(exc.message, exc.offset) from None
        return r.value(Ref(kind, path, 0, 0, target=target))

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


def _has_fields(value: Any) -> bool:
    """Whether ``value`` is data whose attributes are its fields (what a template may walk)."""
    import dataclasses
    import datetime as _dt
    import enum

    t = type(value)
    return (
        isinstance(value, BaseModel | enum.Enum | _dt.date | _dt.time | _dt.timedelta)
        or (dataclasses.is_dataclass(value) and not isinstance(value, type))
        or hasattr(t, "__dana_fields__")
        or (isinstance(value, tuple) and hasattr(t, "_fields"))
        or t.__name__ in ("Capability", "Opaque")
    )


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
        *,
        scan_template: bool = True,
    ):
        if not isinstance(template, str):
            raise TemplateError(f"template {name!r}: got {type(template).__name__}, want str")
        self.template = template
        self.variables = variables or {}
        self.ctx = ctx
        self.name = name
        self.allow_python = allow_python
        self.segments: tuple[Text | Ref, ...] = ()
        if scan_template:
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
        assert ref.target is not None  # the scanner parses every var/hier body
        return self.read_var(ref.target, ref)

    def read_var(self, target: Path, ref: Ref) -> Any:
        first = target.steps[0]
        assert isinstance(first, Name)
        name = first.name
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
                raise self.error(f"variable {name!r} is not defined", first.offset, ref)
        return self.walk(value, target.steps, 1, ref)

    def hier(self, ref: Ref) -> Any:
        assert ref.target is not None
        head = ref.target.names()
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
        return self.walk(result, ref.target.steps, used, ref)

    def walk(self, value: Any, steps: tuple[Step, ...], start: int, ref: Ref) -> Any:
        """Follows ``steps[start:]`` from ``value`` (what ``steps[:start]`` named), DESIGN §5:
        a name reads a mapping key first, then a non-callable attribute; ``[i]`` indexes a list,
        tuple or mapping. Every value on the way must be data, never a function or a class.
        """
        self.check_data(value, steps[:start], ref)
        for i in range(start, len(steps)):
            step = steps[i]
            if isinstance(step, Name):
                value = self.field(value, step, steps[:i], ref)
            else:
                key = step.key if isinstance(step, Key) else self.index_of(step, ref)
                value = self.item(value, key, step, steps[:i], ref)
            self.check_data(value, steps[: i + 1], ref)
        return value

    def field(self, value: Any, step: Name, done: tuple[Step, ...], ref: Ref) -> Any:
        name = step.name
        if isinstance(value, Mapping) and name in value:
            return value[name]
        if callable(getattr(type(value), name, None)):
            raise self.error(
                f"got method {describe((*done, step))}, want a field (templates read values; "
                "calls belong in $expr{})",
                step.offset,
                ref,
            )
        if not isinstance(value, Mapping) and not _has_fields(value):
            # A live host object (a resource, a client) is not data: its attributes may hold
            # endpoints or credentials, so a template cannot walk into them.
            at = describe(done) or "the value"
            raise self.error(
                f"{at} is a {type(value).__name__}, want data: templates read fields of results, "
                "records, structs and models",
                step.offset,
                ref,
            )
        try:
            return getattr(value, name)
        except AttributeError:
            pass
        except Exception as exc:
            raise self.error(
                f"reading {describe((*done, step))} raised {type(exc).__name__}: {_message(exc)[:200]}",
                step.offset,
                ref,
            ) from None
        at = describe(done) or "the value"
        raise self.error(f"{at} ({type(value).__name__}) has no field {name!r}", step.offset, ref)

    def item(self, value: Any, key: int | str, step: Key | VarKey, done: tuple[Step, ...], ref: Ref) -> Any:
        at = describe(done)
        if isinstance(value, Mapping):
            if key in value:
                return value[key]
            raise self.error(f"{at} ({type(value).__name__}) has no key {key!r}", step.offset, ref)
        if isinstance(key, str):
            raise self.error(
                f"got ['{key}'] on {at} ({type(value).__name__}), want a mapping (read fields as {at}.name)",
                step.offset,
                ref,
            )
        if isinstance(value, Sequence):
            if -len(value) <= key < len(value):
                return value[key]
            raise self.error(
                f"index {key} is out of range for {at} ({type(value).__name__} of {len(value)})",
                step.offset,
                ref,
            )
        raise self.error(
            f"got [{key}] on {at} ({type(value).__name__}), want a list, tuple or mapping", step.offset, ref
        )

    def index_of(self, step: VarKey, ref: Ref) -> int | str:
        key = self.read_var(step.target, ref)
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise self.error(
                f"{step.source} is {type(key).__name__}, want an int or str index", step.offset, ref
            )
        return key

    def check_data(self, value: Any, done: tuple[Step, ...], ref: Ref) -> None:
        if callable(value):
            kind = "class" if isinstance(value, type) else "function"
            raise self.error(
                f"{describe(done) or 'the value'} is a {kind}, want data (templates read values, not code)",
                done[-1].offset if done else ref.offset,
                ref,
            )

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
