"""The interactive Dana prompt behind ``danaflow repl``.

Each complete input (a line, or a block ended by an empty line) runs against one SandboxContext, so
variables, functions and structs persist between inputs. prompt_toolkit gives history and editing
on a terminal; piped input is read line by line with the same rules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from danaflow.lang.sandbox import SandboxContext

__all__ = ["Repl", "needs_more"]

_OPENERS = {"(": ")", "[": "]", "{": "}"}


def needs_more(text: str) -> bool:
    """Whether an input is unfinished: open brackets, a trailing ':' or '\\', or an open block."""
    depth = 0
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in _OPENERS:
            depth += 1
        elif ch in ")]}":
            depth -= 1
    if depth > 0:
        return True
    lines = text.rstrip("\n").split("\n")
    last = lines[-1].rstrip()
    if last.endswith((":", "\\")):
        return True
    # Inside an indented block the user ends it with an empty line.
    return len(lines) > 1 and not text.endswith("\n\n") and lines[0].rstrip().endswith(":")


class Repl:
    """Reads Dana inputs, runs them in one context and echoes non-None values."""

    def __init__(self, context: SandboxContext | None = None, write: Callable[[str], None] | None = None):
        self.context = context or SandboxContext()
        self.write = write or sys.stdout.write
        self.count = 0

    def execute(self, source: str) -> None:
        from danaflow.api import run

        self.count += 1
        outcome = run(source, self.context, filename=f"<repl:{self.count}>", print_sink=self.write)
        if outcome.error is not None:
            self.write(f"{outcome.error}\n")
        elif outcome.value is not None:
            self.write(f"{outcome.value!r}\n")

    def _inputs(self, read_line: Callable[[str], str]) -> Iterator[str]:
        buffer = ""
        while True:
            try:
                line = read_line("... " if buffer else "dana> ")
            except KeyboardInterrupt:
                buffer = ""
                continue
            except EOFError:
                if buffer.strip():
                    yield buffer
                return
            buffer += line + "\n"
            if not needs_more(buffer):
                if buffer.strip():
                    yield buffer
                buffer = ""

    def loop(self) -> None:
        if sys.stdin.isatty():
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory

            history = Path.home() / ".danaflow_history"
            session: PromptSession = PromptSession(history=FileHistory(str(history)))
            read_line = session.prompt
        else:

            def read_line(prompt: str) -> str:
                line = sys.stdin.readline()
                if not line:
                    raise EOFError
                return line.rstrip("\n")

        for source in self._inputs(read_line):
            self.execute(source)
