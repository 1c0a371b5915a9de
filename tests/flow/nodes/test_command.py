"""CommandNode with real subprocesses."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from pydantic import ValidationError

from danaflow.context import ExecutionStatusEnum as S
from danaflow.errors import FlowDefinitionError
from danaflow.flow import (
    AIModelNode,
    AIModelNodeSettings,
    CommandNode,
    CommandNodeSettings,
    FlowDefinition,
    FlowRunner,
)
from danaflow.template import Prompt


async def test_captures_stdout_stderr_and_returncode(tmp_path):
    node = CommandNode(
        settings=CommandNodeSettings(
            commands=["echo hi", "echo oops >&2", f"{sys.executable} -c 'print(6 * 7)'"],
            working_dir=str(tmp_path),
        )
    )
    result = await FlowRunner(FlowDefinition("f").node("cmd", node)).run()
    out = result.get_result("cmd").outcome
    assert [r.stdout for r in out.results] == ["hi\n", "", "42\n"]
    assert out.results[1].stderr == "oops\n"
    assert [r.returncode for r in out.results] == [0, 0, 0]
    assert out.text == "hi\n42\n"


async def test_commands_are_templates(tmp_path):
    flow = FlowDefinition("f").vars(name="world", where=str(tmp_path))
    flow.node(
        "cmd",
        CommandNode(
            settings=CommandNodeSettings(commands=["echo hello $var{name}; pwd"], working_dir="$var{where}")
        ),
    )
    result = await FlowRunner(flow).run()
    assert result.get_result("cmd").outcome.results[0].stdout == f"hello world\n{tmp_path.resolve()}\n"


async def test_nonzero_exit_fails_the_node_but_keeps_output():
    node = CommandNode(
        settings=CommandNodeSettings(commands=["echo partial; echo bad >&2; exit 3", "echo never"])
    )
    result = await FlowRunner(FlowDefinition("f").node("cmd", node)).run()
    cmd = result.get_result("cmd")
    assert cmd.execution_status is S.failed and result.execution_status is S.failed
    assert "exited with 3" in cmd.error.message and "bad" in cmd.error.message
    assert len(cmd.outcome.results) == 1  # fail_fast stopped before "echo never"
    assert cmd.outcome.results[0].stdout == "partial\n"


async def test_fail_on_error_false_completes():
    node = CommandNode(
        settings=CommandNodeSettings(commands=["false", "echo after"], fail_fast=False, fail_on_error=False)
    )
    result = await FlowRunner(FlowDefinition("f").node("cmd", node)).run()
    out = result.get_result("cmd").outcome
    assert result.execution_status is S.completed
    assert [r.returncode for r in out.results] == [1, 0]


async def test_timeout_kills_the_command_group():
    node = CommandNode(
        settings=CommandNodeSettings(commands=["echo started; sleep 30; echo never"], timeout=0.5)
    )
    result = await FlowRunner(FlowDefinition("f").node("cmd", node)).run()
    cmd = result.get_result("cmd")
    assert cmd.execution_status is S.failed and "timed out after 0.5s" in cmd.error.message
    r = cmd.outcome.results[0]
    assert r.timed_out and r.returncode is None and r.stdout == "started\n"
    assert r.duration_s < 10  # killed, not waited out


async def test_env_overlay(tmp_path):
    node = CommandNode(
        settings=CommandNodeSettings(commands=["echo $DANAFLOW_TEST_VAR"], env={"DANAFLOW_TEST_VAR": "xyz"})
    )
    result = await FlowRunner(FlowDefinition("f").node("cmd", node)).run()
    assert result.get_result("cmd").outcome.results[0].stdout == "xyz\n"


# ---- substituted values are data, never shell code ------------------------------------------------

PAYLOADS = [
    "$(touch SENTINEL)",
    "`touch SENTINEL`",
    "x; touch SENTINEL",
    "x && touch SENTINEL || touch SENTINEL",
    "x | touch SENTINEL",
    "x > SENTINEL",
    "x\ntouch SENTINEL",
    "'; touch SENTINEL; '",
    '"; touch SENTINEL; "',
    '\\"$(touch SENTINEL)\\"',
    "${IFS}$(touch${IFS}SENTINEL)",
    "* ? [a-z] ~ $HOME",
    "  two  spaces\ttab  ",
    "-n",
    "",
    "don't $(touch SENTINEL) \\",
    "x\nEOF\ntouch SENTINEL\n",
]

# (command template, what printf receives for a value v): bare, inside double quotes, inside
# single quotes, inside $( ), inside backquotes, after a comment-looking '#', next to text.
CONTEXTS = [
    ("printf '%s\\n' $var{v}", lambda v: v),
    ("printf '%s\\n' \"<$var{v}>\"", lambda v: f"<{v}>"),
    ("printf '%s\\n' '<$var{v}>'", lambda v: f"<{v}>"),
    ("printf '%s\\n' \"$(printf '%s' $var{v}; printf .)\"", lambda v: f"{v}."),
    ("x=`printf '%s' $var{v}; printf .`; printf '%s\\n' \"$x\"", lambda v: f"{v}."),
    ("printf '%s\\n' a$var{v}#b # it's a comment", lambda v: f"a{v}#b"),
    ("cat <<EOF\n$var{v}\nEOF", lambda v: v),
]


async def _run_with(command, variables, cwd):
    flow = FlowDefinition("f").vars(**variables)
    flow.node("cmd", CommandNode(settings=CommandNodeSettings(commands=[command], working_dir=str(cwd))))
    return (await FlowRunner(flow).run()).get_result("cmd")


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
@pytest.mark.parametrize(
    ("command", "expect"), CONTEXTS, ids=["bare", "double", "single", "subst", "backquote", "hash", "heredoc"]
)
async def test_an_injected_value_arrives_verbatim_and_never_runs(tmp_path, command, expect, payload):
    cmd = await _run_with(command, {"v": payload}, tmp_path)
    assert cmd.execution_status is S.completed, cmd.error
    assert not (tmp_path / "SENTINEL").exists()
    assert cmd.outcome.results[0].stdout == expect(payload) + "\n"


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
@pytest.mark.parametrize(
    ("command", "expect"), CONTEXTS[:6], ids=["bare", "double", "single", "subst", "backquote", "hash"]
)
async def test_the_shown_command_is_an_equivalent_safe_command(tmp_path, command, expect, payload):
    cmd = await _run_with(command, {"v": payload}, tmp_path)
    shown = cmd.outcome.results[0].command
    proc = subprocess.run(["/bin/sh", "-c", shown], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert proc.stdout == expect(payload) + "\n"
    assert not (tmp_path / "SENTINEL").exists()


async def test_an_llm_answer_with_command_substitution_is_an_argument(tmp_path, fake_llm):
    fake_llm.reply("main$(touch SENTINEL); touch SENTINEL2")
    flow = FlowDefinition("f")
    flow.node(
        "pick",
        AIModelNode(
            AIModelNodeSettings(prompt=Prompt.with_dad_text(text="Which branch?")), llm=fake_llm.resource()
        ),
    )
    flow.node(
        "show",
        CommandNode(
            settings=CommandNodeSettings(
                commands=["printf 'branch=%s\\n' $hier{pick.outcome.text}"], working_dir=str(tmp_path)
            )
        ),
    )
    result = await FlowRunner(flow).run()
    show = result.get_result("show")
    assert show.execution_status is S.completed, show.error
    assert show.outcome.results[0].stdout == "branch=main$(touch SENTINEL); touch SENTINEL2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


async def test_several_values_and_the_authors_own_positional_parameters(tmp_path):
    cmd = await _run_with(
        "printf '[%s]' \"$1\" \"$#\" $var{a} \"$var{b}\" '$var{c}' $expr{a + '!'}; echo",
        {"a": "a b", "b": "$(id)", "c": "it's"},
        tmp_path,
    )
    assert cmd.execution_status is S.completed, cmd.error
    assert cmd.outcome.results[0].stdout == "[][0][a b][$(id)][it's][a b!]\n"
    assert cmd.outcome.results[0].command == (
        "printf '[%s]' \"$1\" \"$#\" 'a b' \"\\$(id)\" 'it'\\''s' 'a b!'; echo"
    )


async def test_a_value_with_a_nul_byte_fails_the_node_naming_the_reference(tmp_path):
    cmd = await _run_with("printf '%s' $var{v}", {"v": "a\0b"}, tmp_path)
    assert cmd.execution_status is S.failed
    assert "commands[0]: $var{v} holds a NUL byte" in cmd.error.message


# ---- argv form: no shell at all ---------------------------------------------------------------------

ECHO_ARGS = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


async def test_argv_commands_pass_each_element_as_one_argument(tmp_path):
    flow = FlowDefinition("f").vars(v=PAYLOADS)
    commands = [
        [*ECHO_ARGS, "$var{v[" + str(i) + "]}", "--opt=$var{v[" + str(i) + "]}"] for i in range(len(PAYLOADS))
    ]
    flow.node("cmd", CommandNode(settings=CommandNodeSettings(commands=commands, working_dir=str(tmp_path))))
    result = await FlowRunner(flow).run()
    cmd = result.get_result("cmd")
    assert cmd.execution_status is S.completed, cmd.error
    for payload, r in zip(PAYLOADS, cmd.outcome.results, strict=True):
        assert json.loads(r.stdout) == [payload, f"--opt={payload}"]
        assert r.argv == [*ECHO_ARGS, payload, f"--opt={payload}"]
        assert r.command == shlex.join(r.argv)
    assert not (tmp_path / "SENTINEL").exists()


async def test_argv_and_shell_commands_mix_in_one_node(tmp_path):
    flow = FlowDefinition("f").vars(branch="feature/x; touch SENTINEL")
    flow.node(
        "cmd",
        CommandNode(
            settings=CommandNodeSettings(
                commands=[["printf", "%s\\n", "$var{branch}"], "printf '%s\\n' $var{branch}"],
                working_dir=str(tmp_path),
            )
        ),
    )
    result = await FlowRunner(flow).run()
    out = result.get_result("cmd").outcome
    assert [r.stdout for r in out.results] == ["feature/x; touch SENTINEL\n"] * 2
    assert not (tmp_path / "SENTINEL").exists()


async def test_an_argv_program_that_does_not_exist_fails_like_a_shell_would():
    node = CommandNode(settings=CommandNodeSettings(commands=[["danaflow-no-such-program", "x"]]))
    result = await FlowRunner(FlowDefinition("f").node("cmd", node)).run()
    cmd = result.get_result("cmd")
    assert cmd.execution_status is S.failed
    r = cmd.outcome.results[0]
    assert r.returncode == 127 and "cannot run 'danaflow-no-such-program'" in r.stderr
    assert "exited with 127" in cmd.error.message


def test_an_empty_argv_list_is_refused():
    with pytest.raises(
        ValidationError, match=r"commands\[1\]: got an empty argv list, want \[program, \*arguments\]"
    ):
        CommandNodeSettings(commands=["true", []])


def test_argv_elements_are_checked_templates():
    node = CommandNode(settings=CommandNodeSettings(commands=[["cat", "$hier{ghost.outcome.text}"]]))
    assert node.templates() == [("commands[0][0]", "cat"), ("commands[0][1]", "$hier{ghost.outcome.text}")]
    with pytest.raises(
        FlowDefinitionError, match=r"commands\[0\]\[1\] references \$hier\{ghost.outcome.text\}"
    ):
        FlowDefinition("f").node("cmd", node).validate()


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("cat <<EOF\nit's $var{v}\nEOF", lambda v: f"it's {v}\n"),
        ("cat <<-END\n\t$var{v}\n\tEND\nprintf '%s\\n' $var{v}", lambda v: f"{v}\n{v}\n"),
        ("cat <<A; cat <<B\n$var{v}\nA\n'$var{v}'\nB", lambda v: f"{v}\n'{v}'\n"),
        ("cat > out.txt <<EOF\n$var{v}\nEOF\ncat out.txt", lambda v: f"{v}\n"),
    ],
    ids=["apostrophe", "strip-tabs-then-bare", "two-heredocs", "to-a-file"],
)
async def test_values_in_heredocs_arrive_verbatim(tmp_path, command, expect):
    payload = "don't $(touch SENTINEL)\nEOF\nA\nB\n`touch SENTINEL`"
    cmd = await _run_with(command, {"v": payload}, tmp_path)
    assert cmd.execution_status is S.completed, cmd.error
    assert cmd.outcome.results[0].stdout == expect(payload)
    assert not (tmp_path / "SENTINEL").exists()


async def test_a_value_in_a_quoted_heredoc_is_refused(tmp_path):
    cmd = await _run_with("cat <<'EOF'\n$var{v}\nEOF", {"v": "x"}, tmp_path)
    assert cmd.execution_status is S.failed
    assert "$var{v} sits in a quoted heredoc (<<'EOF')" in cmd.error.message
    assert "want an unquoted delimiter" in cmd.error.message
