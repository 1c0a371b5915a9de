"""SQLiteRunStore: the run store in one SQLite file (``runs/danaflow.db``), WAL mode.

One connection under a lock serves every thread of a process; other processes are serialized by
``BEGIN IMMEDIATE`` and a busy timeout, which is also what makes a lease claim atomic across
processes on one host. The schema is versioned with ``PRAGMA user_version`` and migrated forward
on open; a file from a newer danaflow is refused rather than guessed at.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danaflow.errors import RunError

from ._sql import (
    CACHE_COLUMNS,
    COMPONENT_COLUMNS,
    RUN_COLUMNS,
    START_AT_ATTEMPT,
    UPDATABLE_RUN_FIELDS,
    cache_from_row,
    cache_params,
    component_from_row,
    component_params,
    run_from_row,
    run_params,
)
from .store_base import (
    CacheEntry,
    ComponentRecord,
    Lease,
    RunRecord,
    RunStore,
    check_attempt,
    check_lease_args,
    duplicate_run,
    missing_run,
)

if TYPE_CHECKING:
    import sqlite3

__all__ = ["SQLITE_SCHEMA_VERSION", "SQLiteRunStore"]

# Migration i (0-based) takes the file from user_version i to i + 1. Append, never edit.
_MIGRATIONS: tuple[str, ...] = (
    """
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
    """,
    """
    CREATE TABLE leases (
        run_id     TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        owner      TEXT NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (run_id, path)
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE cache (
        key        TEXT PRIMARY KEY,
        path       TEXT NOT NULL,
        run_id     TEXT NOT NULL,
        result     TEXT NOT NULL,
        created_at REAL NOT NULL,
        effects    TEXT
    ) WITHOUT ROWID;
    """,
)
SQLITE_SCHEMA_VERSION = len(_MIGRATIONS)
_PUT_CACHE = f"INSERT OR REPLACE INTO cache ({CACHE_COLUMNS}) VALUES (?,?,?,?,?,?)"


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
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise RunError(f"cannot open run store: {exc}", path=str(self.path)) from exc
            raise

    def _migrate(self) -> None:
        with self._transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SQLITE_SCHEMA_VERSION:
                raise RunError(
                    f"run store schema version {version} is newer than this danaflow's: "
                    f"want version {SQLITE_SCHEMA_VERSION} or older (upgrade danaflow)",
                    path=str(self.path),
                )
            for migration in _MIGRATIONS[version:]:
                for statement in filter(str.strip, migration.split(";")):
                    conn.execute(statement)
            if version < SQLITE_SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version={SQLITE_SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

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
                    f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    run_params(record),
                )
        except sqlite3.IntegrityError:
            raise duplicate_run(record.run_id) from None

    def update_run(self, run_id: str, *, status: str | None = None, **fields: Any) -> None:
        if status is not None:
            fields["status"] = status
        fields.setdefault("updated_at", time.time())
        unknown = set(fields) - UPDATABLE_RUN_FIELDS
        if unknown:
            raise RunError(f"cannot update run field {sorted(unknown)[0]!r}", path=run_id)
        if "meta" in fields:
            fields["meta"] = json.dumps(fields["meta"], default=str)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._transaction() as conn:
            sql = f"UPDATE runs SET {assignments} WHERE run_id = ?"
            cursor = conn.execute(sql, (*fields.values(), run_id))
            if cursor.rowcount == 0:
                raise missing_run(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._read(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        return run_from_row(rows[0]) if rows else None

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        sql = f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC, run_id DESC"
        rows = self._read(sql + " LIMIT ?", (limit,)) if limit is not None else self._read(sql)
        return [run_from_row(r) for r in rows]

    def delete_run(self, run_id: str) -> bool:
        with self._transaction() as conn:
            conn.execute("DELETE FROM leases WHERE run_id = ?", (run_id,))
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
        attempt: int | None = None,
    ) -> int:
        import sqlite3

        started = started_at if started_at is not None else time.time()
        if attempt is not None:
            check_attempt(path, attempt)
            try:
                with self._transaction() as conn:
                    conn.execute(
                        "INSERT INTO components (run_id, path, status, seq, kind, component_id, started_at, "
                        f"attempt) VALUES (?, ?, 'running', ?, ?, ?, ?, ?) {START_AT_ATTEMPT}",
                        (run_id, path, seq, kind, component_id, started, attempt),
                    )
            except sqlite3.IntegrityError:
                raise missing_run(run_id) from None
            return attempt
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
            raise missing_run(run_id) from None
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
                    f"INSERT OR REPLACE INTO components ({COMPONENT_COLUMNS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [component_params(r) for r in records],
                )
        except sqlite3.IntegrityError:
            raise missing_run(records[0].run_id) from None

    def get_component(self, run_id: str, path: str) -> ComponentRecord | None:
        rows = self._read(
            f"SELECT {COMPONENT_COLUMNS} FROM components WHERE run_id = ? AND path = ?", (run_id, path)
        )
        return component_from_row(rows[0]) if rows else None

    def list_components(self, run_id: str) -> list[ComponentRecord]:
        rows = self._read(
            f"SELECT {COMPONENT_COLUMNS} FROM components WHERE run_id = ? ORDER BY seq, path", (run_id,)
        )
        return [component_from_row(r) for r in rows]

    # ---- leases ----------------------------------------------------------------------------------
    def claim_component(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        import sqlite3

        check_lease_args(path, owner, ttl_s)
        try:
            # BEGIN IMMEDIATE holds the file's write lock from the check to the upsert, so two
            # processes claiming the same component are serialized and exactly one wins.
            with self._transaction() as conn:
                done = conn.execute(
                    "SELECT 1 FROM components WHERE run_id = ? AND path = ? AND status <> 'running'",
                    (run_id, path),
                ).fetchone()
                if done is not None:
                    return False
                now = time.time()
                row = conn.execute(
                    "INSERT INTO leases (run_id, path, owner, expires_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(run_id, path) DO UPDATE SET owner = excluded.owner, "
                    "expires_at = excluded.expires_at "
                    "WHERE leases.owner = excluded.owner OR leases.expires_at <= ? RETURNING 1",
                    (run_id, path, owner, now + ttl_s, now),
                ).fetchone()
        except sqlite3.IntegrityError:
            raise missing_run(run_id) from None
        return row is not None

    def renew_lease(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        check_lease_args(path, owner, ttl_s)
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE leases SET expires_at = ? WHERE run_id = ? AND path = ? AND owner = ?",
                (time.time() + ttl_s, run_id, path, owner),
            )
            return cursor.rowcount > 0

    def release(self, run_id: str, path: str, owner: str) -> bool:
        check_lease_args(path, owner)
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM leases WHERE run_id = ? AND path = ? AND owner = ?", (run_id, path, owner)
            )
            return cursor.rowcount > 0

    def get_lease(self, run_id: str, path: str) -> Lease | None:
        rows = self._read(
            "SELECT run_id, path, owner, expires_at FROM leases WHERE run_id = ? AND path = ?", (run_id, path)
        )
        return Lease(*rows[0]) if rows else None

    # ---- result cache ----------------------------------------------------------------------------
    def cache_get(self, key: str) -> CacheEntry | None:
        rows = self._read(f"SELECT {CACHE_COLUMNS} FROM cache WHERE key = ?", (key,))
        return cache_from_row(rows[0]) if rows else None

    def cache_put(self, entry: CacheEntry) -> None:
        with self._transaction() as conn:
            conn.execute(_PUT_CACHE, cache_params(entry))

    def cache_clear(self, path: str | None = None) -> int:
        with self._transaction() as conn:
            if path is None:
                return conn.execute("DELETE FROM cache").rowcount
            sql = "DELETE FROM cache WHERE path = ? OR substr(path, 1, ?) = ?"
            return conn.execute(sql, (path, len(path) + 1, path + ".")).rowcount

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"SQLiteRunStore({str(self.path)!r})"


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
