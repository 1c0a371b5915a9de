"""The template scanner: segments, balanced braces, string literals, escapes, errors."""

from __future__ import annotations

import pytest

from danaflow.template.scanner import Ref, ScanError, Text, hier_refs, scan


def test_plain_text_and_escapes():
    assert scan("no refs") == (Text("no refs"),)
    assert scan("cost: $$5") == (Text("cost: $5"),)
    assert scan("$$var{x}") == (Text("$var{x}"),)  # an escaped $ starts no reference
    assert scan("price $5 or $ alone") == (Text("price $5 or $ alone"),)


def test_references_and_offsets():
    segs = scan("a $var{x.y} b $hier{n.outcome.text}")
    assert [type(s) for s in segs] == [Text, Ref, Text, Ref]
    var, hier = segs[1], segs[3]
    assert (var.kind, var.body, var.offset) == ("var", "x.y", 2)
    assert hier.path() == (["n", "outcome", "text"], "")


def test_expr_braces_balance_and_strings_are_respected():
    (ref,) = scan('$expr{ {"a": "}"}["a"] }')
    assert ref.kind == "expr"
    assert ref.body == ' {"a": "}"}["a"] '
    (ref,) = scan("$expr{'{' + \"}\" + '''}}'''}")
    assert ref.body == "'{' + \"}\" + '''}}'''"


def test_nested_refs_in_expr_become_parts():
    (ref,) = scan("$expr{$hier{gen}.outcome.structured.items[$var{index}]}")
    kinds = [p.kind if isinstance(p, Ref) else p for p in ref.parts]
    assert kinds == ["hier", ".outcome.structured.items[", "var", "]"]
    assert [r.body for r in hier_refs("x $hier{a.b} $expr{$hier{c} + 1}")] == ["a.b", "c"]


def test_path_with_index_rest():
    (ref,) = scan("$hier{gen.outcome.items[0].name}")
    assert ref.path() == (["gen", "outcome", "items"], "[0].name")


def test_var_and_hier_bodies_are_parsed_paths_with_nested_var_indexes():
    (ref,) = scan("$hier{gen.outcome.structured.files[$var{i}].path}")
    assert ref.body == "gen.outcome.structured.files[$var{i}].path"
    assert ref.target is not None and str(ref.target) == ref.body
    (text, ref, tail) = scan("a $var{m['}'][$var{k}]} b")
    assert (text, tail) == (Text("a "), Text(" b"))
    assert ref.body == "m['}'][$var{k}]"
    (ref,) = scan("$expr{$var{xs[$var{i}]} + 1}")
    assert [p.body if isinstance(p, Ref) else p for p in ref.parts] == ["xs[$var{i}]", " + 1"]


@pytest.mark.parametrize(
    ("template", "message", "offset"),
    [
        ("ab $expr{1 + (2", "unterminated $expr", 3),
        ("$var{x", "unterminated $var", 0),
        ("x $vr{a}", "unknown reference $vr", 2),
        ("$expr{'abc}", "unterminated string literal", 0),
        ("$var{}", "got '}' in $var{}, want a path", 5),
        ("ok $var{a.b()}", "got '(' in $var{a.b()}, want a path", 11),
        ("$hier{n.outcome[$expr{1}]}", "got '$expr{' in $hier{n.outcome[$expr{1}]}, want an index", 16),
        ("$expr{$var{a + 1}}", "got '+' in $var{a + 1}, want a path", 13),
        ("$expr{$expr{1}}", "cannot nest", 6),
    ],
)
def test_scan_errors_say_what_and_where(template, message, offset):
    with pytest.raises(ScanError) as exc:
        scan(template)
    assert message in exc.value.message
    assert exc.value.offset == offset
