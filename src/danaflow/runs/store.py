"""RunStore: the durable index of runs and of each component's result, in memory or in SQLite.

The store is the source of truth for resume: a component counts as done when its row says so, and
each row is written in one transaction, so a ``kill -9`` leaves either the old row or the new one.
A checkpoint is one component's result (a delta); nothing ever rewrites a run's whole state.
Files in the run dir (``run/artifacts.py``) are for people and tools, written before the row.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danaflow.errors import RunError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["ComponentRecord", "MemoryRunStore", "RunRecord", "RunStore", "SQLiteRunStore", "open_store"]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run: what ran, from which code and inputs, and where it stands."""

    run_id: str
    root_component_id: str
    status: str
    """``running``, ``completed``, ``failed`` or ``waiting_input``."""
    created_at: float
    updated_at: float
    code_fingerprint: str | None = None
    """A hash of the code that defined the run (the target's source files, its component paths)."""
    inputs_hash: str | None = None
    """A hash of the canonical JSON of the run's inputs (static inputs, node inputs, initial state)."""
    previous_run_id: str | None = None
    """The run this one resumed, if any."""
    start_path: str | None = None
    """The ``start_hierarchy_path`` of a resume."""
    run_dir: str | None = None
    pid: int | None = None
    """The process that ran it; a ``running`` run whose process is gone was interrupted."""
    host: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComponentRecord:
    """One component of one run: its latest status and, once final, its result as JSON text."""

    run_id: str
    path: str
    status: str
    seq: int = 0
    """Start order within the run; resume-from-path reuses what started before the path."""
    kind: str | None = None
    component_id: str | None = None
    result: str | None = None
    """``NodeExecutionResult`` as JSON (``model_dump_json``), or None while it runs."""
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    attempt: int = 1
    reused: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class RunStore(ABC):
    """The store interface; both implementations pass the same tests (tests/runs/test_store.py)."""

    @abstractmethod
    def create_run(self, record: RunRecord) -> None:
        """Adds a run; RunError if the id exists."""

    @abstractmethod
    def update_run(self, run_id: str, *, status: str | None = None, **fields: Any) -> None:
        """Updates a run's status and other columns (``meta`` replaces the whole dict)."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""

    @abstractmethod
    def delete_run(self, run_id: str) -> bool:
        """Removes a run and its components; False if there was no such run."""

    @abstractmethod
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
        """Marks a component running (one transaction); returns its attempt number in this run."""

    @abstractmethod
    def finish_component(self, record: ComponentRecord) -> None:
        """Checkpoints one component's final (or waiting_input) record in one transaction."""

    @abstractmethod
    def put_components(self, records: Sequence[ComponentRecord]) -> None:
        """Writes several records in one transaction (reused subtrees copied into a resumed run)."""

    @abstractmethod
    def get_component(self, run_id: str, path: str) -> ComponentRecord | None: ...

    @abstractmethod
    def list_components(self, run_id: str) -> list[ComponentRecord]:
        """A run's components in start order."""

    def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing open
        """Releases connections; the store is unusable afterwards."""

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _missing_run(run_id: str) -> RunError:
    return RunError(f"unknown run {run_id!r}: want the id of a run in this store", path=run_id)


def _duplicate_run(run_id: str) -> RunError:
    return RunError(f"run {run_id!r} already exists: want a new run id", path=run_id)


