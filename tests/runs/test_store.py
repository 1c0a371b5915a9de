"""Tests for danaflow.runs.store: every case runs against the memory, SQLite and PostgreSQL stores.

The ``store`` fixture opens each backend through ``open_store`` with the URL a user would give
(``memory:``, ``sqlite:///…``, ``postgresql://…?schema=…``); PostgreSQL cases skip, saying why,
when no server is reachable. Cross-process lease races are in test_leases.py.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import danaflow
from danaflow.errors import RunError
from danaflow.runs.store import (
    ComponentRecord,
    MemoryRunStore,
    PostgresRunStore,
    RunRecord,
    RunStore,
    SQLiteRunStore,
    configured_store,
    open_store,
)
from danaflow.runs.store_postgres import POSTGRES_SCHEMA_VERSION
from danaflow.runs.store_sqlite import SQLITE_SCHEMA_VERSION

HERE = Path(__file__).parent
SRC = Path(danaflow.__file__).resolve().parent.parent


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'danaflow.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url) -> RunStore:
    s = open_store(store_url)
    yield s
    s.close()


def make_run(run_id: str = "r1", created: float = 1.0, **kw) -> RunRecord:
    return RunRecord(run_id=run_id, root_component_id="agent", status="running", created_at=created,
                     updated_at=created, **kw)  # fmt: skip


def finished(run_id: str, path: str, seq: int, status: str = "completed", **kw) -> ComponentRecord:
    return ComponentRecord(run_id=run_id, path=path, status=status, seq=seq, result=f'{{"path": "{path}"}}',
                           started_at=1.0, finished_at=2.0, **kw)  # fmt: skip


def test_run_roundtrip_keeps_provenance(store):
    store.create_run(make_run(code_fingerprint="abc", inputs_hash="def", previous_run_id="r0",
                              start_path="agent.f.n", pid=123, host="h",
                              meta={"target": "m.py:flow"}))  # fmt: skip
    got = store.get_run("r1")
    assert got is not None
    assert (got.code_fingerprint, got.inputs_hash, got.previous_run_id, got.start_path) == (
        "abc", "def", "r0", "agent.f.n",
    )  # fmt: skip
    assert (got.pid, got.host, got.meta) == (123, "h", {"target": "m.py:flow"})
    store.update_run("r1", status="completed", meta={"k": 1})
    got = store.get_run("r1")
    assert got.status == "completed" and got.meta == {"k": 1} and got.updated_at > 1.0


def test_duplicate_and_unknown_runs_are_errors(store):
    store.create_run(make_run())
    with pytest.raises(RunError, match="already exists"):
        store.create_run(make_run())
    with pytest.raises(RunError, match="unknown run 'nope'"):
        store.update_run("nope", status="failed")
    with pytest.raises(RunError, match="unknown run"):
        store.start_component("nope", "a", seq=0)
    with pytest.raises(RunError, match="unknown run 'nope'"):
        store.finish_component(finished("nope", "a", 0))
    assert store.get_run("nope") is None


def test_list_runs_newest_first_and_delete(store):
    for i in range(3):
        store.create_run(make_run(f"r{i}", created=float(i)))
    assert [r.run_id for r in store.list_runs()] == ["r2", "r1", "r0"]
    assert [r.run_id for r in store.list_runs(limit=1)] == ["r2"]
    store.start_component("r1", "agent", seq=0)
    assert store.claim_component("r1", "agent", "me", 60) is True
    assert store.delete_run("r1") is True
    assert store.delete_run("r1") is False
    assert store.list_components("r1") == []
    assert store.get_lease("r1", "agent") is None
    assert [r.run_id for r in store.list_runs()] == ["r2", "r0"]


def test_component_lifecycle_and_attempts(store):
    store.create_run(make_run())
    assert store.start_component("r1", "agent.f.n", seq=3, kind="node", component_id="n") == 1
    running = store.get_component("r1", "agent.f.n")
    assert running.status == "running" and running.result is None and running.kind == "node"
    store.finish_component(finished("r1", "agent.f.n", 3, prompt_tokens=5, completion_tokens=2))
    done = store.get_component("r1", "agent.f.n")
    assert done.status == "completed" and done.result == '{"path": "agent.f.n"}'
    assert (done.prompt_tokens, done.completion_tokens, done.duration_s) == (5, 2, 1.0)
    # Starting the same path again (a retry) bumps the attempt and clears the old result.
    assert store.start_component("r1", "agent.f.n", seq=4) == 2
    again = store.get_component("r1", "agent.f.n")
    assert (again.status, again.result, again.attempt, again.reused) == ("running", None, 2, False)


def test_a_start_given_its_attempt_writes_it_and_never_reopens_a_final_row(store):
    """A caller that counts its own starts passes attempt=: the store returns it without reading."""
    store.create_run(make_run())
    assert store.start_component("r1", "a.n", seq=0, kind="node", started_at=1.0, attempt=1) == 1
    assert store.start_component("r1", "a.m", seq=1, attempt=1) == 1
    running = store.get_component("r1", "a.n")  # a store reads back what it started
    assert (running.status, running.attempt, running.kind, running.result) == ("running", 1, "node", None)
    assert [c.path for c in store.list_components("r1")] == ["a.n", "a.m"]
    store.finish_component(finished("r1", "a.n", 0))
    # A start of the same attempt arriving after its finish (sent first, on another connection)
    # leaves the final row alone.
    assert store.start_component("r1", "a.n", seq=0, attempt=1) == 1
    assert store.get_component("r1", "a.n").status == "completed"
    assert store.start_component("r1", "a.n", seq=5, attempt=2) == 2
    again = store.get_component("r1", "a.n")
    assert (again.status, again.attempt, again.seq, again.result, again.finished_at) == (
        "running", 2, 5, None, None,
    )  # fmt: skip
    assert store.start_component("r1", "a.n", seq=6) == 3  # without attempt= the store counts on


def test_a_start_given_its_attempt_in_an_unknown_run_fails_by_the_next_checkpoint(store):
    """The store may send such a start without waiting; its failure comes from the start itself
    (memory, SQLite) or from the next checkpoint call (PostgreSQL), once."""
    store.create_run(make_run())
    with pytest.raises(RunError, match="unknown run 'nope'"):
        store.start_component("nope", "a", seq=0, attempt=1)
        store.finish_component(finished("r1", "b", 1))
        store.finish_component(finished("r1", "c", 2))
    store.finish_component(finished("r1", "d", 3))
    assert store.get_component("r1", "d").status == "completed"


@pytest.mark.parametrize("attempt", [0, -1, True, 1.0, "1"])
def test_a_bad_attempt_is_an_error(store, attempt):
    store.create_run(make_run())
    with pytest.raises(RunError, match=f"bad attempt {attempt!r}: want a positive int"):
        store.start_component("r1", "a", seq=0, attempt=attempt)
    assert store.get_component("r1", "a") is None


def test_components_list_in_start_order(store):
    store.create_run(make_run())
    store.put_components([finished("r1", p, seq) for seq, p in [(2, "a.c"), (0, "a"), (1, "a.b")]])
    assert [c.path for c in store.list_components("r1")] == ["a", "a.b", "a.c"]
    reused = finished("r1", "a.d", 3, reused=True)
    store.put_components([reused])
    assert store.get_component("r1", "a.d").reused is True
    store.put_components([])
    assert len(store.list_components("r1")) == 4


def test_an_error_quoting_hostile_output_is_stored(store):
    """Tool output may hold any byte; PostgreSQL text cannot hold NUL, so it is replaced there."""
    store.create_run(make_run())
    store.finish_component(finished("r1", "a", 0, status="failed", error="boom\x00tail ☃"))
    error = store.get_component("r1", "a").error
    assert error.startswith("boom") and error.endswith("tail ☃") and len(error) == len("boom?tail ☃")


@pytest.mark.parametrize("counted", [False, True], ids=["store-counts", "caller-counts"])
def test_concurrent_writers_lose_nothing(store, counted):
    """Parallel nodes checkpoint from many threads at once; every row arrives whole."""
    store.create_run(make_run())
    threads, per_thread = 8, 50
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                path = f"agent.flow.n{t}_{i}"
                attempt = 1 if counted else None
                store.start_component("r1", path, seq=t * per_thread + i, kind="node", attempt=attempt)
                store.finish_component(finished("r1", path, t * per_thread + i))
        except BaseException as exc:  # collected and asserted below, never swallowed
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    rows = store.list_components("r1")
    assert len(rows) == threads * per_thread
    assert all(r.status == "completed" and r.result == f'{{"path": "{r.path}"}}' for r in rows)


KILLED_AFTER_A_FINISH = r"""
import sys
from danaflow.runs.store import ComponentRecord, RunRecord, open_store

