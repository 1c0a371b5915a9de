"""The Dana conformance suite: chunked ``testdata/*.na`` programs with their expected output.

Format of a data file (after starlark-go's ``chunkedfile``):

- Cases are separated by a line that is exactly ``---``. Line numbers are relative to the case
  (the first line after a ``---`` is line 1).
- A line ``#> text`` gives the next expected stdout line (``#>`` alone is an empty line). The
  program's whole stdout must equal the ``#>`` lines joined with newlines, plus a trailing newline
  when there is at least one.
- A trailing comment ``### "regex"`` on a line marks the expected uncaught error: the error must be
  reported at that line, and ``f"{error_type}: {message}"`` (``SyntaxError: message`` for syntax
  errors) must ``re.search`` the regex. The output printed before the error must still match.
- A case without ``###`` must succeed. Many cases also check themselves with ``assert``.

Every case runs in a fresh SandboxContext whose reasoner is ``RecordingReasoner`` below and whose
registry adds a few helpers (``desired_types()``, ``prompts()``, ``last_options()``,
``opened(name)``). Cases of ``imports*.na`` run as if they were a file in ``testdata/modules/`` so
``import helpers`` finds ``testdata/modules/helpers.na``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest

from danaflow.errors import DanaSyntaxError, ResourceLimitError
from danaflow.lang.api import run
from danaflow.lang.sandbox import SandboxContext
from danaflow.lang.values import Capability

TESTDATA = Path(__file__).parent / "testdata"
ERROR_MARK = re.compile(r'###\s*"(.*)"\s*$')


def _quiet(_text: str) -> None:
    pass


@dataclass(frozen=True)
class Case:
    """One ``---``-separated program of a data file."""

    file: Path
    first_line: int
    """The line of ``file`` where the case starts, for the test id and failure messages."""
    source: str
    expected_output: str
    error_line: int | None
    error_regex: str | None

    @property
    def id(self) -> str:
        return f"{self.file.name}:{self.first_line}"


def parse_chunks(path: Path) -> list[Case]:
    cases: list[Case] = []
    chunk: list[str] = []
    start = 1

    def flush(end_line: int) -> None:
        if not "".join(chunk).strip():
            return
        expected: list[str] = []
        error_line = error_regex = None
        for i, line in enumerate(chunk, start=1):
            stripped = line.strip()
            if stripped.startswith("#>"):
                text = stripped[2:]
                expected.append(text[1:] if text.startswith(" ") else text)
            m = ERROR_MARK.search(line)
            if m:
                assert error_line is None, f"{path}:{start + i - 1}: one expected error per case"
                error_line, error_regex = i, m.group(1)
        output = "\n".join(expected) + "\n" if expected else ""
        source = "".join(chunk)
        if not source.endswith("\n"):
            source += "\n"
        cases.append(Case(path, start, source, output, error_line, error_regex))

    lines = path.read_text().splitlines(keepends=True)
    for n, line in enumerate(lines, start=1):
        if line.rstrip("\r\n") == "---":
            flush(n)
            chunk = []
            start = n + 1
        else:
            chunk.append(line)
    flush(len(lines) + 1)
    return cases


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(TESTDATA.glob("*.na")):
        if path.name.startswith("escapes"):
            continue
        cases.extend(parse_chunks(path))
    return cases


# ---- the code-configured reasoner and the harness helpers --------------------------------------


def _type_name(t: Any) -> str:
    # No desired type means str (DESIGN §3); whether the runtime or the LLM layer applies that
    # default is not observable from Dana, so both spellings record as "str".
    if t is None:
        return "str"
    if isinstance(t, type) and not typing.get_args(t):
        return t.__name__
    return str(t).replace("typing.", "")


def _fake_value(t: Any, prompt: str) -> Any:
    """A deterministic answer of type ``t``, so programs can check exactly what they got."""
    if t is None or t is str:
        return f"echo: {prompt}"
    if t is bool:
        return True
    if t is int:
        return 42
    if t is float:
        return 2.5
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is list:
        return [_fake_value(args[0] if args else str, prompt) for _ in range(3)]
    if origin is dict:
        return {"key": _fake_value(args[1] if len(args) > 1 else str, prompt)}
    # Dana structs are pydantic-compatible types with ``model_fields`` (not BaseModel subclasses).
    if isinstance(t, type) and (issubclass(t, pydantic.BaseModel) or hasattr(t, "__dana_model__")):
        values = {}
        for name, field in t.model_fields.items():
            ann = field.annotation
            if ann is str:
                values[name] = f"{name}-answer"
            elif ann in (int, float, bool):
                values[name] = _fake_value(ann, prompt)
            elif not field.is_required():
                continue
            else:
                values[name] = _fake_value(ann, prompt)
        return t(**values)
    return f"echo: {prompt}"


class RecordingReasoner:
    """Answers ``reason()`` from the desired type alone and records every request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        self.calls.append((prompt, desired_type, options))
        return _fake_value(desired_type, prompt)


