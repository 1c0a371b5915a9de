"""Actions: resume a run (from a component, or with the input it waits for) from the browser.

A resume is ``danaflow resume``'s own function (``resume_run``), called on a worker thread, so the
viewer resumes exactly as the CLI does. The page needs the new run's id at once, to follow it
live, and ``resume_run`` only returns when the run ends; so the store it runs on is wrapped in
one that announces ``create_run``. The action waits for that announcement, or for the resume
to fail first (an unknown path, a target that no longer imports), whose message goes on the page.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from danaflow.errors import DanaflowError, RunError
from danaflow.runs.cli_commands import resume_run
from danaflow.runs.store import ComponentRecord, RunRecord, RunStore

__all__ = ["Actions", "AnnouncingStore"]

START_TIMEOUT_S = 60.0
"""How long an action waits for the resumed run to be created (loading the target included)."""


class AnnouncingStore(RunStore):
    """A RunStore that forwards everything to ``inner`` and calls ``on_create(run_id)`` after a
    run is created. It owns ``inner`` and closes it."""

    def __init__(self, inner: RunStore, on_create: Callable[[str], None]):
        self.inner = inner
        self.on_create = on_create

    def create_run(self, record: RunRecord) -> None:
        self.inner.create_run(record)
        self.on_create(record.run_id)

    def update_run(self, run_id: str, *, status: str | None = None, **fields: Any) -> None:
        self.inner.update_run(run_id, status=status, **fields)

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.inner.get_run(run_id)

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        return self.inner.list_runs(limit)

    def delete_run(self, run_id: str) -> bool:
        return self.inner.delete_run(run_id)

    def start_component(
        self,
        run_id: str,
        path: str,
        *,
        seq: int,
        kind: str | None = None,
        component_id: str | None = None,
        started_at: float | None = None,
    ) -> int:
        return self.inner.start_component(
            run_id, path, seq=seq, kind=kind, component_id=component_id, started_at=started_at
        )

    def finish_component(self, record: ComponentRecord) -> None:
        self.inner.finish_component(record)

    def put_components(self, records: Sequence[ComponentRecord]) -> None:
        self.inner.put_components(records)

    def get_component(self, run_id: str, path: str) -> ComponentRecord | None:
        return self.inner.get_component(run_id, path)

    def list_components(self, run_id: str) -> list[ComponentRecord]:
        return self.inner.list_components(run_id)

    def close(self) -> None:
        self.inner.close()


class _Start:
    """The rendezvous between the action and its worker thread."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.run_id: str | None = None
        self.error: BaseException | None = None

    def created(self, run_id: str) -> None:
        if self.run_id is None:
            self.run_id = run_id
            self.ready.set()


class Actions:
    """Starts resumes. ``open_store()`` gives each resumed run its own store connection."""

    def __init__(self, run_root: Path, open_store: Callable[[], RunStore]):
        self.run_root = Path(run_root)
        self.open_store = open_store
        self._threads: list[threading.Thread] = []

    def resume(
        self,
        run_id: str,
        *,
        from_path: str | None = None,
        inputs: dict[str, Any] | None = None,
        timeout: float = START_TIMEOUT_S,
    ) -> str:
        """Starts a resume of ``run_id``; returns the new run's id once it exists, or raises the
        RunError (or other DanaflowError) that stopped it from starting."""
        start = _Start()
        store = AnnouncingStore(self.open_store(), start.created)

        def work() -> None:
            try:
                resume_run(
                    run_id,
                    from_path=from_path,
                    inputs=inputs,
                    run_root=self.run_root,
                    progress=False,
                    out=io.StringIO(),
                    store=store,
                )
            except BaseException as exc:  # handed to the waiting action, which raises it
                start.error = exc
            finally:
                store.close()
                start.ready.set()

        thread = threading.Thread(target=work, name=f"danaflow-ui-resume-{run_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        if not start.ready.wait(timeout):
            raise RunError(f"the resume of {run_id} did not start within {timeout:.0f}s", path=run_id)
        if start.run_id is not None:
            return start.run_id
        error = start.error
        if isinstance(error, DanaflowError):
            raise error
        raise RunError(
            f"the resume of {run_id} failed: {type(error).__name__}: {error}", path=run_id
        ) from error

    def join(self, timeout: float | None = None) -> None:
        """Waits for the resumes this viewer started (tests, and a clean shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)
