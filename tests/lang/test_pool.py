"""The worker pool with real processes: the zygote starts on first use, ``warm()`` forks the
spares, a killed zygote is restarted by the next ``acquire()``, cold workers need no zygote,
``shutdown()`` leaves no process or directory behind, and no worker inherits the host's secrets.

Processes are watched through pidfds (readable once the process has exited), never by sleeping.
"""

from __future__ import annotations

import os
import re
import select
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from danaflow.errors import DanaflowError
from danaflow.lang.compiler import compile_program
from danaflow.lang.isolated import JobResult, run_isolated
from danaflow.lang.policy import SandboxPolicy
from danaflow.lang.pool import Worker, WorkerPool
from danaflow.lang.sandbox import SandboxContext

MakePool = Callable[..., WorkerPool]
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET", re.IGNORECASE)


@pytest.fixture
def make_pool() -> Iterator[MakePool]:
    pools: list[WorkerPool] = []

    def make(**kw: int) -> WorkerPool:
        pool = WorkerPool(**kw)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown()


def _job(pool: WorkerPool, source: str = "x = 6 * 7\nx\n", **kw: object) -> JobResult:
    program = compile_program(source, "<pool-test>", steps=False)
    return run_isolated(program, SandboxContext(), SandboxPolicy(), pool=pool, **kw)  # type: ignore[arg-type]


