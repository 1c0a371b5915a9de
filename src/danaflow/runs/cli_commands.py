"""The run commands of the ``danaflow`` CLI: run a Python target, resume, and list/show/rm runs.

Each command is a plain function (usable from Python and tests) plus a thin Typer wrapper that turns
a DanaflowError into a message and exit code 2. Exit codes: 0 completed, 1 failed, 3 waiting for
input. ``runs_app`` is mounted by ``danaflow/cli.py``; ``app`` is the same commands standalone
(``python -m danaflow.runs``).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import socket
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from danaflow.errors import DanaflowError, RunError

from .artifacts import RunDirectory
from .context import RunContext
from .store import ComponentRecord, RunRecord, SQLiteRunStore

if TYPE_CHECKING:
    from danaflow.context.result import NodeExecutionResult

__all__ = [
    "RunOutcome",
    "app",
    "list_runs",
    "load_target",
    "parse_inputs",
    "remove_runs",
    "resume_command",
    "resume_run",
    "run_command",
    "run_python_target",
    "run_status",
    "runs_app",
    "show_run",
]

EXIT_CODES = {"completed": 0, "failed": 1, "waiting_input": 3}


@dataclass(frozen=True)
class RunOutcome:
    """What a CLI run or resume ended with."""

    run_id: str
    status: str
    run_dir: Path
    result: NodeExecutionResult | None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)


def default_run_root() -> Path:
    """``$DANAFLOW_RUN_ROOT`` or ``./runs``."""
    return Path(os.environ.get("DANAFLOW_RUN_ROOT", "runs"))


# ---- targets and inputs ----------------------------------------------------------------------------
def load_target(target: str) -> tuple[Any, list[Path], str]:
    """Loads ``path/to/module.py:name`` or ``package.module:name``; returns (definition, files, name).

    ``name`` may be an AgentDefinition, a FlowDefinition, or a no-argument callable returning one.
    """
    from danaflow.flow.definition import AgentDefinition, FlowDefinition

    module_ref, sep, name = target.rpartition(":")
    if not sep or not module_ref or not name:
        raise RunError(f"bad target {target!r}: want 'module.py:agent_or_flow'")
    files: list[Path] = []
    if module_ref.endswith(".py"):
        file = Path(module_ref).resolve()
        if not file.is_file():
            raise RunError(f"no such file {module_ref!r}: want a Python file", path=target)
        module_name = f"_danaflow_target_{file.stem}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        if str(file.parent) not in sys.path:
            sys.path.insert(0, str(file.parent))
        sys.modules[module_name] = module
        _load(lambda: spec.loader.exec_module(module), target)
        files.append(file)
    else:
        module = _load(lambda: importlib.import_module(module_ref), target)
        if getattr(module, "__file__", None):
            files.append(Path(module.__file__))
    if not hasattr(module, name):
        public = sorted(n for n, v in vars(module).items() if isinstance(v, AgentDefinition | FlowDefinition))
        raise RunError(
            f"{module_ref} has no {name!r}: want one of {', '.join(public) or '(none)'}", path=target
        )
    obj = getattr(module, name)
    if callable(obj) and not isinstance(obj, AgentDefinition | FlowDefinition):
        obj = obj()
    if not isinstance(obj, AgentDefinition | FlowDefinition):
        raise RunError(f"{target} is a {type(obj).__name__}: want an AgentDefinition or FlowDefinition")
    return obj, files, name


def _load(load: Any, target: str) -> Any:
    """Runs a module import; the user's own error becomes a RunError naming its file and line."""
    try:
        return load()
    except DanaflowError:
        raise
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        user = [f for f in frames if not f.filename.startswith("<frozen")]
        where = f" at {user[-1].filename}:{user[-1].lineno}" if user else ""
        raise RunError(f"cannot load the module: {type(exc).__name__}: {exc}{where}", path=target) from exc


