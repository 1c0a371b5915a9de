"""The run commands of the ``danaflow`` CLI: run a Python target, resume, list/show/rm runs, and
clear the result cache.

Each command is a plain function (usable from Python and tests) plus a thin Typer wrapper that turns
a DanaflowError into a message and exit code 2. Exit codes: 0 completed, 1 failed, 3 waiting for
input. ``runs_app`` is mounted by ``danaflow/cli.py``; ``app`` is the same commands standalone
(``python -m danaflow.runs list``). Only Typer and the standard library load with this module: the
flow and context layers load inside the commands that run something, so ``danaflow --help`` and
``runs list`` start fast. Text goes out through ``cli_render`` (plain, escaped, never cut ids).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from danaflow.errors import DanaflowError, Location, RunError

if TYPE_CHECKING:
    from danaflow.context.result import NodeExecutionResult

    from .context import RunContext
    from .store import ComponentRecord, RunRecord, RunStore

__all__ = [
    "RunOutcome",
    "app",
    "cache_app",
    "clear_cache",
    "input_nodes",
    "list_runs",
    "load_target",
    "parse_inputs",
    "remove_runs",
    "resolve_run",
    "resume_command",
    "resume_run",
    "run_command",
    "run_python_target",
    "run_status",
    "runs_app",
    "show_run",
]

EXIT_CODES = {"completed": 0, "failed": 1, "waiting_input": 3}
STATUSES = ("running", "completed", "failed", "waiting_input", "interrupted")
LATEST = "latest"


@dataclass(frozen=True)
class RunOutcome:
    """What a CLI run or resume ended with."""

    run_id: str
    status: str
    run_dir: Path
    result: NodeExecutionResult | None
    failures: tuple[tuple[str, str], ...] = ()
    """(path, whole error) of each component where a failure happened (not the composites above)."""
    waiting: tuple[tuple[str, str | None], ...] = ()
    """(path, what it asks for) of each node waiting for input."""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)


def default_run_root() -> Path:
    """``$DANAFLOW_RUN_ROOT`` or ``./runs``."""
    return Path(os.environ.get("DANAFLOW_RUN_ROOT", "runs"))


def _store_spec(run_root: Path | None, store: str | None = None) -> str | Path:
    """``store`` (a URL), else ``$DANAFLOW_STORE``, else the SQLite file of the run root."""
    from .store import configured_store

    return store or configured_store(run_root or default_run_root())


def _open_store(run_root: Path | None, store: str | None = None) -> RunStore:
    """The store ``_store_spec`` names; RunError when it is the run root's file and that is missing."""
    from .store import open_store

    root = run_root or default_run_root()
    spec = _store_spec(root, store)
    if isinstance(spec, Path) and not spec.exists():
        raise RunError(
            f"no runs in {root}: want --run-root DIR (or $DANAFLOW_RUN_ROOT) naming a folder that "
            "`danaflow run module.py:flow` wrote, or --store URL (or $DANAFLOW_STORE)",
            path=str(root),
        )
    return open_store(spec)


