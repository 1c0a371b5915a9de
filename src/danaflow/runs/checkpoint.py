"""RunCheckpointer: the flow runner's Checkpointer for a durable run (flow/seam.py).

It checkpoints one component per call: the store row is written in one transaction, and the
component's ``result.json`` mirror is written by the run's ``result_files`` mode — ``sync``
before the row, ``async`` (the default) by a writer thread that trails the row, ``off`` never.
The store row, not the file, decides what completed: a ``kill -9`` before the row leaves the
component to re-run; one after it may leave the last mirrors unwritten (never torn), and a resume
writes the mirrors of what it reuses. It also answers ``reuse(path)`` from the resume plan and
opens the spans.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danaflow.observability import ComponentMetric

from .artifacts import BackgroundWriter
from .provenance import code_fingerprint
from .store import ComponentRecord

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.context.result import NodeExecutionResult

    from .context import RunContext

__all__ = ["RunCheckpointer"]

_log = logging.getLogger("danaflow.runs")


class RunCheckpointer:
    """Writes one run's progress: store rows, ``result.json`` mirrors, metrics and spans."""

    def __init__(self, run: RunContext):
        self.run = run
        self._seq = itertools.count()
        self._started: dict[str, tuple[int, int, float]] = {}
        """Components in progress: path -> (seq, attempt, started_at)."""
        self._copied: set[str] = set()
        """Reused paths already copied into this run: restoring a reused subtree asks ``reuse``
        again for each descendant, which must not copy (and write) the subtree again."""
        self._attempts: dict[str, int] = {}
        """Starts per path in this run: the checkpointer is the only writer of its run's rows (a
        resume is a new run), so it counts attempts itself and the store need not answer."""
        self._writer: BackgroundWriter | None = None
        self._component_paths: list[str] = []
        self._binding: tuple[Any, Any] | None = None

    # ---- the run ---------------------------------------------------------------------------------
    def run_started(self, root_path: str, component_paths: Sequence[str]) -> None:
        """Checks resume paths against the definition, records the code fingerprint, opens the run span."""
        run = self.run
        run_id = run.run_id
        self._component_paths = list(component_paths)
        if run.root_component_id is None:
            run.root_component_id = root_path
        plan = run.resume_plan
        if plan is not None:
            plan.check_paths(component_paths, run.inputs)
        fingerprint = code_fingerprint(run.source_files, self._component_paths)
        run.store.update_run(run_id, code_fingerprint=fingerprint)
        if plan is not None:
            previous = run.store.get_run(plan.previous_run_id)
            if previous is not None and previous.code_fingerprint not in (None, fingerprint):
                _log.warning(
                    "resuming run %s over changed code (fingerprint %s, was %s)",
                    plan.previous_run_id, fingerprint, previous.code_fingerprint,
                )  # fmt: skip
        telemetry = run.telemetry
        assert telemetry is not None
        self._binding = telemetry.bind()
        if telemetry.tracer is not None:
            telemetry.tracer.start_run_span(root=root_path, previous_run_id=run.previous_run_id)
        run.write_run_json()

    def run_finished(self, result: NodeExecutionResult) -> None:
        """Records the run's final status, ends the run span and flushes telemetry."""
        self.run.finish(result.execution_status.value)

    def run_interrupted(self) -> None:
        """The run was cancelled (Ctrl-C, a stream's reader left): every component still in
        progress is recorded ``interrupted`` in one transaction, and so is the run; a resume
        (``danaflow resume RUN``) reuses what completed and runs those again."""
        run = self.run
        if not run.is_setup:
            return
        run_id, now, store = run.run_id, time.time(), run.store
        cut: list[ComponentRecord] = []
        for path, (seq, attempt, started) in self._started.items():
            row = store.get_component(run_id, path)
            fields = _record_fields(row) if row is not None else {"run_id": run_id, "path": path}
            fields.update(
                status="interrupted", seq=seq, attempt=attempt, started_at=started, finished_at=now,
                result=None, error="interrupted: the run was cancelled before this component finished",
            )  # fmt: skip
            cut.append(ComponentRecord(**fields))
        self._started.clear()
        store.put_components(cut)
        run.finish("interrupted")

    def end_span(self, status: str, error: BaseException | None) -> None:
        """Ends the run span and the telemetry binding (the run's ``finish`` calls this)."""
        telemetry = self.run.telemetry
        if telemetry is None:
            return
        if telemetry.tracer is not None:
            telemetry.tracer.end_run_span(status, error)
        if self._binding is not None:
            telemetry.unbind(self._binding)
            self._binding = None

    # ---- components ------------------------------------------------------------------------------
    def reuse(self, path: str) -> NodeExecutionResult | None:
        """The previous run's result for ``path`` (marked reused) when the resume plan allows it.

        The reused record and its descendants are copied into this run's store (one transaction)
        and run dir, so this run is complete on its own and can itself be resumed.
        """
        run = self.run
        plan = run.resume_plan
        if plan is None:
            return None
        if not plan.checked:
            plan.check_paths(self._component_paths, run.inputs)
        if plan.reusable(path) is None:
            return None
        if path in self._copied:
            return plan.result_for(path)
        run_id = run.run_id
        copies = [
            ComponentRecord(**{**_record_fields(r), "run_id": run_id, "seq": next(self._seq), "reused": True})
            for r in plan.subtree(path)
            if r.path not in self._copied
        ]
        self._copied.update(r.path for r in copies)
        run.store.put_components(copies)
        for r in copies:
            if r.result is not None:
                self._write_result(r.path, r.result)
        if run.telemetry is not None:
            for r in copies:
                run.telemetry.metrics.record_component(
                    ComponentMetric(r.path, r.kind or "component", r.status, 0.0, reused=True)
                )
        return plan.result_for(path)

    def component_started(self, path: str, ctx: ExecutionContext) -> None:
        seq = next(self._seq)
        started = time.time()
        attempt = self._attempts[path] = self._attempts.get(path, 0) + 1
        self.run.store.start_component(
            self.run.run_id, path, seq=seq, kind=ctx.executable_type.value, component_id=ctx.component_id,
            started_at=started, attempt=attempt,
        )  # fmt: skip
        self._started[path] = (seq, attempt, started)

    def component_finished(self, path: str, ctx: ExecutionContext, result: NodeExecutionResult) -> None:
        """Checkpoints one component: its store row in one transaction, and its ``result.json``
        as the ``result_files`` mode says (module docstring)."""
        run = self.run
        run_id = run.run_id
        finished = time.time()
        seq, attempt, started = self._started.pop(path, (None, 1, None))
        if seq is None:
            seq = next(self._seq)
        status = result.execution_status.value
        text = result.model_dump_json(fallback=repr)
        mode = run.result_files
        if mode == "sync":
            self._write_result(path, text)
        usage = result.usage
        kind = ctx.executable_type.value
        record = ComponentRecord(
            run_id=run_id,
            path=path,
            status=status,
            seq=seq,
            kind=kind,
            component_id=result.component_id or ctx.component_id,
            result=text,
            error=result.error.message if result.error is not None else None,
            started_at=started,
            finished_at=finished,
            attempt=attempt,
            reused=result.reused,
            prompt_tokens=usage.prompt_tokens if usage is not None else 0,
            completion_tokens=usage.completion_tokens if usage is not None else 0,
        )
        run.store.finish_component(record)
        if mode == "async":
            self._write_result(path, text)
        if run.telemetry is not None:
            run.telemetry.metrics.record_component(
                ComponentMetric(
                    path, kind, status, finished - started if started is not None else 0.0,
                    record.prompt_tokens, record.completion_tokens, reused=result.reused,
                )
            )  # fmt: skip
        if status == "failed":
            _log.warning("%s failed: %s", path, record.error, extra={"path": path, "run_id": run_id})
        if run.journal is not None:
            run.journal.flush()

    def span(self, kind: str, path: str, **attrs: Any) -> AbstractContextManager[Any]:
        telemetry = self.run.telemetry
        if telemetry is None:
            return nullcontext()
        return telemetry.span(kind, path, **attrs)

    def artifact_dir(self, path: str) -> Path | None:
        return self.run.directory().component_dir(path)

    # ---- result.json mirrors ---------------------------------------------------------------------
    def _write_result(self, path: str, text: str) -> None:
        run_dir, mode = self.run.run_dir, self.run.result_files
        if run_dir is None or mode == "off":
            return
        if mode == "sync":
            run_dir.write_result(path, text)
            return
        if self._writer is None:
            self._writer = BackgroundWriter()
        self._writer.submit(lambda: run_dir.write_result(path, text))

    def flush(self) -> None:
        """Waits for queued ``result.json`` writes (raising the first that failed)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


def _record_fields(record: ComponentRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
