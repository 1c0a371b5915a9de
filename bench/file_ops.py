"""File-system nodes: escapes under a symlink-swapping racer, and what the descriptor walk costs.

Run: python bench/file_ops.py [--tries 400] [--files 1000] [--repeat 5]

  race      a child process swaps base/sub (a directory) with a symlink to a directory outside
            the base (renameat2 RENAME_EXCHANGE where libc has it) while files are written under
            sub/, --tries runs each: the check-then-write baseline (resolve the path, check it is
            inside, then mkdir/mkstemp/os.replace by name: what FileOperationNode did before)
            against FileOperationNode, staged and unstaged. Prints the files that landed outside.
  write     one FileOperationNode run creating --files files in 10 directories, against the
            baseline writing the same files by name (no race); best of --repeat.
  walk      FolderAnalyzerNode get_structure over 20 x 250 files against os.walk + lstat over
            the same tree; best of --repeat.
The target for race is 0 escapes for the node; write and walk print the node/baseline ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from danaflow.flow import (
    FileOperationNode,
    FileOperationNodeSettings,
    FlowDefinition,
    FlowRunner,
    FolderAnalyzerNode,
    FolderAnalyzerSettings,
)
from danaflow.flow.nodes import FileOperation, FolderAnalysisOperation

RACER = r"""
import ctypes, os, signal, sys
base, outside = sys.argv[1], sys.argv[2]
sub, real, link = (os.path.join(base, n) for n in ("sub", "sub.real", "sub.link"))
os.symlink(outside, link)
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = getattr(libc, "renameat2", None)
a, b = sub.encode(), link.encode()
def exchange():
    if renameat2 is not None and renameat2(-100, a, -100, b, 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
        return
    for src, dst in ((sub, real), (link, sub), (sub, link), (real, sub)):
        try:
            os.rename(src, dst)
        except OSError:
            pass
cycles = 0
def stop(*_):
    print(cycles, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    exchange()
    exchange()
    cycles += 1
    if cycles == 1:
        print("ready", flush=True)
"""


def baseline_write(base: Path, rel: str, content: str) -> None:
    """Check, then write by name: the pre-descriptor FileOperationNode in a few lines."""
    root = base.resolve()
    target = (root / rel).resolve()
    if root not in target.parents:
        raise PermissionError(f"{rel!r} escapes {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
    os.replace(tmp, target)


async def node_write(base: Path, ops: list[FileOperation], stage: bool) -> bool:
    node = FileOperationNode(
        settings=FileOperationNodeSettings(base_directory=str(base), operations=ops, stage=stage)
    )
    result = await FlowRunner(FlowDefinition("f").node("ops", node)).run()
    return result.get_result("ops").error is None


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


async def race(kind: str, tries: int) -> tuple[int, int, int]:
    """(files outside, successful tries, racer cycles) for one writer under the racer."""
    with tempfile.TemporaryDirectory() as tmp:
        base, outside = Path(tmp, "base"), Path(tmp, "outside")
        (base / "sub").mkdir(parents=True)
        outside.mkdir()
        racer = subprocess.Popen(
            [sys.executable, "-c", RACER, str(base), str(outside)], stdout=subprocess.PIPE, text=True
        )
        ok = 0
        try:
            assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
            for i in range(tries):
                if kind == "baseline":
                    try:
                        baseline_write(base, f"sub/f{i}.txt", "data")
                        ok += 1
                    except OSError:
                        pass
                else:
                    op = FileOperation(type="create_file", path=f"sub/f{i}.txt", content="data")
                    ok += await node_write(base, [op], stage=kind == "node staged")
        finally:
            racer.terminate()
            cycles = int(racer.communicate(timeout=10)[0].strip())
        return count_files(outside), ok, cycles


def best(repeat: int, run: Callable[[Path], object]) -> float:
    """The best time of ``run`` over ``repeat`` calls, each given a fresh empty directory."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run(Path(tmp))
            times.append(time.perf_counter() - t)
    return min(times)


def make_tree(root: Path, dirs: int, files: int) -> None:
    for d in range(dirs):
        (root / f"d{d}").mkdir()
        for f in range(files):
            (root / f"d{d}/f{f}.txt").write_text("x" * 20)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=400)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print(f"race: {args.tries} tries each, sub/ swapped for a symlink to outside/ by a child process")
    for kind in ("baseline", "node unstaged", "node staged"):
        escapes, ok, cycles = await race(kind, args.tries)
        rate = 100 * escapes / args.tries
        print(f"  {kind:14} {escapes:4} files outside ({rate:.1f}%), {ok} writes succeeded, {cycles} swaps")

    names = [f"d{i % 10}/f{i}.txt" for i in range(args.files)]
    ops = [FileOperation(type="create_file", path=n, content="data\n") for n in names]

    def run_baseline(base: Path) -> None:
        for n in names:
            baseline_write(base, n, "data\n")

    def run_node(base: Path) -> None:
        assert asyncio.run(node_write(base, ops, stage=True))

    t_base = await asyncio.to_thread(best, args.repeat, run_baseline)
    t_node = await asyncio.to_thread(best, args.repeat, run_node)
    print(f"write: {args.files} files in 10 dirs")
    print(f"  baseline (by name)   {t_base * 1e3:8.1f} ms  {t_base / args.files * 1e6:6.1f} us/file")
    print(f"  FileOperationNode    {t_node * 1e3:8.1f} ms  {t_node / args.files * 1e6:6.1f} us/file")
    print(f"  ratio node/baseline  {t_node / t_base:8.2f}x")

    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        make_tree(tree, 20, 250)
        op = FolderAnalysisOperation(type="get_structure", max_files=10_000)
        node = FolderAnalyzerNode(settings=FolderAnalyzerSettings(base_directory=str(tree), operations=[op]))

        def run_walk(_: Path) -> None:
            for dirpath, dirnames, filenames in os.walk(tree):
                for name in dirnames + filenames:
                    os.lstat(os.path.join(dirpath, name))

        def run_analyzer(_: Path) -> None:
            result = asyncio.run(FlowRunner(FlowDefinition("f").node("scan", node)).run())
            assert result.get_result("scan").outcome.results[0]["total_files"] == 5000

        t_walk = await asyncio.to_thread(best, args.repeat, run_walk)
        t_an = await asyncio.to_thread(best, args.repeat, run_analyzer)
    print("walk: 20 dirs x 250 files")
    print(f"  os.walk + lstat      {t_walk * 1e3:8.1f} ms")
    print(f"  FolderAnalyzerNode   {t_an * 1e3:8.1f} ms")
    print(f"  ratio node/baseline  {t_an / t_walk:8.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
