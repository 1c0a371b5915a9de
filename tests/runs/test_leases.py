"""Leases across real processes: racers claim the components of one run, each runs once.

Each worker is a ``python -c`` subprocess with its own store connection (SQLite through the
file's write lock, PostgreSQL through its own pool), started together by a line on stdin. A
worker claims a component, appends ``start <path>`` to a shared side-effect file, stores the
result, appends ``done <path>``, then releases. One worker can be told to stop forever inside a
component (``--die-at``), announcing it on stdout, so the test kills it with SIGKILL at a known
point: no sleeps in the test, only the lease's own expiry.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import danaflow
from danaflow.runs.store import RunRecord, open_store

SRC = Path(danaflow.__file__).resolve().parent.parent
PATHS = [f"agent.flow.n{i}" for i in range(120)]
TTL_S = 2.0

WORKER = r"""
import argparse, os, sys, time
from danaflow.runs.store import ComponentRecord, open_store

p = argparse.ArgumentParser()
p.add_argument("url"); p.add_argument("run_id"); p.add_argument("owner"); p.add_argument("side")
p.add_argument("--paths", type=int); p.add_argument("--ttl", type=float); p.add_argument("--die-at")
a = p.parse_args()
store = open_store(a.url)
paths = [f"agent.flow.n{i}" for i in range(a.paths)]
side = os.open(a.side, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
print("ready", flush=True)
sys.stdin.readline()
pending = sorted(paths, key=lambda q: q != a.die_at)  # the component to die in first
while pending:
    progressed = False
    for i, path in enumerate(pending):
        if not store.claim_component(a.run_id, path, a.owner, a.ttl):
            continue
        progressed = True
        attempt = store.start_component(a.run_id, path, seq=paths.index(path))
        os.write(side, f"start {path} {a.owner}\n".encode())
        if path == a.die_at:
            print(f"holding {path}", flush=True)
            sys.stdin.readline()  # never answered: the test kills this process here
        time.sleep(0.005)  # the component's work, during which the other racer claims others
        store.finish_component(ComponentRecord(a.run_id, path, "completed", seq=paths.index(path),
                                               result=f'{{"by": "{a.owner}"}}', attempt=attempt))
        os.write(side, f"done {path} {a.owner}\n".encode())
        store.release(a.run_id, path, a.owner)
    pending = [q for q in pending if (store.get_component(a.run_id, q) or ComponentRecord("", "", "")).status
               != "completed"]
    if pending and not progressed:
        time.sleep(0.05)  # what is left is leased by someone else: poll until done or expired
print("finished", flush=True)
store.close()
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def lease_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'danaflow.db'}"
    return request.getfixturevalue("pg_url")


def start_worker(
    url: str, run_id: str, owner: str, side: Path, die_at: str | None = None
) -> subprocess.Popen:
    args = [sys.executable, "-c", WORKER, url, run_id, owner, str(side), "--paths", str(len(PATHS)),
            "--ttl", str(TTL_S)]  # fmt: skip
    if die_at:
        args += ["--die-at", die_at]
    proc = subprocess.Popen(
        args,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line == "ready\n", line + proc.stderr.read()
    return proc


def go(*procs: subprocess.Popen) -> None:
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def side_effects(side: Path) -> tuple[collections.Counter, collections.Counter, dict[str, set[str]]]:
    started, done, owners = collections.Counter(), collections.Counter(), collections.defaultdict(set)
    for line in side.read_text().splitlines():
        what, path, owner = line.split()
        (started if what == "start" else done)[path] += 1
        owners[owner].add(path)
    return started, done, owners


def new_run(url: str) -> str:
    with open_store(url) as store:
        store.create_run(RunRecord("shared", "agent", "running", 1.0, 1.0))
    return "shared"


def test_two_processes_racing_over_one_run_run_each_component_once(lease_url, tmp_path):
    run_id = new_run(lease_url)
    side = tmp_path / "side_effects.txt"
    a = start_worker(lease_url, run_id, "alice", side)
    b = start_worker(lease_url, run_id, "bob", side)
    go(a, b)
    assert finish(a).endswith("finished\n") and finish(b).endswith("finished\n")
    started, done, owners = side_effects(side)
    assert started == done == collections.Counter(PATHS)  # every component ran, none twice
    assert owners["alice"] and owners["bob"]  # both really raced for them
    with open_store(lease_url) as store:
        rows = store.list_components(run_id)
        assert [r.path for r in rows] == PATHS
        assert all(r.status == "completed" and r.attempt == 1 for r in rows)
        assert all(store.get_lease(run_id, p) is None for p in PATHS)


def test_a_killed_holders_lease_expires_and_is_taken_over(lease_url, tmp_path):
    run_id = new_run(lease_url)
    side = tmp_path / "side_effects.txt"
    victim_path = PATHS[40]
    victim = start_worker(lease_url, run_id, "victim", side, die_at=victim_path)
    survivor = start_worker(lease_url, run_id, "survivor", side)
    try:
        go(victim)
        assert victim.stdout.readline() == f"holding {victim_path}\n"
        go(survivor)
        with open_store(lease_url) as store:
            held = store.get_lease(run_id, victim_path)
            assert held.owner == "victim"
            if held.expires_at - time.time() > 0.5:  # live: nobody else may take it
                assert store.claim_component(run_id, victim_path, "intruder", 60) is False
    finally:
        victim.kill()  # SIGKILL: the lease is never released
        victim.wait()
        victim.stdin.close()
        victim.stdout.close()
        victim.stderr.close()
    assert finish(survivor).endswith("finished\n")
    started, done, owners = side_effects(side)
    assert done == collections.Counter(PATHS)  # every component completed exactly once
    assert owners["victim"] == {victim_path} and owners["survivor"] == set(PATHS)
    # The victim's component started twice (it died inside it) and nothing else did.
    assert started == collections.Counter(PATHS) + collections.Counter([victim_path])
    with open_store(lease_url) as store:
        rows = {r.path: r for r in store.list_components(run_id)}
        assert rows[victim_path].attempt == 2 and rows[victim_path].result == '{"by": "survivor"}'
        assert all(r.attempt == 1 for p, r in rows.items() if p != victim_path)
        assert store.get_lease(run_id, victim_path) is None
