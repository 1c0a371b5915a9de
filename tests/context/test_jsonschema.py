"""The tool-argument validator: full JSON schema (``$ref``, ``anyOf``/``oneOf``, ``pattern``,
``format``) with "where: got X, want Y" messages naming each value's path, and remote ``$ref``s
that are refused without a request."""

from __future__ import annotations

import http.server
import threading

import pytest

from danaflow.context import ToolResource
from danaflow.context._jsonschema import schema_problems, validate
from danaflow.errors import ResourceError

ORDER = {
    "type": "object",
    "$defs": {
        "Email": {"type": "string", "format": "email"},
        "Line": {
            "type": "object",
            "properties": {
                "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                "qty": {"$ref": "#/$defs/Qty"},
            },
            "required": ["sku", "qty"],
            "additionalProperties": False,
        },
        "Qty": {"type": "integer", "minimum": 1},
    },
    "properties": {
        "notify": {"type": "array", "items": {"$ref": "#/$defs/Email"}},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "minItems": 1},
        "ship_at": {"type": "string", "format": "date-time"},
        "callback": {"type": "string", "format": "uri"},
        "host": {"type": "string", "format": "ipv4"},
        "discount": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]},
        "payment": {
            "oneOf": [
                {"type": "object", "properties": {"card": {"type": "string"}}, "required": ["card"]},
                {"type": "object", "properties": {"iban": {"type": "string"}}, "required": ["iban"]},
            ]
        },
    },
    "required": ["lines"],
}

GOOD = {
    "notify": ["ops@example.com"],
    "lines": [{"sku": "ABC-1234", "qty": 2}],
    "ship_at": "2025-03-01T09:30:00Z",
    "callback": "https://example.com/hook",
    "host": "10.0.0.7",
    "discount": None,
    "payment": {"card": "4111"},
}


def test_a_valid_value_has_no_problems_and_tuples_are_arrays():
    assert validate(GOOD, ORDER) == []
    assert validate({**GOOD, "lines": ({"sku": "XYZ-0001", "qty": 1},), "discount": 0.5}, ORDER) == []


def test_ref_resolves_inside_the_schema_and_errors_name_the_nested_path():
    problems = validate(
        {"lines": [{"sku": "ABC-1234", "qty": 2}, {"sku": "abc", "qty": 0, "note": 1}]}, ORDER
    )
    assert problems == [
        "arguments.lines[1]: got unexpected 'note', want one of: qty, sku",
        "arguments.lines[1].qty: got 0, want >= 1",
        "arguments.lines[1].sku: got 'abc', want a string matching '^[A-Z]{3}-[0-9]{4}$'",
    ]


def test_formats_are_asserted():
    bad = {
        **GOOD,
        "notify": ["ops@example.com", "not an address"],
        "ship_at": "next tuesday",
        "callback": "no scheme here",
        "host": "10.0.0.300",
    }
    problems = validate(bad, ORDER, "order")
    assert "order.notify[1]: got 'not an address', want a valid email string" in problems
    assert "order.ship_at: got 'next tuesday', want a valid date-time string" in problems
    assert "order.callback: got 'no scheme here', want a valid uri string" in problems
    assert "order.host: got '10.0.0.300', want a valid ipv4 string" in problems
    assert len(problems) == 4


def test_any_of_says_what_each_branch_wants():
    assert validate({**GOOD, "discount": 1.5}, ORDER) == [
        "arguments.discount: got 1.5, want any of: <= 1 | null"
    ]
    assert validate({**GOOD, "discount": "10%"}, ORDER) == [
        "arguments.discount: got '10%', want any of: number | null"
    ]


def test_one_of_refuses_none_and_several_matches():
    assert validate({**GOOD, "payment": {"cash": True}}, ORDER) == [
        "arguments.payment: got {'cash': True}, want exactly one of: required 'card' | required 'iban'"
    ]
    assert validate({**GOOD, "payment": {"card": "4111", "iban": "DE00"}}, ORDER) == [
        "arguments.payment: got {'card': '4111', 'iban': 'DE00'}, want exactly one of the oneOf schemas "
        "to match (several do)"
    ]


def test_required_type_and_bounds_messages():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 3}, "tags": {"type": "array", "maxItems": 1}},
        "required": ["name", "size"],
    }
    assert sorted(validate({"name": 7, "tags": [1, 2]}, schema)) == [
        "arguments.name: got int 7, want string",
        "arguments.tags: got 2 items, want at most 1",
        "arguments: missing required 'size'",
    ]
    assert validate({"name": "long", "size": 1}, schema) == [
        "arguments.name: got 4 characters, want at most 3"
    ]


def test_a_draft_07_schema_uses_its_own_definitions():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "definitions": {"Pos": {"type": "integer", "exclusiveMinimum": 0}},
        "properties": {"n": {"$ref": "#/definitions/Pos"}},
    }
    assert validate({"n": 3}, schema) == []
    assert validate({"n": 0}, schema) == ["arguments.n: got 0, want > 0"]


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        _Recorder.hits.append(self.path)
        body = b'{"type": "integer"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_remote_ref_is_refused_and_never_fetched():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/schema.json"
        schema = {"type": "object", "properties": {"n": {"$ref": url}}}
        problems = validate({"n": 1}, schema)
    finally:
        server.shutdown()
        server.server_close()
    assert len(problems) == 1
    assert problems[0].startswith(f"arguments: the schema's $ref '{url}' resolves to nothing")
    assert "remote ones are never fetched" in problems[0]
    assert _Recorder.hits == []


def test_schema_problems_names_the_bad_keyword():
    assert schema_problems({"type": "object", "properties": {"a": {"type": "str"}}})[0].startswith(
        "schema.properties.a.type: got 'str', want any of:"
    )
    assert schema_problems({"type": "object", "properties": {"a": {"pattern": 5}}}) == [
        "schema.properties.a.pattern: got int 5, want string"
    ]
    assert schema_problems(ORDER) == []
    assert schema_problems(["not", "a", "schema"]) == [
        "schema: got list ['not', 'a', 'schema'], want a JSON schema object"
    ]


def test_an_unusable_schema_refuses_every_value():
    problems = validate({"a": 1}, {"type": "object", "properties": {"a": {"minimum": "zero"}}})
    assert problems == [
        "arguments: unusable schema: schema.properties.a.minimum: got str 'zero', want number"
    ]


def test_tool_resource_checks_its_schema_and_its_arguments():
    seen = []
    tool = ToolResource(
        "order", "Places an order", func=lambda **kw: seen.append(kw) or "ok", parameters=ORDER
    )
    assert tool.call(**GOOD) == "ok"
    with pytest.raises(ResourceError) as info:
        tool.call(lines=[{"sku": "bad", "qty": 1}], host="999.1.1.1")
    assert str(info.value).startswith("tool 'order' refused its arguments: ")
    assert "arguments.lines[0].sku: got 'bad', want a string matching" in str(info.value)
    assert "arguments.host: got '999.1.1.1', want a valid ipv4 string" in str(info.value)
    assert seen == [GOOD]
    with pytest.raises(
        ResourceError,
        match=r"tool 'broken' has an invalid parameters schema: "
        r"parameters\.properties\.x\.type: got 'text'",
    ):
        ToolResource(
            "broken", func=lambda x: x, parameters={"type": "object", "properties": {"x": {"type": "text"}}}
        )
