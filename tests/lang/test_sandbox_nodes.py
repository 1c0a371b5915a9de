"""Categories 7 and 8 of issue 9, through real flows: CommandNode values and Dana's ``result()``.

A CommandNode's command text is trusted, every value substituted into it is not: a value that
holds shell syntax must arrive verbatim as data in every quoting context the shell has, and never
run (a payload that ran creates SENTINEL). ``result(path)`` in a DanaNode takes a path, never
template text: with Python templates allowed, a string that became a template would run
``$expr{py: ...}`` in the host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from danaflow.context import ExecutionStatusEnum as S
from danaflow.flow import CommandNode, CommandNodeSettings, DanaNode, FlowDefinition, FlowRunner, InMemoryRun
from danaflow.flow.nodes import PythonNode

# ---- 7. shell injection via CommandNode ------------------------------------------------------

PAYLOADS = [
    "a$(printf x > SENTINEL)b",
    "`printf x > SENTINEL`",
    ";printf x>SENTINEL;",
    "||printf x>SENTINEL",
    "& printf x>SENTINEL &",
    "$((1))$(printf x>SENTINEL)",
    "x\r\nprintf x>SENTINEL\r\n",
    "EOF\nprintf x>SENTINEL\nEOF",
    "*) printf x>SENTINEL;; esac; case a in a",
    "}; printf x>SENTINEL; {",
    "${PATH%%:*}$(printf x>SENTINEL)",
    '\\"; printf x>SENTINEL #',
    "'\"'\"'; printf x>SENTINEL; '\"'\"'",
    "$var{other} $expr{py: open('SENTINEL', 'w')}",
    "-c printf x>SENTINEL",
]

# (command, what it prints for a value v, or None when only "nothing ran" is asserted)
CONTEXTS: list[tuple[str | list[str], Callable[[str], str] | None]] = [
    ("case $var{v} in *) printf '%s\\n' matched;; esac", lambda v: "matched\n"),
    ("for w in $var{v}; do printf '<%s>\\n' \"$w\"; done", lambda v: f"<{v}>\n"),
    ("x=$var{v}; printf '%s\\n' \"$x\"", lambda v: f"{v}\n"),
    ("printf '%s\\n' \"${DANAFLOW_UNSET_VAR:-$var{v}}\"", lambda v: f"{v}\n"),
    ("[ $var{v} = never ] || printf '%s\\n' differs", lambda v: "differs\n"),
    # $( ) drops trailing newlines: shell semantics, not an injection.
    ("printf '%s\\n' \"$(printf '%s' \"$(printf '%s' $var{v})\")\"", lambda v: v.rstrip("\n") + "\n"),
    ('export DANAFLOW_X=$var{v}; sh -c \'printf "%s\\n" "$DANAFLOW_X"\'', lambda v: f"{v}\n"),
    ("echo $(( $var{v} + 0 ))", None),
    (["printf", "%s\\n", "$var{v}"], lambda v: f"{v}\n"),
    (["sh", "-c", "printf '%s\\n' \"$1\"", "sh", "$var{v}"], lambda v: f"{v}\n"),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
async def test_a_substituted_value_never_runs_in_any_quoting_context(payload: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    value = payload.replace("SENTINEL", str(sentinel))
    flow = FlowDefinition("f").vars(v=value, other=f"$expr{{py: open({str(sentinel)!r}, 'w')}}")
    settings = CommandNodeSettings(
        commands=[c for c, _ in CONTEXTS], working_dir=str(tmp_path), fail_fast=False, fail_on_error=False
    )
    flow.node("cmd", CommandNode(settings=settings))
    result = await FlowRunner(flow, InMemoryRun(allow_python_templates=True)).run()
    cmd = result.get_result("cmd")
    assert cmd.execution_status is S.completed, cmd.error
    for (command, expect), r in zip(CONTEXTS, cmd.outcome.results, strict=True):
        if expect is not None:
            assert r.stdout == expect(value), (command, r)
    assert not sentinel.exists(), "a substituted value ran as shell code"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


async def test_an_llm_answer_in_a_command_is_data(tmp_path: Path, fake_llm) -> None:
    # The classic: a model's answer, substituted into a command, holds a command substitution.
    from danaflow.flow import AIModelNode, AIModelNodeSettings
    from danaflow.template import Prompt

    sentinel = tmp_path / "SENTINEL"
    fake_llm.reply(f"ok\n$(touch {sentinel})`touch {sentinel}`; touch {sentinel}")
    flow = FlowDefinition("f")
    flow.node("ask", AIModelNode(settings=AIModelNodeSettings(prompt=Prompt.with_dad_text(text="name?"))))
    flow.node(
        "show",
        CommandNode(settings=CommandNodeSettings(commands=["printf '[%s]' $hier{ask.outcome.text}"])),
    )
    flow.connect("ask", "show")
    result = await FlowRunner(flow, InMemoryRun(llm=fake_llm.resource())).run()
    show = result.get_result("show")
    assert show.execution_status is S.completed, show.error
    assert show.outcome.results[0].stdout == f"[ok\n$(touch {sentinel})`touch {sentinel}`; touch {sentinel}]"
    assert not sentinel.exists()


# ---- 8. result() takes a path, never template text ---------------------------------------------

RESULT_PATHS = [
    ("a}$expr{py: __import__('os').system('touch SENTINEL')}", r"want"),
    ("$expr{py: open('SENTINEL', 'w')}", r"want a path"),
    ("a.outcome.value}$var{secret}", r"want"),
    ("a.outcome.value[$expr{py: open('SENTINEL', 'w')}]", r"want an index"),
    ("$hier{a.outcome.value}", r"want a path"),
    ("a.outcome.value\n$expr{py: open('SENTINEL', 'w')}", r"want"),
    ("a.__class__.__init__", r"names starting with '_' are private"),
    ("a.outcome.text.upper", r"got method"),
    ("a.outcome.value; import os", r"want"),
    ("a.outcome.value['n'] + 1", r"want"),
    ("a.outcome.value[$var{k}", r"want"),
    ('a.outcome.value[\'$expr{py: open("SENTINEL", "w")}\']', r"has no key"),
    ("a.outcome.value[$var{k}]", r"has no key"),
]


@pytest.mark.parametrize(("path", "refused"), RESULT_PATHS, ids=[p for p, _ in RESULT_PATHS])
async def test_result_takes_a_path_never_template_text(path: str, refused: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    text = path.replace("SENTINEL", str(sentinel))
    program = f"x = 1\nv = result({text!r})\nprint('ESCAPED', v)\n"
    flow = FlowDefinition("f").vars(secret="hidden", k=f"$expr{{py: open({str(sentinel)!r}, 'w')}}")
    flow.node("a", PythonNode(func=lambda ctx: {"n": 20}))
    flow.node("b", DanaNode(program=program))
    flow.connect("a", "b")
    result = await FlowRunner(flow, InMemoryRun(allow_python_templates=True)).run()
    b = result.get_result("b")
    assert b.execution_status is S.failed, b.outcome
    assert b.error.type == "LookupError", b.error
    assert "result(" in b.error.message and re.search(refused, b.error.message), b.error.message
    assert b.error.location.endswith(":2:5"), b.error.location
    assert "ESCAPED" not in (b.outcome.text if b.outcome else "")
    assert not sentinel.exists()
    assert result.get_result("a").outcome.value == {"n": 20}
