"""CommandNode: runs commands as real subprocesses and captures what they print.

Commands are templates (``$var{}``, ``$expr{}``, ``$hier{}`` resolve before running). The command
text the flow author wrote is trusted; every substituted value is not (DESIGN §8), so a value
never reaches the shell's parser: in a shell string it is bound to a shell variable and expanded
in its place, and an argv list runs without a shell. Each command runs with a timeout; a timed-out
command is killed. A non-zero exit fails the node (unless ``fail_on_error=False``) while keeping
every command's output in the outcome, so an on_error route can read it. Subprocesses are awaited
with asyncio, so no thread is held while they run.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.template.engine import Part, TemplateEngine

from ._paths import input_variables
from .base import Node, NodeFailedError

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["CommandNode", "CommandNodeSettings", "CommandResult"]


class CommandNodeSettings(BaseModel):
    """What to run: ``commands`` in order, each with ``timeout`` seconds.

    A command is either form, and both are templates:

    - a shell string (``"git log $var{branch} | head"``), run by ``/bin/sh -c``. The text as
      written is shell code. Each substituted value is passed apart from it and expanded where
      the reference stands, exactly as it rendered and never parsed: bare it is one argument
      (as if ``shlex.quote``-d), inside double or single quotes or an unquoted heredoc it is
      part of that text. ``$var{branch}`` holding ``$(rm -rf ~)``, a backquote, ``; rm``, a
      newline or quotes is just an odd branch name. A value inside a quoted heredoc
      (``<<'EOF'``), where nothing expands, is an error. A command that evaluates its own
      arguments (``eval``, ``sh -c``, ``python -c``) still runs what it is given: that is the
      author's choice.
    - an argv list (``["git", "log", "$var{branch}"]``), run with no shell at all; each element
      renders to exactly one argument.
    """

    commands: list[str | list[str]]
    timeout: float = 30.0
    working_dir: str | None = None
    """Where the commands run (a template); default: the current directory."""
    env: dict[str, str] = Field(default_factory=dict)
    """Variables added to the inherited environment."""
    fail_fast: bool = True
    """Stop at the first command that fails."""
    fail_on_error: bool = True
    """A non-zero exit or a timeout fails the node."""
    max_output_chars: int = 1_000_000
    """Longer stdout/stderr is cut (and marked) so one chatty command cannot fill memory."""

    @field_validator("commands")
    @classmethod
    def _argv_not_empty(cls, commands: list[str | list[str]]) -> list[str | list[str]]:
        for i, command in enumerate(commands):
            if isinstance(command, list) and not command:
                raise ValueError(f"commands[{i}]: got an empty argv list, want [program, *arguments]")
        return commands


class CommandResult(BaseModel):
    """One command's outcome."""

    command: str
    """What ran, as one line for people: an argv list joined with ``shlex.join``, a shell string
    with each value written in quoted (the values themselves were passed apart, see
    CommandNodeSettings)."""
    argv: list[str] | None = None
    """For an argv command, exactly the arguments it ran with."""
    returncode: int | None
    """None when the command timed out and was killed; 127/126 when it could not start."""
    stdout: str
    stderr: str
    timed_out: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandNode(Node):
    """Runs ``settings.commands`` in order; outcome ``results[i].stdout/.stderr/.returncode``."""

    node_type = "command"

    def __init__(self, settings: CommandNodeSettings, **kw: Any):
        super().__init__(**kw)
        self.settings = settings

    def templates(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i, command in enumerate(self.settings.commands):
            if isinstance(command, list):
                out.extend((f"commands[{i}][{j}]", arg) for j, arg in enumerate(command))
            else:
                out.append((f"commands[{i}]", command))
        if self.settings.working_dir:
            out.append(("working_dir", self.settings.working_dir))
        return out

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        s = self.settings
        variables = input_variables(ctx.node_input)
        # An isolated run (IsolatedExecution) hands its working dir and environment down the run
        # context; the node's own settings still win.
        run = ctx.run_context
        base_dir = getattr(run, "working_dir", None)
        base_env = getattr(run, "environ", None)
        cwd = Path(base_dir) if base_dir is not None else None
        if s.working_dir:
            rendered = TemplateEngine.render_text(
                s.working_dir, variables, ctx, name=f"{ctx.path}.working_dir"
            )
            cwd = cwd / rendered if cwd is not None else Path(rendered)
        env = {**(base_env if base_env is not None else os.environ), **s.env} if s.env or base_env else None
        results: list[CommandResult] = []
        for i, template in enumerate(s.commands):
            name = f"{ctx.path}.commands[{i}]"
            if isinstance(template, list):
                argv = [
                    TemplateEngine.render_text(arg, variables, ctx, name=f"{name}[{j}]")
                    for j, arg in enumerate(template)
                ]
                _refuse_nul(argv, template, name, ctx.path)
                shown, exec_argv = shlex.join(argv), argv
            else:
                parts = TemplateEngine.render_parts(template, variables, ctx, name=name)
                _refuse_nul([p.text for p in parts], [p.ref or "" for p in parts], name, ctx.path)
                try:
                    script, values, shown = shell_command(parts)
                except ValueError as exc:
                    raise NodeFailedError(f"{name}: {exc}", path=ctx.path) from None
                exec_argv = [_SHELL, "-c", script, _SHELL, *values]
                argv = None
            result = await _run(exec_argv, shown, argv, cwd, env, s.timeout, s.max_output_chars)
            results.append(result)
            if not result.ok and s.fail_fast:
                break
        outcome = NodeOutcome(
            text="".join(r.stdout for r in results),
            structured=[r.model_dump() for r in results],
            results=results,
        )
        bad = [r for r in results if not r.ok]
        if bad and s.fail_on_error:
            first = bad[0]
            why = (
                f"timed out after {s.timeout}s"
                if first.timed_out
                else f"exited with {first.returncode}: {first.stderr.strip()[-500:]}"
            )
            raise NodeFailedError(
                f"command {first.command!r} {why}", path=ctx.path, outcome=outcome, output=results
            )
        return self.make_result(outcome, output=results)


_SHELL = "/bin/sh"
_VALUE = "_danaflow_v"


def shell_command(parts: list[Part]) -> tuple[str, list[str], str]:
    """A shell string's script, the values it binds and the line shown for it.

    Each value becomes ``$1``, ``$2``… of ``sh -c``, is copied into a variable
    ``_danaflow_vN`` (positional parameters are then cleared, so the author's own ``$1`` means
    what it always meant) and expanded where the reference stood: ``"${_danaflow_v1}"`` bare,
    ``${_danaflow_v1}`` inside double quotes or a heredoc, ``'"${_danaflow_v1}"'`` inside single
    quotes. A parameter expansion is never parsed again, so even a misread quoting context (a
    ``case`` pattern, ``$((…))``) can at worst split a value into words, never run it.
    Raises ValueError for a value inside a quoted heredoc (``<<'EOF'``), where nothing expands.
    """
    quoting = _Quoting()
    script: list[str] = []
    shown: list[str] = []
    values: list[str] = []
    for part in parts:
        if part.ref is None:
            quoting.feed(part.text)
            script.append(part.text)
            shown.append(part.text)
            continue
        values.append(part.text)
        var = f"${{{_VALUE}{len(values)}}}"
        where = quoting.context()
        if where == "Q":
            raise ValueError(
                f"{part.ref} sits in a quoted heredoc (<<'{quoting.delimiter()}'), where the shell "
                "expands nothing: want an unquoted delimiter (<<EOF); the value stays data"
            )
        if where == "'":
            script.append(f"'\"{var}\"'")
            text = part.text.replace("'", "'\\''")
        elif where in ('"', "H"):
            script.append(var)
            special = '\\"$`' if where == '"' else "\\$`"
            text = "".join("\\" + c if c in special else c for c in part.text)
        else:
            script.append(f'"{var}"')
            text = shlex.quote(part.text)
        for _ in range(quoting.backquotes()):
            text = text.replace("\\", "\\\\").replace("`", "\\`")
        shown.append(text)
        quoting.value()
    body = "".join(script)
    if not values:
        return body, [], body
    binds = " ".join(f"{_VALUE}{i}=${{{i}}}" for i in range(1, len(values) + 1))
    return f"{binds}; set --; {body}", values, "".join(shown)


class _Quoting:
    """Follows the shell quoting of the template text fed so far, to tell where a value lands.

    A stack of contexts: bare, ``'`` single quotes, ``"`` double quotes, ``(`` command
    substitution or subshell, a backquote, ``#`` a comment, ``H``/``Q`` the body of an
    unquoted/quoted heredoc. ``case`` patterns and arithmetic are not followed; shell_command's
    expansion keeps a value inert whatever this concludes, only its quoting would be off.
    """

    __slots__ = ("escaped", "heredocs", "line", "prev", "stack")

    def __init__(self) -> None:
        self.stack: list[str] = [""]
        self.prev = " "
        self.escaped = False
        self.heredocs: list[tuple[str, bool, bool]] = []
        """Heredocs whose bodies start at the next newline: (delimiter, quoted, strip tabs)."""
        self.line: list[str] = []
        """The current heredoc body line so far (to spot the delimiter)."""

    def context(self) -> str:
        return self.stack[-1]

    def delimiter(self) -> str:
        return self.heredocs[0][0] if self.heredocs else "EOF"

    def backquotes(self) -> int:
        return self.stack.count("`")

    def value(self) -> None:
        self.prev = "x"  # a value is part of a word: a following '#' starts no comment
        self.escaped = False
        if self.stack[-1] in ("H", "Q"):
            self.line.append("\0")  # a line holding a value is never the delimiter

    def feed(self, text: str) -> None:
        stack = self.stack
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            top = stack[-1]
            if top in ("H", "Q"):
                i = self.heredoc_char(text, i)
                continue
            if self.escaped:
                self.escaped = False
            elif top == "'":
                if c == "'":
                    stack.pop()
            elif top == "#":
                if c == "\n":
                    stack.pop()
                    self.newline()
            elif c == "\\":
                self.escaped = True
            elif top == '"':
                if c == '"':
                    stack.pop()
                elif c == "`":
                    stack.append("`")
                elif c == "$" and text.startswith("(", i + 1):
                    stack.append("(")
                    i += 1
            elif c in "'\"":
                stack.append(c)
            elif c == "`":
                if top == "`":
                    stack.pop()
                else:
                    stack.append("`")
            elif c == "(":
                stack.append("(")
            elif c == ")":
                if top == "(":
                    stack.pop()
            elif c == "#" and self.prev in " \t\n;&|()":
                stack.append("#")
            elif c == "<" and text.startswith("<", i + 1) and not text.startswith("<", i + 2):
                i = self.heredoc_start(text, i + 2)
                self.prev = "<"
                continue
            elif c == "\n":
                self.newline()
            self.prev = c
            i += 1

    def heredoc_start(self, text: str, i: int) -> int:
        strip = text.startswith("-", i)
        i += strip
        while i < len(text) and text[i] in " \t":
            i += 1
        j = i
        while j < len(text) and not text[j].isspace() and text[j] not in ";&|<>()":
            j += 1
        word = text[i:j]
        if word:
            delimiter = "".join(ch for ch in word if ch not in "'\"\\")
            self.heredocs.append((delimiter, delimiter != word, strip))
        return j

    def newline(self) -> None:
        """At an unquoted newline, a pending heredoc's body begins."""
        if self.heredocs:
            self.stack.append("Q" if self.heredocs[0][1] else "H")
            self.line = []

    def heredoc_char(self, text: str, i: int) -> int:
        c = text[i]
        if c != "\n":
            self.line.append(c)
            return i + 1
        delimiter, _, strip = self.heredocs[0]
        line = "".join(self.line)
        if (line.lstrip("\t") if strip else line) == delimiter:
            self.stack.pop()
            self.heredocs.pop(0)
            self.newline()  # the next heredoc on the same command line, if any
        self.line = []
        return i + 1


def _refuse_nul(texts: list[str], sources: list[str], name: str, path: str) -> None:
    for text, source in zip(texts, sources, strict=True):
        if "\0" in text:
            raise NodeFailedError(
                f"{name}: {source or 'an argument'} holds a NUL byte, want text without one "
                "(a process argument cannot carry it)",
                path=path,
            )


async def _run(
    argv: list[str],
    shown: str,
    exact: list[str] | None,
    cwd: Path | None,
    env: dict[str, str] | None,
    timeout: float,
    limit: int,
) -> CommandResult:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        # What a shell reports for a program it cannot find (127) or cannot run (126).
        return CommandResult(
            command=shown,
            argv=exact,
            returncode=127 if isinstance(exc, FileNotFoundError) else 126,
            stdout="",
            stderr=f"cannot run {argv[0]!r}: {exc}",
            duration_s=loop.time() - started,
        )
    # Read both pipes ourselves so a timed-out command still reports what it printed.
    out_buf, err_buf = bytearray(), bytearray()
    readers = [
        asyncio.ensure_future(_drain(proc.stdout, out_buf, limit)),
        asyncio.ensure_future(_drain(proc.stderr, err_buf, limit)),
    ]
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        timed_out = True
        _kill_group(proc)
        await proc.wait()
    await asyncio.gather(*readers)
    out, err = bytes(out_buf), bytes(err_buf)
    returncode = None if timed_out else proc.returncode
    return CommandResult(
        command=shown,
        argv=exact,
        returncode=returncode,
        stdout=_cut(out, limit),
        stderr=_cut(err, limit),
        timed_out=timed_out,
        duration_s=loop.time() - started,
    )


async def _drain(stream: asyncio.StreamReader | None, buf: bytearray, limit: int) -> None:
    """Reads a pipe to EOF, keeping at most ``limit`` * 4 bytes (enough for ``limit`` characters)."""
    if stream is None:
        return
    while chunk := await stream.read(65536):
        if len(buf) < limit * 4:
            buf.extend(chunk)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kills the shell and everything it started (it leads its own process group)."""
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass


def _cut(data: bytes | None, limit: int) -> str:
    text = (data or b"").decode("utf-8", errors="replace")
    if len(text) > limit:
        return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"
    return text
