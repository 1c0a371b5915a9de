"""Durable flow benchmark: N trivial nodes with the SQLite store, µs per node and bytes per node.

Run: ``python bench/flow_durable.py [N ...]`` (default 1000 10000). Each case runs one flow of N
sequential PythonNodes (on the event loop, returning a small int) through a RunContext with the
SQLite store in a fresh temp dir, with tracing (JSONL) on and off, and each ``result_files`` mode
(``async`` mirror writes on a thread, ``sync`` on the loop, ``off``). It reports wall and CPU
time per node for the whole run (setup and the final flush included; on a shared machine the
wall time is noisy, CPU time less so), and what the run stored: SQLite bytes (db + WAL) per node,
and result.json bytes per node (logical, and as allocated on disk).
Targets (issue 5): < 300 µs per node durable; storage O(changed state).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from danaflow.flow.definition import FlowDefinition
from danaflow.flow.nodes.python import PythonNode
from danaflow.flow.runner import FlowRunner
from danaflow.observability import ObservabilitySettings
from danaflow.runs import RunContext


def build(n: int) -> FlowDefinition:
    flow = FlowDefinition()
    for i in range(n):
        flow.node(f"n{i}", PythonNode(lambda ctx, i=i: i, in_thread=False))
    return flow


def tree_bytes(root: Path, name: str) -> tuple[int, int]:
    """(logical bytes, allocated bytes) of the files called ``name`` under ``root``."""
    logical = allocated = 0
    for p in root.rglob(name):
        st = p.stat()
        logical += st.st_size
        allocated += st.st_blocks * 512
    return logical, allocated


def run_case(n: int, trace: bool, files: str) -> dict[str, float]:
    flow = build(n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = ObservabilitySettings(tracing=trace, exporters=("jsonl",), logs=True)
        t0, c0 = time.perf_counter(), time.process_time()
        rc = RunContext("flow", project_root=root, run_root=root / "runs",
                        observability_settings=settings, result_files=files)  # fmt: skip
        rc.setup_run("bench")
        result = asyncio.run(FlowRunner(flow, rc).run())
        rc.close()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert result.execution_status.value == "completed"
        db = root / "runs" / "danaflow.db"
        con = sqlite3.connect(db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = con.execute("SELECT count(*), sum(length(result)) FROM components").fetchone()
        con.close()
        db_bytes = sum(p.stat().st_size for p in db.parent.glob("danaflow.db*"))
        run_dir = root / "runs" / rc.run_id
        res_logical, res_alloc = tree_bytes(run_dir, "result.json")
        trace_bytes = (run_dir / "trace.jsonl").stat().st_size if trace else 0
        return {
            "us_per_node": elapsed / n * 1e6,
            "cpu_us_per_node": cpu / n * 1e6,
            "rows": rows[0],
            "result_json_per_row": rows[1] / rows[0],
            "db_per_node": db_bytes / n,
            "files_per_node": res_logical / n,
            "files_alloc_per_node": res_alloc / n,
            "trace_per_node": trace_bytes / n,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--no-trace", action="store_true")
    args = parser.parse_args()
    print(f"python {os.sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL")
    header = (f"{'nodes':>6} {'trace':>5} {'files':>5} {'wall µs':>8} {'cpu µs':>7} {'db B/node':>10} "
              f"{'row json B':>10} {'result.json B':>14} {'(on disk)':>10} {'trace B':>8}")  # fmt: skip
    print(header)
    for n in args.sizes:
        cases = [("async", True), ("async", False), ("sync", False), ("off", False)]
        for files, trace in cases:
            trace = trace and not args.no_trace
            r = run_case(n, trace, files)
            print(
                f"{n:>6} {'on' if trace else 'off':>5} {files:>5} {r['us_per_node']:>8.0f} "
                f"{r['cpu_us_per_node']:>7.0f} {r['db_per_node']:>10.0f} {r['result_json_per_row']:>10.0f} "
                f"{r['files_per_node']:>14.0f} {r['files_alloc_per_node']:>10.0f} {r['trace_per_node']:>8.0f}"
            )


if __name__ == "__main__":
    main()
