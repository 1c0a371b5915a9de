"""PostgresRunStore: the run store in PostgreSQL, shared by every process and host of a deployment.

It exists for runs that outgrow one machine: several workers (or a coordinator and the process
that resumes it after a crash) read and write one store, and leases keep each component to one
runner. Connections come from a psycopg 3 pool; each checkpoint is one round trip, committed on
its own. A start whose caller names its attempt is held back and rides with the next write
(usually that component's finish, which supersedes it), or goes out on its own within
``start_delay_s``; a component therefore costs one round trip, not two. The tables live in their
own schema (``danaflow`` unless the URL says ``?schema=NAME``), versioned by a ``schema_version``
table and migrated forward on open under an advisory lock, so two processes opening a new
database at once do not race.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

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
    redact_url,
)

__all__ = ["POSTGRES_SCHEMA_VERSION", "PostgresRunStore"]

DEFAULT_SCHEMA = "danaflow"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SYNCHRONOUS = {"NORMAL": "off", "FULL": "on"}

# Migration i (0-based) takes the schema from version i to i + 1. Append, never edit. The
# versions match SQLite's: the same version means the same tables in both.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        run_id            TEXT PRIMARY KEY,
        root_component_id TEXT NOT NULL,
        status            TEXT NOT NULL,
        created_at        DOUBLE PRECISION NOT NULL,
        updated_at        DOUBLE PRECISION NOT NULL,
        code_fingerprint  TEXT,
        inputs_hash       TEXT,
        previous_run_id   TEXT,
        start_path        TEXT,
        run_dir           TEXT,
        pid               INTEGER,
        host              TEXT,
        meta              TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE components (
        run_id            TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        path              TEXT NOT NULL,
        seq               INTEGER NOT NULL,
        kind              TEXT,
        component_id      TEXT,
        status            TEXT NOT NULL,
        result            TEXT,
        error             TEXT,
        started_at        DOUBLE PRECISION,
        finished_at       DOUBLE PRECISION,
        attempt           INTEGER NOT NULL DEFAULT 1,
        reused            BOOLEAN NOT NULL DEFAULT FALSE,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, path)
    );
    CREATE INDEX runs_by_created ON runs (created_at);
    """,
    """
    CREATE TABLE leases (
        run_id     TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        owner      TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, path)
    );
    """,
    """
    CREATE TABLE cache (
        key        TEXT PRIMARY KEY,
        path       TEXT NOT NULL,
        run_id     TEXT NOT NULL,
        result     TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        effects    TEXT
    );
    """,
)
POSTGRES_SCHEMA_VERSION = len(_MIGRATIONS)

