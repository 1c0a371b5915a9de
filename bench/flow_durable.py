"""Durable flow benchmark: N trivial nodes through the SQLite and PostgreSQL stores, µs and bytes per node.

Run: ``python bench/flow_durable.py [N ...]`` (default 1000 10000). Each case runs one flow of N
sequential PythonNodes (on the event loop, returning a small int) through a RunContext in a fresh
temp dir. SQLite: tracing (JSONL) on and off, and each ``result_files`` mode (``async`` mirror
writes on a thread, ``sync`` on the loop, ``off``). PostgreSQL (``--store URL``, default
``$DANAFLOW_BENCH_POSTGRES`` or the local server; a fresh schema, dropped after): the default
durable configuration (trace on, async files) with ``synchronous`` NORMAL (the default:
``synchronous_commit=off``) and FULL, printed beside the SQLite figure measured in the same run.
It reports wall and CPU time per node for the whole run (setup and the final flush included; on a
shared machine the wall time is noisy, CPU time less so), and what the run stored: store bytes
per node (SQLite db + WAL; PostgreSQL tables + indexes), and result.json bytes per node.
Targets (issue 10): SQLite < 300 µs per node durable; PostgreSQL < 1 ms; storage O(changed state).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sqlite3
import tempfile
import time
from pathlib import Path

from danaflow.flow.definition import FlowDefinition
from danaflow.flow.nodes.python import PythonNode
from danaflow.flow.runner import FlowRunner
from danaflow.observability import ObservabilitySettings
from danaflow.runs import RunContext

PG_TARGET_US = 1000.0


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


def sqlite_stored(root: Path) -> tuple[int, int, int]:
    """(rows, result JSON bytes, db + WAL bytes) of the SQLite store under ``root``."""
    db = root / "runs" / "danaflow.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows, json_bytes = con.execute("SELECT count(*), sum(length(result)) FROM components").fetchone()
    con.close()
    return rows, json_bytes, sum(p.stat().st_size for p in db.parent.glob("danaflow.db*"))


def postgres_stored(server: str, schema: str) -> tuple[int, int, int]:
    """(rows, result JSON bytes, table + index bytes) of the PostgreSQL store in ``schema``."""
    import psycopg

    with psycopg.connect(server) as conn:
        rows, json_bytes = conn.execute(
            f'SELECT count(*), sum(octet_length(result)) FROM "{schema}".components'
        ).fetchone()
        (size,) = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
    return rows, json_bytes, int(size)


def run_case(n: int, trace: bool, files: str, postgres: tuple[str, str] | None = None) -> dict[str, float]:
    """One run of ``n`` nodes; ``postgres`` is (server URL, synchronous mode) for the PostgreSQL store."""
    flow = build(n)
    schema = f"danaflow_bench_{os.getpid()}_{secrets.token_hex(3)}"
    store = None
    if postgres is not None:
        server, mode = postgres
        store = f"{server}{'&' if '?' in server else '?'}schema={schema}&synchronous={mode}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = ObservabilitySettings(tracing=trace, exporters=("jsonl",), logs=True)
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            rc = RunContext("flow", project_root=root, run_root=root / "runs", store=store or "sqlite",
                            observability_settings=settings, result_files=files)  # fmt: skip
            rc.setup_run("bench")
            result = asyncio.run(FlowRunner(flow, rc).run())
            rc.close()
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert result.execution_status.value == "completed"
            rows, json_bytes, store_bytes = (
                postgres_stored(postgres[0], schema) if postgres else sqlite_stored(root)
            )
        finally:
            if postgres is not None:
                drop_schema(postgres[0], schema)
        run_dir = root / "runs" / rc.run_id
        res_logical, res_alloc = tree_bytes(run_dir, "result.json")
        trace_bytes = (run_dir / "trace.jsonl").stat().st_size if trace else 0
        return {
            "us_per_node": elapsed / n * 1e6,
            "cpu_us_per_node": cpu / n * 1e6,
            "rows": rows,
            "result_json_per_row": json_bytes / rows,
            "db_per_node": store_bytes / n,
            "files_per_node": res_logical / n,
            "files_alloc_per_node": res_alloc / n,
            "trace_per_node": trace_bytes / n,
        }


def drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_server(url: str | None) -> tuple[str | None, str]:
    """(a reachable server URL, its version) or (None, why not)."""
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed (pip install 'danaflow[postgres]')"
    url = (
        url
        or os.environ.get("DANAFLOW_BENCH_POSTGRES")
        or f"postgresql://{getpass.getuser()}@127.0.0.1:5432/test"
    )
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            return url, str(conn.execute("SHOW server_version").fetchone()[0])
    except psycopg.Error as exc:
        return None, f"{url}: {str(exc).strip().splitlines()[0]}"


def row(n: int, store: str, trace: bool, files: str, r: dict[str, float]) -> str:
    return (
        f"{n:>6} {store:>11} {'on' if trace else 'off':>5} {files:>5} {r['us_per_node']:>8.0f} "
        f"{r['cpu_us_per_node']:>7.0f} {r['db_per_node']:>10.0f} {r['result_json_per_row']:>10.0f} "
        f"{r['files_per_node']:>14.0f} {r['files_alloc_per_node']:>10.0f} {r['trace_per_node']:>8.0f}"
    )


def median_case(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median wall time (its other figures come along)."""
    return sorted(runs, key=lambda r: r["us_per_node"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--no-trace", action="store_true")
    parser.add_argument("--postgres", "--store", metavar="URL", dest="postgres",
                        help="postgresql://user@host/db (default: the local server)")  # fmt: skip
    parser.add_argument("--no-postgres", action="store_true", help="SQLite cases only")
    parser.add_argument("--repeat", type=int, default=3, metavar="R",
                        help="interleaved rounds of the compared cases; medians shown")  # fmt: skip
    args = parser.parse_args()
    server, pg_info = (
        (None, "skipped (--no-postgres)") if args.no_postgres else postgres_server(args.postgres)
    )
    print(f"python {os.sys.version.split()[0]}, sqlite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL), "
          f"postgresql {pg_info}; compared cases: median of {args.repeat} interleaved rounds")  # fmt: skip
    header = (f"{'nodes':>6} {'store':>11} {'trace':>5} {'files':>5} {'wall µs':>8} {'cpu µs':>7} "
              f"{'db B/node':>10} {'row json B':>10} {'result.json B':>14} {'(on disk)':>10} "
              f"{'trace B':>8}")  # fmt: skip
    print(header)
    trace_on = not args.no_trace
    compared = [("sqlite", None)] + ([("pg normal", "NORMAL"), ("pg full", "FULL")] if server else [])
    summary = []
    for n in args.sizes:
        # The compared cases take turns, so a burst of load on a shared machine hits them alike.
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _ in compared}
        for _ in range(max(1, args.repeat)):
            for name, mode in compared:
                postgres = (server, mode) if mode is not None and server is not None else None
                rounds[name].append(run_case(n, trace_on, "async", postgres=postgres))
        medians = {name: median_case(runs) for name, runs in rounds.items()}
        print(row(n, "sqlite", trace_on, "async", medians["sqlite"]))
        for files, trace in [("async", False), ("sync", False), ("off", False)]:
            print(row(n, "sqlite", trace, files, run_case(n, trace, files)))
        for name, _ in compared[1:]:
            print(row(n, name, trace_on, "async", medians[name]))
        if server is not None:  # the store's own cost, without the result.json mirrors' file system
            bare = run_case(n, trace_on, "off", postgres=(server, "NORMAL"))
            print(row(n, "pg normal", trace_on, "off", bare))
        summary.append((n, medians))
    if server is None:
        print(f"postgresql: {pg_info}")
        return
    print(f"\ndefault durable configuration (trace {'on' if trace_on else 'off'}, async result files):")
    for n, m in summary:
        sq, pg, full = m["sqlite"], m["pg normal"], m["pg full"]
        verdict = "under" if pg["us_per_node"] < PG_TARGET_US else "OVER"
        print(
            f"{n:>6} nodes: postgresql {pg['us_per_node']:.0f} µs/node wall ({verdict} the "
            f"{PG_TARGET_US:.0f} µs target), {pg['us_per_node'] / sq['us_per_node']:.2f}x sqlite's "
            f"{sq['us_per_node']:.0f}; cpu {pg['cpu_us_per_node']:.0f} vs {sq['cpu_us_per_node']:.0f} µs "
            f"({pg['cpu_us_per_node'] / sq['cpu_us_per_node']:.2f}x); synchronous=FULL "
            f"{full['us_per_node']:.0f} µs ({full['us_per_node'] / sq['us_per_node']:.2f}x)"
        )


if __name__ == "__main__":
    main()
