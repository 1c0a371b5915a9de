"""The run directory: ``runs/<run_id>/`` with ``run.json``, one folder per component, and logs.

Layout (DESIGN §5)::

    runs/<run_id>/
        run.json              the run record (ids, status, code fingerprint, inputs hash, settings)
        static_inputs.json    inputs given up front, by component path
        <agent.flow.node>/    one folder per component path: result.json + the node's artifacts
        custom-artifacts/     files user code saves by name
        trace.jsonl  events.jsonl  logs.jsonl  metrics.jsonl

Every file here is written whole to a temporary name and renamed into place, so a reader (or a
resume after ``kill -9``) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from danaflow.errors import RunError

__all__ = [
    "ArtifactManager",
    "BackgroundWriter",
    "RunDirectory",
    "atomic_write_bytes",
    "atomic_write_text",
    "component_dirname",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Writes ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    ``fsync`` also forces the bytes to disk before the rename (power-loss safety at ~ms a call);
    without it the write survives a process crash, which is what resume needs.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str, *, fsync: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def component_dirname(path: str) -> str:
    """The folder name of a component path: the dotted path itself, with unsafe characters as ``_``."""
    if not path or path in (".", ".."):
        raise RunError(f"bad component path {path!r}: want a dotted path like 'agent.flow.node'")
    return _UNSAFE.sub("_", path)


class RunDirectory:
    """The files of one run under ``run_root/<run_id>``."""

    RUN_FILE = "run.json"
    RESULT_FILE = "result.json"
    STATIC_INPUTS_FILE = "static_inputs.json"
    CUSTOM_ARTIFACTS = "custom-artifacts"

    def __init__(self, run_root: Path, run_id: str, *, fsync: bool = False):
        self.run_root = Path(run_root)
        self.run_id = run_id
        self.root = self.run_root / run_id
        self.fsync = fsync
        self._made: set[str] = set()
        self._made_lock = threading.Lock()

    def create(self) -> RunDirectory:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / self.CUSTOM_ARTIFACTS).mkdir(exist_ok=True)
        return self

    @property
    def exists(self) -> bool:
        return self.root.is_dir()

    @property
    def custom_artifacts(self) -> Path:
        return self.root / self.CUSTOM_ARTIFACTS

    def component_dir(self, path: str, *, create: bool = True) -> Path:
        """The folder of the component at ``path`` (created on first use)."""
        name = component_dirname(path)
        folder = self.root / name
        if create and name not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            with self._made_lock:
                self._made.add(name)
        return folder

    def write_json(self, name: str, data: Any) -> Path:
        target = self.root / name
        atomic_write_text(target, json.dumps(data, indent=2, default=str) + "\n", fsync=self.fsync)
        return target

    def read_json(self, name: str) -> Any:
        try:
            return json.loads((self.root / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{name} missing in {self.root}: want a run directory", path=self.run_id) from None

    def write_result(self, path: str, result_json: str) -> Path:
        """Writes a component's ``result.json`` (the same JSON text the store row holds)."""
        target = self.component_dir(path) / self.RESULT_FILE
        atomic_write_text(target, result_json, fsync=self.fsync)
        return target

    def read_result(self, path: str) -> str | None:
        try:
            return (self.component_dir(path, create=False) / self.RESULT_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def stray_temp_files(self) -> list[Path]:
        """Temporary files left by a write that a crash interrupted (never read as results)."""
        return sorted(self.root.rglob(".*.tmp"))


class BackgroundWriter:
    """Writes run-dir files on a worker thread, so a node's checkpoint does not wait on the disk.

    Creating a folder and a file costs a few hundred microseconds each on a journaled disk, more
    than everything else a checkpoint does; the store row is already the durable record, so the
    ``result.json`` mirror can trail it. ``flush()`` waits for every queued write and raises the
    first failure (never dropped). After a ``kill -9`` the last few mirrors may be missing, never
    torn (each is still a temp file + rename); resume rewrites the ones it reuses.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, name="danaflow-run-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                job()
            except BaseException as exc:  # kept and raised by flush(); a writer must not die silently
                self._errors.append(exc)
            finally:
                self._queue.task_done()

    def submit(self, job: Callable[[], object]) -> None:
        self._queue.put(job)

    def flush(self) -> None:
        self._queue.join()
        if self._errors:
            first = self._errors[0]
            self._errors.clear()
            raise RunError(f"writing the run directory failed: {first}") from first

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._errors:
            self.flush()


class ArtifactManager:
    """What nodes use to save files: per-component artifacts and the run's ``custom-artifacts/``.

    Names are single file names (no folders, no ``..``), so a node cannot write outside its folder.
    """

    def __init__(self, run_dir: RunDirectory):
        self.run_dir = run_dir

    @staticmethod
    def _check(name: str) -> str:
        if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith(".tmp"):
            raise RunError(f"bad artifact name {name!r}: want a plain file name")
        return name

    def save(self, path: str, name: str, data: str | bytes | Any) -> Path:
        """Saves an artifact of the component at ``path``; non-bytes, non-str data is stored as JSON."""
        target = self.run_dir.component_dir(path) / self._check(name)
        atomic_write_bytes(target, _to_bytes(data), fsync=self.run_dir.fsync)
        return target

    def save_custom(self, name: str, data: str | bytes | Any) -> Path:
        """Saves a file in the run's ``custom-artifacts/`` folder."""
        folder = self.run_dir.custom_artifacts
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / self._check(name)
        atomic_write_bytes(target, _to_bytes(data), fsync=self.run_dir.fsync)
        return target

    def load(self, path: str, name: str) -> bytes:
        try:
            return (self.run_dir.component_dir(path, create=False) / self._check(name)).read_bytes()
        except FileNotFoundError:
            raise RunError(f"no artifact {name!r}: want one the component saved", path=path) from None


def _to_bytes(data: str | bytes | Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return (json.dumps(data, indent=2, default=str) + "\n").encode("utf-8")