# ---- run ids ---------------------------------------------------------------------------------------
def resolve_run(store: RunStore, ref: str) -> RunRecord:
    """The run ``ref`` names: an exact id, ``latest`` (the newest run), or a unique id prefix."""
    if ref == LATEST:
        newest = store.list_runs(limit=1)
        if not newest:
            raise RunError("no runs yet: 'latest' names nothing", path=ref)
        return newest[0]
    record = store.get_run(ref)
    if record is not None:
        return record
    runs = store.list_runs()
    matches = [r for r in runs if r.run_id.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(r.run_id for r in matches[:8]) + (", …" if len(matches) > 8 else "")
        raise RunError(
            f"run id prefix {ref!r} is ambiguous ({len(matches)} runs: {shown}): want a longer prefix",
            path=ref,
        )
    recent = ", ".join(r.run_id for r in runs[:5])
    raise RunError(
        f"unknown run {ref!r}: want a run id, a unique prefix of one, or 'latest'"
        + (f" (recent: {recent})" if recent else " (no runs yet)"),
        path=ref,
    )


# ---- targets and inputs ----------------------------------------------------------------------------
def load_target(target: str) -> tuple[Any, list[Path], str]:
    """Loads ``path/to/module.py:name`` or ``package.module:name``; returns (definition, files, name).

    ``name`` may be an AgentDefinition, a FlowDefinition, or a no-argument callable returning one.
    """
    import importlib
    import importlib.util

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
        _load(lambda: spec.loader.exec_module(module), target, file)
        files.append(file)
    else:
        module = _load(lambda: importlib.import_module(module_ref), target, None)
        if getattr(module, "__file__", None):
            files.append(Path(module.__file__))
    if not hasattr(module, name):
        public = sorted(n for n, v in vars(module).items() if isinstance(v, AgentDefinition | FlowDefinition))
        raise RunError(
            f"{module_ref} has no {name!r}: want one of {', '.join(public) or '(none)'}", path=target
        )
    obj = getattr(module, name)
    if callable(obj) and not isinstance(obj, AgentDefinition | FlowDefinition):
        obj = _load(obj, target, files[0] if files else None)
    if not isinstance(obj, AgentDefinition | FlowDefinition):
        raise RunError(f"{target} is a {type(obj).__name__}: want an AgentDefinition or FlowDefinition")
    return obj, files, name


_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


def _load(load: Any, target: str, file: Path | None) -> Any:
    """Runs a module import; the user's own error becomes a RunError at the user's file and line
    (a syntax error's own position; else the innermost frame outside danaflow and importlib)."""
    try:
        return load()
    except RunError:
        raise
    except Exception as exc:
        import linecache
        import traceback

        location = None
        if isinstance(exc, SyntaxError) and exc.filename and not isinstance(exc, DanaflowError):
            line = exc.text or linecache.getline(exc.filename, exc.lineno or 0)
            location = Location(exc.filename, exc.lineno or 0, exc.offset or 0, line or None)
            message = f"SyntaxError: {exc.msg}"
        else:
            frames = traceback.extract_tb(exc.__traceback__)
            user = [
                f for f in frames
                if not f.filename.startswith(("<frozen", _PACKAGE_DIR)) and "importlib" not in f.filename
            ]  # fmt: skip
            if user:
                frame = user[-1]
                location = Location(frame.filename, frame.lineno or 0, 0, frame.line or None)
            message = f"{type(exc).__name__}: {exc}"
        error = RunError(f"cannot load the module: {message}", location=location, path=target)
        raise error from exc


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


def input_nodes(definition: Any, prefix: str) -> dict[str, str | None]:
    """Every node under ``prefix`` that asks for input (``input_required=True``), by path, with its
    description; for_each iterations read ``*`` (``flow.loop.*.approve``)."""
    from danaflow.flow.definition import (
        ConditionalElement,
        ForEachElement,
        NodeElement,
        SubagentElement,
        SubflowElement,
    )

    def walk(composite: Any, path: str) -> Iterator[tuple[str, str | None]]:
        for el in composite.elements:
            here = f"{path}.{el.id}"
            if isinstance(el, NodeElement):
                if getattr(el.node, "input_required", False):
                    yield here, getattr(el.node, "description", None)
            elif isinstance(el, SubflowElement):
                yield from walk(el.flow, here)
            elif isinstance(el, SubagentElement):
                yield from walk(el.agent, here)
            elif isinstance(el, ConditionalElement):
                for branch in (el.then, el.else_):
                    if branch is not None:
                        yield from walk(branch, here)
            elif isinstance(el, ForEachElement):
                yield from walk(el.body, f"{here}.*")

    return dict(walk(definition, prefix))


def _waits_at(path: str, waiting: Mapping[str, str | None]) -> bool:
    if path in waiting:
        return True
    parts = path.split(".")
    for pattern in waiting:
        pat = pattern.split(".")
        if len(pat) == len(parts) and all(
            p == q or (q == "*" and p.isdigit()) for p, q in zip(parts, pat, strict=True)
        ):
            return True
    return False


def check_inputs(inputs: Mapping[str, Any], waiting: Mapping[str, str | None], root: str) -> None:
    """Every input path must name a node that asks for input; a miss lists the ones that do."""
    import difflib

    for path in inputs:
        if _waits_at(path, waiting):
            continue
        if not waiting:
            raise RunError(
                f"input path {path!r} names no component waiting for input: want no --input "
                f"(no node of {root} has input_required=True)",
                path=path,
            )
        names = sorted(waiting)
        close = difflib.get_close_matches(path, names, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise RunError(
            f"input path {path!r} names no component waiting for input{hint}: want one of "
            + ", ".join(names),
            path=path,
        )


# ---- running ---------------------------------------------------------------------------------------
def _runner_for(definition: Any, run_context: RunContext, executor: Any = None) -> Any:
    from danaflow.flow.definition import AgentDefinition
    from danaflow.flow.runner import AgentRunner, FlowRunner

    if isinstance(definition, AgentDefinition):
        return AgentRunner(definition, run_context, executor=executor)
    return FlowRunner(definition, run_context, executor=executor)


async def _execute(
    run_context: RunContext,
    definition: Any,
    progress: bool | None,
    out: TextIO,
    executor: Any = None,
    stream: bool = False,
) -> Any:
    from .isolation import IsolatedExecution
    from .progress import ProgressDisplay

    async with IsolatedExecution(run_context) as execution:
        if stream:
            return await _streamed(
                execution, _runner_for(definition, run_context, executor), run_context, progress, out
            )
        if progress is False:
            return await execution.run(_runner_for(definition, run_context, executor))
        with ProgressDisplay(run_context, out=out, live=progress):
            return await execution.run(_runner_for(definition, run_context, executor))


def _check_executor(spec: str | None) -> None:
    """ConfigurationError for an executor spec that names no executor, before any run exists."""
    from danaflow.flow.executors import check_executor_spec

    check_executor_spec(spec)


async def _streamed(
    execution: Any, runner: Any, run_context: RunContext, progress: bool | None, out: TextIO
) -> Any:
    """Runs ``runner`` through its token stream, each model's text shown as it is generated: under
    the live table, or as it comes after its node's path (with no component lines for
    ``--no-progress``). Ctrl-C cancels the stream's reader, which cancels the run (interrupted)."""
    from .progress import ProgressDisplay

    with ProgressDisplay(run_context, out=out, live=progress, components=progress is not False) as display:
        async with runner.stream(mode="tokens") as deltas:
            async for delta in deltas:
                display.token(delta.path, delta.text)
    execution.result = runner.result
    return runner.result


def _drive(
    run_context: RunContext,
    definition: Any,
    progress: bool | None,
    out: TextIO,
    executor: str | None = None,
    stream: bool = False,
) -> Any:
    """Runs the definition to its end; ``executor`` is a spec (``dask-local:2``), its cluster
    closed when the run ends."""
    import asyncio

    from danaflow.flow.executors import executor_from_spec

    node_executor = executor_from_spec(executor)
    try:
        return asyncio.run(_execute(run_context, definition, progress, out, node_executor, stream=stream))
    finally:
        node_executor.close()


def _say_interrupted(run_context: RunContext, exc: BaseException, out: TextIO) -> None:
    """After Ctrl-C: which run stopped and the command that finishes it."""
    if isinstance(exc, KeyboardInterrupt) and run_context.is_setup and run_context.status == "interrupted":
        out.write(
            f"run {run_context.run_id}: interrupted\nresume with: danaflow resume {run_context.run_id}\n"
        )
        out.flush()


def _record_failure(run_context: RunContext, exc: BaseException) -> None:
    """Keeps why a run failed outside any component (``runs show`` prints it)."""
    if not run_context.is_setup:
        return
    store, run_id = run_context.store, run_context.run_id
    record = store.get_run(run_id)
    if record is not None:
        why = str(exc) or type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            why = "interrupted (Ctrl-C)"
        if not isinstance(exc, DanaflowError):
            why = f"{type(exc).__name__}: {why}"
        store.update_run(run_id, meta={**record.meta, "error": why})


def _outcome(run_context: RunContext, result: Any, waiting_nodes: Mapping[str, str | None]) -> RunOutcome:
    from .cli_render import error_text, leaf_failures

    components = run_context.store.list_components(run_context.run_id)
    failures = tuple((c.path, error_text(c)) for c in leaf_failures(components))
    waiting = tuple(
        (c.path, _description(c.path, waiting_nodes))
        for c in components
        if c.status == "waiting_input" and c.kind == "node"
    )
    assert run_context.run_dir is not None
    return RunOutcome(
        run_context.run_id, run_context.status, run_context.run_dir.root, result, failures, waiting
    )


def _description(path: str, waiting_nodes: Mapping[str, str | None]) -> str | None:
    if path in waiting_nodes:
        return waiting_nodes[path]
    for pattern, description in waiting_nodes.items():
        if "*" in pattern and _waits_at(path, {pattern: None}):
            return description
    return None


def _finish_message(outcome: RunOutcome, out: TextIO) -> None:
    """The last lines of a run: its status, then its output, each failure once, or what it waits for."""
    from .cli_render import clean, outcome_text, truncate

    status = "waiting for input" if outcome.status == "waiting_input" else outcome.status
    out.write(f"run {outcome.run_id}: {status} ({outcome.run_dir})\n")
    result = outcome.result
    if outcome.status == "completed" and result is not None:
        text = outcome_text(json.loads(result.model_dump_json(fallback=repr)))
        if text is not None:
            shown, more = truncate(clean(text))
            if "\n" in shown or more:
                out.write("output:\n" + "".join(f"  {line}\n" for line in shown.splitlines()))
            else:
                out.write(f"output: {shown}\n")
            if more or len(shown) < len(text.strip()):
                rest = f"{more} more lines" if more else "the rest"
                out.write(f"  … ({rest}: danaflow runs show {outcome.run_id} --component {result.path})\n")
        if outcome.failures:
            paths = ", ".join(p for p, _ in outcome.failures)
            out.write(f"note: failed and routed on_error: {paths} (danaflow runs show {outcome.run_id})\n")
    elif outcome.status == "failed":
        if outcome.failures:
            for path, error in outcome.failures:
                out.write(f"error at {path}: {clean(error)}\n")
        elif result is not None and result.error is not None:
            out.write(f"error at {result.error.path or '?'}: {clean(result.error.message)}\n")
    elif outcome.status == "waiting_input":
        for path, description in outcome.waiting:
            what = clean(description) if description else "input (the node has no description)"
            out.write(f"{path} waits for: {what}\n")
        example = outcome.waiting[0][0] if outcome.waiting else "<node.path>"
        out.write(f"resume with: danaflow resume {outcome.run_id} --input {example}=<json>\n")
    out.flush()


def run_python_target(
    target: str,
    *,
    run_root: Path | None = None,
    project_root: Path | None = None,
    inputs: dict[str, Any] | None = None,
    run_id_prefix: str | None = None,
    progress: bool | None = None,
    out: TextIO | None = None,
    stream: bool = False,
    executor: str | None = None,
    **run_context_options: Any,
) -> RunOutcome:
    """Runs ``module.py:agent_or_flow`` as a durable run; ``progress=None`` means live on a TTY.

    Bad targets and input paths raise RunError before a run is created. A run that fails outside
    any component keeps the reason in its record (``danaflow runs show`` prints it).
    """
    from .context import RunContext

    out = out or sys.stdout
    definition, files, name = load_target(target)
    root_id = definition.id or name
    waiting_nodes = input_nodes(definition, root_id)
    check_inputs(inputs or {}, waiting_nodes, root_id)
    _check_executor(executor)
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
        assert run_context.run_dir is not None
        out.write(f"run {run_context.run_id} ({run_context.run_dir.root})\n")
        out.flush()
        try:
            result = _drive(run_context, definition, progress, out, executor, stream=stream)
        except BaseException as exc:
            _record_failure(run_context, exc)
            _say_interrupted(run_context, exc, out)
            raise
        outcome = _outcome(run_context, result, waiting_nodes)
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
    stream: bool = False,
    store: str | None = None,
    executor: str | None = None,
    **run_context_options: Any,
) -> RunOutcome:
    """Resumes ``run_id`` (an id, a unique prefix or ``latest``) in a new run: with ``from_path``
    from that exact component, else only what did not complete; ``inputs`` answer the nodes that
    were waiting. A resume that fails before any component ran leaves no new run behind."""
    from .artifacts import RunDirectory
    from .context import RunContext
    from .resume import ResumePlan

    out = out or sys.stdout
    root = run_root or default_run_root()
    with _open_store(root, store) as db:
        previous = resolve_run(db, run_id)
        run_id = previous.run_id
        target = previous.meta.get("target")
        if previous.meta.get("target_kind") != "python" or not target:
            raise RunError(
                f"run {run_id} was not started from a module.py:component target: want a run started by "
                "`danaflow run module.py:agent_or_flow`",
                path=run_id,
            )
        definition, files, _name = load_target(target)
        root_id = previous.root_component_id
        waiting_nodes = input_nodes(definition, root_id)
        # Checked here, before the new run exists, so a typo creates nothing.
        plan = ResumePlan.load(db, run_id, from_path)
        plan.check_paths([root_id, *definition.component_paths(root_id)])
        check_inputs(inputs or {}, waiting_nodes, root_id)
        _check_executor(executor)
    run_context = RunContext(
        root_id,
        project_root=Path(previous.meta.get("project_root") or Path.cwd()),
        run_root=root,
        previous_run_id=run_id,
        start_hierarchy_path=from_path,
        inputs=inputs,
        source_files=files,
        meta={"target": target, "target_kind": "python"},
        store=store,
        **run_context_options,
    )
    discard = False
    try:
        run_context.setup_run(root_id)
        assert run_context.run_dir is not None
        out.write(
            f"run {run_context.run_id} resumes {run_id}" + (f" from {from_path}" if from_path else "") + "\n"
        )
        out.flush()
        try:
            result = _drive(run_context, definition, progress, out, executor, stream=stream)
        except BaseException as exc:
            discard = not run_context.store.list_components(run_context.run_id)
            if not discard:
                _record_failure(run_context, exc)
                _say_interrupted(run_context, exc, out)
            raise
        outcome = _outcome(run_context, result, waiting_nodes)
    finally:
        new_id = run_context.run_id if run_context.is_setup else None
        run_context.close()
        if discard and new_id is not None:
            with _open_store(root, store) as db:
                db.delete_run(new_id)
            RunDirectory(root, new_id).remove()
    _finish_message(outcome, out)
    return outcome


# ---- inspection -------------------------------------------------------------------------------------
def run_status(record: RunRecord) -> str:
    """The stored status, or ``interrupted`` for a ``running`` run whose process is gone."""
    from .ownership import process_is_gone

    if record.status != "running" or record.pid is None:
        return record.status
    return "interrupted" if process_is_gone(record.host, record.pid) else "running"


def list_runs(
    run_root: Path | None = None,
    limit: int | None = None,
    status: str | None = None,
    store: str | None = None,
) -> list[RunRecord]:
    """Runs, newest first; ``status`` keeps those whose current status (``run_status``) is that."""
    if status is not None and status not in STATUSES:
        raise RunError(f"bad --status {status!r}: want one of {', '.join(STATUSES)}")
    root = run_root or default_run_root()
    spec = _store_spec(root, store)
    if isinstance(spec, Path) and not spec.exists():
        return []
    with _open_store(root, store) as db:
        if status is None:
            return db.list_runs(limit)
        runs = [r for r in db.list_runs() if run_status(r) == status]
        return runs[:limit] if limit is not None else runs


def show_run(
    run_id: str, run_root: Path | None = None, store: str | None = None
) -> tuple[RunRecord, list[ComponentRecord]]:
    """The run ``run_id`` names (an id, a unique prefix or ``latest``) and its components."""
    with _open_store(run_root, store) as db:
        record = resolve_run(db, run_id)
        return record, db.list_components(record.run_id)


def remove_runs(
    run_ids: Sequence[str], run_root: Path | None = None, *, force: bool = False, store: str | None = None
) -> list[str]:
    """Deletes runs (store rows and run dirs); a live run needs ``force``. Returns the removed ids."""
    from .artifacts import RunDirectory

    root = run_root or default_run_root()
    removed: list[str] = []
    with _open_store(root, store) as db:
        records = [resolve_run(db, ref) for ref in run_ids]
        for record in records:
            if run_status(record) == "running" and not force:
                raise RunError(
                    f"run {record.run_id} is still running: want --force to remove it", path=record.run_id
                )
        for record in records:
            db.delete_run(record.run_id)
            RunDirectory(root, record.run_id).remove()
            removed.append(record.run_id)
    return removed


def clear_cache(path: str | None = None, run_root: Path | None = None, store: str | None = None) -> int:
    """Removes the result cache's entries (those made by component ``path`` and below, or all);
    returns how many. A run root with no store yet has nothing to clear."""
    spec = _store_spec(run_root, store)
    if isinstance(spec, Path) and not spec.exists():
        return 0
    with _open_store(run_root, store) as db:
        return db.cache_clear(path)


def _terminal_width(stream: TextIO) -> int | None:
    """``$COLUMNS``, else the terminal's width, else None (a pipe: nothing is cut)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            import shutil

            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


# ---- Typer ------------------------------------------------------------------------------------------
class PlainCommand(typer.core.TyperCommand):
    """A command whose help shows arguments as their plain metavar (``TARGET``, ``RUN...``), not
    Typer's ``{TARGET}`` and ``TARGET <str>``; options show theirs (``--timeout SECONDS``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:].replace("}", "", 1) if p.startswith("{") else p for p in pieces]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name = (param.metavar or param.name or "").upper() + ("..." if param.nargs != 1 else "")
                args.append((name, record[1]))
            else:
                opts.append(record)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


RunRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--run-root", metavar="DIR", help="Where runs are stored (default: $DANAFLOW_RUN_ROOT or ./runs)."
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="Run store: postgresql://user@host/db, sqlite:///file.db or memory: "
        "(default: $DANAFLOW_STORE, else RUN_ROOT/danaflow.db).",
    ),
]
InputOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input", metavar="PATH=JSON", help="Input for a node that waits for one, by path (repeatable)."
    ),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Live table of components (default on a terminal), or one line per finished component.",
    ),
]
NoCacheOpt = Annotated[
    bool,
    typer.Option("--no-cache", help="Run CachePolicy nodes without reading or writing the result cache."),
]
StreamOpt = Annotated[
    bool,
    typer.Option("--stream", help="Print the text models generate as it comes (under the progress display)."),
]
ExecutorOpt = Annotated[
    str | None,
    typer.Option(
        "--executor",
        metavar="SPEC",
        help="Where node work runs: local (the default), dask://HOST:PORT (a Dask scheduler) or "
        "dask-local:N (N worker processes here); see docs/scale.md.",
    ),
]
RunIdArg = Annotated[
    str, typer.Argument(metavar="RUN", help="A run id, a unique prefix of one, or 'latest'.")
]


