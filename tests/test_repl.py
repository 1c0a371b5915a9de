"""The REPL: which inputs are complete, state kept between them, help/exit/quit and Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from danaflow.lang.sandbox import SandboxContext
from danaflow.repl import HELP, Repl, needs_more


@pytest.mark.parametrize(
    ("text", "more"),
    [
        ("x = 1\n", False),
        ("if x:\n", True),
        ("if x:\n    y = 1\n", True),
        ("if x:\n    y = 1\n\n", False),
        ("f(1,\n", True),
        ("f(1,\n  2)\n", False),
        ('s = "(not a bracket"\n', False),
        ("x = 1 + \\\n", True),
    ],
)
def test_needs_more(text: str, more: bool) -> None:
    assert needs_more(text) is more


def test_inputs_share_one_context_and_values_are_echoed() -> None:
    out: list[str] = []
    repl = Repl(SandboxContext(), write=out.append)
    lines = iter(["count = 1", "def bump(n):", "    return n + 1", "", "bump(count)", "print(missing)"])

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    for source in repl._inputs(read):
        repl.execute(source)
    text = "".join(out)
    assert "2\n" in text
    assert "NameError: name 'missing' is not defined" in text
    assert repl.context.get("local:count") == 1


# ---- the real `danaflow repl` ----------------------------------------------------------------------
def repl_process() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "danaflow.launcher", "repl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_banner_says_how_to_get_help_and_help_exit_quit_work() -> None:
    for leave in ("exit", "quit", "exit()"):
        proc = subprocess.run(
            [sys.executable, "-m", "danaflow.launcher", "repl"],
            input=f"n = 2\nhelp\nn * 21\n{leave}\nprint('never')\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Type help for help; exit, quit or Ctrl-D leaves." in proc.stderr.splitlines()[0]
        assert HELP in proc.stdout  # what `help` prints
        assert proc.stdout.endswith("42\n"), proc.stdout  # `exit` stopped the session: no "never"


def test_ctrl_c_stops_the_running_input_and_keeps_the_session_and_its_state() -> None:
    proc = repl_process()
    try:
        proc.stdin.write('x = 5\nif true:\n    print("looping")\n    while true:\n        pass\n\n')
        proc.stdin.flush()
        assert proc.stdout.readline() == "looping\n"  # the loop is running now
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline().startswith("KeyboardInterrupt: the input was stopped")
        proc.stdin.write("x + 1\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "6\n"  # same session, same state
        proc.stdin.write("quit\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_help_and_exit_through_the_api() -> None:
    out: list[str] = []
    repl = Repl(SandboxContext(), write=out.append)
    assert repl.execute("help\n") is True and out == [HELP]
    assert repl.execute("quit\n") is False
