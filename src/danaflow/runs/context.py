"""RunContext: one run — its configuration and lifecycle, and the environment its components see.

A run is three objects, each with one job: the RunContext (this module) holds the configuration
(root, store, run root, resume, inputs, scopes, LLM, resources, limits) and the lifecycle
(``setup_run``, ``finish``, ``close``), and is the flow runner's ``RunEnvironment``; its
``checkpointer`` (runs/checkpoint.py, the runner's ``Checkpointer``) writes each component's
progress to the store and the run dir; its ``journal`` (runs/journal.py) keeps ``events.jsonl``.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from danaflow.context.state import ExecutionState, WorldState
from danaflow.errors import RunError
from danaflow.flow.events import EventBus, EventHandler
from danaflow.flow.seam import DEFAULT_MAX_CONCURRENCY
from danaflow.observability import ObservabilitySettings, Telemetry

from .artifacts import ArtifactManager, RunDirectory
from .cache import StoreResultCache
from .checkpoint import RunCheckpointer
from .journal import EventJournal
from .ownership import DEFAULT_LEASE_TTL_S, RunOwnership
from .provenance import code_fingerprint, inputs_hash, run_id_for
from .resume import ResumePlan
from .store import RunRecord, RunStore, configured_store, open_store

__all__ = ["RunContext"]


class RunContext:
    """Everything one run shares: see the module docstring. A ``danaflow.flow.seam.RunEnvironment``.

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
        lease_ttl_s: float | None = None,
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
        self.source_files = [Path(f) for f in source_files]
        self.meta: dict[str, Any] = dict(meta or {})
        self.working_dir: Path | None = None
        """The run's working directory (set by IsolatedExecution); nodes that spawn processes use it."""
        self.environ: dict[str, str] | None = None
        """The run's environment (os.environ plus IsolatedExecution's overlay), for subprocesses."""
        self.use_cache = use_cache
        self.lease_ttl_s = float(lease_ttl_s or os.environ.get("DANAFLOW_LEASE_TTL") or DEFAULT_LEASE_TTL_S)
        """How long this run's ownership lease outlives a process that stopped renewing it."""
        self.ownership: RunOwnership | None = None
        """The leases that make this process the run's one owner (runs/ownership.py)."""
        """Whether CachePolicy nodes read and write the store's result cache (``--no-cache``: no)."""
        self._result_cache: StoreResultCache | None = None

        self._run_id: str | None = None
        self.run_dir: RunDirectory | None = None
        self.artifacts: ArtifactManager | None = None
        self.telemetry: Telemetry | None = None
        self.resume_plan: ResumePlan | None = None
        self.checkpointer = RunCheckpointer(self)
        """What the runner reports this run's progress to (runs/checkpoint.py)."""
        self.journal: EventJournal | None = None
        """The run's ``events.jsonl`` (None until set up, or with ``record_events=False``)."""
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

        Idempotent: a second call returns the existing id. With ``previous_run_id`` it claims
        that run (a live owner refuses the resume; a plain resume follows the runs that already
        resumed it, runs/ownership.py) and loads the resume plan first, so an unknown or owned
        run fails before anything is written.
        """
        if self._run_id is not None:
            return self._run_id
        store = self.store
        self.ownership = ownership = RunOwnership(store, self.lease_ttl_s)
        if self.previous_run_id:
            chain = [self.previous_run_id]
            try:
                if store.get_run(self.previous_run_id) is not None:
                    follow = not self.start_hierarchy_path
                    chain = ownership.claim_for_resume(self.previous_run_id, follow=follow)
                self.previous_run_id = chain[-1]
                self.resume_plan = ResumePlan.load(
                    store, self.previous_run_id, self.start_hierarchy_path, earlier=chain[:-1]
                )
            except BaseException:
                ownership.release()
                raise
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
        ownership.own(new_id)
        self._run_id = new_id
        self.status = "running"
        self.system_state["__run_id"] = new_id
        self.telemetry = Telemetry(new_id, self.run_dir.root, self.observability_settings).start()
        if self.record_events:
            self.journal = EventJournal(new_id, self.run_dir.root, self.event_bus)
        self.write_run_json()
        return new_id

    def directory(self) -> RunDirectory:
        """The run's directory, setting the run up first if it is not yet."""
        if self.run_dir is None:
            self.setup_run()
        assert self.run_dir is not None
        return self.run_dir

    def write_run_json(self) -> None:
        """Rewrites ``run.json`` from the store's record of this run."""
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

    # ---- lifecycle ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Waits for queued ``result.json`` writes and flushes telemetry."""
        self.checkpointer.flush()
        if self.telemetry is not None:
            self.telemetry.flush()

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Marks the run ``status`` (idempotent per status) and flushes what it has written."""
        if self._run_id is None:
            return
        self.status = status
        self.store.update_run(self._run_id, status=status)
        self.write_run_json()
        if self.journal is not None:
            self.journal.flush()
        self.checkpointer.end_span(status, error)
        self.flush()
        if self.ownership is not None:
            self.ownership.release()  # finished: a later resume may take the run over

    def close(self) -> None:
        """Ends telemetry, closes the event log and (if this context opened it) the store."""
        if self.status == "running" and self._run_id is not None:
            # Closed without run_finished (the runner raised): never leave the run looking alive.
            self.finish("failed")
        self.checkpointer.close()
        if self.ownership is not None:
            self.ownership.release()
        if self.telemetry is not None:
            self.telemetry.shutdown()
        if self.journal is not None:
            self.journal.close()
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __repr__(self) -> str:
        return f"RunContext(run_id={self._run_id!r}, root={self.root_component_id!r}, status={self.status!r})"
