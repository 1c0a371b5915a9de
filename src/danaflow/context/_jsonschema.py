"""Checks tool arguments against their JSON schema, with the ``jsonschema`` library.

Tools describe their parameters with JSON schema because that is what LLM tool-calling speaks;
the arguments a model (or a Dana program) sends must be checked before a function, a subprocess
or an MCP server sees them. MCP servers publish full schemas (``$ref``/``$defs``, ``anyOf``/
``oneOf``, ``pattern``, ``format``), so this is a complete validator (the draft a schema names in
``$schema``, else 2020-12), not a subset. What this module adds: messages in the project's
"where: got X, want Y" form with the value's path (``arguments.user.emails[1]``), tuples as
arrays and any Mapping as an object (Dana values), ``format`` asserted, and ``$ref`` resolved only
inside the schema (and the drafts' meta-schemas): the library would otherwise fetch any URL a
schema names, and schemas come from servers we do not control.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["schema_problems", "validate"]

_MAX_PROBLEMS = 20
_MAX_REPR = 80


def validate(value: Any, schema: Mapping[str, Any], where: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, as "where: got X, want Y" lines (empty when valid).

    A schema that cannot be used (not valid JSON schema, a ``$ref`` that resolves to nothing here)
    is reported as a problem too: the value is refused rather than waved through.
    """
    from referencing.exceptions import Unresolvable

    root = where or "arguments"
    if not schema:
        return []
    try:
        validator = _validator(_schema_key(schema))
    except _BadSchema as bad:
        return [f"{root}: unusable schema: {bad}"]
    problems: list[str] = []
    try:
        for error in validator.iter_errors(value):
            if len(problems) == _MAX_PROBLEMS:
                problems.append(f"{root}: ... and more problems (the first {_MAX_PROBLEMS} are shown)")
                break
            problems.append(_problem(error, root))
    except Unresolvable as exc:
        problems.append(
            f"{root}: the schema's $ref {_short(getattr(exc, 'ref', str(exc)))} resolves to nothing: "
            "want a reference inside the schema (such as '#/$defs/Name'); remote ones are never fetched"
        )
    return list(dict.fromkeys(problems))  # one line per problem, even when two keywords agree


def schema_problems(schema: Any, where: str = "schema") -> list[str]:
    """Every way ``schema`` breaks its draft's meta-schema (empty when it is a usable schema)."""
    if not isinstance(schema, Mapping):
        return [f"{where}: got {type(schema).__name__} {_short(schema)}, want a JSON schema object"]
    try:
        text = _schema_key(schema)
    except _BadSchema as bad:
        return [f"{where}: {bad}"]
    return list(_meta_problems(text, where))


# ---- validators (cached by the schema's JSON text) ------------------------------------------------
class _BadSchema(ValueError):
    """A schema that cannot become a validator (not JSON, or invalid against its meta-schema)."""


def _schema_key(schema: Mapping[str, Any]) -> str:
    try:
        return json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _BadSchema(f"not JSON ({exc})") from None


@functools.lru_cache(maxsize=512)
def _validator(text: str) -> Validator:
    """The validator for one schema; building one (meta-schema check included) costs far more
    than a check, and a tool's schema is checked at every call."""
    from jsonschema.validators import validator_for
    from jsonschema_specifications import REGISTRY

    problems = _meta_problems(text, "schema")
    if problems:
        raise _BadSchema(problems[0])
    schema = json.loads(text)
    base = validator_for(schema, default=_draft202012())
    cls = _dana_flavour(base)
    # registry=REGISTRY: the drafts' meta-schemas and nothing else, so a remote $ref is an
    # Unresolvable instead of a request to whatever host the schema names.
    return cls(schema, registry=REGISTRY, format_checker=base.FORMAT_CHECKER)


@functools.lru_cache(maxsize=512)
def _meta_problems(text: str, where: str) -> tuple[str, ...]:
    from jsonschema.validators import validator_for
    from jsonschema_specifications import REGISTRY

    schema = json.loads(text)
    base = validator_for(schema, default=_draft202012())
    meta = validator_for(base.META_SCHEMA, default=base)(base.META_SCHEMA, registry=REGISTRY)
    errors = sorted(meta.iter_errors(schema), key=lambda e: (len(e.absolute_path), str(e.message)))
    return tuple(_problem(e, where) for e in errors[:_MAX_PROBLEMS])


def _draft202012() -> type[Validator]:
    from jsonschema import Draft202012Validator

    return Draft202012Validator


