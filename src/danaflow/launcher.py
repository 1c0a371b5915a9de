"""The console script's front door: ``danaflow run FILE.na`` starts without Typer.

Typer (with click and pydantic behind it) is about half of a hello-world's start-up, so a plain
``run`` of a .na file is parsed here with argparse; everything else goes to the Typer app in
``cli.py``. The helpers below are shared by both.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from danaflow.errors import DanaflowError

__all__ = [
    "check_dana_file",
    "configure_logging",
    "fast_check",
    "fast_run",
    "main",
    "parse_assignment",
    "read_dana_file",
    "report",
    "run_dana_file",
]


def configure_logging(debug: bool) -> None:
    from danaflow.runs.cli_logging import configure_terminal_logging

    configure_terminal_logging(debug)


def parse_assignment(item: str) -> tuple[str, Any]:
    """Parses ``scope:name=value`` (value as JSON, else the raw text) for ``--set``."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ValueError(f"got {item!r}, want scope:name=value")
    from danaflow.lang.sandbox import split_scoped_name

    try:
        scope, name = split_scoped_name(key)
    except DanaflowError as exc:
        raise ValueError(exc.message) from None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return f"{scope}:{name}", value


def report(error: Exception, debug: bool) -> None:
    sys.stderr.write(f"{error}\n")
    if debug:
        cause = error.__cause__ or error
        sys.stderr.write("".join(traceback.format_exception(cause)))


def read_dana_file(path: Path) -> str:
    """A .na file's text. Bytes that are not UTF-8 are a DanaSyntaxError at their line and column
    (not a UnicodeDecodeError, which is a ValueError and read as a bad ``--set``); a file that
    cannot be read is a DanaflowError naming it."""
    from danaflow.lang.syntax_errors import decode_source

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DanaflowError(f"cannot read Dana program: {exc.strerror}", path=str(path)) from None
    source = decode_source(data, str(path))
    # A one-line source ending in ".na" would be taken for a path by run()/check().
    return source if "\n" in source else source + "\n"


def run_dana_file(
    path: Path,
    timeout: float | None,
    max_steps: int | None,
    assignments: list[str],
    debug: bool,
    memory_limit: int | None = None,
) -> int:
    """Runs a .na file; returns the exit code. A ValueError means a bad ``--set`` item."""
    from danaflow.api import run
    from danaflow.lang.api import UNSET
    from danaflow.lang.sandbox import SandboxContext

    ctx = SandboxContext()
    for item in assignments:
        key, value = parse_assignment(item)
        ctx.set(key, value)
    try:
        source = read_dana_file(path)
    except DanaflowError as err:
        report(err, debug)
        return 1

    def sink(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    # A one-shot run gets a cold worker (no zygote to start); --debug runs in-process, where the
    # Python traceback it promises exists.
    outcome = run(
        source,
        ctx,
        filename=str(path),
        timeout=timeout,
        max_steps=max_steps,
        print_sink=sink,
        isolation="inprocess" if debug else None,
        memory_limit=memory_limit if memory_limit is not None else UNSET,
        cold=True,
    )
    if outcome.error is not None:
        report(outcome.error, debug)
        return 1
    return 0


def parse_size(text: str) -> int:
    """``--memory-limit``: bytes, or a number with K/M/G (``512M``, ``1G``)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = units.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in units else t
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise ValueError(f"memory limit {text!r}: want bytes or a size like 512M or 1G") from None
    if value <= 0:
        raise ValueError(f"memory limit {text!r}: want a positive size")
    return value


def check_dana_file(path: Path, debug: bool) -> int:
    """``danaflow check FILE``: parses and compiles without running; returns the exit code."""
    from danaflow.lang.api import check

    try:
        check(read_dana_file(path), filename=str(path))
    except DanaflowError as err:
        report(err, debug)
        return 1
    sys.stdout.write(f"{path}: ok\n")
    return 0


def fast_check(args: list[str]) -> int | None:
    """``danaflow check FILE [--debug]`` without Typer (its pydantic-built parameters cost about as
    much as compiling the program); None when the arguments need the full CLI."""
    if not args or args[0] != "check":
        return None
    rest = args[1:]
    debug = "--debug" in rest
    files = [a for a in rest if a != "--debug"]
    if len(files) != 1 or files[0].startswith("-") or len(rest) > 2:
        return None
    configure_logging(debug)
    return check_dana_file(Path(files[0]), debug)


def fast_run(args: list[str]) -> int | None:
    """``danaflow run FILE.na ...`` without importing Typer (it pulls in pydantic and click, about
    half of a hello-world's start-up). Returns None when the arguments need the full CLI."""
    if len(args) < 2 or args[0] != "run" or not args[1].endswith(".na") or "--help" in args:
        return None
    import argparse

    parser = argparse.ArgumentParser(prog="danaflow run", add_help=False, exit_on_error=False)
    parser.add_argument("target")
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--set", action="append", default=[], dest="set_")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--memory-limit", type=parse_size, dest="memory_limit")
    try:
        ns, rest = parser.parse_known_args(args[1:])
    except argparse.ArgumentError:
        return None
    if rest:
        return None  # options only the full CLI knows: let it report them
    path = Path(ns.target)
    if not path.is_file():
        sys.stderr.write(f"{ns.target}: error: no such file\n")
        return 1
    configure_logging(ns.debug)
    try:
        return run_dana_file(path, ns.timeout, ns.max_steps, ns.set_, ns.debug, ns.memory_limit)
    except ValueError as exc:
        sys.stderr.write(f"danaflow run: error: Invalid value for '--set': {exc}\n")
        return 2


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``danaflow`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from danaflow import __version__

        sys.stdout.write(f"danaflow {__version__}\n")
        raise SystemExit(0)
    code = fast_run(args)
    if code is None:
        code = fast_check(args)
    if code is not None:
        raise SystemExit(code)
    from danaflow.cli import main as typer_main

    typer_main(args)


if __name__ == "__main__":  # pragma: no cover
    main()
