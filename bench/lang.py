"""Dana vs CPython on the same algorithms, in one process run; plus CLI start-up and peak memory.

Run: python bench/lang.py [--repeat N]

Each case is written once in Dana and once in Python (inside a function, as Dana's top level is
compiled into one). Times are the best of N runs; the Dana time includes the per-run set-up of a
SandboxContext but not parsing (the compiled code is cached, as it is for a program run twice).
Target: every Dana/CPython ratio <= 2.0; CLI hello-world start-up < 0.5 s. Compile times (parse
and compile, no cache) of a 5,000-line program and of 100,000-element / 100,000-statement
sources come last, against CPython compiling the same text.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from danaflow.lang.api import run
from danaflow.lang.compiler import compile_program

CASES: dict[str, tuple[str, str]] = {}

CASES["while-loop sum 1..2,000,000"] = (
    """
total = 0
i = 1
while i <= 2000000:
    total = total + i
    i = i + 1
total
""",
    """
def main():
    total = 0
    i = 1
    while i <= 2000000:
        total = total + i
        i = i + 1
    return total
""",
)

CASES["recursive fib(25)"] = (
    """
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
fib(25)
""",
    """
def main():
    def fib(n):
        if n < 2:
            return n
        return fib(n - 1) + fib(n - 2)
    return fib(25)
""",
)

CASES["string of 200,000 parts"] = (
    """
parts = []
for i in range(200000):
    parts.append(str(i))
s = "".join(parts)
len(s)
""",
    """
def main():
    parts = []
    for i in range(200000):
        parts.append(str(i))
    s = "".join(parts)
    return len(s)
""",
)

CASES["list comprehension over 1,000,000"] = (
    """
squares = [x * x for x in range(1000000) if x % 3 != 0]
len(squares)
""",
    """
def main():
    squares = [x * x for x in range(1000000) if x % 3 != 0]
    return len(squares)
""",
)

STRUCT_DANA = """
struct Point:
    x: int
    y: int
p = Point(x=0, y=0)
for i in range(200000):
    p.x = p.x + 1
    p.y = p.y + i
p.x + p.y
"""

STRUCT_PLAIN = """
class Point:
    __slots__ = ("x", "y")
    def __init__(self, x, y):
        self.x = x
        self.y = y
def main():
    p = Point(x=0, y=0)
    for i in range(200000):
        p.x = p.x + 1
        p.y = p.y + i
    return p.x + p.y
"""

STRUCT_PYDANTIC = """
class Point(BaseModel):
    model_config = ConfigDict(validate_assignment=True)
    x: int
    y: int
def main():
    p = Point(x=0, y=0)
    for i in range(200000):
        p.x = p.x + 1
        p.y = p.y + i
    return p.x + p.y
"""
CASES["struct field updates (200,000 x 2)"] = (STRUCT_DANA, STRUCT_PLAIN)


def best(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def time_dana(source: str, repeat: int) -> tuple[float, object]:
    compile_program(source, "<bench>")  # warm the code cache: we time execution, not parsing

    def go():
        outcome = run(source, filename="<bench>")
        if outcome.error:
            raise outcome.error
        return outcome.value

    return best(go, repeat)


def time_python(source: str, repeat: int) -> tuple[float, object]:
    ns: dict = {"BaseModel": BaseModel, "ConfigDict": ConfigDict}
    exec(compile(source, "<bench-py>", "exec"), ns)
    return best(ns["main"], repeat)


def cli_startup(runs: int = 7) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.na"
        hello.write_text('print("hello")\n')
        exe = Path(sys.executable).parent / "danaflow"
        cmd = (
            [str(exe), "run", str(hello)]
            if exe.exists()
            else [sys.executable, "-m", "danaflow.cli", "run", str(hello)]
        )
        times, peak = [], 0
        for _ in range(runs):
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t)
            assert out.stdout == "hello\n", out
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare = time.perf_counter() - t
        return statistics.median(times), bare, peak


# ---- compile time (issue 15: a 5,000-line program; a 100,000-element literal and 100,000
# statements compile in < 2 s). The baseline is CPython compiling the same text as Python.
# Measured here (2 shared cores): 5,000 lines 0.35 s, the 100,000-element literal 1.3-1.4 s,
# 100,000 statements 4.7-4.9 s (parse 2.9 s: Lark's scanners and our LALR loop, about 7 us a
# statement; resolve + code generation 1.5 s, of which ast.fix_missing_locations is about 0.5 s;
# CPython's compile() of the generated tree 0.2-0.3 s). Parsing in pure Python at about 1 us a
# token is the floor while the parser is Python: 400,000 tokens alone are ~1.5 s with a table loop.

_BLOCK = """def f{i}(n):
    total = 0
    for k in range(n):
        if k % 3 == 0:
            total += k * 2
        else:
            total -= 1
    return total
r{i} = [f{i}(j) for j in range(3)]
"""


def compile_cases() -> dict[str, str]:
    """Sources that are valid Dana and valid Python alike."""
    return {
        "5,000-line program": "".join(_BLOCK.format(i=i) for i in range(500)),
        "100,000-element list literal": "x = [" + ", ".join(str(i) for i in range(100_000)) + "]\n",
        "100,000 statements": "".join(f"v{i % 100} = {i}\n" for i in range(100_000)),
    }


def compile_times() -> None:
    print(f"{'compile':40} {'Dana s':>9} {'CPython s':>10} {'ratio':>7}")
    for name, source in compile_cases().items():
        t = time.perf_counter()
        compile_program(source, f"<compile {name}>")  # a new filename each time: never cached
        td = time.perf_counter() - t
        t = time.perf_counter()
        compile(source, "<py>", "exec")
        tp = time.perf_counter() - t
        print(f"{name:40} {td:9.3f} {tp:10.3f} {td / tp:7.1f}")
    print("compile target: < 2 s each for the 100,000 cases")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    # Start-up first: a child forked from this process once it holds the big lists below would
    # report this process's memory as its own peak.
    median, bare, peak = cli_startup()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; best of {args.repeat}")
    print(f"{'case':40} {'Dana s':>9} {'CPython s':>10} {'ratio':>7}")
    worst = 0.0
    for name, (dana, py) in CASES.items():
        td, vd = time_dana(dana, args.repeat)
        tp, vp = time_python(py, args.repeat)
        if vd != vp:
            raise SystemExit(f"{name}: Dana computed {vd!r}, CPython {vp!r}")
        ratio = td / tp
        worst = max(worst, ratio)
        print(f"{name:40} {td:9.4f} {tp:10.4f} {ratio:7.2f}")
    tv, _ = time_python(STRUCT_PYDANTIC, args.repeat)
    td, _ = time_dana(STRUCT_DANA, args.repeat)
    print(f"{'  same, vs a validated pydantic model':40} {td:9.4f} {tv:10.4f} {td / tv:7.2f}")
    print(f"worst ratio: {worst:.2f} (target <= 2.0)")
    print(
        f"CLI start-up, `danaflow run hello.na`: median {median:.3f} s (bare python: {bare:.3f} s; "
        "target < 0.5 s)"
    )
    print(f"CLI peak RSS: {peak / 1024:.1f} MiB")
    compile_times()
    print(f"this process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
