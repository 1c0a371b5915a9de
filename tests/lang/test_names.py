"""Underscore identifiers: renamed apart from the runtime's helpers, shown in the user's spelling."""

from __future__ import annotations

import pytest

from danaflow.errors import DanaRuntimeError, DanaSyntaxError
from danaflow.lang.api import check, compile_expression, run
from danaflow.lang.compiler import compile_program
from danaflow.lang.names import PREFIX, py_name, user_name, user_text
from danaflow.lang.sandbox import SandboxContext


def test_py_name_renames_only_underscore_names_and_user_name_undoes_it():
    assert py_name("total") == "total"
    for name in ("_x", "__all__", "__main__", "_", "_step"):
        assert py_name(name) != name and py_name(name).isidentifier()
        assert user_name(py_name(name)) == name
    assert (
        user_text(f"local variable '{py_name('_a')}' and '{py_name('__b')}'")
        == "local variable '_a' and '__b'"
    )


def test_dana_source_cannot_spell_the_prefix():
    with pytest.raises(DanaSyntaxError):
        check(f"{PREFIX}_x = 1\n")


def test_generated_code_holds_no_user_underscore_name_unrenamed():
    program = compile_program("_a = 1\ndef _f(_p):\n    return _p + _a\n_f(2)\n", "<names>")
    code = program.code.co_consts[0]  # _dana_main
    user = [n for n in code.co_varnames + code.co_cellvars if not n.startswith("_")]
    assert sorted(user) == sorted(py_name(n) for n in ("_a", "_f"))
    assert program.top_level_names == frozenset({"_a", "_f"})


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_local_scope_holds_the_users_spelling(isolation):
    ctx = SandboxContext()
    outcome = run("_count = 2\n__all__ = ['a']\n_tmp = [_i for _i in range(2)]\n", ctx, isolation=isolation)
    assert outcome.error is None, outcome.error
    assert {k: ctx.local[k] for k in ("_count", "__all__", "_tmp")} == {
        "_count": 2,
        "__all__": ["a"],
        "_tmp": [0, 1],
    }
    assert not any(PREFIX in k for k in ctx.local)


def test_state_from_an_earlier_run_is_read_back_by_its_underscore_name():
    ctx = SandboxContext()
    run("_seen = 1\n", ctx, isolation="inprocess").raise_for_error()
    outcome = run("_seen + 1\n", ctx, isolation="inprocess")
    assert outcome.value == 2


def test_a_function_tells_its_name_as_written():
    outcome = run("def _helper():\n    return 1\nprint(_helper.__name__)\n", isolation="inprocess")
    assert outcome.output == "_helper\n"


def test_the_call_stack_and_messages_use_the_users_spelling():
    source = "def _inner(_v):\n    return 1 / _v\ndef __outer():\n    return _inner(0)\n__outer()\n"
    outcome = run(source, filename="stack.na", isolation="inprocess")
    err = outcome.error
    assert isinstance(err, DanaRuntimeError)
    assert [fn for fn, _ in err.stack] == ["<main>", "__outer", "_inner"]
    assert PREFIX not in str(err)


def test_an_unbound_underscore_local_is_reported_as_written():
    outcome = run("def _f():\n    _y = _y + 1\n_f()\n", isolation="inprocess")
    assert "'_y'" in outcome.error.message and PREFIX not in outcome.error.message


def test_a_free_underscore_name_reads_local_state_only():
    ctx = SandboxContext(initial_private_state={"_k": "host's"})
    ctx.local["_k2"] = "mine"
    outcome = run("print(_k2)\nprint(_k)\n", ctx, isolation="inprocess")
    assert outcome.output == "mine\n"
    assert "'_k' is not defined" in outcome.error.message


def test_templates_read_underscore_names_from_their_own_names():
    expr = compile_expression("_x + 1")
    assert expr.evaluate({"_x": 1}) == 2
    assert compile_expression("__name__").evaluate({}) == "__main__"
    assert compile_expression("[_i for _i in _xs]").evaluate({"_xs": [3]}) == [3]


def test_name_is_read_only_wherever_a_name_binds():
    sources = [
        "__name__ = 1\n",
        "for __name__ in []:\n    pass\n",
        "def __name__():\n    pass\n",
        "import helpers as __name__\n",
        "f = lambda __name__: 1\n",
        "try:\n    pass\nexcept Exception as __name__:\n    pass\n",
        "local:__name__ = 1\n",
    ]
    for source in sources:
        with pytest.raises(DanaSyntaxError, match="__name__"):
            check(source)
