"""CommandNode with real subprocesses."""

from __future__ import annotations

import sys

from danaflow.context import ExecutionStatusEnum as S
from danaflow.flow import CommandNode, CommandNodeSettings, FlowDefinition, FlowRunner


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