store = open_store(sys.argv[1])
store.create_run(RunRecord("r1", "f", "running", 1.0, 1.0))
for i, path in enumerate(["f.a", "f.b"]):
    store.start_component("r1", path, seq=i, attempt=1)
    store.finish_component(ComponentRecord("r1", path, "completed", seq=i, result="{}", attempt=1))
store.start_component("r1", "f.c", seq=2, attempt=1)
print("finished f.b", flush=True)
sys.stdin.readline()  # never answered: the test kills this process here
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_after_a_finish_returns_keeps_it_and_resume_reruns_the_started_one(backend, request, tmp_path):
    """A finish that returned is committed; a started component, with or without its row, runs again."""
    from danaflow.runs.resume import ResumePlan

    sqlite_url = f"sqlite:///{tmp_path / 'danaflow.db'}"
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("pg_url")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_AFTER_A_FINISH, url],
                            env={**os.environ, "PYTHONPATH": str(SRC)}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line == "finished f.b\n", line + proc.stderr.read()
    finally:
        proc.kill()  # SIGKILL
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
    with open_store(url) as store:
        rows = {r.path: r for r in store.list_components("r1")}
        assert rows["f.a"].status == rows["f.b"].status == "completed"
        assert "f.c" not in rows or rows["f.c"].status == "running"
        plan = ResumePlan.load(store, "r1", None)
        assert [p for p in ("f.a", "f.b", "f.c") if plan.reusable(p) is not None] == ["f.a", "f.b"]