def parse_inputs(items: Sequence[str]) -> dict[str, Any]:
    """``["a.f.n={\"x\": 1}", "a.f.m=hello"]`` → inputs by path; a value that is not JSON stays text."""
    inputs: dict[str, Any] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise RunError(f"bad --input {item!r}: want node.path=json")
        try:
            inputs[path.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            inputs[path.strip()] = raw
    return inputs


def _runner_for(definition: Any, run_context: RunContext) -> Any:
    from danaflow.flow.definition import AgentDefinition
    from danaflow.flow.runner import AgentRunner, FlowRunner

    if isinstance(definition, AgentDefinition):
        return AgentRunner(definition, run_context)
    return FlowRunner(definition, run_context)


async def _execute(run_context: RunContext, definition: Any, progress: bool | None, out: TextIO) -> Any:
    from .isolation import IsolatedExecution
    from .progress import ProgressDisplay

    async with IsolatedExecution(run_context) as execution:
        if progress is False:
            return await execution.run(_runner_for(definition, run_context))
        with ProgressDisplay(run_context, out=out, live=progress):
            return await execution.run(_runner_for(definition, run_context))


def _finish_message(outcome: RunOutcome, out: TextIO) -> None:
    out.write(f"run {outcome.run_id}: {outcome.status} ({outcome.run_dir})\n")
    result = outcome.result
    if outcome.status == "failed" and result is not None and result.error is not None:
        out.write(f"error at {result.error.path or '?'}: {result.error.message}\n")
    if outcome.status == "waiting_input":
        out.write(f"resume with: danaflow resume {outcome.run_id} --input <node.path>=<json>\n")


def run_python_target(
    target: str,
    *,
    run_root: Path | None = None,
    project_root: Path | None = None,
    inputs: dict[str, Any] | None = None,
    run_id_prefix: str | None = None,
    progress: bool | None = None,
    out: TextIO | None = None,
    **run_context_options: Any,
) -> RunOutcome:
    """Runs ``module.py:agent_or_flow`` as a durable run; ``progress=None`` means live on a TTY."""
    out = out or sys.stdout
    definition, files, name = load_target(target)
    root_id = definition.id or name
    target_ref = f"{files[0]}:{name}" if files and target.split(":")[0].endswith(".py") else target
    run_context = RunContext(
        root_id,
        project_root=project_root or Path.cwd(),
        run_root=run_root or default_run_root(),
        inputs=inputs,
        source_files=files,
        meta={"target": target_ref, "target_kind": "python"},
        **run_context_options,
    )
    try:
        run_context.setup_run(run_id_prefix or root_id)
        out.write(f"run {run_context.run_id} ({run_context.run_dir.root if run_context.run_dir else ''})\n")
        out.flush()
        result = asyncio.run(_execute(run_context, definition, progress, out))
        outcome = RunOutcome(run_context.run_id, run_context.status, run_context.run_dir.root, result)  # type: ignore[union-attr]
    finally:
        run_context.close()
    _finish_message(outcome, out)
    return outcome


def resume_run(
    run_id: str,
    *,
    from_path: str | None = None,
    inputs: dict[str, Any] | None = None,
    run_root: Path | None = None,
    progress: bool | None = None,
    out: TextIO | None = None,
    **run_context_options: Any,
) -> RunOutcome:
    """Resumes ``run_id`` in a new run: with ``from_path`` from that exact component, else only what
    did not complete; ``inputs`` answer the nodes that were waiting for input."""
    out = out or sys.stdout
    root = run_root or default_run_root()
    with SQLiteRunStore(root / "danaflow.db") as store:
        previous = store.get_run(run_id)
        if previous is None:
            recent = ", ".join(r.run_id for r in store.list_runs(limit=5))
            raise RunError(f"unknown run {run_id!r}: want one of {recent or '(no runs)'}", path=run_id)
    target = previous.meta.get("target")
    if previous.meta.get("target_kind") != "python" or not target:
        raise RunError(
            f"run {run_id} was not started from a module.py:component target: want a run started by "
            "`danaflow run module.py:agent_or_flow`",
            path=run_id,
        )
    definition, files, _name = load_target(target)
    run_context = RunContext(
        previous.root_component_id,
        project_root=Path(previous.meta.get("project_root") or Path.cwd()),
        run_root=root,
        previous_run_id=run_id,
        start_hierarchy_path=from_path,
        inputs=inputs,
        source_files=files,
        meta={"target": target, "target_kind": "python"},
        **run_context_options,
    )
    try:
        run_context.setup_run(previous.root_component_id)
        out.write(
            f"run {run_context.run_id} resumes {run_id}" + (f" from {from_path}" if from_path else "") + "\n"
        )
        out.flush()
        result = asyncio.run(_execute(run_context, definition, progress, out))
        outcome = RunOutcome(run_context.run_id, run_context.status, run_context.run_dir.root, result)  # type: ignore[union-attr]
    finally:
        run_context.close()
    _finish_message(outcome, out)
    return outcome


# ---- inspection -------------------------------------------------------------------------------------
def run_status(record: RunRecord) -> str:
    """The stored status, or ``interrupted`` for a ``running`` run whose process is gone."""
    if record.status != "running" or record.pid is None or record.host != socket.gethostname():
        return record.status
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        return "running"
    return "running"


def list_runs(run_root: Path | None = None, limit: int | None = None) -> list[RunRecord]:
    root = run_root or default_run_root()
    if not (root / "danaflow.db").exists():
        return []
    with SQLiteRunStore(root / "danaflow.db") as store:
        return store.list_runs(limit)


def _fmt_time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def show_run(run_id: str, run_root: Path | None = None) -> tuple[RunRecord, list[ComponentRecord]]:
    root = run_root or default_run_root()
    with SQLiteRunStore(root / "danaflow.db") as store:
        record = store.get_run(run_id)
        if record is None:
            recent = ", ".join(r.run_id for r in store.list_runs(limit=5))
            raise RunError(f"unknown run {run_id!r}: want one of {recent or '(no runs)'}", path=run_id)
        return record, store.list_components(run_id)


def render_tree(record: RunRecord, components: list[ComponentRecord]) -> Any:
    """A Rich Tree of the components (status, duration, tokens), nested by path."""
    from rich.tree import Tree

    tree = Tree(f"[bold]{record.run_id}[/] {record.root_component_id} — {run_status(record)}")
    nodes: dict[str, Any] = {}
    for c in sorted(components, key=lambda c: (c.path.count("."), c.seq)):
        parent_path = c.path.rsplit(".", 1)[0] if "." in c.path else None
        parent = nodes.get(parent_path, tree) if parent_path else tree
        tokens = c.prompt_tokens + c.completion_tokens
        label = f"{c.path.rsplit('.', 1)[-1]}  {c.status}  {_fmt_duration(c.duration_s)}"
        if tokens:
            label += f"  {tokens} tokens"
        if c.reused:
            label += "  (reused)"
        if c.error:
            label += f"  [red]{c.error.splitlines()[0][:120]}[/]"
        nodes[c.path] = parent.add(label)
    return tree


def remove_runs(run_ids: Sequence[str], run_root: Path | None = None, *, force: bool = False) -> list[str]:
    """Deletes runs (store rows and run dirs); a live run needs ``force``. Returns the removed ids."""
    root = run_root or default_run_root()
    removed: list[str] = []
    with SQLiteRunStore(root / "danaflow.db") as store:
        for run_id in run_ids:
            record = store.get_run(run_id)
            if record is None:
                raise RunError(f"unknown run {run_id!r}: want an id from `danaflow runs list`", path=run_id)
            if run_status(record) == "running" and not force:
                raise RunError(f"run {run_id} is still running: want --force to remove it", path=run_id)
            store.delete_run(run_id)
            RunDirectory(root, run_id).remove()
            removed.append(run_id)
    return removed


# ---- Typer ------------------------------------------------------------------------------------------
RunRootOpt = Annotated[
    Path | None, typer.Option("--run-root", help="Run folder (default $DANAFLOW_RUN_ROOT or ./runs).")
]
InputOpt = Annotated[list[str] | None, typer.Option("--input", help="node.path=json input (repeatable).")]


def _fail(exc: DanaflowError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def run_command(
    target: Annotated[str, typer.Argument(help="module.py:agent_or_flow")],
    input: InputOpt = None,
    run_root: RunRootOpt = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="Run id prefix.")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress")] = None,
) -> None:
    """Run an agent or flow defined in a Python module, durably (resumable with `danaflow resume`)."""
    try:
        outcome = run_python_target(
            target,
            run_root=run_root,
            inputs=parse_inputs(input or []),
            run_id_prefix=prefix,
            progress=progress,
        )
    except DanaflowError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(outcome.exit_code)


def resume_command(
    run_id: Annotated[str, typer.Argument(help="The run to resume.")],
    from_: Annotated[str | None, typer.Option("--from", help="Exact component path to re-run from.")] = None,
    input: InputOpt = None,
    run_root: RunRootOpt = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress")] = None,
) -> None:
    """Resume a run: from a component path, or (no --from) re-run only what did not complete."""
    try:
        outcome = resume_run(
            run_id, from_path=from_, inputs=parse_inputs(input or []), run_root=run_root, progress=progress
        )
    except DanaflowError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(outcome.exit_code)


runs_app = typer.Typer(help="List, show and remove runs.", no_args_is_help=True)


@runs_app.command("list")
def list_command(
    run_root: RunRootOpt = None, limit: Annotated[int, typer.Option("--limit", "-n")] = 20
) -> None:
    """List runs, newest first."""
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "root", "status", "created", "resumes")
    for r in list_runs(run_root, limit):
        table.add_row(
            r.run_id, r.root_component_id, run_status(r), _fmt_time(r.created_at), r.previous_run_id or ""
        )
    Console().print(table)


@runs_app.command("show")
def show_command(run_id: str, run_root: RunRootOpt = None) -> None:
    """Show a run's component tree with status, duration and tokens."""
    from rich.console import Console

    try:
        record, components = show_run(run_id, run_root)
    except DanaflowError as exc:
        raise _fail(exc) from exc
    console = Console()
    console.print(render_tree(record, components))
    if record.previous_run_id:
        console.print(
            f"resumed from {record.previous_run_id}"
            + (f" at {record.start_path}" if record.start_path else "")
        )
    console.print(f"code {record.code_fingerprint or '-'}  inputs {record.inputs_hash or '-'}")


@runs_app.command("rm")
def rm_command(
    run_ids: list[str],
    run_root: RunRootOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Also remove runs that look alive.")] = False,
) -> None:
    """Remove runs: their store rows and run directories."""
    try:
        for run_id in remove_runs(run_ids, run_root, force=force):
            typer.echo(f"removed {run_id}")
    except DanaflowError as exc:
        raise _fail(exc) from exc


app = typer.Typer(help="danaflow runs (standalone: python -m danaflow.runs).", no_args_is_help=True)
app.command("run")(run_command)
app.command("resume")(resume_command)
app.add_typer(runs_app, name="runs")