OPEN: dict[str, bool] = {}


def opened(name: str) -> Capability:
    """A resource usable in ``with``: enter() yields its name, exit() closes it (see is_open)."""

    def enter() -> str:
        OPEN[name] = True
        return name

    def exit_(failed: bool) -> None:
        OPEN[name] = False

    return Capability("opened", {"enter": enter, "exit": exit_})


def is_open(name: str) -> bool:
    return OPEN.get(name, False)


def make_context() -> tuple[SandboxContext, RecordingReasoner]:
    reasoner = RecordingReasoner()
    ctx = SandboxContext(reasoner=reasoner)
    ctx.registry.register("desired_types", lambda: [_type_name(t) for _, t, _ in reasoner.calls])
    ctx.registry.register("prompts", lambda: [p for p, _, _ in reasoner.calls])
    ctx.registry.register("last_options", lambda: dict(reasoner.calls[-1][2]) if reasoner.calls else {})
    ctx.registry.register("opened", opened)
    ctx.registry.register("is_open", is_open)
    return ctx, reasoner


def filename_for(case: Case) -> str:
    if case.file.stem.startswith("imports"):
        return str(TESTDATA / "modules" / f"{case.file.stem}_{case.first_line}.na")
    return str(case.file)


def describe(case: Case, outcome: Any) -> str:
    return (
        f"\n--- case {case.id} ---\n{case.source}--- output ---\n{outcome.output}"
        f"--- error ---\n{outcome.error!r}\n{outcome.error}"
    )


CASES = all_cases()


def test_suite_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert sum(c.error_regex is not None for c in CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance(case: Case) -> None:
    ctx, _ = make_context()
    filename = filename_for(case)
    outcome = run(case.source, ctx, filename=filename, timeout=30, print_sink=_quiet)
    info = describe(case, outcome)
    assert outcome.output == case.expected_output, info
    if case.error_regex is None:
        assert outcome.error is None, info
        assert outcome.ok, info
        return
    err = outcome.error
    assert err is not None, f"expected an error matching {case.error_regex!r}" + info
    assert not outcome.ok, info
    assert err.location is not None, info
    assert err.location.line == case.error_line, info
    assert err.location.file == filename, info
    if isinstance(err, DanaSyntaxError):
        text = f"SyntaxError: {err.message}"
    else:
        text = f"{err.error_type}: {err.message}"
    assert re.search(case.error_regex, text), f"{text!r} does not match {case.error_regex!r}" + info


# ---- limits: they need run() options, so they live here rather than in data files -------------


def test_step_budget_stops_an_endless_loop() -> None:
    outcome = run("x = 0\nwhile true:\n    pass\n", max_steps=10_000, timeout=30, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), outcome.error
    assert re.search(r"(?i)step", outcome.error.message)
    assert outcome.error.location is not None and outcome.error.location.line in (2, 3)


def test_step_budget_counts_calls() -> None:
    src = "def f(n):\n    return n\nfor i in range(1000000):\n    f(i)\n"
    outcome = run(src, max_steps=500, timeout=30, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), outcome.error
    assert re.search(r"(?i)step", outcome.error.message)


def test_step_budget_counts_recursion() -> None:
    # No loop at all: only calls can run the budget down.
    src = "def down(n):\n    if n == 0:\n        return 0\n    return down(n - 1)\nprint(down(400))\n"
    outcome = run(src, max_steps=50, timeout=30, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), outcome.error
    assert outcome.output == ""


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("xs = [i for i in range(1000000)]\n", id="list-comprehension"),
        pytest.param("total = sum(i for i in range(1000000))\n", id="generator-expression"),
        pytest.param("d = {(i: i) for i in range(1000000)}\n", id="dict-comprehension"),
    ],
)
def test_step_budget_counts_comprehension_iterations(source: str) -> None:
    # A comprehension is a loop: its iterations are loop back-edges (DESIGN §3), otherwise
    # `sum(1 for _ in itertools.count())` would run forever under a step budget.
    outcome = run(source, max_steps=1000, timeout=30, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), outcome.error
    assert re.search(r"(?i)step", outcome.error.message)