# ---- leases --------------------------------------------------------------------------------------


def wait_until_expired(expires_at: float) -> None:
    """Lease expiry is time itself: wait out the lease (on this host, the store's clock too)."""
    while (remaining := expires_at - time.time()) >= 0:
        time.sleep(remaining + 0.01)


def test_a_claim_excludes_other_owners_until_released(store):
    store.create_run(make_run())
    assert store.claim_component("r1", "a.n", "alice", 60) is True
    lease = store.get_lease("r1", "a.n")
    assert (lease.owner, lease.path) == ("alice", "a.n") and lease.expires_at > time.time() + 50
    assert store.claim_component("r1", "a.n", "bob", 60) is False
    assert store.claim_component("r1", "a.n", "alice", 60) is True  # re-claiming renews
    assert store.release("r1", "a.n", "bob") is False
    assert store.release("r1", "a.n", "alice") is True
    assert store.get_lease("r1", "a.n") is None
    assert store.release("r1", "a.n", "alice") is False
    assert store.claim_component("r1", "a.n", "bob", 60) is True
    assert store.get_lease("r1", "a.n").owner == "bob"


def test_a_component_that_finished_is_never_claimed_again(store):
    store.create_run(make_run())
    assert store.claim_component("r1", "a.n", "alice", 60) is True
    store.start_component("r1", "a.n", seq=0)
    # Still running (a holder that died mid-component): claimable once its lease is gone.
    assert store.claim_component("r1", "a.n", "alice", 60) is True
    store.finish_component(finished("r1", "a.n", 0, status="failed"))
    store.release("r1", "a.n", "alice")
    assert store.claim_component("r1", "a.n", "bob", 60) is False
    assert store.claim_component("r1", "a.n", "alice", 60) is False
    assert store.get_lease("r1", "a.n") is None
    store.put_components([finished("r1", "a.m", 1, status="waiting_input")])
    assert store.claim_component("r1", "a.m", "bob", 60) is False


