"""The path parser of ``$var{}``/``$hier{}``: the forms it takes and every form it refuses."""

from __future__ import annotations

import re

import pytest

from danaflow.template.paths import MAX_NESTING, Key, Name, PathError, VarKey, describe, parse_path


def _steps(path):
    return [
        (type(s).__name__, s.name if isinstance(s, Name) else s.key if isinstance(s, Key) else str(s.target))
        for s in path.steps
    ]


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("a", [("Name", "a")]),
        ("a.b.c", [("Name", "a"), ("Name", "b"), ("Name", "c")]),
        ("items[0]", [("Name", "items"), ("Key", 0)]),
        ("items[-1]", [("Name", "items"), ("Key", -1)]),
        ("cfg['my-key']", [("Name", "cfg"), ("Key", "my-key")]),
        ('cfg["a}b]"]', [("Name", "cfg"), ("Key", "a}b]")]),
        (r"cfg['it\'s \\ \"q\" \n']", [("Name", "cfg"), ("Key", 'it\'s \\ "q" \n')]),
        ("files[$var{i}].path", [("Name", "files"), ("VarKey", "i"), ("Name", "path")]),
        ("m[$var{keys[0]}]", [("Name", "m"), ("VarKey", "keys[0]")]),
        (" a . b [ 0 ] ", [("Name", "a"), ("Name", "b"), ("Key", 0)]),
        ("grüße.straße", [("Name", "grüße"), ("Name", "straße")]),
    ],
)
def test_good_paths(text, steps):
    path, end = parse_path(text)
    assert _steps(path) == steps
    assert end == len(text)


def test_template_body_ends_at_its_brace_and_offsets_are_absolute():
    text = "x $hier{gen.outcome.structured.files[$var{i}].path} tail"
    path, end = parse_path(text, 8, kind="hier", ref_start=2)
    assert text[end] == "}" and text[end + 1 :] == " tail"
    assert path.names() == ["gen", "outcome", "structured", "files"]
    var_key = path.steps[4]
    assert isinstance(var_key, VarKey) and text[var_key.offset :].startswith("$var{i}")
    assert var_key.source == "$var{i}"
    assert str(path) == "gen.outcome.structured.files[$var{i}].path"
    assert describe(path.steps[:1]) == "gen"


WANT_PATH = "want a path: names, [0], ['key'] or [$var{i}]"
WANT_INDEX = "want an index: an integer, a quoted string or $var{...}"


@pytest.mark.parametrize(
    ("template", "message", "offset"),
    [
        ("$var{a.b()}", f"got '(' in $var{{a.b()}}, {WANT_PATH} (expressions belong in $expr{{}})", 8),
        ("$var{a + 1}", f"got '+' in $var{{a + 1}}, {WANT_PATH}", 7),
        ("$var{a b}", f"got 'b' in $var{{a b}}, {WANT_PATH}", 7),
        ("$var{a if b else c}", "got 'if' in $var{a if b else c}", 7),
        ("$var{}", f"got '}}' in $var{{}}, {WANT_PATH}", 5),
        ("$var{ 1abc }", f"got '1' in $var{{ 1abc }}, {WANT_PATH}", 6),
        ("$var{a..b}", "got '.' in $var{a..b}, want a name after '.'", 7),
        ("$var{a.}", "got '}' in $var{a.}, want a name after '.'", 7),
        ("$var{a._x}", "got '_x' in $var{a._x}, want a public name (names starting with '_' are private)", 7),
        ("$var{__class__}", "got '__class__' in $var{__class__}, want a public name", 5),
        ("$var{a[i]}", f"got 'i' in $var{{a[i]}}, {WANT_INDEX}", 7),
        ("$var{a[1+2]}", "got '+' in $var{a[1+2]}, want ']' (an index is one literal or $var{...}", 8),
        ("$var{a[1:2]}", "got ':' in $var{a[1:2]}, want ']'", 8),
        ("$var{a[]}", f"got ']' in $var{{a[]}}, {WANT_INDEX}", 7),
        ("$var{a[-]}", f"got '-' in $var{{a[-]}}, {WANT_INDEX}", 7),
        ("$var{a[$expr{1}]}", f"got '$expr{{' in $var{{a[$expr{{1}}]}}, {WANT_INDEX}", 7),
        ("$var{a[$hier{n}]}", f"got '$hier{{' in $var{{a[$hier{{n}}]}}, {WANT_INDEX}", 7),
        ("$var{a[$var{i}+1]}", "got '+' in $var{a[$var{i}+1]}, want ']'", 14),
        ("$var{a[$var{f()}]}", "got '(' in $var{a[$var{f()}]}, want a path", 13),
        ("$var{a['x]}", "unterminated string in $var{a['x]}: want a closing '", 7),
        ("$var{a['x\\q']}", "got '\\q' in $var{a['x\\q']}, want one of", 9),
        ("$var{a[" + "9" * 19 + "]}", "got a 19-digit index", 7),
        ("$var{x", "unterminated $var{: want a closing '}'", 0),
        ("ab $hier{n.outcome", "unterminated $hier{: want a closing '}'", 3),
        ("$var{a[$var{i]}", "got ']' in $var{a[$var{i]}, want a path", 13),
        ("$var{a[$var{i}", "unterminated $var{: want a closing '}'", 0),
    ],
)
def test_refused_forms_say_what_where_and_what_is_wanted(template, message, offset):
    body = template.index("{") + 1
    kind = template[template.index("$") + 1 : body - 1]
    with pytest.raises(PathError) as exc:
        parse_path(template, body, kind=kind, ref_start=template.index("$"))
    assert message in exc.value.message
    assert exc.value.offset == offset


def test_nesting_is_bounded():
    def nested(depth: int) -> str:
        return "a" if depth == 0 else f"a[$var{{{nested(depth - 1)}}}]"

    ok = f"$var{{{nested(MAX_NESTING)}}}"
    path, _ = parse_path(ok, 5, kind="var", ref_start=0)
    assert isinstance(path.steps[1], VarKey)
    deep = f"$var{{{nested(MAX_NESTING + 1)}}}"
    with pytest.raises(PathError, match=f"nested {MAX_NESTING + 1} deep .*want at most {MAX_NESTING}"):
        parse_path(deep, 5, kind="var", ref_start=0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.b()", "got '(' in 'a.b()', want a path"),
        ("a}$expr{py: 1}", "got '}' in 'a}$expr{py: 1}', want a path"),
        ("", "got end of path in '', want a path"),
        ("a.", "got end of path in 'a.', want a name after '.'"),
    ],
)
def test_bare_paths_must_be_whole(text, message):
    with pytest.raises(PathError, match=re.escape(message)):
        parse_path(text)


def test_long_references_are_cut_in_messages():
    template = "$var{" + "a" * 200 + "(}"
    with pytest.raises(PathError) as exc:
        parse_path(template, 5, kind="var", ref_start=0)
    assert "..." in exc.value.message and len(exc.value.message) < 200