@functools.cache
def _dana_flavour(base: type[Validator]) -> type[Validator]:
    """``base`` with tuples as arrays and any Mapping (a Dana Record) as an object."""
    from jsonschema.validators import extend

    checker = base.TYPE_CHECKER.redefine_many(
        {
            "array": lambda _checker, v: isinstance(v, (list, tuple)),
            "object": lambda _checker, v: isinstance(v, Mapping),
        }
    )
    return extend(base, type_checker=checker)


# ---- messages -------------------------------------------------------------------------------------
def _problem(error: ValidationError, root: str) -> str:
    where = _where(root, error.absolute_path)
    keyword = error.validator
    value = error.instance
    if keyword == "required":
        return f"{where}: missing required {error.message.removesuffix(' is a required property')}"
    if keyword == "additionalProperties" and error.validator_value is False:
        extra = _unexpected(value, error.schema)
        known = ", ".join(str(k) for k in error.schema.get("properties") or {}) or "none"
        return f"{where}: got unexpected {', '.join(repr(k) for k in extra)}, want one of: {known}"
    if keyword == "oneOf" and not error.context:
        return f"{where}: got {_got(value)}, want exactly one of the oneOf schemas to match (several do)"
    want = _want(error)
    if want is None:
        return f"{where}: {_short_text(error.message)}"
    return f"{where}: got {_got(value, keyword)}, want {want}"


def _want(error: ValidationError) -> str | None:
    """What the keyword that failed wants, in words; None for keywords without a short form."""
    keyword, arg = error.validator, error.validator_value
    if keyword == "type":
        return " or ".join([arg] if isinstance(arg, str) else [str(t) for t in arg])
    if keyword == "enum":
        return f"one of {_short(list(arg))}"
    if keyword == "const":
        return _short(arg)
    if keyword == "pattern":
        return f"a string matching {arg!r}"
    if keyword == "format":
        return f"a valid {arg} string"
    bounds = {
        "minimum": ">= {}",
        "maximum": "<= {}",
        "exclusiveMinimum": "> {}",
        "exclusiveMaximum": "< {}",
        "multipleOf": "a multiple of {}",
        "minLength": "at least {}",
        "maxLength": "at most {}",
        "minItems": "at least {}",
        "maxItems": "at most {}",
        "minProperties": "at least {}",
        "maxProperties": "at most {}",
    }
    if keyword in bounds:
        return bounds[keyword].format(arg)
    if keyword == "uniqueItems":
        return "no repeated items"
    if keyword in ("anyOf", "oneOf") and error.context:
        return f"{'any' if keyword == 'anyOf' else 'exactly one'} of: {_branches(error)}"
    return None


def _branches(error: ValidationError) -> str:
    """One short description per anyOf/oneOf branch: its first failure, with the path inside."""
    firsts: dict[Any, ValidationError] = {}
    for sub in sorted(error.context or (), key=lambda e: len(e.relative_path)):
        firsts.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else 0, sub)
    parts = []
    for _index, sub in sorted(firsts.items(), key=lambda kv: str(kv[0])):
        inner = _where("", sub.relative_path)
        want = _want(sub) or _short_text(sub.message, 60)
        if sub.validator == "required":
            want = f"required {sub.message.removesuffix(' is a required property')}"
        parts.append(f"{inner.lstrip('.')}: {want}" if inner else want)
    return " | ".join(parts)


def _got(value: Any, keyword: str = "") -> str:
    if keyword in ("minLength", "maxLength") and isinstance(value, str):
        return f"{len(value)} characters"
    if keyword in ("minItems", "maxItems", "uniqueItems") and isinstance(value, (list, tuple)):
        return f"{len(value)} items"
    if keyword in ("minProperties", "maxProperties") and isinstance(value, Mapping):
        return f"{len(value)} properties"
    if keyword == "type":
        return f"{type(value).__name__} {_short(value)}"
    return _short(value)


def _unexpected(value: Any, schema: Mapping[str, Any]) -> list[Any]:
    if not isinstance(value, Mapping):
        return []
    props = schema.get("properties") or {}
    patterns = list((schema.get("patternProperties") or {}).keys())
    return [k for k in value if k not in props and not any(re.search(p, str(k)) for p in patterns)]


def _where(root: str, path: Iterable[Any]) -> str:
    out = root
    for part in path:
        out += (
            f"[{part}]"
            if isinstance(part, int)
            else f".{part}"
            if str(part).isidentifier()
            else f"[{part!r}]"
        )
    return out


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the problem being reported
        text = f"<{type(value).__name__}>"
    return _short_text(text)


def _short_text(text: str, limit: int = _MAX_REPR) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
