"""Actions: resume a run (from a component, or with the input it waits for) from the browser.

A resume is ``danaflow resume``'s own function (``resume_run``), called on a worker thread with
the viewer's store spec, so the viewer resumes exactly as the CLI does, on SQLite or PostgreSQL.
The page needs the new run's id at once, to follow it live, while ``resume_run`` returns only
when the run ends; so the action watches the store for the run that names the resumed one as its
previous run and was made by this process, or for the resume to fail first (an unknown path, a
target that no longer imports), whose message goes on the page. Resumes of one run start one at
a time, so two clicks never mistake each other's new runs.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any

from danaflow.errors import DanaflowError, RunError
from danaflow.runs.cli_commands import resume_run
from danaflow.runs.store import RunStore

__all__ = ["Actions"]

START_TIMEOUT_S = 60.0
"""How long an action waits for the resumed run to be created (loading the target included)."""
_WATCH_S = 0.02
_RECENT = 50


class Actions:
    """Starts resumes of runs in ``store`` (the viewer's own connection) through ``store_spec``
    (None: the run root's configured store, as the CLI picks it)."""

    def __init__(self, run_root: Path, store: RunStore, store_spec: str | None = None):
        self.run_root = Path(run_root)
        self.store = store
        self.store_spec = store_spec
        self._threads: list[threading.Thread] = []
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, run_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(run_id, threading.Lock())

    def _resumes_of(self, run_id: str) -> set[str]:
        pid = os.getpid()
        return {
            r.run_id
            for r in self.store.list_runs(limit=_RECENT)
            if r.previous_run_id == run_id and r.pid == pid
        }

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
        finished = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                resume_run(
                    run_id,
                    from_path=from_path,
                    inputs=inputs,
                    run_root=self.run_root,
                    progress=False,
                    out=io.StringIO(),
                    store=self.store_spec,
                )
            except BaseException as exc:  # handed to the waiting action, which raises it
                failure.append(exc)
            finally:
                finished.set()

        with self._lock(run_id):
            before = self._resumes_of(run_id)
            thread = threading.Thread(target=work, name=f"danaflow-ui-resume-{run_id}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
            deadline = time.monotonic() + timeout
            while True:
                done = finished.wait(_WATCH_S)
                new = self._resumes_of(run_id) - before
                if new:
                    return min(new)
                if done:
                    break
                if time.monotonic() > deadline:
                    raise RunError(f"the resume of {run_id} did not start within {timeout:.0f}s", path=run_id)
        error = failure[0] if failure else None
        if isinstance(error, DanaflowError):
            raise error
        raise RunError(f"the resume of {run_id} made no run: {type(error).__name__}: {error}", path=run_id)

    def join(self, timeout: float | None = None) -> None:
        """Waits for the resumes this viewer started (tests, and a clean shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)
