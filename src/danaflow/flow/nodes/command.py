"""CommandNode: runs shell commands as real subprocesses and captures what they print.

Commands are templates (``$var{}``, ``$expr{}``, ``$hier{}`` resolve before running). Each runs
with a timeout; a timed-out command is killed. A non-zero exit fails the node (unless
``fail_on_error=False``) while keeping every command's output in the outcome, so an on_error
route can read it. Subprocesses are awaited with asyncio, so no thread is held while they run.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.template.engine import TemplateEngine

from ._paths import input_variables
from .base import Node, NodeFailedError

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["CommandNode", "CommandNodeSettings", "CommandResult"]


class CommandNodeSettings(BaseModel):
    """What to run: ``commands`` in order, each with ``timeout`` seconds."""

    commands: list[str]
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


class CommandResult(BaseModel):
    """One command's outcome."""

    command: str
    returncode: int | None
    """None when the command timed out and was killed."""
    stdout: str
    stderr: str
    timed_out: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandNode(Node):
    """Runs ``settings.commands`` through the shell; outcome ``results[i].stdout/.stderr/.returncode``."""

    node_type = "command"

    def __init__(self, settings: CommandNodeSettings, **kw: Any):
        super().__init__(**kw)
        self.settings = settings

    def templates(self) -> list[tuple[str, str]]:
        out = [(f"commands[{i}]", c) for i, c in enumerate(self.settings.commands)]
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
            command = TemplateEngine.render_text(template, variables, ctx, name=f"{ctx.path}.commands[{i}]")
            result = await _run(command, cwd, env, s.timeout, s.max_output_chars)
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


async def _run(
    command: str, cwd: Path | None, env: dict[str, str] | None, timeout: float, limit: int
) -> CommandResult:
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc = await asyncio.create_subprocess_shell(
        command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        cwd=cwd,
        env=env,
        start_new_session=True,
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
        command=command,
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
