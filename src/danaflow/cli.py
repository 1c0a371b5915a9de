"""The ``danaflow`` command: run, check and explore Dana programs; run, resume and inspect flows.

Thin Typer commands over the public API. A DanaflowError becomes ``file:line:col: Type: message``
(or the component path) on stderr and exit code 1, never a Python traceback unless ``--debug``.
Heavy modules are imported inside the commands so ``danaflow run hello.na`` starts fast.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="danaflow",
    help="danaflow: the Dana language and a runtime for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("danaflow")
    root.handlers[:] = [handler]
    root.propagate = False
    if debug:
        root.setLevel(logging.DEBUG)


def parse_assignment(item: str) -> tuple[str, Any]:
    """Parses ``scope:name=value`` (value as JSON, else the raw text) for ``--set``."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"got {item!r}, want scope:name=value")
    from danaflow.lang.sandbox import split_scoped_name

    try:
        scope, name = split_scoped_name(key)
    except Exception as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return f"{scope}:{name}", value


def _report(error: Exception, debug: bool) -> None:
    sys.stderr.write(f"{error}\n")
    if debug:
        cause = error.__cause__ or error
        sys.stderr.write("".join(traceback.format_exception(cause)))


def _run_dana_file(
    path: Path, timeout: float | None, max_steps: int | None, assignments: list[str], debug: bool
) -> int:
    from danaflow.api import run
    from danaflow.lang.sandbox import SandboxContext

    ctx = SandboxContext()
    for item in assignments:
        key, value = parse_assignment(item)
        ctx.set(key, value)

    def sink(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    outcome = run(path, ctx, timeout=timeout, max_steps=max_steps, print_sink=sink)
    if outcome.error is not None:
        _report(outcome.error, debug)
        return 1
    return 0


@app.command("run")
def run_command(
    target: Annotated[str, typer.Argument(help="FILE.na, or module.py:agent_or_flow")],
    timeout: Annotated[float | None, typer.Option("--timeout", help="Wall-clock limit in seconds.")] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Loop iterations + calls limit.")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="scope:name=json, repeatable.")] = None,
    input: Annotated[list[str] | None, typer.Option("--input", help="node.path=json (flows).")] = None,
    run_root: Annotated[Path | None, typer.Option("--run-root", help="Where runs are stored.")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")] = False,
) -> None:
    """Run a Dana program (print() to stdout, logs to stderr) or a flow/agent from a Python module."""
    _configure_logging(debug)
    if target.endswith(".na"):
        path = Path(target)
        if not path.is_file():
            sys.stderr.write(f"{target}: error: no such file\n")
            raise typer.Exit(1)
        raise typer.Exit(_run_dana_file(path, timeout, max_steps, set_ or [], debug))
    from danaflow.run.cli_commands import run_command as run_flow

    run_flow(target, input=input, run_root=run_root, prefix=None, progress=progress)


@app.command("check")
def check_command(
    file: Annotated[Path, typer.Argument(help="The .na file to parse and compile.")],
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """Parse and compile a Dana program without running it."""
    from danaflow.errors import DanaflowError
    from danaflow.lang.api import check

    try:
        check(file)
    except DanaflowError as err:
        _report(err, debug)
        raise typer.Exit(1) from None
    sys.stdout.write(f"{file}: ok\n")


@app.command("repl")
def repl_command(
    set_: Annotated[list[str] | None, typer.Option("--set", help="scope:name=json, repeatable.")] = None,
) -> None:
    """An interactive Dana prompt; state is kept between inputs. Ctrl-D quits."""
    from danaflow.repl import Repl

    _configure_logging(False)
    repl = Repl()
    for item in set_ or []:
        key, value = parse_assignment(item)
        repl.context.set(key, value)
    repl.loop()


def _mount_run_commands() -> None:
    from danaflow.run.cli_commands import resume_command, runs_app

    app.command("resume")(resume_command)
    app.add_typer(runs_app, name="runs")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``danaflow`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("resume", "runs", "--help", "-h"):
        _mount_run_commands()
    app(args=args, prog_name="danaflow")


if __name__ == "__main__":  # pragma: no cover
    main()
