"""A small JSON-schema checker for tool arguments.

Tools describe their parameters with JSON schema because that is what LLM tool-calling speaks;
the arguments a model (or a Dana program) sends must be checked against it before a function or
a subprocess sees them. The ``jsonschema`` package is not a dependency, and tool schemas use a
small subset, so this covers exactly that subset: ``type`` (one or a list), ``properties``,
``required``, ``additionalProperties`` (bool), ``enum``, ``const``, ``items``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``minItems``, ``maxItems``. Other keywords are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["validate"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (Mapping,),
    "null": (type(None),),
}


def _is(value: Any, type_name: str) -> bool:
    if type_name in ("integer", "number") and isinstance(value, bool):
        return False  # bool is an int in Python, never a number in JSON
    if type_name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(type_name, (object,)))


def validate(value: Any, schema: Mapping[str, Any], where: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, as "where: got X, want Y" lines (empty when valid)."""
    problems: list[str] = []
    _check(value, schema, where or "arguments", problems)
    return problems


def _check(value: Any, schema: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if not schema:
        return
    wanted = schema.get("type")
    if wanted is not None:
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        if not any(_is(value, n) for n in names):
            problems.append(f"{where}: got {type(value).__name__} {value!r}, want {' or '.join(names)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: got {value!r}, want one of {list(schema['enum'])!r}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{where}: got {value!r}, want {schema['const']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: got {value!r}, want >= {schema['minimum']!r}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: got {value!r}, want <= {schema['maximum']!r}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{where}: got {len(value)} characters, want at least {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: got {len(value)} characters, want at most {schema['maxLength']}")
    if isinstance(value, (list, tuple)):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{where}: got {len(value)} items, want at least {schema['minItems']}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where}: got {len(value)} items, want at most {schema['maxItems']}")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                _check(item, items, f"{where}[{i}]", problems)
    if isinstance(value, Mapping):
        props: Mapping[str, Any] = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                problems.append(f"{where}: missing required {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                _check(item, props[name], f"{where}.{name}", problems)
            elif extra is False:
                known = ", ".join(props) or "none"
                problems.append(f"{where}: got unexpected {name!r}, want one of: {known}")
            elif isinstance(extra, Mapping):
                _check(item, extra, f"{where}.{name}", problems)
