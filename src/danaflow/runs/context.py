"""RunContext: one run — its id and directory, store, resume plan, telemetry, event bus and resources.

It implements the flow layer's ``RunHooks``: the runner reports each component's start and finish,
and the RunContext checkpoints that one component (``result.json`` written atomically, then one
store transaction), answers ``reuse(path)`` from a previous run, and opens the spans. The store row,
not the file, decides what completed: a ``kill -9`` between the two leaves the component to re-run.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from danaflow.context.state import ExecutionState, WorldState
from danaflow.errors import RunError
from danaflow.flow.events import ALL_EVENTS, Event, EventBus, EventHandler
from danaflow.flow.hooks import DEFAULT_MAX_CONCURRENCY
from danaflow.observability import ComponentMetric, ObservabilitySettings, Telemetry

from .artifacts import ArtifactManager, BackgroundWriter, RunDirectory
from .cache import StoreResultCache
from .provenance import code_fingerprint, inputs_hash, run_id_for
from .resume import ResumePlan
from .store import ComponentRecord, RunRecord, RunStore, configured_store, open_store

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.context.result import NodeExecutionResult

__all__ = ["RunContext"]

_log = logging.getLogger("danaflow.runs")


class RunContext:
    """Everything one run shares: see the module docstring. Satisfies ``danaflow.flow.hooks.RunHooks``.

    ``run_root`` defaults to ``project_root / "runs"``; ``store`` is a RunStore, a URL for
    ``open_store`` (``postgresql://…``, ``memory:``, a .db path), ``"sqlite"`` (the index
    ``run_root/danaflow.db``), or None: ``$DANAFLOW_STORE``, else that index. Set ``previous_run_id``
    (and optionally ``start_hierarchy_path``) to resume; ``inputs`` answer nodes that ask for input,
    by component path. ``static_inputs`` are the same, given up front and saved in the run dir.
    ``use_cache=False`` runs CachePolicy nodes without reading or writing the result cache.
    """

    def __init__(
        self,
        root_component_id: str,
        project_root: Path | str = Path("."),
        run_root: Path | str | None = None,
        observability_settings: ObservabilitySettings | None = None,
        previous_run_id: str | None = None,
        start_hierarchy_path: str | None = None,
        *,
        store: RunStore | str | Path | None = None,
        inputs: Mapping[str, Any] | None = None,
        static_inputs: Mapping[str, Any] | None = None,
        llm: Any = None,
        resources: Mapping[str, Any] | None = None,
        allow_python_templates: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        public_state: Mapping[str, Any] | None = None,
        system_state: Mapping[str, Any] | None = None,
        record_events: bool = True,
        result_files: str | None = None,
        source_files: Iterable[Path | str] = (),
        meta: Mapping[str, Any] | None = None,
        use_cache: bool = True,
    ):
        self.root_component_id: str | None = root_component_id
        self.project_root = Path(project_root).resolve()
        self.run_root = Path(run_root) if run_root is not None else self.project_root / "runs"
        self.observability_settings = observability_settings or ObservabilitySettings.from_env()
        self.previous_run_id = previous_run_id
        self.start_hierarchy_path = start_hierarchy_path or None
        if self.start_hierarchy_path and not previous_run_id:
            raise RunError(
                "start_hierarchy_path needs previous_run_id: want the run to resume from",
                path=self.start_hierarchy_path,
            )
        self._owns_store = not isinstance(store, RunStore)
        self._store_spec = store
        self._store: RunStore | None = store if isinstance(store, RunStore) else None
        self.static_inputs: dict[str, Any] = dict(static_inputs or {})
        self.inputs: dict[str, Any] = {**self.static_inputs, **dict(inputs or {})}
        self.llm = llm
        self.resources: dict[str, Any] = dict(resources or {})
        self.allow_python_templates = allow_python_templates
        self.max_concurrency = max_concurrency
        self.public_state = WorldState(dict(public_state or {}))
        self.system_state = ExecutionState(dict(system_state or {}))
        self._initial_public = dict(public_state or {})
        self.event_bus = EventBus()
        self.record_events = record_events
        mode = result_files or os.environ.get("DANAFLOW_RESULT_FILES", "async")
        if mode not in ("async", "sync", "off"):
            raise RunError(f"bad result_files mode {mode!r}: want 'async', 'sync' or 'off'")
        self.result_files = mode
        """How ``result.json`` mirrors are written: ``async`` (a writer thread trails the store),
        ``sync`` (before the store row, on the caller's thread) or ``off`` (store only)."""
        self._writer: BackgroundWriter | None = None
        self.source_files = [Path(f) for f in source_files]
        self.meta: dict[str, Any] = dict(meta or {})
        self.working_dir: Path | None = None
        """The run's working directory (set by IsolatedExecution); nodes that spawn processes use it."""
        self.environ: dict[str, str] | None = None
        """The run's environment (os.environ plus IsolatedExecution's overlay), for subprocesses."""
        self.use_cache = use_cache
        """Whether CachePolicy nodes read and write the store's result cache (``--no-cache``: no)."""
        self._result_cache: StoreResultCache | None = None

        self._run_id: str | None = None
        self.run_dir: RunDirectory | None = None
        self.artifacts: ArtifactManager | None = None
        self.telemetry: Telemetry | None = None
        self.resume_plan: ResumePlan | None = None
        self._seq = itertools.count()
        self._started: dict[str, tuple[int, int, float]] = {}
        self._events_file: TextIO | None = None
        self._events_lock = threading.Lock()
        self._pending_events: list[str] = []
        self._binding: tuple[Any, Any] | None = None
        self._component_paths: list[str] = []
        self.status = "pending"

    # ---- setup ----------------------------------------------------------------------------------
    @property
    def store(self) -> RunStore:
        if self._store is None:
            spec = self._store_spec
            if spec is None:
                spec = configured_store(self.run_root)
            elif spec == "sqlite":
                spec = self.run_root / "danaflow.db"
            self._store = open_store(spec)
        return self._store

    @property
    def result_cache(self) -> StoreResultCache | None:
        """The result cache CachePolicy nodes use: this run's store, or None with ``use_cache=False``."""
        if not self.use_cache:
            return None
        if self._result_cache is None:
            self._result_cache = StoreResultCache(self.store)
        return self._result_cache

    @property
    def is_setup(self) -> bool:
        return self._run_id is not None

    @property
    def run_id(self) -> str:
        """The run id; reading it before ``setup_run`` sets the run up with the default prefix."""
        if self._run_id is None:
            self.setup_run()
        assert self._run_id is not None
        return self._run_id

    def setup_run(self, run_id_prefix: str = "run", *, run_id: str | None = None) -> str:
        """Creates the run: id, directory, store row, ``run.json``, telemetry, event log.

        Idempotent: a second call returns the existing id. With ``previous_run_id`` it loads the
        resume plan first, so an unknown run fails before anything is written.
        """
        if self._run_id is not None:
            return self._run_id
        store = self.store
        if self.previous_run_id:
            self.resume_plan = ResumePlan.load(store, self.previous_run_id, self.start_hierarchy_path)
            if self.root_component_id is None:
                previous = store.get_run(self.previous_run_id)
                self.root_component_id = previous.root_component_id if previous else None
        now = datetime.now()
        new_id = run_id or run_id_for(run_id_prefix, now, secrets.token_hex(3))
        self.run_dir = RunDirectory(self.run_root, new_id).create()
        self.artifacts = ArtifactManager(self.run_dir)
        if self.static_inputs:
            self.run_dir.write_json(RunDirectory.STATIC_INPUTS_FILE, self.static_inputs)
        created = time.time()
        store.create_run(
            RunRecord(
                run_id=new_id,
                root_component_id=self.root_component_id or "",
                status="running",
                created_at=created,
                updated_at=created,
                code_fingerprint=code_fingerprint(self.source_files) if self.source_files else None,
                inputs_hash=inputs_hash({"inputs": self.inputs, "public": self._initial_public}),
                previous_run_id=self.previous_run_id,
                start_path=self.start_hierarchy_path,
                run_dir=str(self.run_dir.root),
                pid=os.getpid(),
                host=socket.gethostname(),
                meta={"project_root": str(self.project_root), **self.meta},
            )
        )
        self._run_id = new_id
        self.status = "running"
        self.system_state["__run_id"] = new_id
        self.telemetry = Telemetry(new_id, self.run_dir.root, self.observability_settings).start()
        if self.record_events:
            self._events_file = open(self.run_dir.root / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
            self.event_bus.on(ALL_EVENTS, self._record_event)
        self._write_run_json()
        return new_id

    def _write_run_json(self) -> None:
        if self.run_dir is None or self._run_id is None:
            return
        record = self.store.get_run(self._run_id)
        if record is None:
            return
        data = {k: getattr(record, k) for k in record.__dataclass_fields__}
        data["observability"] = self.observability_settings.to_json()
        data["inputs"] = self.inputs
        self.run_dir.write_json(RunDirectory.RUN_FILE, data)

    def register_node_input_handler(self, handler: EventHandler) -> EventHandler:
        """Registers a ``node_input_required`` handler (seed 004's spelling)."""
        return self.event_bus.register_node_input_handler(handler)

    def register_resource(self, name: str, resource: Any) -> None:
        self.resources[name] = resource

    # ---- RunHooks ------------------------------------------------------------------------------
    def run_started(self, root_path: str, component_paths: Sequence[str]) -> None:
        """Checks resume paths against the definition, records the code fingerprint, opens the run span."""
        run_id = self.run_id
        self._component_paths = list(component_paths)
        if self.root_component_id is None:
            self.root_component_id = root_path
        if self.resume_plan is not None:
            self.resume_plan.check_paths(component_paths, self.inputs)
        fingerprint = code_fingerprint(self.source_files, self._component_paths)
        self.store.update_run(run_id, code_fingerprint=fingerprint)
        if self.resume_plan is not None:
            previous = self.store.get_run(self.resume_plan.previous_run_id)
            if previous is not None and previous.code_fingerprint not in (None, fingerprint):
                _log.warning(
                    "resuming run %s over changed code (fingerprint %s, was %s)",
                    self.resume_plan.previous_run_id, fingerprint, previous.code_fingerprint,
                )  # fmt: skip
        assert self.telemetry is not None
        self._binding = self.telemetry.bind()
        if self.telemetry.tracer is not None:
            self.telemetry.tracer.start_run_span(root=root_path, previous_run_id=self.previous_run_id)
        self._write_run_json()

    def reuse(self, path: str) -> NodeExecutionResult | None:
        """The previous run's result for ``path`` (marked reused) when the resume plan allows it.

        The reused record and its descendants are copied into this run's store (one transaction)
        and run dir, so this run is complete on its own and can itself be resumed.
        """
        plan = self.resume_plan
        if plan is None:
            return None
        if not plan.checked:
            plan.check_paths(self._component_paths, self.inputs)
        if plan.reusable(path) is None:
            return None
        run_id = self.run_id
        copies = [
            ComponentRecord(**{**_record_fields(r), "run_id": run_id, "seq": next(self._seq), "reused": True})
            for r in plan.subtree(path)
        ]
        self.store.put_components(copies)
        for r in copies:
            if r.result is not None:
                self._write_result(r.path, r.result)
        if self.telemetry is not None:
            for r in copies:
                self.telemetry.metrics.record_component(
                    ComponentMetric(r.path, r.kind or "component", r.status, 0.0, reused=True)
                )
        return plan.result_for(path)

    def component_started(self, path: str, ctx: ExecutionContext) -> None:
        seq = next(self._seq)
        started = time.time()
        kind = getattr(getattr(ctx, "executable_type", None), "value", None)
        attempt = self.store.start_component(
            self.run_id, path, seq=seq, kind=kind, component_id=getattr(ctx, "component_id", None),
            started_at=started,
        )  # fmt: skip
        self._started[path] = (seq, attempt, started)

    def component_finished(self, path: str, ctx: ExecutionContext, result: NodeExecutionResult) -> None:
        """Checkpoints one component: ``result.json`` (atomic), then its store row (one transaction)."""
        run_id = self.run_id
        finished = time.time()
        seq, attempt, started = self._started.pop(path, (None, 1, None))
        if seq is None:
            seq = next(self._seq)
        status = result.execution_status.value
        text = result.model_dump_json(fallback=repr)
        if self.result_files == "sync":
            self._write_result(path, text)
        usage = result.usage
        kind = getattr(getattr(ctx, "executable_type", None), "value", None) or result.executable_type.value
        record = ComponentRecord(
            run_id=run_id,
            path=path,
            status=status,
            seq=seq,
            kind=kind,
            component_id=result.component_id or getattr(ctx, "component_id", None),
            result=text,
            error=result.error.message if result.error is not None else None,
            started_at=started,
            finished_at=finished,
            attempt=attempt,
            reused=result.reused,
            prompt_tokens=usage.prompt_tokens if usage is not None else 0,
            completion_tokens=usage.completion_tokens if usage is not None else 0,
        )
        self.store.finish_component(record)
        if self.result_files == "async":
            self._write_result(path, text)
        if self.telemetry is not None:
            self.telemetry.metrics.record_component(
                ComponentMetric(
                    path, kind, status, finished - started if started is not None else 0.0,
                    record.prompt_tokens, record.completion_tokens, reused=result.reused,
                )
            )  # fmt: skip
        if status == "failed":
            _log.warning("%s failed: %s", path, record.error, extra={"path": path, "run_id": run_id})
        self._flush_events()

    def _write_result(self, path: str, text: str) -> None:
        run_dir = self.run_dir
        if run_dir is None or self.result_files == "off":
            return
        if self.result_files == "sync":
            run_dir.write_result(path, text)
            return
        if self._writer is None:
            self._writer = BackgroundWriter()
        self._writer.submit(lambda: run_dir.write_result(path, text))

    def flush(self) -> None:
        """Waits for queued ``result.json`` writes and flushes telemetry."""
        if self._writer is not None:
            self._writer.flush()
        if self.telemetry is not None:
            self.telemetry.flush()

    def run_finished(self, result: NodeExecutionResult) -> None:
        """Records the run's final status, ends the run span and flushes telemetry."""
        self.finish(result.execution_status.value)

    def run_interrupted(self) -> None:
        """The run was cancelled (Ctrl-C, a stream's reader left): every component still in
        progress is recorded ``interrupted`` in one transaction, and so is the run; a resume
        (``danaflow resume RUN``) reuses what completed and runs those again."""
        if self._run_id is None:
            return
        run_id, now = self._run_id, time.time()
        cut: list[ComponentRecord] = []
        for path, (seq, attempt, started) in self._started.items():
            row = self.store.get_component(run_id, path)
            fields = _record_fields(row) if row is not None else {"run_id": run_id, "path": path}
            fields.update(
                status="interrupted", seq=seq, attempt=attempt, started_at=started, finished_at=now,
                result=None, error="interrupted: the run was cancelled before this component finished",
            )  # fmt: skip
            cut.append(ComponentRecord(**fields))
        self._started.clear()
        self.store.put_components(cut)
        self.finish("interrupted")

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Marks the run ``status`` (idempotent per status) and flushes what it has written."""
        if self._run_id is None:
            return
        self.status = status
        self.store.update_run(self._run_id, status=status)
        self._write_run_json()
        self._flush_events()
        telemetry = self.telemetry
        if telemetry is not None:
            if telemetry.tracer is not None:
                telemetry.tracer.end_run_span(status, error)
            if self._binding is not None:
                telemetry.unbind(self._binding)
                self._binding = None
        self.flush()

    def span(self, kind: str, path: str, **attrs: Any) -> AbstractContextManager[Any]:
        if self.telemetry is None:
            return nullcontext()
        return self.telemetry.span(kind, path, **attrs)

    def artifact_dir(self, path: str) -> Path | None:
        if self.run_dir is None:
            self.setup_run()
        assert self.run_dir is not None
        return self.run_dir.component_dir(path)

    # ---- events and shutdown -------------------------------------------------------------------
    def _record_event(self, event: Event) -> None:
        line = _event_line(event, self._run_id)
        with self._events_lock:
            if self._events_file is not None:
                self._pending_events.append(line)

    def _flush_events(self) -> None:
        """Writes the buffered event lines in one write: called at each checkpoint, so after a
        ``kill -9`` the events of every finished component are on disk, with no torn line."""
        with self._events_lock:
            if self._events_file is not None and self._pending_events:
                self._events_file.write("".join(self._pending_events))
                self._pending_events.clear()
                self._events_file.flush()

    def close(self) -> None:
        """Ends telemetry, closes the event log and (if this context opened it) the store."""
        if self.status == "running" and self._run_id is not None:
            # Closed without run_finished (the runner raised): never leave the run looking alive.
            self.finish("failed")
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if self.telemetry is not None:
            self.telemetry.shutdown()
        self._flush_events()
        with self._events_lock:
            if self._events_file is not None:
                self._events_file.close()
                self._events_file = None
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __repr__(self) -> str:
        return f"RunContext(run_id={self._run_id!r}, root={self.root_component_id!r}, status={self.status!r})"


def _record_fields(record: ComponentRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _event_line(event: Event, run_id: str | None) -> str:
    import json

    data = event.to_dict()
    data["run_id"] = run_id
    return json.dumps(data, default=str) + "\n"
