"""Scale-out: the same fan-outs on the local executor and on Dask, with the Dask path's overhead.

Run: python bench/scale.py [--sleep-nodes 1000] [--cpu-nodes 200] [--work-ms 50] [--workers 2]

Shapes, each ``start -> N PythonNodes -> join`` (start and join pinned to the host):
  sleep   N nodes that each sleep ``work-ms`` (I/O-like: the GIL is free while they wait)
  cpu     N nodes that each burn ``work-ms`` of CPU in pure Python (they hold the GIL)
  noop    200 nodes that do nothing (what a node costs on the executor itself)
Executors: ``local`` (the default: threads of this process) and ``dask-local:W`` (a LocalCluster
of W worker processes, one thread each on this 2-core machine, as the CLI starts it), plus the
same cluster with 8 threads per worker, which is what I/O-bound nodes want. Every figure comes
from this run: wall time, speedup against local, and the Dask path's per-node overhead, which
is (wall x slots - N x work) / N, the slot-time a node costs beyond its own work (slots =
workers x threads, capped by the run's max_concurrency of 16).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

from danaflow.context import ExecutionStatusEnum
from danaflow.flow import FlowDefinition, FlowRunner, InMemoryRun, PythonNode
from danaflow.flow.executors import DaskExecutor, Executor, executor_from_spec

MAX_CONCURRENCY = 16


def sleeper(seconds: float):
    def fn(ctx):
        time.sleep(seconds)
        return 1

    return fn


def burner(seconds: float):
    def fn(ctx):
        start = time.thread_time()
        n = 0
        while time.thread_time() - start < seconds:
            n += 1
        return 1

    return fn


def noop(ctx):
    return 1


def fan_out(n: int, work) -> FlowDefinition:
    flow = FlowDefinition("fan")
    start, join = PythonNode(lambda ctx: 0), PythonNode(lambda ctx: len(ctx.parent.execution_results))
    start.placement = join.placement = "host"
    flow.node("start", start)
    body = PythonNode(work)
    for i in range(n):
        flow.node(f"w{i}", body).connect("start", f"w{i}")
    flow.node("join", join)
    for i in range(n):
        flow.connect(f"w{i}", "join")
    return flow


def shape_flow(n: int, work) -> FlowDefinition:
    return chain(n) if work is None else fan_out(n, work)


def chain(n: int) -> FlowDefinition:
    flow = FlowDefinition("chain")
    body = PythonNode(noop)
    for i in range(n):
        flow.node(f"c{i}", body)
        if i:
            flow.connect(f"c{i - 1}", f"c{i}")
    return flow


def timed(flow: FlowDefinition, executor: Executor) -> float:
    t0 = time.perf_counter()
    result = FlowRunner(flow, InMemoryRun(max_concurrency=MAX_CONCURRENCY), executor=executor).run_sync()
    wall = time.perf_counter() - t0
    assert result.execution_status is ExecutionStatusEnum.completed, result.error
    return wall


@dataclass
class Row:
    shape: str
    executor: str
    n: int
    work_s: float
    wall_s: float
    slots: int


def dask_cluster(workers: int, threads: int) -> DaskExecutor:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=threads, processes=True, dashboard_address=None
    )
    return DaskExecutor(Client(cluster), owns_client=True, cluster=cluster)


def warm_up(executor: Executor) -> None:
    """One small run first, so worker imports and the first pickles are not in the figures."""
    timed(fan_out(8, noop), executor)


def _identity(x: int) -> int:
    return x


def bare_dask(client, chain_n: int, fan_n: int) -> tuple[float, float]:
    """Seconds per task of Dask alone on the same cluster: a chain of round trips, a fan-out."""
    t0 = time.perf_counter()
    for i in range(chain_n):
        client.submit(_identity, i, pure=False).result()
    chain_s = (time.perf_counter() - t0) / chain_n
    t0 = time.perf_counter()
    client.gather([client.submit(_identity, i, pure=False) for i in range(fan_n)])
    return chain_s, (time.perf_counter() - t0) / fan_n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sleep-nodes", type=int, default=1000)
    parser.add_argument("--cpu-nodes", type=int, default=200)
    parser.add_argument("--noop-nodes", type=int, default=200)
    parser.add_argument("--chain-nodes", type=int, default=50)
    parser.add_argument("--work-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = args.work_ms / 1000
    shapes = [
        ("sleep", args.sleep_nodes, sleeper(work), work),
        ("cpu", args.cpu_nodes, burner(work), work),
        ("noop", args.noop_nodes, noop, 0.0),
        ("chain", args.chain_nodes, None, 0.0),
    ]
    rows: list[Row] = []

    def measure(label: str, executor: Executor, slots: int, skip: tuple[str, ...] = ()) -> None:
        for shape, n, fn, w in shapes:
            if shape in skip:
                continue
            used = 1 if shape == "chain" else min(slots, MAX_CONCURRENCY)
            rows.append(Row(shape, label, n, w, timed(shape_flow(n, fn), executor), used))
            print(f"  {shape:5} {label:15} {rows[-1].wall_s:7.2f} s", flush=True)

    # PythonNode runs sync callables in asyncio's default thread pool: min(32, cores + 4) threads.
    measure("local", executor_from_spec("local"), min(32, (os.cpu_count() or 1) + 4))

    spec = f"dask-local:{args.workers}"
    t0 = time.perf_counter()
    executor = executor_from_spec(spec)
    assert isinstance(executor, DaskExecutor)
    threads = sum(w["nthreads"] for w in executor.client.scheduler_info()["workers"].values())
    print(f"  ({spec}: {args.workers} processes, {threads} threads, up in {time.perf_counter() - t0:.1f} s)")
    try:
        warm_up(executor)
        measure(spec, executor, threads)
        bare = bare_dask(executor.client, args.chain_nodes, args.noop_nodes)
    finally:
        executor.close()

    # The same cluster with 8 threads a worker, for nodes that wait (CPU-bound ones only contend).
    wide = dask_cluster(args.workers, 8)
    try:
        warm_up(wide)
        measure(f"{spec} x8", wide, args.workers * 8, skip=("cpu", "chain"))
    finally:
        wide.close()

    print()
    head = ("shape", "executor", "nodes", "slots", "wall s", "speedup", "ideal s", "overhead/node")
    widths = (-6, -16, 5, 5, 7, 8, 7, 13)
    print(" ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    base = {r.shape: r.wall_s for r in rows if r.executor == "local"}
    for r in rows:
        ideal = r.n * r.work_s / r.slots
        overhead = (r.wall_s * r.slots - r.n * r.work_s) / r.n
        speedup = base[r.shape] / r.wall_s
        print(
            f"{r.shape:6} {r.executor:16} {r.n:5d} {r.slots:5d} {r.wall_s:7.2f} {speedup:7.2f}x"
            f" {ideal:7.2f} {overhead * 1000:10.2f} ms"
        )
    ours = {r.shape: r.wall_s / r.n for r in rows if r.executor == spec}
    print()
    print(
        f"bare Dask on the same cluster: {bare[0] * 1000:.2f} ms a round trip, "
        f"{bare[1] * 1000:.2f} ms a task in a {args.noop_nodes}-task fan-out; "
        f"the Dask executor: {ours['chain'] * 1000:.2f} ms "
        f"({ours['chain'] / bare[0]:.2f}x) and {ours['noop'] * 1000:.2f} ms ({ours['noop'] / bare[1]:.2f}x)"
    )
    print("speedup: the local executor's wall / this wall, both measured above (2 shared cores).")
    print("ideal: nodes x work / slots; overhead/node: (wall x slots - nodes x work) / nodes, the")
    print("slot-time each node costs beyond its work (chain: one node at a time, so its round trip).")


if __name__ == "__main__":  # Dask's worker processes import this module: keep the work behind this
    main()
