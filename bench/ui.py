"""Run viewer benchmark: server time of the runs page and a big run page, and SSE latency.

Run: ``python bench/ui.py [--runs 10000] [--events 10]``. Everything is real:
a SQLite store in a temp dir, filled through the RunStore API (``--runs`` runs, each with its root
component) for the runs page, and a flow of ten subflows of 99 PythonNodes run durably for the run
page (1,001 components, its trace.jsonl included). Page times are the median of 15 requests
through the whole ASGI app (guard, routing, store reads, templates) with Starlette's TestClient,
the first (cold cache) request reported apart; the baseline, measured in the same run, is the
store call the page cannot avoid (``list_runs(limit=51)`` and ``list_components``).
The SSE figure starts ``danaflow ui`` as a process, subscribes to a run that a second process
executes (each node blocks on a FIFO until released), and measures from the moment the store
says a component finished to the moment the ``update`` event arrives, over ``--events`` nodes.
Targets (issue 12): runs page < 150 ms over 10,000 runs; run page < 400 ms for 1,000
components; SSE update < 500 ms.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from danaflow.runs.cli_commands import run_python_target
from danaflow.runs.store import ComponentRecord, RunRecord, SQLiteRunStore, open_store
from danaflow.ui.app import UIConfig, create_app
from danaflow.ui.serve import store_opener

RUNS_TARGET_MS = 150.0
RUN_PAGE_TARGET_MS = 400.0
SSE_TARGET_MS = 500.0
REPEAT = 15

BIG_FLOW = """
from danaflow import FlowDefinition, PythonNode

def _leaf(i):
    return lambda ctx: {"i": i, "text": "value %d" % i}

flow = FlowDefinition("big")
for s in range(10):
    sub = FlowDefinition()
    for n in range(99):
        sub.node(f"n{n}", PythonNode(_leaf(n), in_thread=False))
    flow.subflow(f"part{s}", sub)
"""

GATED_FLOW = """
import os
import random
from danaflow import FlowDefinition, PythonNode

def _gate(ctx):
    with open(os.environ["BENCH_GATE"], "rb") as fh:
        return fh.read().decode()

flow = FlowDefinition("gated")
for i in range({n}):
    flow.node(f"g{{i}}", PythonNode(_gate))
"""


def timed(fn: Callable[[], object], repeat: int = REPEAT) -> tuple[float, float]:
    """(first call ms, median ms of the next ``repeat``)."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(samples)


def client_for(run_root: Path) -> TestClient:
    app = create_app(UIConfig(run_root=run_root, open_store=store_opener(run_root, None)))
    return TestClient(app, base_url="http://127.0.0.1:7860")


