"""The `danaflow` command as a user runs it: a real subprocess, stdout/stderr and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "danaflow.launcher"]  # what the console script runs


def danaflow(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [*EXE, *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


@pytest.fixture
def program(tmp_path: Path):
    def write(text: str, name: str = "prog.na") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def test_run_prints_output_and_logs_to_stderr(program) -> None:
    path = program('print("hello")\nlog("a log line")\n')
    proc = danaflow("run", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello\n"
    assert "a log line" in proc.stderr


def test_runtime_error_is_file_line_col_with_source_and_no_traceback(program) -> None:
    path = program('x = 1\nprint("before")\ny = x / 0\n')
    proc = danaflow("run", str(path))
    assert proc.returncode == 1
    assert proc.stdout == "before\n"
    first = proc.stderr.splitlines()[0]
    assert first == f"{path}:3:5: ZeroDivisionError: division by zero"
    assert "y = x / 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_python_traceback(program) -> None:
    path = program("y = 1 / 0\n")
    proc = danaflow("run", str(path), "--debug")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr


def test_syntax_error_names_the_place(program) -> None:
    path = program("x = (1 +\n")
    proc = danaflow("run", str(path))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{path}:1:9: SyntaxError: got end of input, want expression")


def test_set_fills_scopes_from_json(program) -> None:
    path = program("print(public:n + 1, private:name, public:raw)\n")
    proc = danaflow(
        "run",
        str(path),
        "--set",
        "public:n=41",
        "--set",
        'private:name="bo"',
        "--set",
        "public:raw=plain text",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "42 bo plain text\n"


def test_bad_set_is_a_usage_error(program) -> None:
    path = program("pass\n")
    proc = danaflow("run", str(path), "--set", "nonsense")
    assert proc.returncode == 2
    assert "scope:name=value" in proc.stderr


def test_timeout_stops_a_runaway_program(program) -> None:
    path = program("while true:\n    pass\n")
    proc = danaflow("run", str(path), "--timeout", "0.5")
    assert proc.returncode == 1
    assert "TimeoutError" in proc.stderr and ":1:" in proc.stderr


def test_max_steps(program) -> None:
    path = program("i = 0\nwhile true:\n    i += 1\n")
    proc = danaflow("run", str(path), "--max-steps", "100")
    assert proc.returncode == 1
    assert "step budget of 100" in proc.stderr


def test_missing_file(tmp_path: Path) -> None:
    proc = danaflow("run", str(tmp_path / "nope.na"))
    assert proc.returncode == 1
    assert "no such file" in proc.stderr


def test_check_compiles_without_running(program) -> None:
    good = program('print("never printed")\n', "good.na")
    proc = danaflow("check", str(good))
    assert proc.returncode == 0 and proc.stdout == f"{good}: ok\n"
    bad = program("def f(:\n    pass\n", "bad.na")
    proc = danaflow("check", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{bad}:1:7: SyntaxError")


def test_check_reports_sandbox_refusals(program) -> None:
    bad = program("x = ().__class__\n")
    proc = danaflow("check", str(bad))
    assert proc.returncode == 1
    assert "SandboxError" in proc.stderr and "__class__" in proc.stderr


def test_repl_keeps_state_and_handles_blocks_and_errors() -> None:
    script = "x = 41\nx + 1\ndef double(n):\n    return n * 2\n\ndouble(x)\nprint(oops)\nprint(public:city)\n"
    proc = danaflow("repl", "--set", "public:city=Paris", stdin=script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "42"
    assert lines[1] == "82"
    assert "NameError: name 'oops' is not defined" in lines[2]
    assert lines[-1] == "Paris"


def test_runs_commands_are_mounted(tmp_path: Path) -> None:
    proc = danaflow("runs", "list", "--run-root", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr


def test_version(tmp_path: Path) -> None:
    import danaflow as package

    for args in (["--version"], ["--version", "--help"]):
        proc = danaflow(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"danaflow {package.__version__}\n"


HELPS = ["", "run", "check", "repl", "resume", "runs", "runs list", "runs show", "runs rm"]


@pytest.mark.parametrize("command", [h.split() for h in HELPS], ids=HELPS)
def test_help_shows_plain_metavars_and_describes_every_option(command: list[str], tmp_path: Path) -> None:
    proc = danaflow(*command, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("Usage: danaflow")
    # Typer's own notation ({TARGET}, <str>, <list[str]>, <bool>) never shows; metavars are words.
    for noise in ("{", "<str>", "<int>", "<float>", "<bool>", "<path>", "list[", "╭"):
        assert noise not in text, (noise, text)
    options = text.split("Options:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    described = [line for line in options if line.startswith("  -")]
    assert described
    for line in described:
        # "  --flag METAVAR   Help text": every option line carries a description after its name.
        name, _, help_text = line.strip().partition("  ")
        assert help_text.strip(), f"undescribed option {name!r} in danaflow {' '.join(command)} --help"


def test_run_help_names_its_metavars(tmp_path: Path) -> None:
    text = danaflow("run", "--help", cwd=tmp_path).stdout
    assert "Usage: danaflow run [OPTIONS] TARGET" in text
    for option in ("--timeout SECONDS", "--max-steps N", "--set SCOPE:NAME=JSON", "--input PATH=JSON"):
        assert option in text


def test_fake_llm_module_serves_and_prints_its_address() -> None:
    import json
    import signal
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "danaflow.testing.fake_llm", "--reply", "pong"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("fake LLM server on http://127.0.0.1:")
        base_url = first.split()[-1]
        assert proc.stdout.readline() == f"DANAFLOW_LLM=openai-compatible:{base_url}#fake-model\n"
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "ping"}]}).encode()
        request = urllib.request.Request(
            f"{base_url}/chat/completions", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["choices"][0]["message"]["content"] == "pong"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0


def test_check_and_version_start_without_typer(program) -> None:
    # Typer builds each parameter with pydantic: as costly as compiling the program. These two
    # commands take the front door's fast path instead (bench/cli.py measures the start-up).
    path = program("x = 1\n")
    for args in (["check", str(path)], ["--version"]):
        code = (
            "import sys\n"
            "from danaflow.launcher import main\n"
            "try:\n"
            f"    main({args!r})\n"
            "except SystemExit as exc:\n"
            "    print('exit', exc.code)\n"
            "print(sorted(m for m in ('typer', 'click', 'pydantic', 'rich') if m in sys.modules))\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-2:] == ["exit 0", "[]"], proc.stdout