def test_an_expired_lease_is_taken_over_and_the_old_owner_loses_it(store):
    store.create_run(make_run())
    assert store.claim_component("r1", "a.n", "dead", 0.2) is True
    assert store.claim_component("r1", "a.n", "bob", 60) is False
    wait_until_expired(store.get_lease("r1", "a.n").expires_at)
    assert store.claim_component("r1", "a.n", "bob", 60) is True
    assert store.get_lease("r1", "a.n").owner == "bob"
    assert store.renew_lease("r1", "a.n", "dead", 60) is False
    assert store.release("r1", "a.n", "dead") is False
    assert store.get_lease("r1", "a.n").owner == "bob"


def test_renewing_keeps_a_lease_alive(store):
    store.create_run(make_run())
    assert store.renew_lease("r1", "a.n", "alice", 60) is False  # nothing to renew
    assert store.claim_component("r1", "a.n", "alice", 0.3) is True
    first = store.get_lease("r1", "a.n").expires_at
    assert store.renew_lease("r1", "a.n", "alice", 60) is True
    assert store.get_lease("r1", "a.n").expires_at > first + 50
    wait_until_expired(first)
    assert store.claim_component("r1", "a.n", "bob", 60) is False


@pytest.mark.parametrize(
    ("owner", "ttl", "message"),
    [
        ("", 5, "bad lease owner '': want a non-empty string"),
        ("me", 0, "bad lease ttl 0: want a positive number"),
        ("me", -1.5, "bad lease ttl -1.5"),
        ("me", math.nan, "bad lease ttl nan"),
        ("me", math.inf, "bad lease ttl inf"),
        ("me", "5", "bad lease ttl '5'"),
        ("me", True, "bad lease ttl True"),
    ],
)
def test_bad_lease_arguments_are_errors(store, owner, ttl, message):
    store.create_run(make_run())
    with pytest.raises(RunError, match=message) as info:
        store.claim_component("r1", "a.n", owner, ttl)
    assert info.value.path == "a.n"
    assert store.get_lease("r1", "a.n") is None


def test_claiming_in_an_unknown_run_is_an_error(store):
    with pytest.raises(RunError, match="unknown run 'nope'"):
        store.claim_component("nope", "a", "me", 5)


def test_threads_racing_for_the_same_components_each_win_once(store):
    store.create_run(make_run())
    paths = [f"a.n{i}" for i in range(40)]
    barrier = threading.Barrier(6)
    wins: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def worker(owner: str) -> None:
        try:
            barrier.wait()
            wins[owner] = [p for p in paths if store.claim_component("r1", p, owner, 60)]
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(f"w{t}",)) for t in range(6)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    won = sorted(p for ps in wins.values() for p in ps)
    assert won == sorted(paths)
    assert all(store.get_lease("r1", p).owner in wins and p in wins[store.get_lease("r1", p).owner]
               for p in paths)  # fmt: skip


# ---- choosing a store ----------------------------------------------------------------------------


def test_open_store_reads_urls_and_paths(tmp_path):
    assert isinstance(open_store("memory:"), MemoryRunStore)
    assert isinstance(open_store(None), MemoryRunStore)
    with open_store(f"sqlite:///{tmp_path / 'a.db'}") as s:
        assert isinstance(s, SQLiteRunStore) and s.path == tmp_path / "a.db"
    with open_store(str(tmp_path / "b.db")) as s:
        assert s.path == tmp_path / "b.db"
    with open_store(tmp_path) as s:  # an existing directory: its danaflow.db
        assert s.path == tmp_path / "danaflow.db"
    with pytest.raises(RunError, match=r"unknown store 'mysql://u:\*\*\*@h/db': want postgresql://") as info:
        open_store("mysql://u:secret@h/db")
    assert "secret" not in str(info.value)
    with pytest.raises(RunError, match=r"want sqlite:///relative\.db or sqlite:////absolute\.db"):
        open_store("sqlite://host/x.db")
    with pytest.raises(RunError, match="bad store '  ': want postgresql://"):
        open_store("  ")


