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

from danaflow.launcher import (
    check_dana_file,
    configure_logging,
    parse_assignment,
    parse_size,
    run_dana_file,
)
from danaflow.runs.cli_commands import PlainCommand

__all__ = ["app", "main"]

app = typer.Typer(
    name="danaflow",
    help="danaflow: the Dana language and a runtime for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from danaflow import __version__

        sys.stdout.write(f"danaflow {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """danaflow: the Dana language and a runtime for LLM agents."""


@app.command("run", cls=PlainCommand)
def run_command(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="FILE.na, or module.py:agent_or_flow")],
    timeout: Annotated[
        float | None, typer.Option("--timeout", metavar="SECONDS", help="Wall-clock limit (FILE.na).")
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", metavar="N", help="Budget of loop iterations + calls (FILE.na)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="SCOPE:NAME=JSON", help="Set a variable before running (FILE.na; repeatable)."
        ),
    ] = None,
    input: Annotated[
        list[str] | None,
        typer.Option(
            "--input", metavar="PATH=JSON", help="Input for a node that waits for one (flows; repeatable)."
        ),
    ] = None,
    run_root: Annotated[
        Path | None,
        typer.Option(
            "--run-root",
            metavar="DIR",
            help="Where runs are stored (flows; default $DANAFLOW_RUN_ROOT or ./runs).",
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", metavar="PREFIX", help="Run id prefix (flows; default: the root id)."),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Live table of components (default on a terminal), or one line per component (flows).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URL",
            help="Run store: postgresql://user@host/db, sqlite:///file.db or memory: "
            "(flows; default $DANAFLOW_STORE, else RUN_ROOT/danaflow.db).",
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Run CachePolicy nodes without the result cache (flows)."),
    ] = False,
    stream: Annotated[
        bool,
        typer.Option("--stream", help="Print the text models generate as it comes (flows)."),
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            metavar="SPEC",
            help="Where node work runs: local, dask://HOST:PORT or dask-local:N (flows; docs/scale.md).",
        ),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            metavar="SIZE",
            help="Memory cap of the sandbox worker, e.g. 512M or 2G (FILE.na; default 1G).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")] = False,
) -> None:
    """Run a Dana program, or a flow/agent from a Python module.

    FILE.na: print() goes to stdout, logs to stderr. module.py:name: a durable run (see `danaflow
    runs`), resumable with `danaflow resume`; the root's output is printed at the end.
    """
    configure_logging(debug)
    if target.endswith(".na"):
        path = Path(target)
        if not path.is_file():
            sys.stderr.write(f"{target}: error: no such file\n")
            raise typer.Exit(1)
        try:
            code = run_dana_file(
                path,
                timeout,
                max_steps,
                set_ or [],
                debug,
                parse_size(memory_limit) if memory_limit else None,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--set'") from None
        raise typer.Exit(code)
    from danaflow.runs.cli_commands import run_command as run_flow

    run_flow(
        target,
        input=input,
        run_root=run_root,
        prefix=prefix,
        progress=progress,
        store=store,
        no_cache=no_cache,
        stream=stream,
        executor=executor,
    )


@app.command("check", cls=PlainCommand)
def check_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The .na file to parse and compile.")],
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")] = False,
) -> None:
    """Parse and compile a Dana program without running it."""
    raise typer.Exit(check_dana_file(file, debug))


@app.command("repl", cls=PlainCommand)
def repl_command(
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="SCOPE:NAME=JSON", help="Set a variable before the first input (repeatable)."
        ),
    ] = None,
) -> None:
    """An interactive Dana prompt that keeps state between inputs.

    `help` explains the prompt; `exit`, `quit` or Ctrl-D leave it; Ctrl-C stops the running input.
    """
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


@app.command("transcode", cls=PlainCommand)
def transcode_command(
    objective: Annotated[str, typer.Argument(metavar="OBJECTIVE", help="What to do, in natural language.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="FILE.na", help="Write the program here.")
    ] = None,
    run_: Annotated[bool, typer.Option("--run", help="Then run it, as `danaflow run` (needs -o).")] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="SPEC", help="The planning model (default: DANAFLOW_LLM)."),
    ] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Programs the model may write.")] = 3,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")] = False,
) -> None:
    """Have the planning LLM write a Dana program for OBJECTIVE, checked by the compiler and a dry
    run; it goes to FILE.na (or stdout). Exit code 1 when no attempt passed (the last one is shown)."""
    from danaflow.errors import DanaflowError
    from danaflow.launcher import report
    from danaflow.planning.transcode import transcode

    configure_logging(debug)
    if run_ and output is None:
        raise typer.BadParameter("--run needs -o FILE.na", param_hint="'--run'")
    try:
        program = transcode(objective, llm=model, max_rounds=rounds)
    except DanaflowError as err:
        report(err, debug)
        raise typer.Exit(1) from None
    if output is None:
        sys.stdout.write(program)
        raise typer.Exit(0)
    output.write_text(program, encoding="utf-8")
    sys.stderr.write(f"{output}: written ({program.rounds} round{'s' if program.rounds != 1 else ''})\n")
    raise typer.Exit(run_dana_file(output, None, None, [], debug) if run_ else 0)


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
    from danaflow.runs.cli_commands import cache_app, resume_command, runs_app

    app.command("resume", cls=PlainCommand)(resume_command)
    app.add_typer(runs_app, name="runs")
    app.add_typer(cache_app, name="cache")


def main(argv: list[str] | None = None) -> None:
    """Runs the Typer app (``danaflow.launcher.main`` is the console script's fast front door)."""
    args = sys.argv[1:] if argv is None else argv
    _mount_run_commands()
    app(args=args, prog_name="danaflow")


if __name__ == "__main__":  # pragma: no cover
    main()
