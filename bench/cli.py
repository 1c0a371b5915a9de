"""CLI start-up benchmark: wall and CPU time of the commands a user types first, and what they import.

Run: ``python bench/cli.py [--repeat N]`` (default 9). Each command is the installed console script
(``danaflow`` beside this interpreter, else ``python -m danaflow.launcher``) in a fresh process:
``--version``, ``--help``, ``check examples/demo.na``, ``runs list`` and ``runs show latest`` over a
temp run root holding a few small runs. It prints each command's median wall time and median CPU
time (user + system of the child, from ``wait4``; on a shared 2-core machine wall time is noisy,
CPU time much less so), their ratio to a bare ``python -c pass`` measured in the same run, and the
verdict against the issue-11 target: every command under 0.3 s of CPU. Then, per command, the
imports that cost the most (``python -X importtime``, cumulative µs of top-level imports).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_CPU_S = 0.3

FLOW = """
from danaflow.flow.definition import FlowDefinition
from danaflow.flow.nodes.python import PythonNode

flow = FlowDefinition("bench")
for i in range(5):
    flow.node(f"n{i}", PythonNode(lambda ctx, i=i: i, in_thread=False))
"""


def launcher() -> list[str]:
    script = Path(sys.executable).with_name("danaflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "danaflow.launcher"]


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``; its output is discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


_IMPORT = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def top_imports(args: list[str], env: dict[str, str], cwd: Path, n: int = 6) -> list[tuple[str, int]]:
    """The ``n`` costliest top-level imports (cumulative µs) of ``danaflow ARGS``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "danaflow.launcher", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = _IMPORT.match(line)
        if m and len(m.group(3)) <= 1:  # the module itself and the imports made by the command
            rows.append((m.group(4), int(m.group(2))))
    return sorted(rows, key=lambda r: -r[1])[:n]


def make_runs(run_root: Path, env: dict[str, str]) -> None:
    module = run_root.parent / "bench_flow.py"
    module.write_text(FLOW)
    for _ in range(3):
        subprocess.run(
            [*launcher(), "run", f"{module}:flow", "--no-progress", "--run-root", str(run_root)],
            env=env,
            check=True,
            capture_output=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="Runs of each command (the median is shown).")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="danaflow-bench-cli-"))
    try:
        run_root = tmp / "runs"
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "DANAFLOW_LLM")}
        env["DANAFLOW_RUN_ROOT"] = str(run_root)
        make_runs(run_root, env)
        demo = str(ROOT / "examples" / "demo.na")
        commands = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "danaflow --version": [*launcher(), "--version"],
            "danaflow --help": [*launcher(), "--help"],
            "danaflow check examples/demo.na": [*launcher(), "check", demo],
            "danaflow runs list": [*launcher(), "runs", "list"],
            "danaflow runs show latest": [*launcher(), "runs", "show", "latest"],
        }
        for argv in commands.values():  # warm the page cache and the .pyc files once
            measure(argv, env, tmp)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeat):  # interleaved, so a burst of load hits every command alike
            for name, argv in commands.items():
                results[name].append(measure(argv, env, tmp))
        medians = {
            name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
            for name, runs in results.items()
        }
        base_wall, base_cpu = medians["python -c pass (baseline)"]
        print(f"CLI start-up, median of {args.repeat} runs each (target: CPU < {TARGET_CPU_S:.1f} s)")
        print(f"{'command':34} {'wall s':>7} {'cpu s':>7} {'cpu/python':>10}  verdict")
        failed = 0
        for name, (wall, cpu) in medians.items():
            baseline = name.startswith("python")
            verdict = "" if baseline else ("ok" if cpu < TARGET_CPU_S else "OVER")
            failed += verdict == "OVER"
            print(f"{name:34} {wall:7.3f} {cpu:7.3f} {cpu / base_cpu:9.1f}x  {verdict}")
        print(f"(python -c pass: {base_wall:.3f} s wall, {base_cpu:.3f} s cpu)")
        print()
        cmd_args = {
            "--help": ["--help"],
            "check examples/demo.na": ["check", demo],
            "runs list": ["runs", "list"],
        }
        for name, cmd in cmd_args.items():
            costs = ", ".join(f"{mod} {us / 1000:.0f} ms" for mod, us in top_imports(cmd, env, tmp))
            print(f"imports of danaflow {name}: {costs}")
        print()
        print("all under target" if not failed else f"{failed} command(s) over {TARGET_CPU_S} s of CPU")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
