"""IsolatedExecution: a run inside its own working dir, environment overlay and resources.

By default nothing process-wide changes: the working dir and the environment (``os.environ`` plus
the overlay) are handed to the run as ``run_context.working_dir`` / ``run_context.environ``, so
two isolated runs can execute concurrently in one process. ``chdir=True`` also switches the
process's cwd and ``os.environ`` for the block; since those are process-wide, such executions take
a process lock and run one at a time. On exit, resources given here are closed and telemetry is
flushed, also when the run raised.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from .context import RunContext

__all__ = ["IsolatedExecution"]

_PROCESS_LOCK = threading.Lock()
"""Held while an execution with ``chdir=True`` has changed the process's cwd and environment."""


class _Runner(Protocol):
    async def run(self) -> Any: ...


class IsolatedExecution:
    """``async with IsolatedExecution(run_context) as execution: await execution.run(runner)``."""

    def __init__(
        self,
        run_context: RunContext,
        *,
        working_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        resources: Mapping[str, Any] | None = None,
        chdir: bool = False,
        run_id_prefix: str = "run",
    ):
        self.run_context = run_context
        self._working_dir = Path(working_dir) if working_dir is not None else None
        self.env = dict(env or {})
        self.resources = dict(resources or {})
        self.chdir = chdir
        self.run_id_prefix = run_id_prefix
        self._saved_cwd: str | None = None
        self._saved_env: dict[str, str] | None = None
        self._binding: tuple[Any, Any] | None = None
        self.result: Any = None

    @property
    def working_dir(self) -> Path:
        assert self.run_context.working_dir is not None, "enter the IsolatedExecution first"
        return self.run_context.working_dir

    async def __aenter__(self) -> IsolatedExecution:
        rc = self.run_context
        rc.setup_run(self.run_id_prefix)
        assert rc.run_dir is not None
        working_dir = (self._working_dir or rc.run_dir.root / "workspace").resolve()
        working_dir.mkdir(parents=True, exist_ok=True)
        rc.working_dir = working_dir
        rc.environ = {**os.environ, **self.env}
        rc.system_state["__working_dir"] = str(working_dir)
        rc.resources.update(self.resources)
        if rc.telemetry is not None:
            self._binding = rc.telemetry.bind()
        if self.chdir:
            await asyncio.to_thread(_PROCESS_LOCK.acquire)
            self._saved_cwd = os.getcwd()
            self._saved_env = dict(os.environ)
            os.chdir(working_dir)
            os.environ.update(self.env)
        return self

    async def run(self, runner: _Runner) -> Any:
        """Awaits ``runner.run()`` (a FlowRunner or AgentRunner built on this run context)."""
        self.result = await runner.run()
        return self.result

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        rc = self.run_context
        try:
            if self.chdir and self._saved_cwd is not None:
                os.chdir(self._saved_cwd)
                assert self._saved_env is not None
                os.environ.clear()
                os.environ.update(self._saved_env)
                self._saved_cwd = self._saved_env = None
                _PROCESS_LOCK.release()
            for name, resource in self.resources.items():
                await _close(resource)
                if rc.resources.get(name) is resource:
                    del rc.resources[name]
        finally:
            if rc.telemetry is not None and self._binding is not None:
                rc.telemetry.unbind(self._binding)
                self._binding = None
            if rc.status == "running":
                rc.finish("failed", exc if isinstance(exc, BaseException) else None)
            if rc.telemetry is not None:
                rc.telemetry.shutdown()


async def _close(resource: Any) -> None:
    """Closes a resource that has ``aclose()`` or ``close()``; others are left alone."""
    closer = getattr(resource, "aclose", None) or getattr(resource, "close", None)
    if closer is None:
        return
    out = closer()
    if inspect.isawaitable(out):
        await out