def get_ok(client: TestClient, url: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return call


def fill_store(run_root: Path, n: int) -> None:
    with SQLiteRunStore(run_root / "danaflow.db") as store:
        now = time.time() - n
        for i in range(n):
            status = ("completed", "failed", "waiting_input")[i % 3]
            store.create_run(
                RunRecord(f"bench_{i:06d}", "bench", status, now + i, now + i + 0.5,
                          meta={"target": "/nowhere/bench.py:flow", "target_kind": "python"})
            )  # fmt: skip
        tokens = {"prompt_tokens": 10, "completion_tokens": 5}
        rows = [
            ComponentRecord(f"bench_{i:06d}", "bench", "completed", 0, "flow", result="{}",
                            started_at=now + i, finished_at=now + i + 0.5, **tokens)
            for i in range(n)
        ]  # fmt: skip
        store.put_components(rows)


def bench_runs_page(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        t0 = time.perf_counter()
        fill_store(root, n)
        print(f"store with {n:,} runs filled in {time.perf_counter() - t0:.1f} s")
        with SQLiteRunStore(root / "danaflow.db") as store:
            _, base = timed(lambda: store.list_runs(limit=51))
        with client_for(root) as client:
            first, page = timed(get_ok(client, "/"))
            _, table = timed(get_ok(client, "/runs-table"))
            _, deep = timed(get_ok(client, "/?page=100"))
            _, text = timed(get_ok(client, "/?q=bench_0042"))
            _, status = timed(get_ok(client, "/?status=failed"))
        verdict = "OK" if page < RUNS_TARGET_MS else "OVER"
        print(f"runs page, {n:,} runs: {page:.1f} ms median (first {first:.1f} ms; "
              f"target < {RUNS_TARGET_MS:.0f} ms) {verdict}")  # fmt: skip
        print(f"  baseline list_runs(limit=51): {base:.2f} ms -> page is {page / base:.0f}x the store read")
        print(
            f"  live table fragment {table:.1f} ms; page 100 {deep:.1f} ms; "
            f"text filter {text:.1f} ms; status filter {status:.1f} ms (filters scan all {n:,} runs)"
        )


def bench_run_page() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        module = tmp_path / "big.py"
        module.write_text(BIG_FLOW)
        root = tmp_path / "runs"
        outcome = run_python_target(f"{module}:flow", run_root=root, progress=False, out=io.StringIO())
        with SQLiteRunStore(root / "danaflow.db") as store:
            count = len(store.list_components(outcome.run_id))
            _, base = timed(lambda: store.list_components(outcome.run_id))
        spans = sum(1 for _ in (root / outcome.run_id / "trace.jsonl").open())
        with client_for(root) as client:
            first, page = timed(get_ok(client, f"/runs/{outcome.run_id}"))
            _, live = timed(get_ok(client, f"/runs/{outcome.run_id}/live"))
            _, opened = timed(get_ok(client, f"/runs/{outcome.run_id}?toggle=big.part5&toggle=big.part6"))
            _, component = timed(get_ok(client, f"/runs/{outcome.run_id}/c/big.part3.n50"))
            size = len(client.get(f"/runs/{outcome.run_id}").content)
        verdict = "OK" if page < RUN_PAGE_TARGET_MS else "OVER"
        print(f"run page, {count:,} components, {spans:,} spans: {page:.1f} ms median (first {first:.1f} ms,"
              f" target < {RUN_PAGE_TARGET_MS:.0f} ms) {verdict}; {size / 1024:.0f} KiB of HTML")  # fmt: skip
        print(f"  baseline list_components: {base:.2f} ms -> page is {page / base:.0f}x the store read")
        print(f"  live fragment {live:.1f} ms; with two more subflows open {opened:.1f} ms; "
              f"a component page {component:.1f} ms")  # fmt: skip


def bench_sse(events: int) -> None:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        module = tmp_path / "gated.py"
        module.write_text(GATED_FLOW.format(n=events))
        gate = tmp_path / "gate"
        os.mkfifo(gate)
        root = tmp_path / "runs"
        root.mkdir()
        env = {**os.environ, "BENCH_GATE": str(gate)}
        ui = subprocess.Popen(
            [sys.executable, "-m", "danaflow.cli", "ui", "--run-root", str(root), "--port", "0"],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        flow = None
        try:
            assert ui.stdout is not None
            url = ui.stdout.readline().split(": ", 1)[1].strip()
            command = [
                sys.executable,
                "-m",
                "danaflow.runs",
                "run",
                f"{module}:flow",
                "--run-root",
                str(root),
            ]
            flow = subprocess.Popen([*command, "--no-progress"], env=env, stdout=subprocess.DEVNULL)
            run_id = None
            while run_id is None:  # the run row appears once the process set the run up
                with open_store(root / "danaflow.db") as store:
                    runs = store.list_runs(limit=1)
                    run_id = runs[0].run_id if runs else None
                if run_id is None:
                    time.sleep(0.02)
            arrivals: list[float] = []
            ready = threading.Event()
            arrived = threading.Condition()

            def listen() -> None:
                with httpx.stream("GET", f"{url}events?topic=run:{run_id}", timeout=60) as stream:
                    for line in stream.iter_lines():  # ends when the server closes the stream
                        if line.startswith("event: ready"):
                            ready.set()
                        elif line.startswith("event: update"):
                            with arrived:
                                arrivals.append(time.time())
                                arrived.notify_all()

            threading.Thread(target=listen, daemon=True).start()
            ready.wait(30)
            latencies = []
            with open_store(root / "danaflow.db") as store:
                for i in range(events):
                    # Released at a random phase of the hub's poll, not just after an event (which
                    # would measure one whole interval every time).
                    time.sleep(random.uniform(0, 0.15))
                    seen = len(arrivals)
                    with open(gate, "wb") as fh:
                        fh.write(b"go")
                    path = f"gated.g{i}"
                    deadline = time.time() + 10
                    while True:
                        record = store.get_component(run_id, path)
                        if record is not None and record.finished_at is not None:
                            break
                        if time.time() > deadline:
                            raise RuntimeError(f"{path} did not finish")
                        time.sleep(0.005)
                    done_at = record.finished_at - 0.001  # the two clocks are one clock, to the ms

                    def after(n: int = seen, t0: float = done_at) -> list[float]:
                        return [t for t in arrivals[n:] if t >= t0]

                    with arrived:
                        if not arrived.wait_for(after, timeout=10):
                            raise RuntimeError(f"no update event after {path} finished")
                        first_after = after()[0]
                    latencies.append((first_after - record.finished_at) * 1000)
            flow.wait(timeout=60)
        finally:
            for proc in (flow, ui):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)
        med, worst = statistics.median(latencies), max(latencies)
        print(f"SSE update latency, {events} components: {med:.0f} ms median, {worst:.0f} ms max "
              f"(target < {SSE_TARGET_MS:.0f} ms) {'OK' if worst < SSE_TARGET_MS else 'OVER'}")  # fmt: skip
        print("  baseline: the hub polls the store every 150 ms: 75 ms median and 150 ms max are the floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=10)
    args = parser.parse_args()
    bench_runs_page(args.runs)
    bench_run_page()
    bench_sse(args.events)


if __name__ == "__main__":
    main()
