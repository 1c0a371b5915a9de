"""The parser: positions on every node, f-strings, and syntax errors that say got/want and where."""

from __future__ import annotations

import pytest

from danaflow.errors import DanaSyntaxError
from danaflow.lang import ast as na
from danaflow.lang.parser import parse, parse_expression


def test_nodes_carry_file_line_and_column() -> None:
    prog = parse("x = 1\nif x:\n    y = x + 2\n", "p.na")
    assign, if_stmt = prog.body
    assert (assign.loc.file, assign.loc.line, assign.loc.col) == ("p.na", 1, 1)
    inner = if_stmt.body[0]
    assert (inner.loc.line, inner.loc.col) == (3, 5)
    assert isinstance(inner.value, na.BinOp) and inner.value.right.loc.col == 13


def test_scoped_names_and_keyword_constants() -> None:
    prog = parse("private:a = null\nb = true and none is None\n")
    target = prog.body[0].targets[0]
    assert target == na.ScopedName("private", "a")
    assert prog.body[0].value == na.Const(None)


def test_fstring_parts_and_positions_inside_the_string() -> None:
    expr = parse_expression('f"a {private:name!r:>8} b {x + 1}"', "t.na", line=3, col=5)
    assert isinstance(expr, na.FString)
    first = expr.parts[1]
    assert isinstance(first, na.FormattedValue) and first.conversion == "r"
    assert first.value == na.ScopedName("private", "name")
    assert first.value.loc.line == 3 and first.value.loc.col == 5 + 5
    assert expr.parts[-1].value.loc.col == 5 + 27


def test_dict_comprehension_reference_form() -> None:
    expr = parse_expression("{(k: v) for k, v in items}")
    assert isinstance(expr, na.DictComp)


def test_declarative_function_keeps_the_pipeline_expression() -> None:
    prog = parse('def f(x: int) -> int = g | h(2) | wrap("[", $$, "]")\n')
    (decl,) = prog.body
    assert isinstance(decl, na.DeclFuncDef) and decl.name == "f"
    assert isinstance(decl.value, na.BinOp) and decl.value.op == "|"


@pytest.mark.parametrize(
    ("source", "where", "message"),
    [
        ("x = (1 +\n", (1, 9), "got end of input, want expression"),
        ("if x\n    pass\n", (1, 5), "got end of line, want ':'"),
        ("for in x:\n    pass\n", (1, 5), "got 'in'"),
        ("x = 1\n  y = 2\n", (2, 3), "unexpected indentation"),
        ('print(f"{1 +}")\n', (1, 13), "want expression"),
        ("def f(a, a):\n    pass\n", (1, 10), "duplicate parameter 'a'"),
        ("f(a=1, a=2)\n", (1, 1), "keyword argument 'a' repeated"),
        ('x = "{}"\ny = f"{"\n', (2, 7), "without a closing"),
    ],
)
def test_syntax_errors_say_got_want_and_where(source: str, where: tuple[int, int], message: str) -> None:
    with pytest.raises(DanaSyntaxError) as info:
        parse(source, "bad.na")
    err = info.value
    assert (err.location.line, err.location.col) == where, str(err)
    assert message in err.message
    text = str(err)
    assert text.startswith(f"bad.na:{where[0]}:{where[1]}: SyntaxError: ")
    assert "^" in text  # the caret under the column