def test_the_environment_names_the_default_store(tmp_path, monkeypatch):
    monkeypatch.delenv("DANAFLOW_STORE", raising=False)
    assert configured_store(tmp_path) == tmp_path / "danaflow.db"
    monkeypatch.setenv("DANAFLOW_STORE", "memory:")
    assert configured_store(tmp_path) == "memory:"


def test_run_context_takes_the_store_from_the_environment(tmp_path, monkeypatch):
    from danaflow.runs import RunContext

    monkeypatch.setenv("DANAFLOW_STORE", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    rc = RunContext("agent", project_root=tmp_path)
    rc.setup_run("t")
    rc.close()
    assert not (tmp_path / "runs" / "danaflow.db").exists()
    with SQLiteRunStore(tmp_path / "elsewhere.db") as s:
        assert [r.run_id for r in s.list_runs()] == [rc.run_id]
    explicit = RunContext("agent", project_root=tmp_path, store="sqlite")  # the run root's index wins
    explicit.setup_run("t")
    explicit.close()
    with SQLiteRunStore(tmp_path / "runs" / "danaflow.db") as s:
        assert [r.run_id for r in s.list_runs()] == [explicit.run_id]
    with pytest.raises(RunError, match="unknown store 'redis://x'"):
        RunContext("agent", project_root=tmp_path, store="redis://x").setup_run("t")


# ---- SQLite specifics ----------------------------------------------------------------------------


def test_sqlite_is_a_real_wal_file_readable_by_another_connection(tmp_path):
    path = tmp_path / "danaflow.db"
    store = SQLiteRunStore(path)
    store.create_run(make_run())
    store.finish_component(finished("r1", "agent", 0))
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT status FROM components WHERE path='agent'").fetchone() == ("completed",)
    other.close()
    store.close()
    # A second store on the same file (another process, later) sees everything.
    reopened = SQLiteRunStore(path)
    assert reopened.get_component("r1", "agent").status == "completed"
    reopened.close()
    with pytest.raises(RunError, match="closed"):
        store.get_run("r1")


V1_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, root_component_id TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, code_fingerprint TEXT, inputs_hash TEXT,
    previous_run_id TEXT, start_path TEXT, run_dir TEXT, pid INTEGER, host TEXT,
    meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE components (run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    path TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT, component_id TEXT, status TEXT NOT NULL,
    result TEXT, error TEXT, started_at REAL, finished_at REAL, attempt INTEGER NOT NULL DEFAULT 1,
    reused INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, path)) WITHOUT ROWID;
CREATE INDEX runs_by_created ON runs(created_at);
INSERT INTO runs (run_id, root_component_id, status, created_at, updated_at)
    VALUES ('old', 'a', 'completed', 1, 1);
