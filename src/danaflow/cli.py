"""The ``danaflow`` command: run, check and explore Dana programs; run, resume and inspect flows.

Thin Typer commands over the public API. A DanaflowError becomes ``file:line:col: Type: message``
(or the component path) on stderr and exit code 1, never a Python traceback unless ``--debug``.
Heavy modules are imported inside the commands so ``danaflow run hello.na`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from danaflow.launcher import configure_logging, parse_assignment, report, run_dana_file

__all__ = ["app", "main"]

app = typer.Typer(
    name="danaflow",
    help="danaflow: the Dana language and a runtime for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
    configure_logging(debug)
    if target.endswith(".na"):
        path = Path(target)
        if not path.is_file():
            sys.stderr.write(f"{target}: error: no such file\n")
            raise typer.Exit(1)
        try:
            code = run_dana_file(path, timeout, max_steps, set_ or [], debug)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--set'") from None
        raise typer.Exit(code)
    from danaflow.runs.cli_commands import run_command as run_flow

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
        report(err, debug)
        raise typer.Exit(1) from None
    sys.stdout.write(f"{file}: ok\n")


@app.command("repl")
def repl_command(
    set_: Annotated[list[str] | None, typer.Option("--set", help="scope:name=json, repeatable.")] = None,
) -> None:
    """An interactive Dana prompt; state is kept between inputs. Ctrl-D quits."""
    from danaflow.repl import Repl

    configure_logging(False)
    repl = Repl()
    for item in set_ or []:
        try:
            key, value = parse_assignment(item)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--set'") from None
        repl.context.set(key, value)
    repl.loop()


@app.command("ui")
def ui_command(
    run_root: Annotated[
        Path | None,
        typer.Option(
            "--run-root", metavar="DIR", help="Where runs are stored (default $DANAFLOW_RUN_ROOT or ./runs)."
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", metavar="URL", help="A run store URL instead of DIR/danaflow.db.")
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback requires the printed token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 picks a free one).")] = 7860,
    open_: Annotated[bool, typer.Option("--open", help="Open the viewer in a browser.")] = False,
    no_import: Annotated[
        bool, typer.Option("--no-import", help="Never import run targets (graphs lose their edges).")
    ] = False,
) -> None:
    """Browse runs in a web browser: graphs, components, traces; answer inputs and resume."""
    from danaflow.ui.serve import serve

    code = serve(
        run_root=run_root, store=store, host=host, port=port, open_browser=open_, load_targets=not no_import
    )
    raise typer.Exit(code)


def _mount_run_commands() -> None:
    from danaflow.runs.cli_commands import resume_command, runs_app

    app.command("resume")(resume_command)
    app.add_typer(runs_app, name="runs")


def main(argv: list[str] | None = None) -> None:
    """Runs the Typer app (``danaflow.launcher.main`` is the console script's fast front door)."""
    args = sys.argv[1:] if argv is None else argv
    _mount_run_commands()
    app(args=args, prog_name="danaflow")


if __name__ == "__main__":  # pragma: no cover
    main()