def _children(pid: int) -> set[int]:
    """The live children of ``pid`` (from /proc, so it sees the zygote's forks)."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(entry))
    return out


def _wait_gone(pidfd: int, timeout: float = 10.0) -> bool:
    """Whether the process behind ``pidfd`` exited within ``timeout`` seconds."""
    return bool(select.select([pidfd], [], [], timeout)[0])


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = [item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item]
    return {name: value for name, _, value in pairs}


def _release(worker: Worker) -> None:
    worker.kill()
    worker.close()


# ---- the zygote -----------------------------------------------------------------------------


def test_the_zygote_starts_on_first_use_not_before(make_pool: MakePool) -> None:
    pool = make_pool(spare=0)
    assert pool.zygote_pid is None
    result = _job(pool)
    assert result.error is None and result.value == 42
    zygote = pool.zygote_pid
    assert zygote is not None and os.path.exists(f"/proc/{zygote}")
    assert _job(pool, "'again'").value == "again"
    assert pool.zygote_pid == zygote  # one zygote serves every job


def test_warm_forks_the_spares_ahead_of_demand(make_pool: MakePool) -> None:
    pool = make_pool(spare=2)
    pool.warm()
    assert pool.zygote_pid is not None
    spares = _children(pool.zygote_pid)
    assert len(spares) == 2
    worker = pool.acquire()
    try:
        assert worker.pid in spares  # handed out ready, not forked on demand
        assert worker.process is None
        assert Path(worker.workdir).is_dir()
    finally:
        _release(worker)
    assert _job(pool).value == 42


def test_acquire_after_the_zygote_was_killed_starts_a_new_one(make_pool: MakePool) -> None:
    pool = make_pool(spare=0)
    assert _job(pool).value == 42
    old = pool.zygote_pid
    assert old is not None
    pidfd = os.pidfd_open(old)
    try:
        os.kill(old, signal.SIGKILL)
        assert _wait_gone(pidfd)
    finally:
        os.close(pidfd)
    result = _job(pool, "[1, 2][1]")
    assert result.error is None and result.value == 2
    assert pool.zygote_pid not in (None, old)


def test_a_spare_forked_before_the_zygote_died_still_runs_its_job(make_pool: MakePool) -> None:
    pool = make_pool(spare=1)
    pool.warm()
    old = pool.zygote_pid
    assert old is not None
    pidfd = os.pidfd_open(old)
    try:
        os.kill(old, signal.SIGKILL)
        assert _wait_gone(pidfd)
    finally:
        os.close(pidfd)
    assert _job(pool, "'from the spare'").value == "from the spare"
    assert _job(pool, "'from a new zygote'").value == "from a new zygote"


def test_concurrent_jobs_each_get_their_own_worker(make_pool: MakePool) -> None:
    pool = make_pool(spare=1)
    results: dict[int, JobResult] = {}

    def run(i: int) -> None:
        results[i] = _job(pool, f"n = {i}\nn * n\n")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: (r.error, r.value) for i, r in results.items()} == {i: (None, i * i) for i in range(4)}


# ---- cold workers ---------------------------------------------------------------------------


def test_a_cold_worker_is_started_directly_without_a_zygote(make_pool: MakePool) -> None:
    pool = make_pool(spare=0)
    worker = pool.cold()
    try:
        assert worker.process is not None and worker.process.pid == worker.pid
        assert pool.zygote_pid is None
    finally:
        _release(worker)
    result = _job(pool, "print('cold')\n3", cold=True)
    assert (result.error, result.value, result.output) == (None, 3, ["cold\n"])
    assert pool.zygote_pid is None


def test_a_policy_without_os_confinement_runs_in_a_cold_unconfined_worker(make_pool: MakePool) -> None:
    pool = make_pool(spare=0)
    program = compile_program("1 + 1", "<pool-test>", steps=False)
    result = run_isolated(program, SandboxContext(), SandboxPolicy(os_confinement=False), pool=pool)
    assert result.error is None and result.value == 2
    assert "os confinement off" in result.confinement["notes"]
    assert result.confinement["seccomp"] is False
    assert pool.zygote_pid is None


# ---- shutdown -------------------------------------------------------------------------------


def test_shutdown_kills_the_zygote_and_spares_and_removes_the_directory(make_pool: MakePool) -> None:
    pool = make_pool(spare=2)
    pool.warm()
    zygote = pool.zygote_pid
    assert zygote is not None
    spares = _children(zygote)
    assert len(spares) == 2
    base = Path(_environ(zygote)["HOME"])  # the pool's directory, the workers' home
    assert base.is_dir() and base.name.startswith("danaflow-workers-")
    pidfds = [os.pidfd_open(pid) for pid in {zygote, *spares}]
    try:
        pool.shutdown()
        assert all(_wait_gone(fd) for fd in pidfds)
    finally:
        for fd in pidfds:
            os.close(fd)
    assert not base.exists()
    with pytest.raises(DanaflowError, match="the Dana worker pool is shut down"):
        pool.acquire()
    pool.shutdown()  # a second shutdown is harmless


def test_a_pool_that_never_ran_shuts_down_cleanly(make_pool: MakePool) -> None:
    pool = make_pool(spare=3)
    pool.shutdown()
    assert pool.zygote_pid is None
    with pytest.raises(DanaflowError, match="shut down"):
        pool.acquire()


# ---- secrets --------------------------------------------------------------------------------


def test_no_worker_inherits_the_hosts_secrets(make_pool: MakePool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-for-workers")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-not-for-workers")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-test-not-for-workers")
    monkeypatch.setenv("DANAFLOW_STORE", "postgresql://user:pw@db/x")
    pool = make_pool(spare=1)
    pool.warm()
    assert pool.zygote_pid is not None
    zygote_env = _environ(pool.zygote_pid)
    worker = pool.acquire()
    cold = pool.cold()
    try:
        base = str(Path(worker.workdir).parent)
        envs = {"zygote": zygote_env}
        for name, w in (("forked", worker), ("cold", cold)):
            try:
                envs[name] = _environ(w.pid)
            except PermissionError:  # a confined worker is not dumpable: only root can read it
                continue
    finally:
        _release(worker)
        _release(cold)
    for name, env in envs.items():
        assert [k for k in env if SECRET_NAME.search(k)] == [], name
        assert not [v for v in env.values() if "not-for-workers" in v or "pw@" in v], name
        assert "DANAFLOW_STORE" not in env, name
    assert zygote_env["HOME"] == base and zygote_env["TMPDIR"] == base
    assert set(zygote_env) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR"} | {
        "PYTHONNOUSERSITE",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONSAFEPATH",
    }
