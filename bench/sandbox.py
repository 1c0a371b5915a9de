"""The cost of the sandbox's process boundary, measured against in-process execution in one run.

Run: python bench/sandbox.py [--calls N] [--nodes N] [--repeat N]

  round trip     ``run()`` of a small program (reads private:, writes public:, prints) through
                 the warm worker pool vs ``isolation="inprocess"``: p50 and p95 per call
  DanaNode       a chain of DanaNodes in an in-memory flow, per node, both isolations
  start-up       ``danaflow run hello.na`` (a cold worker), median wall time of several runs
  lang           bench/lang.py's cases: the program's own time in the worker (ExecutionOutcome.compute_s,
                 the exchange excluded) vs the same algorithm in CPython
Targets: pool round trip p50 and p95 < 5 ms; start-up < 0.5 s; every lang ratio <= 2.0.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from danaflow.flow import DanaNode, FlowDefinition, FlowRunner
from danaflow.lang.api import run
from danaflow.lang.pool import default_pool
from danaflow.lang.sandbox import SandboxContext


def _lang_bench():
    """bench/lang.py beside this file: its cases and its CPython timer."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import lang

    return lang


PROGRAM = """
n = private:count + 1
public:seen = n
print("step", n)
n * 2
"""


def round_trips(calls: int, isolation: str) -> list[float]:
    times = []
    for i in range(calls):
        ctx = SandboxContext(initial_private_state={"count": i})
        t0 = time.perf_counter()
        outcome = run(PROGRAM, ctx, isolation=isolation, print_sink=lambda s: None)
        times.append(time.perf_counter() - t0)
        assert outcome.error is None and outcome.value == 2 * (i + 1), outcome.error
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def dana_chain(nodes: int, isolation: str) -> float:
    flow = FlowDefinition("chain")
    node = DanaNode(program='public:last = "n"\nx = len(public:last)\nx', isolation=isolation)
    for i in range(nodes):
        flow.node(f"n{i}", node)
    t0 = time.perf_counter()
    result = asyncio.run(FlowRunner(flow).run())
    elapsed = time.perf_counter() - t0
    assert result.execution_status == "completed", result
    return elapsed / nodes


def startup(runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.na"
        hello.write_text('print("hello")\n')
        exe = Path(sys.executable).parent / "danaflow"
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = subprocess.run([str(exe), "run", str(hello)], capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t0)
            assert out.stdout == "hello\n", out
    return statistics.median(times)


def lang_ratios(repeat: int) -> list[tuple[str, float, float]]:
    lang = _lang_bench()
    rows = []
    for name, (dana_src, py_src) in lang.CASES.items():
        best = float("inf")
        for _ in range(repeat):
            outcome = run(dana_src, SandboxContext(), filename="<bench>")
            assert outcome.error is None, outcome.error
            best = min(best, outcome.compute_s)  # the program's own time in the worker
        py, _ = lang.time_python(py_src, repeat)
        rows.append((name, best, py))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    default_pool().warm()
    round_trips(20, "process")  # warm-up: compile cache, pool refill thread
    pool = round_trips(args.calls, "process")
    inproc = round_trips(args.calls, "inprocess")
    print(f"{'round trip':28} {'p50 ms':>8} {'p95 ms':>8}")
    for label, times in (("warm pool (process)", pool), ("in-process", inproc)):
        print(f"{label:28} {pct(times, 0.5) * 1e3:8.2f} {pct(times, 0.95) * 1e3:8.2f}")
    ok = pct(pool, 0.5) < 0.005 and pct(pool, 0.95) < 0.005
    print(f"target: pool p50 and p95 < 5 ms -> {'met' if ok else 'NOT met'}")
    ratio = pct(pool, 0.5) / pct(inproc, 0.5)
    print(f"process / in-process (p50): {ratio:.1f}x\n")

    per_proc = dana_chain(args.nodes, "process")
    per_in = dana_chain(args.nodes, "inprocess")
    print(
        f"DanaNode chain of {args.nodes}: process {per_proc * 1e3:.2f} ms/node, "
        f"in-process {per_in * 1e3:.2f} ms/node ({per_proc / per_in:.1f}x)\n"
    )

    s = startup(5)
    print(
        f"danaflow run hello.na (cold worker): {s:.3f} s "
        f"(target < 0.5 s: {'met' if s < 0.5 else 'NOT met'})\n"
    )

    print(f"{'case (in the worker)':44} {'Dana s':>8} {'CPython s':>10} {'ratio':>6}")
    worst = 0.0
    for name, dana, py in lang_ratios(args.repeat):
        worst = max(worst, dana / py)
        print(f"{name:44} {dana:8.4f} {py:10.4f} {dana / py:6.2f}")
    print(f"worst ratio {worst:.2f} (target <= 2.0: {'met' if worst <= 2.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