def _fail(exc: DanaflowError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _interrupted() -> typer.Exit:
    typer.echo("interrupted", err=True)
    return typer.Exit(130)


def _configure_logging() -> None:
    from .cli_logging import configure_terminal_logging

    configure_terminal_logging(False)


def run_command(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="module.py:agent_or_flow")],
    input: InputOpt = None,
    run_root: RunRootOpt = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", metavar="PREFIX", help="Run id prefix (default: the root id).")
    ] = None,
    progress: ProgressOpt = None,
    store: StoreOpt = None,
    no_cache: NoCacheOpt = False,
    stream: StreamOpt = False,
    executor: ExecutorOpt = None,
) -> None:
    """Run an agent or flow from a Python module, durably.

    Resumable with `resume`; the root's output is printed at the end.
    """
    _configure_logging()
    try:
        outcome = run_python_target(
            target,
            run_root=run_root,
            inputs=parse_inputs(input or []),
            run_id_prefix=prefix,
            progress=progress,
            store=store,
            use_cache=not no_cache,
            stream=stream,
            executor=executor,
        )
    except DanaflowError as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        raise _interrupted() from None
    raise typer.Exit(outcome.exit_code)


def resume_command(
    run_id: RunIdArg,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="PATH", help="Exact component path to re-run from (and all after it)."
        ),
    ] = None,
    input: InputOpt = None,
    run_root: RunRootOpt = None,
    progress: ProgressOpt = None,
    store: StoreOpt = None,
    no_cache: NoCacheOpt = False,
    stream: StreamOpt = False,
    executor: ExecutorOpt = None,
) -> None:
    """Resume a run, from --from PATH or where it stopped.

    Without --from, only what did not complete runs again; --input answers waiting nodes.
    """
    _configure_logging()
    try:
        outcome = resume_run(
            run_id,
            from_path=from_,
            inputs=parse_inputs(input or []),
            run_root=run_root,
            progress=progress,
            store=store,
            use_cache=not no_cache,
            stream=stream,
            executor=executor,
        )
    except DanaflowError as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        raise _interrupted() from None
    raise typer.Exit(outcome.exit_code)


