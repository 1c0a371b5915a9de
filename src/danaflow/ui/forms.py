"""The human-in-the-loop form: fields from a node's input schema, and the value a submission makes.

A JSON schema object with scalar properties becomes one field each (text, number, checkbox,
choice); anything else (nested objects, arrays, no schema at all) is one JSON box, read the way
``danaflow resume --input path=VALUE`` reads its value (JSON, else the raw text), by calling the
same parser. A declared pydantic type validates the value before the run resumes, so a bad answer
is an error on the form, not a failed run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from danaflow.runs.cli_commands import parse_inputs

__all__ = ["FormError", "InputField", "fields_for", "parse_submission"]

VALUE_FIELD = "value"


class FormError(ValueError):
    """A submitted field that does not fit the schema; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class InputField:
    name: str
    kind: str
    """``string``, ``integer``, ``number``, ``boolean``, ``choice`` or ``json``."""
    title: str
    required: bool = False
    description: str | None = None
    choices: tuple[str, ...] = ()
    """For ``choice``: the allowed values as form text (JSON text when ``json_choices``)."""
    json_choices: bool = False
    default: str = ""


_SCALARS = {"string", "integer", "number", "boolean"}


def fields_for(schema: Mapping[str, Any] | None) -> list[InputField]:
    """The form fields for a JSON schema; one JSON field when the schema is not a flat object."""
    props = schema.get("properties") if schema and schema.get("type", "object") == "object" else None
    if not isinstance(props, Mapping) or not props:
        return [InputField(VALUE_FIELD, "json", "value (JSON, or plain text)", required=True)]
    required = set(schema.get("required", ())) if schema else set()
    out = []
    for name, prop in props.items():
        prop = prop if isinstance(prop, Mapping) else {}
        kind = prop.get("type")
        enum = list(prop.get("enum", ()))
        json_choices = any(not isinstance(c, str) for c in enum)
        choices = tuple(json.dumps(c) if json_choices else c for c in enum)
        if choices:
            kind = "choice"
        elif kind not in _SCALARS:
            kind = "json"
        default = prop.get("default")
        shown = "" if default is None else default if isinstance(default, str) else json.dumps(default)
        out.append(
            InputField(
                name=str(name),
                kind=str(kind),
                title=str(prop.get("title") or name),
                required=name in required,
                description=prop.get("description"),
                choices=choices,
                json_choices=json_choices,
                default=shown,
            )
        )
    return out


def parse_submission(
    fields: list[InputField], form: Mapping[str, str], path: str, validator: Any = None
) -> Any:
    """The input value from submitted form fields (``field.<name>``); FormError on a bad field."""
    if len(fields) == 1 and fields[0].name == VALUE_FIELD and fields[0].kind == "json":
        raw = form.get(f"field.{VALUE_FIELD}", "")
        if not raw.strip():
            raise FormError(VALUE_FIELD, "got nothing, want a JSON value or some text")
        value = parse_inputs([f"{path}={raw}"])[path]
    else:
        value = {}
        for f in fields:
            raw = form.get(f"field.{f.name}")
            if f.kind == "boolean":
                value[f.name] = raw is not None and raw not in ("", "false", "off", "0")
                continue
            if raw is None or raw == "":
                if f.required:
                    raise FormError(f.name, "got nothing, want a value (required)")
                continue
            value[f.name] = _convert(f, raw)
    if validator is not None:
        from pydantic import TypeAdapter, ValidationError

        try:
            checked = TypeAdapter(validator).validate_python(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or VALUE_FIELD
            raise FormError(where, f"got {first.get('input')!r}, want {first.get('msg')}") from None
        value = TypeAdapter(validator).dump_python(checked, mode="json")
    return value


def _convert(f: InputField, raw: str) -> Any:
    if f.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise FormError(f.name, f"got {raw!r}, want a whole number") from None
    if f.kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise FormError(f.name, f"got {raw!r}, want a number") from None
    if f.kind == "choice":
        if raw not in f.choices:
            raise FormError(f.name, f"got {raw!r}, want one of {', '.join(f.choices)}")
        return json.loads(raw) if f.json_choices else raw
    if f.kind == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FormError(
                f.name, f"got {raw[:40]!r}, want JSON ({exc.msg} at column {exc.colno})"
            ) from None
    return raw