def test_step_budget_large_enough_lets_program_finish() -> None:
    src = "total = 0\nfor i in range(100):\n    total += i\nprint(total)\n"
    outcome = run(src, max_steps=10_000, timeout=30, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    assert outcome.output == "4950\n"


def test_timeout_stops_an_endless_loop() -> None:
    outcome = run("n = 0\nwhile true:\n    n += 1\n", timeout=0.5, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), outcome.error
    assert re.search(r"(?i)time", outcome.error.message)


def test_timeout_stops_a_builtin_consuming_an_endless_iterator() -> None:
    # sum() over itertools.count() runs in C; the allow-listed itertools hands out a Python-level
    # wrapper, so the interpreter's checks still see the timeout.
    outcome = run("import itertools\nx = sum(itertools.count())\n", timeout=0.5, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), outcome.error
    assert outcome.error.location.line == 2


def test_timeout_output_before_the_limit_is_kept() -> None:
    outcome = run('print("started")\nwhile true:\n    pass\n', timeout=0.5, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), outcome.error
    assert outcome.output == "started\n"


def test_resource_limit_is_not_catchable_by_dana_code() -> None:
    # A runaway loop inside try/except Exception must still stop the program.
    src = (
        "caught = false\n"
        "try:\n"
        "    while true:\n"
        "        pass\n"
        "except Exception:\n"
        "    caught = true\n"
        'print("after", caught)\n'
    )
    outcome = run(src, max_steps=1000, timeout=30, print_sink=_quiet)
    assert isinstance(outcome.error, ResourceLimitError), (outcome.error, outcome.output)
    assert outcome.output == ""


_FINALLY_PROBE = """
import sys
from danaflow.lang.api import run
outcome = run(sys.stdin.read(), timeout=0.5, print_sink=lambda s: None)
print(type(outcome.error).__name__)
"""


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            "try:\n    while true:\n        pass\nfinally:\n    while true:\n        pass\n",
            id="loop",
        ),
        pytest.param(
            "def f():\n    try:\n        while true:\n            pass\n    finally:\n        f()\nf()\n",
            id="recursion",
        ),
    ],
)
def test_timeout_is_not_defeated_by_a_finally_block(source: str) -> None:
    # After the timeout interrupts the try body, the finally block loops on: the timeout must
    # stop that too. A child process keeps a regression from hanging the test run; its limit is
    # a hang guard, not a timing assertion.
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _FINALLY_PROBE], input=source, capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the program was still running 20 s after its 0.5 s timeout")
    assert proc.stdout.strip() == "ResourceLimitError", proc.stderr


def test_print_sink_receives_output() -> None:
    seen: list[str] = []
    outcome = run('print("a", 1)\nprint("b")\n', print_sink=seen.append)
    assert outcome.error is None
    assert outcome.output == "a 1\nb\n"
    assert "".join(seen) == "a 1\nb\n"


def test_reasoner_sees_desired_type_of_typed_caller() -> None:
    # The same check as reason.na, from the Python side: the struct class itself reaches reason().
    ctx, reasoner = make_context()
    src = (
        "struct Profile:\n"
        "    name: str\n"
        "    age: int\n"
        "def make() -> Profile:\n"
        '    return reason("describe someone")\n'
        "p: Profile = make()\n"
    )
    outcome = run(src, ctx, print_sink=_quiet)
    assert outcome.error is None, outcome.error
    ((_, desired, _),) = reasoner.calls
    assert isinstance(desired, type) and desired.__name__ == "Profile"
    # What an LLM layer needs from it: a JSON schema and validation through pydantic.
    adapter = pydantic.TypeAdapter(desired)
    assert adapter.json_schema()["required"] == ["name", "age"]
    assert adapter.validate_python({"name": "ann", "age": 3}).age == 3
    p = ctx.get("local:p")
    assert (p.name, p.age) == ("name-answer", 42)
