"""Tests for danaflow.runs.store: every case runs against the memory and the SQLite store."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from danaflow.errors import RunError
from danaflow.runs.store import ComponentRecord, MemoryRunStore, RunRecord, RunStore, SQLiteRunStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path) -> RunStore:
    s: RunStore = MemoryRunStore() if request.param == "memory" else SQLiteRunStore(tmp_path / "danaflow.db")
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
                              start_path="agent.f.n", meta={"target": "m.py:flow"}))  # fmt: skip
    got = store.get_run("r1")
    assert got is not None
    assert (got.code_fingerprint, got.inputs_hash, got.previous_run_id, got.start_path) == (
        "abc", "def", "r0", "agent.f.n",
    )  # fmt: skip
    assert got.meta == {"target": "m.py:flow"}
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
    assert store.get_run("nope") is None


def test_list_runs_newest_first_and_delete(store):
    for i in range(3):
        store.create_run(make_run(f"r{i}", created=float(i)))
    assert [r.run_id for r in store.list_runs()] == ["r2", "r1", "r0"]
    assert [r.run_id for r in store.list_runs(limit=1)] == ["r2"]
    store.start_component("r1", "agent", seq=0)
    assert store.delete_run("r1") is True
    assert store.delete_run("r1") is False
    assert store.list_components("r1") == []
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
    assert (again.status, again.result, again.attempt) == ("running", None, 2)


def test_components_list_in_start_order(store):
    store.create_run(make_run())
    store.put_components([finished("r1", p, seq) for seq, p in [(2, "a.c"), (0, "a"), (1, "a.b")]])
    assert [c.path for c in store.list_components("r1")] == ["a", "a.b", "a.c"]
    reused = finished("r1", "a.d", 3, reused=True)
    store.put_components([reused])
    assert store.get_component("r1", "a.d").reused is True


def test_concurrent_writers_lose_nothing(store):
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
                store.start_component("r1", path, seq=t * per_thread + i, kind="node")
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


def test_sqlite_two_stores_on_one_file_write_concurrently(tmp_path):
    """Two connections (as two processes would have) interleave writes through BEGIN IMMEDIATE."""
    a = SQLiteRunStore(tmp_path / "danaflow.db")
    b = SQLiteRunStore(tmp_path / "danaflow.db")
    a.create_run(make_run("ra", time.time()))
    b.create_run(make_run("rb", time.time()))

    def write(store: SQLiteRunStore, run_id: str) -> None:
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
