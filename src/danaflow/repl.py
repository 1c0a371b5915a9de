"""The interactive Dana prompt behind ``danaflow repl``.

Each complete input (a line, or a block ended by an empty line) runs against one SandboxContext, so
variables, functions and structs persist between inputs. prompt_toolkit gives history and editing
on a terminal; piped input is read line by line with the same rules. The banner goes to stderr
(as Python's does), so piped output holds only what the inputs printed. Ctrl-C stops the input
that is running and keeps the session: what earlier inputs defined is still there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from danaflow.lang.sandbox import SandboxContext

__all__ = ["BANNER", "HELP", "Repl", "needs_more"]

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_EXIT = {"exit", "quit", "exit()", "quit()"}
_HELP = {"help", "help()"}

BANNER = "Dana {version} (danaflow). Type help for help; exit, quit or Ctrl-D leaves.\n"
HELP = """\
Each input runs when it is complete: a line, or a block (a line ending in ':') ended by an empty
line. Variables, functions and structs stay defined between inputs; a value that is not None is
echoed.

  x = 41                 an unscoped name is local:x
  public:city = "Paris"  scopes: local:, private:, public:, system:
  def double(n):         a block; end it with an empty line
      return n * 2
  double(x)              -> 82
  reason("a question")   asks the configured model (DANAFLOW_LLM; default the embedded one)

  help     this text
  exit     leave (also quit, Ctrl-D)
  Ctrl-C   stop the running input (the session and its state stay); at the prompt, clear the input

The language: docs/language.md. Run a file: danaflow run FILE.na.
"""


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
        self.write = write or _stdout
        self.count = 0

    def execute(self, source: str) -> bool:
        """Runs one input; returns False when it asks to leave (``exit``/``quit``)."""
        command = source.strip()
        if command in _EXIT:
            return False
        if command in _HELP:
            self.write(HELP)
            return True
        from danaflow.api import run

        self.count += 1
        try:
            # In-process: the person at the prompt is the program's author, and functions and
            # structs defined on one line must stay live for the next.
            outcome = run(
                source,
                self.context,
                filename=f"<repl:{self.count}>",
                print_sink=self.write,
                isolation="inprocess",
            )
        except KeyboardInterrupt:
            self.write("KeyboardInterrupt: the input was stopped; earlier state is kept\n")
            return True
        if outcome.error is not None:
            self.write(f"{outcome.error}\n")
        elif outcome.value is not None:
            self.write(f"{outcome.value!r}\n")
        return True

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

        from danaflow import __version__

        sys.stderr.write(BANNER.format(version=__version__))
        sys.stderr.flush()
        for source in self._inputs(read_line):
            if not self.execute(source):
                return


def _stdout(text: str) -> None:
    # Flushed per write: piped to another program, each result shows when it is ready.
    sys.stdout.write(text)
    sys.stdout.flush()