INSERT INTO components (run_id, path, seq, status, result) VALUES ('old', 'a', 0, 'completed', '{}');
PRAGMA user_version = 1;
"""


def test_sqlite_migrates_a_version_1_file_and_keeps_its_runs(tmp_path):
    path = tmp_path / "danaflow.db"
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    con.close()
    with SQLiteRunStore(path) as store:
        assert store.schema_version == SQLITE_SCHEMA_VERSION
        assert store.get_component("old", "a").status == "completed"
        assert store.claim_component("old", "b", "me", 5) is True
        assert store.claim_component("old", "a", "me", 5) is False


def test_sqlite_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "danaflow.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 7")
    con.close()
    want = f"schema version 7 is newer than this danaflow's: want version {SQLITE_SCHEMA_VERSION}"
    with pytest.raises(RunError, match=want):
        SQLiteRunStore(path)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_stores_on_one_database_write_concurrently(backend, request, tmp_path):
    """Two connections (as two processes would have) interleave writes on one database."""
    sqlite_url = f"sqlite:///{tmp_path / 'danaflow.db'}"
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("pg_url")
    a, b = open_store(url), open_store(url)
    a.create_run(make_run("ra", time.time()))
    b.create_run(make_run("rb", time.time()))

    def write(store: RunStore, run_id: str) -> None:
        for i in range(100):
            store.finish_component(finished(run_id, f"n{i}", i))

    ta = threading.Thread(target=write, args=(a, "ra"))
    tb = threading.Thread(target=write, args=(b, "rb"))
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    assert len(a.list_components("rb")) == 100 and len(b.list_components("ra")) == 100
    a.close()
    b.close()


# ---- PostgreSQL specifics ------------------------------------------------------------------------


def test_postgres_keeps_its_tables_in_the_named_schema_at_the_current_version(pg_url, pg_server):
    import psycopg

    schema = pg_url.rpartition("schema=")[2]
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresRunStore)
        assert (store.schema, store.schema_version, store.synchronous) == (
            schema, POSTGRES_SCHEMA_VERSION, "NORMAL",
        )  # fmt: skip
        store.create_run(make_run())
    with psycopg.connect(pg_server) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        )}  # fmt: skip
        assert tables == {"runs", "components", "leases", "cache", "schema_version"}
        conn.execute(f'UPDATE "{schema}".schema_version SET version = 9')
    want = f"schema version 9 is newer than this danaflow's: want version {POSTGRES_SCHEMA_VERSION}"
    with pytest.raises(RunError, match=want):
        open_store(pg_url)
    with psycopg.connect(pg_server) as conn:
        conn.execute(f'UPDATE "{schema}".schema_version SET version = {POSTGRES_SCHEMA_VERSION}')
    with open_store("postgres://" + pg_url.partition("://")[2]) as store:  # the short scheme too
        assert store.get_run("r1").run_id == "r1"


def test_postgres_opened_by_many_processes_at_once_migrates_once(pg_url):
    """Fresh schema, four processes opening it together: the advisory lock serializes the DDL."""
    script = "import sys; from danaflow.runs.store import open_store; open_store(sys.argv[1]).close()"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-c", script, pg_url]
    procs = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    with open_store(pg_url) as store:
        assert store.schema_version == POSTGRES_SCHEMA_VERSION


def test_postgres_errors_name_the_store_and_never_the_password(pg_server):
    with pytest.raises(RunError, match=r"cannot open run store postgresql://u:\*\*\*@127.0.0.1:1/db") as info:
        PostgresRunStore("postgresql://u:hunter2@127.0.0.1:1/db", connect_timeout=2)
    assert "hunter2" not in str(info.value)
    with pytest.raises(RunError, match="bad schema 'x-y': want a PostgreSQL identifier"):
        PostgresRunStore(f"{pg_server}?schema=x-y")
    with pytest.raises(RunError, match="bad synchronous mode 'SOMETIMES': want NORMAL or FULL"):
        PostgresRunStore(f"{pg_server}?synchronous=sometimes")
    with pytest.raises(RunError, match="bad PostgreSQL URL"):
        PostgresRunStore("mysql://h/db")


def test_postgres_sends_a_held_start_with_the_next_write_or_on_its_own(pg_url):
    """A start given its attempt waits for a write to ride with (one round trip a component), or
    for ``start_delay_s``; another process sees it then."""
    with PostgresRunStore(pg_url, start_delay_s=3600) as a, open_store(pg_url) as b:
        a.create_run(make_run())
        a.start_component("r1", "f.slow", seq=0, attempt=1)
        a.start_component("r1", "f.fast", seq=1, attempt=1)
        assert b.get_component("r1", "f.slow") is None  # held: nothing sent yet
        a.finish_component(finished("r1", "f.fast", 1))
        # The finish carried the start of the component still running, in its transaction.
        assert [(c.path, c.status) for c in b.list_components("r1")] == [
            ("f.slow", "running"), ("f.fast", "completed"),
        ]  # fmt: skip
    with PostgresRunStore(pg_url, start_delay_s=0.05) as a, open_store(pg_url) as b:
        a.start_component("r1", "f.alone", seq=2, attempt=1)
        deadline = time.monotonic() + 30
        while b.get_component("r1", "f.alone") is None:  # the store's sender thread writes it
            assert time.monotonic() < deadline, "the held start was never sent"
            time.sleep(0.01)
        assert b.get_component("r1", "f.alone").status == "running"


def test_postgres_full_synchronous_mode_is_read_from_the_url(pg_url):
    with open_store(pg_url + "&synchronous=FULL") as store:
        assert store.synchronous == "FULL"
        with store._connection() as conn:  # the setting each pooled connection got
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    with open_store(pg_url) as store, store._connection() as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)


def wait_until_running(url: str, path: str) -> None:
    """Polls the store (bounded) until some run's component ``path`` shows as running."""
    deadline = time.monotonic() + 30
    with open_store(url) as store:
        while not any(
            (row := store.get_component(run.run_id, path)) is not None and row.status == "running"
            for run in store.list_runs()
        ):
            assert time.monotonic() < deadline, f"{path} never showed as running"
            time.sleep(0.01)


