"""Benchmarks the embedded model's decode speed by torch thread count, interleaved in rounds.

    python bench/llm_threads.py                 # 3 rounds of 32 tokens at 1 thread and at all cores
    python bench/llm_threads.py --tokens 64 --rounds 5

Why it exists: on a 2-core machine shared with other processes, 2 OpenMP threads decoded at
0.8 tokens/s where 1 thread did 5-9 tokens/s (the threads spin-wait on cores others want), which
is why the embedded model now defaults to half the cores (``default_threads``). Rounds interleave
the settings so load drift hits both alike; it prints each median and the ratio to the default.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from danaflow.llm.local import EmbeddedModel, default_threads

    engine = EmbeddedModel.get()
    ids = engine.encode_chat(({"role": "user", "content": "Describe a calm lake in a few sentences."},))
    settings = sorted({default_threads(), os.cpu_count() or 1})
    rates: dict[int, list[float]] = {n: [] for n in settings}
    for _ in range(args.rounds):
        for n in settings:
            engine.torch.set_num_threads(n)
            t0 = time.perf_counter()
            _, produced, _ = engine.generate(ids, max_new_tokens=args.tokens)
            rates[n].append(produced / (time.perf_counter() - t0))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores: {os.cpu_count()}, load average: {load:.1f}, default threads: {default_threads()}")
    base = statistics.median(rates[default_threads()])
    for n in settings:
        median = statistics.median(rates[n])
        ratio = median / base
        print(f"threads={n}: {median:6.1f} tokens/s (median of {args.rounds}), {ratio:5.2f}x the default")


if __name__ == "__main__":
    main()