class MemoryRunStore(RunStore):
    """A store in dicts, for tests and runs that keep nothing; same semantics as SQLite."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._components: dict[str, dict[str, ComponentRecord]] = {}

    def create_run(self, record: RunRecord) -> None:
        with self._lock:
            if record.run_id in self._runs:
                raise _duplicate_run(record.run_id)
            self._runs[record.run_id] = replace(record, meta=dict(record.meta))
            self._components[record.run_id] = {}

    def update_run(self, run_id: str, *, status: str | None = None, **fields: Any) -> None:
        with self._lock:
            current = self._runs.get(run_id)
            if current is None:
                raise _missing_run(run_id)
            if status is not None:
                fields["status"] = status
            fields.setdefault("updated_at", time.time())
            self._runs[run_id] = replace(current, **fields)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: (r.created_at, r.run_id), reverse=True)
        return runs[:limit] if limit is not None else runs

    def delete_run(self, run_id: str) -> bool:
        with self._lock:
            self._components.pop(run_id, None)
            return self._runs.pop(run_id, None) is not None

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
        with self._lock:
            rows = self._components.get(run_id)
            if rows is None:
                raise _missing_run(run_id)
            previous = rows.get(path)
            attempt = previous.attempt + 1 if previous is not None else 1
            rows[path] = ComponentRecord(
                run_id=run_id,
                path=path,
                status="running",
                seq=seq,
                kind=kind,
                component_id=component_id,
                started_at=started_at if started_at is not None else time.time(),
                attempt=attempt,
            )
            return attempt

    def finish_component(self, record: ComponentRecord) -> None:
        self.put_components([record])

    def put_components(self, records: Sequence[ComponentRecord]) -> None:
        with self._lock:
            for record in records:
                rows = self._components.get(record.run_id)
                if rows is None:
                    raise _missing_run(record.run_id)
            for record in records:
                self._components[record.run_id][record.path] = record

    def get_component(self, run_id: str, path: str) -> ComponentRecord | None:
        with self._lock:
            return self._components.get(run_id, {}).get(path)

    def list_components(self, run_id: str) -> list[ComponentRecord]:
        with self._lock:
            rows = list(self._components.get(run_id, {}).values())
        return sorted(rows, key=lambda r: (r.seq, r.path))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id            TEXT PRIMARY KEY,
    root_component_id TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    code_fingerprint  TEXT,
    inputs_hash       TEXT,
    previous_run_id   TEXT,
    start_path        TEXT,
    run_dir           TEXT,
    pid               INTEGER,
    host              TEXT,
    meta              TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS components (
    run_id            TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    path              TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    kind              TEXT,
    component_id      TEXT,
    status            TEXT NOT NULL,
    result            TEXT,
    error             TEXT,
    started_at        REAL,
    finished_at       REAL,
    attempt           INTEGER NOT NULL DEFAULT 1,
    reused            INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_at);
"""

_RUN_COLUMNS = (
    "run_id, root_component_id, status, created_at, updated_at, code_fingerprint, inputs_hash, "
    "previous_run_id, start_path, run_dir, pid, host, meta"
)
_COMPONENT_COLUMNS = (
    "run_id, path, status, seq, kind, component_id, result, error, started_at, finished_at, "
    "attempt, reused, prompt_tokens, completion_tokens"
)
_UPDATABLE_RUN_FIELDS = frozenset(
    {"status", "updated_at", "code_fingerprint", "inputs_hash", "run_dir", "pid", "host", "meta"}
)


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(*row[:12], meta=json.loads(row[12] or "{}"))


def _component_from_row(row: tuple[Any, ...]) -> ComponentRecord:
    values = list(row)
    values[11] = bool(values[11])
    return ComponentRecord(*values)


def _run_params(r: RunRecord) -> tuple[Any, ...]:
    return (
        r.run_id, r.root_component_id, r.status, r.created_at, r.updated_at, r.code_fingerprint,
        r.inputs_hash, r.previous_run_id, r.start_path, r.run_dir, r.pid, r.host,
        json.dumps(r.meta, default=str),
    )  # fmt: skip


def _component_params(r: ComponentRecord) -> tuple[Any, ...]:
    return (
        r.run_id, r.path, r.status, r.seq, r.kind, r.component_id, r.result, r.error,
        r.started_at, r.finished_at, r.attempt, int(r.reused), r.prompt_tokens, r.completion_tokens,
    )  # fmt: skip