def test_the_cli_runs_kills_and_resumes_a_flow_on_postgresql(pg_url, tmp_path):
    """``--store`` and ``$DANAFLOW_STORE`` reach every run command; kill -9 then resume finishes it."""
    side = tmp_path / "side_effects.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("DANAFLOW_STORE", "CRASH_BLOCK_AT")}
    env.update(PYTHONPATH=os.pathsep.join([str(SRC), str(HERE)]), CRASH_SIDE_EFFECTS=str(side),
               DANAFLOW_RUN_ROOT=str(tmp_path / "runs"))  # fmt: skip
    target = f"{HERE / 'crash_flow.py'}:agent"
    proc = subprocess.Popen(
        [sys.executable, "-m", "danaflow.runs", "run", target, "--no-progress", "--store", pg_url],
        env={**env, "CRASH_BLOCK_AT": "crash.main.n3"},
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("blocking at crash.main.n3"):
                break
        else:
            raise AssertionError(f"the run ended before blocking: {proc.stderr.read()}")
        wait_until_running(pg_url, "crash.main.n3")  # a start may reach the store a moment later
    finally:
        proc.kill()  # SIGKILL
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        proc.stdin.close()

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "danaflow.runs", *args], env={**env, **extra},
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip

    with open_store(pg_url) as store:
        (crashed,) = store.list_runs()
        assert store.get_component(crashed.run_id, "crash.main.n3").status == "running"
    listed = cli("list", "--store", pg_url)
    assert listed.returncode == 0 and crashed.run_id in listed.stdout and "interrupted" in listed.stdout
    resumed = cli("resume", crashed.run_id, "--no-progress", DANAFLOW_STORE=pg_url)
    assert resumed.returncode == 0, resumed.stderr
    lines = side.read_text().splitlines()
    assert len(lines) == len(set(lines)) == 8  # every node's side effect once: nothing completed re-ran
    with open_store(pg_url) as store:
        newest = store.list_runs()[0]
        assert (newest.previous_run_id, newest.status) == (crashed.run_id, "completed")
    shown = cli("show", newest.run_id, "--store", pg_url)
    assert shown.returncode == 0 and newest.run_id in shown.stdout and "n5" in shown.stdout
    assert not (tmp_path / "runs" / "danaflow.db").exists()  # nothing went to the default SQLite file
    missing = cli("show", "nope", "--store", pg_url)
    assert missing.returncode == 2 and "unknown run 'nope'" in missing.stderr


def test_postgres_recovers_after_the_server_drops_its_connection(pg_url, pg_server):
    """A dropped connection fails the one call that was using it, visibly; the next gets a fresh one."""
    import psycopg

    with open_store(pg_url) as store:
        store.create_run(make_run())
        with store._connection() as conn:
            pid = conn.info.backend_pid
        with psycopg.connect(pg_server, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        with pytest.raises(RunError, match=r"run store postgresql://.*schema=") as info:
            store.get_run("r1")
        assert info.value.path.startswith("postgresql://")
        assert store.get_run("r1").run_id == "r1"
        with store._connection() as conn:
            assert conn.info.backend_pid != pid