def list_command(
    run_root: RunRootOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", help="Show at most N runs.")] = 20,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATUS", help=f"Only runs in STATUS: {', '.join(STATUSES)}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of run records.")] = False,
    store: StoreOpt = None,
) -> None:
    """List runs, newest first.

    Whole run ids whatever the terminal width; the other columns give way.
    """
    try:
        runs = list_runs(run_root, limit, status, store)
    except DanaflowError as exc:
        raise _fail(exc) from exc
    if as_json:
        rows = [{**{f: getattr(r, f) for f in r.__dataclass_fields__}, "status": run_status(r)} for r in runs]
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    from .cli_render import clean, fmt_time, format_table

    if not runs:
        sys.stdout.write("no runs" + (f" with status {status}" if status else "") + "\n")
        return
    table = [
        [r.run_id, run_status(r), fmt_time(r.created_at), clean(r.root_component_id), r.previous_run_id or ""]
        for r in runs
    ]
    headers = ["RUN", "STATUS", "CREATED", "ROOT", "RESUMES"]
    sys.stdout.write(format_table(headers, table, _terminal_width(sys.stdout), keep=(0, 1)) + "\n")


def show_command(
    run_id: RunIdArg,
    run_root: RunRootOpt = None,
    component: Annotated[
        str | None,
        typer.Option("--component", "-c", metavar="PATH", help="Show this one component in full."),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Show a run: each component's status, output and error.

    Durations and tokens too; --component PATH shows one component in full.
    """
    from .cli_render import render_component, render_run

    try:
        record, components = show_run(run_id, run_root, store)
        if component is not None:
            match = next((c for c in components if c.path == component), None)
            if match is None:
                from .resume import unknown_path_error

                raise unknown_path_error("component", component, [c.path for c in components], record.run_id)
            sys.stdout.write(render_component(match) + "\n")
            return
    except DanaflowError as exc:
        raise _fail(exc) from exc
    sys.stdout.write(render_run(record, run_status(record), components, _terminal_width(sys.stdout)) + "\n")


def rm_command(
    run_ids: Annotated[
        list[str], typer.Argument(metavar="RUN", help="Run ids, unique prefixes, or 'latest'.")
    ],
    run_root: RunRootOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Also remove runs that look alive.")] = False,
    store: StoreOpt = None,
) -> None:
    """Remove runs: their store rows and run directories."""
    try:
        for run_id in remove_runs(run_ids, run_root, force=force, store=store):
            typer.echo(f"removed {run_id}")
    except DanaflowError as exc:
        raise _fail(exc) from exc


def cache_clear_command(
    path: Annotated[
        str | None,
        typer.Option(
            "--path", metavar="PATH", help="Only entries made by this component and those below it."
        ),
    ] = None,
    run_root: RunRootOpt = None,
    store: StoreOpt = None,
) -> None:
    """Remove cached node results (all, or those of --path PATH).

    Later runs execute those CachePolicy nodes again and store fresh results.
    """
    try:
        removed = clear_cache(path, run_root, store)
    except DanaflowError as exc:
        raise _fail(exc) from exc
    what = "entry" if removed == 1 else "entries"
    typer.echo(f"removed {removed} cache {what}" + (f" under {path}" if path else ""))


def _typer(help: str) -> typer.Typer:
    return typer.Typer(help=help, no_args_is_help=True, add_completion=False, rich_markup_mode=None)


runs_app = _typer("List, show and remove runs.")
for _name, _command in (("list", list_command), ("show", show_command), ("rm", rm_command)):
    runs_app.command(_name, cls=PlainCommand)(_command)

cache_app = _typer("The result cache of CachePolicy nodes.")
cache_app.command("clear", cls=PlainCommand)(cache_clear_command)

app = _typer("The run commands standalone: python -m danaflow.runs list|show|rm|run|resume|cache.")
for _name, _command in (
    ("run", run_command),
    ("resume", resume_command),
    ("list", list_command),
    ("show", show_command),
    ("rm", rm_command),
):
    app.command(_name, cls=PlainCommand)(_command)
app.add_typer(cache_app, name="cache")