_NOW = "extract(epoch FROM clock_timestamp())"
_INSERT_COMPONENT = (
    f"INSERT INTO components ({COMPONENT_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (run_id, path) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COMPONENT_COLUMNS.split(", ")[2:])
)
_SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs"
_START_AT_ATTEMPT = (
    "INSERT INTO components (run_id, path, status, seq, kind, component_id, started_at, attempt) "
    f"VALUES (%s, %s, 'running', %s, %s, %s, %s, %s) {START_AT_ATTEMPT}"
)
_PUT_CACHE = (
    f"INSERT INTO cache ({CACHE_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in CACHE_COLUMNS.split(", ")[1:])
)


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL without danaflow's own query parameters (``schema``, ``synchronous``), and those."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise RunError(f"bad PostgreSQL URL {redact_url(url)!r}: want postgresql://user@host/db", path=url)
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("schema", "synchronous"):
            ours[key] = value
        else:
            theirs.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; an error message quoting hostile tool output may."""
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


def _component_params(record: ComponentRecord) -> tuple[Any, ...]:
    params = list(component_params(record))
    params[6], params[7], params[11] = _text(record.result), _text(record.error), record.reused
    return tuple(params)


class PostgresRunStore(RunStore):
    """The store in a PostgreSQL database: ``PostgresRunStore("postgresql://user@host/db")``.

    ``schema`` (or ``?schema=`` in the URL) names the schema that holds the tables, created when
    missing. ``synchronous="NORMAL"`` (the default, as for SQLite) commits with
    ``synchronous_commit=off``: a client crash (``kill -9``) loses no committed row, a crash of
    the database server may drop the last few hundred milliseconds of commits, never corrupting
    anything; ``"FULL"`` (or ``?synchronous=FULL``) waits for the server's WAL flush on every
    checkpoint. Lease expiry is measured on the database server's clock, so hosts with skewed
    clocks still agree on it.

    ``start_delay_s`` bounds how long a start passed its ``attempt`` may wait for a write to ride
    with before a background thread sends it; reads through this store send any first, so it
    always reads back what it started.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        synchronous: str | None = None,
        min_size: int = 1,
        max_size: int = 8,
        connect_timeout: float = 10.0,
        start_delay_s: float = 0.1,
    ):
        conninfo, options = _split_url(url)
        self.url = redact_url(url)
        self.schema = schema or options.get("schema") or DEFAULT_SCHEMA
        if not _IDENTIFIER.fullmatch(self.schema):
            want = "want a PostgreSQL identifier (letters, digits, _)"
            raise RunError(f"bad schema {self.schema!r}: {want}", path=self.url)
        mode = (synchronous or options.get("synchronous") or "NORMAL").upper()
        if mode not in _SYNCHRONOUS:
            raise RunError(f"bad synchronous mode {mode!r}: want NORMAL or FULL", path=self.url)
        self.synchronous = mode
        self._setup = sql.SQL("SET search_path TO {}; SET synchronous_commit TO {}").format(
            sql.Identifier(self.schema), sql.SQL(_SYNCHRONOUS[mode])
        )
        self._lock = threading.Lock()
        self._lane_lock = threading.Lock()
        self._lane: psycopg.Connection[Any] | None = None
        self.start_delay_s = start_delay_s
        self._held: dict[tuple[str, str], tuple[Any, ...]] = {}
        """Starts not sent yet: (run_id, path) -> the parameters of ``_START_AT_ATTEMPT``."""
        self._held_lock = threading.Lock()
        self._held_error: RunError | None = None
        """Why held starts sent on their own failed; the next checkpoint call raises it."""
        self._closing = threading.Event()
        self._sender: threading.Thread | None = None
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=int(connect_timeout)) as conn:
                self._configure(conn)
                self._migrate(conn)
        except psycopg.Error as exc:
            raise RunError(f"cannot open run store {self.url}: {_message(exc)}", path=self.url) from exc
        self._pool: ConnectionPool | None = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name="danaflow-store",
            timeout=connect_timeout,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except psycopg.Error as exc:
            self._pool.close()
            raise RunError(f"cannot open run store {self.url}: {_message(exc)}", path=self.url) from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(self._setup)

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"danaflow.schema:{self.schema}",))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            version = row[0] if row is not None and row[0] is not None else 0
            if version > POSTGRES_SCHEMA_VERSION:
                raise RunError(
                    f"run store schema version {version} is newer than this danaflow's: "
                    f"want version {POSTGRES_SCHEMA_VERSION} or older (upgrade danaflow)",
                    path=f"{self.url} schema {self.schema}",
                )
            for migration in _MIGRATIONS[version:]:
                conn.execute(migration)
            if version < POSTGRES_SCHEMA_VERSION:
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version VALUES (%s)", (POSTGRES_SCHEMA_VERSION,))

    @property
    def schema_version(self) -> int:
        with self._connection() as conn:
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    @contextmanager
    def _connection(self, *, send_held: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; database errors become RunErrors naming the store (integrity
        errors pass through for the caller to name the run).

        Checkpoints come one after another from the runner's thread, so one connection (the
        lane) is kept out of the pool for whoever finds it free: that skips the pool's check-out
        and check-in, a fifth of a checkpoint's cost. Concurrent callers use the pool. Held
        starts go out first (``send_held``), unless the caller sends them with its own write.
        """
        pool = self._pool
        if pool is None:
            raise RunError("the run store is closed: want an open store", path=self.url)
        try:
            if self._lane_lock.acquire(blocking=False):
                try:
                    lane = self._lane
                    if lane is None or lane.broken or lane.closed:
                        self._lane = None
                        if lane is not None:
                            pool.putconn(lane)  # the pool discards a broken connection
                        lane = self._lane = pool.getconn()
                    if send_held:
                        self._send_held(lane)
                    yield lane
                finally:
                    self._lane_lock.release()
            else:
                with pool.connection() as conn:
                    if send_held:
                        self._send_held(conn)
                    yield conn
        except psycopg.IntegrityError:
            raise
        except psycopg.Error as exc:
            raise RunError(f"run store {self.url}: {_message(exc)}", path=self.url) from exc

    def create_run(self, record: RunRecord) -> None:
        try:
            with self._connection() as conn:
                conn.execute(
                    f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    run_params(record),
                )
        except psycopg.errors.UniqueViolation:
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
        assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields)
        query = sql.SQL("UPDATE runs SET {} WHERE run_id = %s").format(assignments)
        with self._connection() as conn:
            if conn.execute(query, (*fields.values(), run_id)).rowcount == 0:
                raise missing_run(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._connection() as conn:
            row = conn.execute(_SELECT_RUN + " WHERE run_id = %s", (run_id,)).fetchone()
        return run_from_row(row) if row is not None else None

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        with self._connection() as conn:
            rows = conn.execute(_SELECT_RUN + " ORDER BY created_at DESC, run_id DESC LIMIT %s", (limit,))
            return [run_from_row(r) for r in rows.fetchall()]

    def delete_run(self, run_id: str) -> bool:
        with self._connection() as conn:
            return conn.execute("DELETE FROM runs WHERE run_id = %s", (run_id,)).rowcount > 0

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
        started = started_at if started_at is not None else time.time()
        if attempt is not None:
            check_attempt(path, attempt)
            self._raise_held_error()
            with self._held_lock:
                self._held[(run_id, path)] = (run_id, path, seq, kind, component_id, started, attempt)
            if self._sender is None:
                self._start_sender()
            return attempt
        try:
            with self._connection() as conn:
                self._raise_held_error()
                row = conn.execute(
                    "INSERT INTO components (run_id, path, status, seq, kind, component_id, started_at) "
                    "VALUES (%s, %s, 'running', %s, %s, %s, %s) "
                    "ON CONFLICT (run_id, path) DO UPDATE SET status = 'running', seq = excluded.seq, "
                    "started_at = excluded.started_at, finished_at = NULL, result = NULL, error = NULL, "
                    "attempt = components.attempt + 1, reused = FALSE RETURNING attempt",
                    (run_id, path, seq, kind, component_id, started),
                ).fetchone()
        except psycopg.errors.ForeignKeyViolation:
            raise missing_run(run_id) from None
        assert row is not None
        return int(row[0])

    def finish_component(self, record: ComponentRecord) -> None:
        self.put_components([record])

    def put_components(self, records: Sequence[ComponentRecord]) -> None:
        if not records:
            return
        self._raise_held_error()
        rows = [_component_params(r) for r in records]
        starts = self._take_held(superseded={(r.run_id, r.path) for r in records})
        try:
            try:
                self._write(rows, starts)
            except psycopg.errors.ForeignKeyViolation:
                if not starts:
                    raise
                self._write(rows, [])  # a held start may name an unknown run: these rows alone
                self._held_error = missing_run(starts[0][0])
        except psycopg.errors.ForeignKeyViolation:
            raise missing_run(records[0].run_id) from None

    def _write(self, rows: list[tuple[Any, ...]], starts: list[tuple[Any, ...]]) -> None:
        """Writes final rows, after the held starts of components still running, in one round
        trip and one transaction (a start never overwrites a final row: START_AT_ATTEMPT)."""
        with self._connection(send_held=False) as conn:
            if not starts and len(rows) == 1:
                conn.execute(_INSERT_COMPONENT, rows[0])
                return
            with conn.pipeline(), conn.transaction(), conn.cursor() as cursor:
                if starts:
                    cursor.executemany(_START_AT_ATTEMPT, starts)
                cursor.executemany(_INSERT_COMPONENT, rows)

    # ---- held starts -----------------------------------------------------------------------------
    def _take_held(self, superseded: Collection[tuple[str, str]] = ()) -> list[tuple[Any, ...]]:
        """Takes every held start; those of ``superseded`` components are dropped (their final
        row is being written)."""
        with self._held_lock:
            if not self._held:
                return []
            held, self._held = self._held, {}
        return [params for key, params in held.items() if key not in superseded]

    def _send_held(self, conn: psycopg.Connection[Any]) -> None:
        """Sends the held starts in one round trip; a failure is kept for the next checkpoint."""
        starts = self._take_held()
        if not starts:
            return
        try:
            with conn.pipeline(), conn.cursor() as cursor:
                cursor.executemany(_START_AT_ATTEMPT, starts)
        except psycopg.errors.ForeignKeyViolation:
            self._held_error = missing_run(starts[0][0])
        except psycopg.Error as exc:
            if conn.broken:
                raise  # the caller's own statement cannot run either
            self._held_error = RunError(f"run store {self.url}: {_message(exc)}", path=self.url)

    def _raise_held_error(self) -> None:
        error, self._held_error = self._held_error, None
        if error is not None:
            raise error

    def _start_sender(self) -> None:
        """The thread that sends starts no write has carried within ``start_delay_s``."""
        with self._lock:
            if self._sender is not None or self._pool is None:
                return
            self._sender = threading.Thread(target=self._send_late, name="danaflow-store-starts", daemon=True)
            self._sender.start()

    def _send_late(self) -> None:
        while not self._closing.wait(self.start_delay_s):
            if not self._held:
                continue
            try:
                with self._connection():
                    pass  # taking a connection sends what is held
            except RunError as exc:
                if self._closing.is_set():
                    return
                self._held_error = exc

    def get_component(self, run_id: str, path: str) -> ComponentRecord | None:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {COMPONENT_COLUMNS} FROM components WHERE run_id = %s AND path = %s", (run_id, path)
            ).fetchone()
        return component_from_row(row) if row is not None else None

    def list_components(self, run_id: str) -> list[ComponentRecord]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {COMPONENT_COLUMNS} FROM components WHERE run_id = %s ORDER BY seq, path", (run_id,)
            ).fetchall()
        return [component_from_row(r) for r in rows]

    # ---- leases ----------------------------------------------------------------------------------
    def claim_component(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        check_lease_args(path, owner, ttl_s)
        claimed = False
        try:
            with self._connection() as conn, conn.transaction():
                # Upsert first, then check the component with a fresh snapshot (READ COMMITTED:
                # one per statement). A holder stores its result before it releases, so once the
                # upsert sees the lease free, the check sees that result: a finished component is
                # never claimed twice, whatever the interleaving.
                row = conn.execute(
                    "INSERT INTO leases (run_id, path, owner, expires_at) "
                    f"VALUES (%s, %s, %s, {_NOW} + %s) "
                    "ON CONFLICT (run_id, path) DO UPDATE SET owner = excluded.owner, "
                    "expires_at = excluded.expires_at "
                    f"WHERE leases.owner = excluded.owner OR leases.expires_at <= {_NOW} RETURNING 1",
                    (run_id, path, owner, float(ttl_s)),
                ).fetchone()
                if row is None:
                    return False
                done = conn.execute(
                    "SELECT 1 FROM components WHERE run_id = %s AND path = %s AND status <> 'running'",
                    (run_id, path),
                ).fetchone()
                if done is not None:
                    raise psycopg.Rollback()
                claimed = True
        except psycopg.errors.ForeignKeyViolation:
            raise missing_run(run_id) from None
        return claimed

    def renew_lease(self, run_id: str, path: str, owner: str, ttl_s: float) -> bool:
        check_lease_args(path, owner, ttl_s)
        with self._connection() as conn:
            cursor = conn.execute(
                f"UPDATE leases SET expires_at = {_NOW} + %s WHERE run_id = %s AND path = %s AND owner = %s",
                (float(ttl_s), run_id, path, owner),
            )
            return cursor.rowcount > 0

    def release(self, run_id: str, path: str, owner: str) -> bool:
        check_lease_args(path, owner)
        with self._connection() as conn:
            cursor = conn.execute(
                "DELETE FROM leases WHERE run_id = %s AND path = %s AND owner = %s", (run_id, path, owner)
            )
            return cursor.rowcount > 0

    def get_lease(self, run_id: str, path: str) -> Lease | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT run_id, path, owner, expires_at FROM leases WHERE run_id = %s AND path = %s",
                (run_id, path),
            ).fetchone()
        return Lease(*row) if row is not None else None

    # ---- result cache ----------------------------------------------------------------------------
    def cache_get(self, key: str) -> CacheEntry | None:
        with self._connection() as conn:
            row = conn.execute(f"SELECT {CACHE_COLUMNS} FROM cache WHERE key = %s", (key,)).fetchone()
        return cache_from_row(row) if row is not None else None

    def cache_put(self, entry: CacheEntry) -> None:
        with self._connection() as conn:
            conn.execute(_PUT_CACHE, cache_params(entry))

    def cache_clear(self, path: str | None = None) -> int:
        with self._connection() as conn:
            if path is None:
                return conn.execute("DELETE FROM cache").rowcount
            query = "DELETE FROM cache WHERE path = %s OR left(path, %s) = %s"
            return conn.execute(query, (path, len(path) + 1, path + ".")).rowcount

    def close(self) -> None:
        """Closes the pool; starts still held are dropped (components that never finished: a
        resume runs them again with or without their ``running`` row)."""
        self._closing.set()
        with self._lock:
            pool, self._pool = self._pool, None
            sender = self._sender
        if pool is None:
            return
        if sender is not None:
            sender.join()
        self._take_held()
        with self._lane_lock:
            lane, self._lane = self._lane, None
        if lane is not None:
            pool.putconn(lane)
        pool.close()

    def __repr__(self) -> str:
        return f"PostgresRunStore({self.url!r}, schema={self.schema!r})"


def _message(exc: psycopg.Error) -> str:
    """The server's first message line (psycopg adds context lines and a trailing newline)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
