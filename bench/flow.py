"""In-memory flow runner overhead: chains and a joined fan-out, optionally against LangGraph.

Run: python bench/flow.py [--repeat N] [--no-langgraph]

Shapes, each with trivial async nodes (the work is nil, so the time is the runner's):
  chain-1k / chain-10k   n nodes connected a0 -> a1 -> ... (the DAG scheduler, run inline)
  seq-10k                n nodes without connections (the in-order path)
  fanout-1000            start -> 1,000 independent nodes -> join (1,002 nodes, concurrent)
Times are the best of N runs and include validation and compilation of the definition.
Targets: < 50 us/node, linear from 1k to 10k, the 1,000-way fan-out < 0.3 s.
Then the retry and cache policies (issue 13): chain-1k with a RetryPolicy and a CachePolicy on
every node, neither triggered (< 50 us/node in memory), and a chain whose every node is a cache
hit on a SQLite run store (< 1 ms/node), each beside its baseline measured in the same run.
Then streaming (issue 13 item 3): chain-1k through ``FlowRunner.stream(mode=...)`` beside
``run()``, in turns (tokens and results < 10% over run(); all three modes, info).
If ``langgraph`` is importable the same shapes run as StateGraphs in the same process, and the
ratio langgraph/danaflow is printed (langgraph is not a danaflow dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import operator
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

from danaflow.context import ExecutionStatusEnum
from danaflow.flow import FlowDefinition, FlowRunner, PythonNode


async def _noop(ctx: Any) -> None:
    return None


def chain(n: int, connect: bool = True) -> FlowDefinition:
    flow = FlowDefinition("chain")
    node = PythonNode(_noop)
    for i in range(n):
        flow.node(f"n{i}", node)
    if connect:
        for i in range(n - 1):
            flow.connect(f"n{i}", f"n{i + 1}")
    return flow


def fanout(width: int) -> FlowDefinition:
    flow = FlowDefinition("fanout")
    node = PythonNode(_noop)
    flow.node("start", node).node("join", node)
    for i in range(width):
        flow.node(f"w{i}", node).connect("start", f"w{i}").connect(f"w{i}", "join")
    return flow


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def best_of(repeat: int, make: Callable[[], Awaitable[Any]]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        await make()
        best = min(best, time.perf_counter() - t0)
    return best


async def run_danaflow(flow: FlowDefinition) -> None:
    result = await FlowRunner(flow).run()
    assert result.execution_status is ExecutionStatusEnum.completed, result.error


# ---- LangGraph, the same shapes --------------------------------------------------------------------
class _State(TypedDict):
    hits: Annotated[int, operator.add]


async def _lg_noop(state: _State) -> dict[str, int]:
    return {"hits": 1}


def lg_chain(n: int) -> Any:
    from langgraph.graph import END, START, StateGraph

    g = StateGraph(_State)
    for i in range(n):
        g.add_node(f"n{i}", _lg_noop)
    g.add_edge(START, "n0")
    for i in range(n - 1):
        g.add_edge(f"n{i}", f"n{i + 1}")
    g.add_edge(f"n{n - 1}", END)
    return g.compile()


def lg_fanout(width: int) -> Any:
    from langgraph.graph import END, START, StateGraph

    g = StateGraph(_State)
    g.add_node("start", _lg_noop)
    g.add_node("join", _lg_noop)
    g.add_edge(START, "start")
    names = [f"w{i}" for i in range(width)]
    for name in names:
        g.add_node(name, _lg_noop)
        g.add_edge("start", name)
    g.add_edge(names, "join")
    g.add_edge("join", END)
    return g.compile()


async def run_langgraph(graph: Any, steps: int, expected: int) -> None:
    out = await graph.ainvoke({"hits": 0}, {"recursion_limit": steps + 10})
    assert out["hits"] == expected, out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-langgraph", action="store_true")
    args = parser.parse_args()
    try:
        if args.no_langgraph:
            raise ImportError
        import langgraph  # noqa: F401

        have_lg = True
    except ImportError:
        have_lg = False

    shapes: list[tuple[str, int, Callable[[], FlowDefinition], Callable[[], Any] | None, int]] = [
        ("chain-1k", 1000, lambda: chain(1000), lambda: (lg_chain(1000), 1000, 1000), 1000),
        ("chain-10k", 10000, lambda: chain(10000), lambda: (lg_chain(10000), 10000, 10000), 10000),
        ("seq-10k", 10000, lambda: chain(10000, connect=False), None, 10000),
        ("fanout-1000", 1002, lambda: fanout(1000), lambda: (lg_fanout(1000), 3, 1002), 1002),
    ]
    print(f"{'shape':<13} {'nodes':>6} {'danaflow s':>11} {'us/node':>8} {'peak RSS MB':>12}", end="")
    print(f" {'langgraph s':>12} {'us/node':>8} {'ratio lg/df':>11}" if have_lg else "")
    per_node: dict[str, float] = {}
    for name, nodes, make, make_lg, _ in shapes:
        flow = make()
        secs = await best_of(args.repeat, lambda flow=flow: run_danaflow(flow))
        per_node[name] = secs / nodes * 1e6
        line = f"{name:<13} {nodes:>6} {secs:>11.4f} {per_node[name]:>8.1f} {peak_rss_mb():>12.1f}"
        if have_lg and make_lg is not None:
            graph, steps, expected = make_lg()
            lg_repeat = 1 if nodes >= 10000 else args.repeat
            lg_secs = await best_of(lg_repeat, lambda g=graph, s=steps, e=expected: run_langgraph(g, s, e))
            line += f" {lg_secs:>12.4f} {lg_secs / nodes * 1e6:>8.1f} {lg_secs / secs:>11.1f}x"
        print(line, flush=True)
    print()
    ratio = per_node["chain-10k"] / per_node["chain-1k"]
    print(f"linearity: chain-10k / chain-1k per-node time = {ratio:.2f}")
    print(f"peak RSS of the whole run: {peak_rss_mb():.1f} MB")
    await policy_figures(args.repeat)
    await streaming_figures(args.repeat)


# ---- retry and cache policies (issue 13) ---------------------------------------------------------
def policy_chain(n: int, *, policies: bool, node: Any = None, variables: dict[str, Any] | None = None) -> Any:
    from danaflow.flow.policies import CachePolicy, RetryPolicy

    flow = FlowDefinition("chain").vars(variables or {})
    node = node or PythonNode(_noop)
    retry, cache = (RetryPolicy(max_attempts=3), CachePolicy()) if policies else (None, None)
    for i in range(n):
        flow.node(f"n{i}", node, retry=retry, cache=cache)
    for i in range(n - 1):
        flow.connect(f"n{i}", f"n{i + 1}")
    return flow


async def durable_run(flow: Any, root: Any, **options: Any) -> Any:
    from danaflow.runs.context import RunContext

    run_context = RunContext("chain", project_root=root, run_root=root / "runs", store="sqlite", **options)
    run_context.setup_run("bench")
    try:
        result = await FlowRunner(flow, run_context).run()
    finally:
        run_context.close()
    assert result.execution_status is ExecutionStatusEnum.completed, result.error
    return result


async def policy_figures(repeat: int) -> None:
    import itertools
    import tempfile
    from pathlib import Path

    from danaflow.flow.seam import InMemoryRun
    from danaflow.runs.cache import StoreResultCache
    from danaflow.runs.store import MemoryRunStore

    n = 1000
    print("\nretry and cache policies (issue 13)")
    plain, declared = policy_chain(n, policies=False), policy_chain(n, policies=True)
    base = await best_of(repeat, lambda: run_danaflow(plain))
    with_policies = await best_of(repeat, lambda: run_danaflow(declared))
    per_base, per_policies = base / n * 1e6, with_policies / n * 1e6
    print(f"  chain-1k in memory, no policies             {per_base:8.1f} us/node")
    print(f"  chain-1k in memory, RetryPolicy+CachePolicy {per_policies:8.1f} us/node  "
          f"(+{per_policies - per_base:.1f} us, x{per_policies / per_base:.2f})  target < 50 us/node: "
          f"{'ok' if per_policies < 50 else 'MISSED'}")  # fmt: skip

    # Informational: the same with an in-memory cache attached, every node a miss (keyed and stored).
    cache = StoreResultCache(MemoryRunStore())
    fresh = itertools.count()

    async def missing() -> None:
        flow = policy_chain(n, policies=True, variables={"round": next(fresh)})
        result = await FlowRunner(flow, InMemoryRun(result_cache=cache)).run()
        assert result.execution_status is ExecutionStatusEnum.completed, result.error

    miss = await best_of(repeat, missing) / n * 1e6
    print(f"  chain-1k in memory, cache attached, misses  {miss:8.1f} us/node  (info: key + store per node)")

    m = 200
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        durable_plain = policy_chain(m, policies=False)
        durable_cached = policy_chain(m, policies=True)
        await durable_run(durable_cached, root)  # fills the cache
        plain_s = await best_of(repeat, lambda: durable_run(durable_plain, root))
        hit_s = await best_of(repeat, lambda: durable_run(durable_cached, root))
        result = await durable_run(durable_cached, root)
        assert all(r.cached for r in result.results.values()), "every node should be a cache hit"
        per_plain, per_hit = plain_s / m * 1e3, hit_s / m * 1e3
        print(f"  chain-{m} on SQLite, executed, no policies   {per_plain:8.3f} ms/node")
        print(f"  chain-{m} on SQLite, every node a cache hit {per_hit:8.3f} ms/node  "
              f"(+{per_hit - per_plain:.3f} ms over executing)  target < 1 ms/node: "
              f"{'ok' if per_hit < 1 else 'MISSED'}")  # fmt: skip

        k = 50
        dana = policy_chain(k, policies=True, node=_dana_node())
        await durable_run(dana, root)
        dana_s = await best_of(repeat, lambda: durable_run(dana, root))
        print(f"  chain-{k} DanaNodes on SQLite, cache hits   {dana_s / k * 1e3:8.3f} ms/node  (info)")


def _dana_node() -> Any:
    from danaflow.flow import DanaNode

    return DanaNode("answer = 21 * 2\nanswer")


# ---- streaming (issue 13 item 3) ------------------------------------------------------------------
async def stream_danaflow(flow: FlowDefinition, mode: Any) -> int:
    runner = FlowRunner(flow)
    items = 0
    async for _ in runner.stream(mode=mode):
        items += 1
    assert runner.result is not None and runner.result.execution_status is ExecutionStatusEnum.completed
    return items


async def streaming_figures(repeat: int) -> None:
    """chain-1k through ``FlowRunner.stream(mode=...)`` beside ``run()``, measured in turns (one
    round of each, best of several rounds) so a busy machine weighs on both alike."""
    import danaflow.llm.streaming  # noqa: F401  (imported by the first token stream; not timed)

    n = 1000
    flow = chain(n)
    shapes: list[tuple[str, Any]] = [
        ("run()", None),
        ("stream(mode='tokens')", "tokens"),
        ("stream(mode='results')", "results"),
        ("stream(all three modes)", ("events", "results", "tokens")),
    ]
    best = {name: float("inf") for name, _ in shapes}
    items: dict[str, int] = {}
    for _ in range(max(repeat, 11)):  # the best of many short rounds: noise here is +-5%
        for name, mode in shapes:
            if mode is None:
                secs = await best_of(1, lambda: run_danaflow(flow))
            else:
                got: list[int] = []
                secs = await best_of(1, lambda mode=mode, got=got: _count_into(got, flow, mode))
                items[name] = got[-1]
            best[name] = min(best[name], secs)
    base = best["run()"]
    print("\nstreaming (issue 13 item 3): chain-1k in memory, best of the rounds")
    for name, _ in shapes:
        per = best[name] / n * 1e6
        line = f"  {name:<24} {per:8.1f} us/node"
        if name != "run()":
            extra = best[name] / base - 1
            line += f"  ({items[name]:>4} items, {extra:+.1%} over run())"
            if name != "stream(all three modes)":
                line += f"  target < +10%: {'ok' if extra < 0.10 else 'MISSED'}"
            else:
                line += "  (info: 4 events a node)"
        print(line)


async def _count_into(got: list[int], flow: FlowDefinition, mode: Any) -> None:
    got.append(await stream_danaflow(flow, mode))


if __name__ == "__main__":
    asyncio.run(main())