class SQLiteRunStore(RunStore):
    """The store in one SQLite file (``runs/danaflow.db``), in WAL mode.

    One connection guarded by a lock serves every thread of the process: parallel nodes checkpoint
    one after another (each write is tens of microseconds), and ``BEGIN IMMEDIATE`` plus a busy
    timeout serializes writers from other processes (``danaflow runs rm`` during a run).
    ``synchronous=NORMAL`` survives a process crash (``kill -9``) with every committed row; a power
    loss may drop the last few commits but never corrupts the file. Pass ``synchronous="FULL"``
    to fsync every checkpoint.
    """

    def __init__(self, path: Path | str, *, synchronous: str = "NORMAL", timeout: float = 30.0):
        import sqlite3

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise RunError(f"bad synchronous mode {synchronous!r}: want NORMAL or FULL", path=str(path))
        self._lock = threading.RLock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            raise RunError(f"cannot open run store: {exc}", path=str(self.path)) from exc

    def _init_schema(self) -> None:
        conn = self._connection()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute("PRAGMA user_version=1")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RunError("the run store is closed: want an open store", path=str(self.path))
        return self._conn

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection().execute(sql, tuple(params)).fetchall()

    def create_run(self, record: RunRecord) -> None:
        import sqlite3

        try:
            with self._transaction() as conn:
                conn.execute(
                    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    _run_params(record),
                )
        except sqlite3.IntegrityError:
            raise _duplicate_run(record.run_id) from None

    def update_run(self, run_id: str, *, status: str | None = None, **fields: Any) -> None:
        if status is not None:
            fields["status"] = status
        fields.setdefault("updated_at", time.time())
        unknown = set(fields) - _UPDATABLE_RUN_FIELDS
        if unknown:
            raise RunError(f"cannot update run field {sorted(unknown)[0]!r}", path=run_id)
        if "meta" in fields:
            fields["meta"] = json.dumps(fields["meta"], default=str)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._transaction() as conn:
            sql = f"UPDATE runs SET {assignments} WHERE run_id = ?"
            cursor = conn.execute(sql, (*fields.values(), run_id))
            if cursor.rowcount == 0:
                raise _missing_run(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        sql = f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC, run_id DESC"
        rows = self._read(sql + " LIMIT ?", (limit,)) if limit is not None else self._read(sql)
        return [_run_from_row(r) for r in rows]

    def delete_run(self, run_id: str) -> bool:
        with self._transaction() as conn:
            conn.execute("DELETE FROM components WHERE run_id = ?", (run_id,))
            return conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,)).rowcount > 0

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
        import sqlite3

        started = started_at if started_at is not None else time.time()
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "INSERT INTO components (run_id, path, status, seq, kind, component_id, started_at) "
                    "VALUES (?, ?, 'running', ?, ?, ?, ?) "
                    "ON CONFLICT(run_id, path) DO UPDATE SET status = 'running', seq = excluded.seq, "
                    "started_at = excluded.started_at, finished_at = NULL, result = NULL, error = NULL, "
                    "attempt = attempt + 1, reused = 0 RETURNING attempt",
                    (run_id, path, seq, kind, component_id, started),
                ).fetchone()
        except sqlite3.IntegrityError:
            raise _missing_run(run_id) from None
        return int(row[0])

    def finish_component(self, record: ComponentRecord) -> None:
        self.put_components([record])

    def put_components(self, records: Sequence[ComponentRecord]) -> None:
        import sqlite3

        if not records:
            return
        try:
            with self._transaction() as conn:
                conn.executemany(
                    f"INSERT OR REPLACE INTO components ({_COMPONENT_COLUMNS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [_component_params(r) for r in records],
                )
        except sqlite3.IntegrityError:
            raise _missing_run(records[0].run_id) from None

    def get_component(self, run_id: str, path: str) -> ComponentRecord | None:
        rows = self._read(
            f"SELECT {_COMPONENT_COLUMNS} FROM components WHERE run_id = ? AND path = ?", (run_id, path)
        )
        return _component_from_row(rows[0]) if rows else None

    def list_components(self, run_id: str) -> list[ComponentRecord]:
        rows = self._read(
            f"SELECT {_COMPONENT_COLUMNS} FROM components WHERE run_id = ? ORDER BY seq, path", (run_id,)
        )
        return [_component_from_row(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class _Transaction:
    """``with store._transaction() as conn:`` — BEGIN IMMEDIATE … COMMIT under the store's lock."""

    def __init__(self, store: SQLiteRunStore):
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._store._lock.acquire()
        try:
            conn = self._store._connection()
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._store._lock.release()
            raise
        self._conn = conn
        return conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            self._store._lock.release()


def open_store(run_root: Path | None, *, synchronous: str = "NORMAL") -> RunStore:
    """The SQLite store at ``run_root/danaflow.db``, or a memory store when ``run_root`` is None."""
    if run_root is None:
        return MemoryRunStore()
    return SQLiteRunStore(Path(run_root) / "danaflow.db", synchronous=synchronous)
