"""The resolver over Dana's own tree: scope stamps on names, and a program's errors reported at once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from danaflow.errors import DanaSyntaxError, SandboxError
from danaflow.lang import ast as na
from danaflow.lang.api import check, run
from danaflow.lang.parser import parse, parse_expression
from danaflow.lang.resolve import MAX_ERRORS, resolve_expression, resolve_program


def _names(node: object) -> list[na.Name]:
    """Every Name of a tree, in source order."""
    out: list[na.Name] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, na.Name):
            out.append(n)
        if isinstance(n, na.Node):
            stack.extend(getattr(n, f.name) for f in dataclasses.fields(n))
        elif isinstance(n, (tuple, list)):
            stack.extend(n)
    return sorted(out, key=lambda n: (n.loc.line, n.loc.col))


def _stamps(source: str) -> list[tuple[str, int, str]]:
    prog = parse(source, "<t>")
    resolve_program(prog)
    return [(n.id, n.loc.line, n.scope) for n in _names(prog)]


def test_names_are_stamped_with_their_scope_on_the_dana_tree():
    stamps = _stamps(
        "total = 0\n"  # 1
        "def outer(a):\n"  # 2
        "    b = a\n"  # 3
        "    def inner():\n"  # 4
        "        return a + b + total + missing + len\n"  # 5
        "    return inner\n"  # 6
        "print(total)\n"  # 7
    )
    assert ("a", 3, "local") in stamps and ("b", 3, "local") in stamps
    line5 = {name: scope for name, line, scope in stamps if line == 5}
    assert line5 == {"a": "enclosing", "b": "enclosing", "total": "top", "missing": "free", "len": "free"}
    assert ("inner", 6, "local") in stamps
    assert ("total", 7, "top") in stamps and ("print", 7, "free") in stamps


def test_a_name_assigned_anywhere_in_a_function_is_local_throughout():
    stamps = _stamps("x = 1\ndef f():\n    print(x)\n    x = 2\n")
    assert ("x", 3, "local") in stamps  # Python's rule (an UnboundLocalError when run)


def test_comprehension_scopes_follow_python():
    # The first iterable is evaluated outside; the target binds inside only.
    stamps = _stamps("xs = [1]\ny = [x * k for x in xs for k in [x]]\nprint(x)\n")
    line2 = [(name, scope) for name, line, scope in stamps if line == 2]
    assert line2 == [
        ("y", "top"),
        ("x", "local"),
        ("k", "local"),
        ("x", "local"),
        ("xs", "top"),
        ("k", "local"),
        ("x", "local"),
    ]
    assert ("x", 3, "free") in stamps


def test_lambda_defaults_are_outside_and_parameters_inside():
    prog = parse("n = 2\nf = lambda a, b=n: a + b + n\n", "<t>")
    resolve_program(prog)
    lam = prog.body[1].value
    assert lam.params[1].default.scope == "top"
    assert [(n.id, n.scope) for n in _names(lam.body)] == [("a", "local"), ("b", "local"), ("n", "top")]


def test_an_expression_binds_nothing_outside_its_lambdas():
    e = parse_expression("[v for v in items] + f(lambda q: q)")
    resolve_expression(e)
    by_name = {n.id: n.scope for n in _names(e)}
    assert by_name == {"v": "local", "items": "free", "f": "free", "q": "local"}


def test_a_program_reports_all_its_refusals_at_once():
    source = "a = x.__class__\nb = 1\nc = y._secret\nd = z.gi_frame\n"
    with pytest.raises(SandboxError) as info:
        check(source, filename="many.na")
    err = info.value
    assert [(e.location.line, e.location.col) for e in err.errors] == [(1, 7), (3, 7), (4, 7)]
    text = str(err)
    for where in ("many.na:1:7", "many.na:3:7", "many.na:4:7"):
        assert where in text
    assert "'__class__'" in text and "'_secret'" in text and "'gi_frame'" in text
    # The message alone carries them too (what crosses from a worker).
    assert "many.na:3:7" in err.message and "many.na:4:7" in err.message


def test_errors_are_capped_and_the_rest_counted():
    source = "".join(f"v{i} = o._p{i}\n" for i in range(MAX_ERRORS + 5))
    with pytest.raises(SandboxError) as info:
        check(source, filename="cap.na")
    assert len(info.value.errors) == MAX_ERRORS
    assert "5 more errors not shown" in str(info.value)


def test_a_single_refusal_is_the_plain_error():
    with pytest.raises(SandboxError) as info:
        check("x = 1\ny = x.__dict__\n", filename="one.na")
    assert not hasattr(info.value, "errors")
    assert str(info.value.location) == "one.na:2:7"


def test_errors_inside_functions_lambdas_and_declarations_are_found():
    source = (
        "def f(p):\n"
        "    return p.__globals__\n"
        "g = lambda q: q.f_back\n"
        "struct S:\n"
        "    _hidden: int\n"
        "private:_k = 1\n"
    )
    with pytest.raises(SandboxError) as info:
        check(source, filename="deep.na")
    lines = [e.location.line for e in info.value.errors]
    assert lines == [2, 3, 5, 6]
    assert "= delegate" in info.value.errors[2].message


def test_a_run_reports_the_list_too():
    outcome = run("a = x.__class__\nb = y.__bases__\n", isolation="inprocess")
    assert isinstance(outcome.error, SandboxError)
    assert "2:7" in str(outcome.error) and "1:7" in str(outcome.error)


def test_a_run_in_a_worker_carries_every_error_in_its_message():
    outcome = run("a = x.__class__\nb = y.__bases__\n", filename="w.na")
    assert isinstance(outcome.error, SandboxError)
    assert "w.na:2:7" in outcome.error.message


def test_syntax_errors_still_stop_at_the_first():
    with pytest.raises(DanaSyntaxError):
        check("x = (\n", filename="s.na")


def test_danaflow_check_prints_every_error(tmp_path):
    path = tmp_path / "bad.na"
    path.write_text("a = x.__class__\nb = 2\nc = y._z\n")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "danaflow"), "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert f"{path}:1:7" in out and f"{path}:3:7" in out
