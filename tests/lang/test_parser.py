"""The parser: positions on every node, f-strings, and syntax errors that say got/want and where."""

from __future__ import annotations

import sys
import threading
import warnings

import pytest

from danaflow.errors import DanaSyntaxError
from danaflow.lang import ast as na
from danaflow.lang.compiler import compile_program
from danaflow.lang.nesting import MAX_DEPTH
from danaflow.lang.parser import MAX_KEYWORDS, parse, parse_expression
from danaflow.lang.syntax_errors import decode_source


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


# ---- the front end's limits: every refusal is a DanaSyntaxError at file:line:col -------------

NESTINGS = {
    "brackets": lambda n: "x = " + "[" * n + "]" * n,
    "parentheses": lambda n: "x = " + "(" * n + "1" + ")" * n,
    "sum": lambda n: "x = " + " + ".join(["1"] * (n + 1)),
    "not": lambda n: "x = " + "not " * n + "1",
    "signs": lambda n: "x = " + "-" * n + "1",
    "calls": lambda n: "x = f" + "()" * n,
    "lambdas": lambda n: "x = " + "lambda: " * n + "1",
    "ternaries": lambda n: "x = " + "1 if c else " * n + "2",
    "dicts": lambda n: "x = " + "{'k': " * n + "1" + "}" * n,
    "blocks": lambda n: "".join(" " * i + "if c:\n" for i in range(n)) + " " * n + "pass",
}


@pytest.mark.parametrize("kind", NESTINGS)
def test_depth_1000_compiles(kind: str) -> None:
    compile_program(NESTINGS[kind](MAX_DEPTH) + "\n", "deep.na")


@pytest.mark.parametrize("kind", NESTINGS)
def test_depth_past_1000_is_refused_where_it_gets_too_deep(kind: str) -> None:
    source = NESTINGS[kind](MAX_DEPTH + 1) + "\n"
    with pytest.raises(DanaSyntaxError) as info:
        compile_program(source, "deep.na")
    err = info.value
    assert err.message.startswith("nesting too deep: got depth 1001, want at most 1000"), err.message
    assert err.location.file == "deep.na" and err.location.line >= 1 and err.location.col >= 1
    line = source.split("\n")[err.location.line - 1]
    assert err.location.col <= len(line) + 1


def test_nesting_inside_fstring_fields_counts_from_the_string() -> None:
    inner = "(" * 600 + "1" + ")" * 600
    compile_program('x = f"{' + inner + '}"\n')
    with pytest.raises(DanaSyntaxError, match="nesting too deep"):
        compile_program("x = " + "[" * 500 + 'f"{' + inner + '}"' + "]" * 500 + "\n")


def test_deep_programs_compile_from_a_deep_caller() -> None:
    # The caller's own stack is nearly used up: the deep passes run on a stack of their own.
    def recurse(n: int):
        if n:
            return recurse(n - 1)
        return compile_program(NESTINGS["brackets"](MAX_DEPTH) + "\n# from deep\n")

    limit = sys.getrecursionlimit()
    assert recurse(limit - 60) is not None
    assert sys.getrecursionlimit() == limit  # the raised limit is put back


@pytest.mark.parametrize(
    ("source", "where", "message"),
    [
        ("if x:\n        a = 1\n    b = 2\n", (3, 5), "got a dedent to column 5, want column 1 or 9"),
        ("x = " + "1" * 4400 + "\n", (1, 5), "integer literal too long: got 4400 digits, want at most 4300"),
        ("x = 1\ny = 'a\x00'\n", (2, 7), "got a NUL character"),
        ("*a, *b = [1, 2]\n", (1, 1), "got more than one starred target in an assignment, want at most one"),
        (
            "".join("    " * i + f"for i{i} in x:\n" for i in range(21)) + "    " * 21 + "pass\n",
            (20, 77),
            "too many nested loops, try and with blocks: got more than CPython allows",
        ),
    ],
    ids=["dedent", "long-int", "nul", "two-starred", "21-loops"],
)
def test_refusals_that_used_to_leak_internal_errors(
    source: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(DanaSyntaxError) as info:
        compile_program(source, "bad.na")
    err = info.value
    assert (err.location.line, err.location.col) == where, str(err)
    assert message in err.message
    assert str(err).startswith(f"bad.na:{where[0]}:{where[1]}: SyntaxError: ")


def test_long_hex_literals_have_no_digit_limit() -> None:
    (stmt,) = parse("x = 0x" + "f" * 5000 + "\n").body
    assert stmt.value.value == 16**5000 - 1


def test_a_comment_alone_as_an_expression_is_a_syntax_error() -> None:
    with pytest.raises(DanaSyntaxError) as info:
        parse_expression("# nothing", "t.na", line=2, col=3)
    assert info.value.location.line == 2


def test_python_advice_about_generated_code_is_not_printed() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile_program("x = [1][1, 2]\ny = x is 1\n")


def test_decode_source_reports_the_first_byte_that_is_not_utf8() -> None:
    assert decode_source("\ufeffx = 'é'\n".encode(), "ok.na") == "x = 'é'\n"
    with pytest.raises(DanaSyntaxError) as info:
        decode_source(b"x = 1\ny = 'caf\xe9'\n", "bad.na")
    err = info.value
    assert (err.location.line, err.location.col) == (2, 9)
    assert "0xe9" in err.message and "want UTF-8" in err.message


def test_parsing_from_many_threads_keeps_each_programs_blocks() -> None:
    # lark's Indenter kept its indentation stack on the one shared instance.
    programs = [
        "".join(" " * (i * step) + "if true:\n" for i in range(8)) + " " * (8 * step) + f"x = {step}\n"
        for step in (1, 2, 3, 4)
    ]
    expected = [parse(p) for p in programs]
    failures: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(40):
                assert parse(programs[k % 4]) == expected[k % 4]
        except BaseException as exc:  # collected for the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[0]


def test_large_flat_programs_parse() -> None:
    prog = parse("x = [" + ", ".join(["1"] * 20_000) + "]\n" + "y = 2\n" * 2_000)
    assert len(prog.body[0].value.elts) == 20_000
    assert len(prog.body) == 2_001


def test_a_lone_surrogate_is_refused_at_its_place() -> None:
    # Text that came through JSON can hold one ("\ud800"); no file can.
    with pytest.raises(DanaSyntaxError) as info:
        parse('x = 1\ny = "\ud800"\n', "s.na")
    assert (info.value.location.line, info.value.location.col) == (2, 6)
    assert "lone surrogate (U+D800)" in info.value.message


def test_keyword_arguments_per_call_are_bounded() -> None:
    # CPython compiles a call's keywords in quadratic time: 20,000 of them took 10 s.
    ok = "f(" + ", ".join(f"a{i}=1" for i in range(MAX_KEYWORDS)) + ")\n"
    compile_program(ok)
    bad = "f(" + ", ".join(f"a{i}=1" for i in range(MAX_KEYWORDS + 1)) + ")\n"
    with pytest.raises(DanaSyntaxError) as info:
        compile_program(bad, "kw.na")
    err = info.value
    assert err.message.startswith(f"got {MAX_KEYWORDS + 1} keyword arguments in one call, want at most")
    assert (err.location.line, err.location.col) == (1, bad.index(f"a{MAX_KEYWORDS}=") + 1)
