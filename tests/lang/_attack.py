"""What the sandbox attack suites share: an attempt, how to run it, and what a refusal must show.

An attempt is a small hostile program. Its text may name ``SENTINEL`` (a path under the test's
tmp_path that a payload tries to create) and mark with ``# <-`` the line the refusal must be
reported at. ``check_refused`` asserts the clean error (its kind, a message naming what was
refused, the line), that nothing escaped (no SENTINEL, no "ESCAPED" printed) and, for the
checks that want it, ``host_survives`` runs one more program through the same worker pool.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danaflow.errors import DanaflowError
from danaflow.lang.api import ExecutionOutcome, run
from danaflow.lang.sandbox import SandboxContext

__all__ = ["Attempt", "check_refused", "error_kinds", "host_survives", "marked_line", "run_attempt"]


@dataclass(frozen=True)
class Attempt:
    id: str
    source: str
    """The program; SENTINEL becomes a path, the line ending in ``# <-`` is where it is refused."""
    kind: str
    """The error's class name or ``error_type`` (SandboxError, TypeError, ResourceLimitError...);
    ``A|B`` accepts either (a refusal may move from run time to compile time)."""
    refused: str
    """A regex the error message must match: the name of what was refused."""
    options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``run`` (timeout, isolation, ...)."""


def marked_line(source: str) -> int | None:
    """The 1-based number of the line ending in ``# <-``, or None."""
    for i, line in enumerate(source.splitlines(), start=1):
        if line.rstrip().endswith("# <-"):
            return i
    return None


def error_kinds(err: DanaflowError) -> set[str]:
    """The names an error answers to: its class and its classes' names, and its Python error type."""
    kinds = {cls.__name__ for cls in type(err).__mro__}
    error_type = getattr(err, "error_type", None)
    if error_type:
        kinds.add(str(error_type))
    return kinds


def run_attempt(
    attempt: Attempt, tmp_path: Path, ctx: SandboxContext | None = None, **options: Any
) -> tuple[ExecutionOutcome, str, Path]:
    """Runs ``attempt`` (process isolation unless its options say otherwise); returns the outcome,
    the program as run and the SENTINEL path."""
    sentinel = tmp_path / "pwned"
    source = attempt.source.replace("SENTINEL", str(sentinel))
    printed: list[str] = []
    opts = {"timeout": 10.0, **attempt.options, **options}
    outcome = run(
        source,
        ctx if ctx is not None else SandboxContext(),
        filename="attack.na",
        print_sink=printed.append,
        **opts,
    )
    return outcome, source, sentinel


def check_refused(
    outcome: ExecutionOutcome,
    attempt: Attempt,
    source: str,
    sentinel: Path,
    *,
    extra: Callable[[], str] | None = None,
) -> DanaflowError:
    """Asserts the clean refusal ``attempt`` expects and that nothing escaped; returns the error."""
    err = outcome.error
    info = f"\n--- program ---\n{source}\n--- output ---\n{outcome.output[:2000]}\n--- error ---\n{err!r}"
    if extra is not None:
        info += "\n" + extra()
    assert err is not None, "the attempt was not refused" + info
    kinds = error_kinds(err)
    assert kinds & set(attempt.kind.split("|")), f"want a {attempt.kind}, got {sorted(kinds)}" + info
    assert re.search(attempt.refused, err.message), f"message does not name {attempt.refused!r}" + info
    assert len(err.message) < 10_000, "the message is not cut" + info
    line = marked_line(source)
    if line is not None:
        assert err.location is not None, "no location" + info
        assert err.location.line == line, f"refused at line {err.location.line}, want {line}" + info
    assert "ESCAPED" not in outcome.output, "the program went on past the refusal" + info
    assert not sentinel.exists(), "the payload ran: SENTINEL exists" + info
    return err


def host_survives() -> None:
    """The host process still runs programs through the same worker pool, and gets their value."""
    outcome = run("x = 6\nx * 7\n", SandboxContext(), filename="after.na", print_sink=lambda s: None)
    assert outcome.error is None, outcome.error
    assert outcome.value == 42
