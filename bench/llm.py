"""Benchmarks the LLM layer: the embedded model's speed, and our overhead over a bare SDK call.

    python bench/llm.py               # everything (loads the embedded model: ~20-30 s)
    python bench/llm.py --skip-local  # only the overhead against the fake server
    python bench/llm.py --calls 2000

The overhead is measured against the fake server in the same process and run: the same number of
``chat.completions.create`` calls through a bare ``openai`` client and through
``LLMResource.complete`` (request building, retry wrapper, accounting), interleaved in rounds so
drift on a shared machine hits both alike. Target: < 1 ms per call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pydantic import BaseModel

__all__ = ["main"]


class Country(BaseModel):
    name: str
    capital: str


def bench_local() -> None:
    from danaflow.llm import LLMResource
    from danaflow.llm.local import EmbeddedModel

    t0 = time.perf_counter()
    engine = EmbeddedModel.get()
    print(f"embedded model load:        {time.perf_counter() - t0:7.2f} s")

    prompt_ids = engine.encode_chat(({"role": "user", "content": "Write a short story about a robot."},))
    engine.generate(prompt_ids, max_new_tokens=4)  # warm-up
    t0 = time.perf_counter()
    _, n, _ = engine.generate(prompt_ids, max_new_tokens=64)
    dt = time.perf_counter() - t0
    print(f"generation:                 {n / dt:7.1f} tokens/s ({n} tokens in {dt:.2f} s)")

    llm = LLMResource(model="local:smollm2")
    t0 = time.perf_counter()
    answer = llm.reason("Give the name and the capital of France.", Country)
    dt = time.perf_counter() - t0
    print(f"typed struct answer:        {dt:7.2f} s -> {answer!r}")
    t0 = time.perf_counter()
    flag = llm.reason("Is Paris in France?", bool)
    print(f"bool answer (scored):       {time.perf_counter() - t0:7.2f} s -> {flag!r}")


def bench_overhead(calls: int, rounds: int) -> None:
    import openai

    from danaflow.testing.fake_llm import FakeLLMServer

    with FakeLLMServer() as fake:
        bare = openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
        llm = fake.resource()
        messages = [{"role": "user", "content": "ping"}]

        def run_bare() -> None:
            bare.chat.completions.create(model=fake.model, messages=messages, timeout=60.0)

        def run_ours() -> None:
            llm.complete(messages)

        for _ in range(50):  # warm both connection pools and code paths
            run_bare()
            run_ours()
        per_round = max(calls // rounds, 1)
        bare_times, ours_times = [], []
        for _ in range(rounds):
            for fn, sink in ((run_bare, bare_times), (run_ours, ours_times)):
                t0 = time.perf_counter()
                for _ in range(per_round):
                    fn()
                sink.append((time.perf_counter() - t0) / per_round)
        b, o = statistics.median(bare_times), statistics.median(ours_times)
        total = per_round * rounds
        how = f"median of {rounds} rounds, {total} calls"
        print(f"bare openai SDK call:       {b * 1e3:7.3f} ms/call ({how})")
        print(f"LLMResource.complete:       {o * 1e3:7.3f} ms/call ({how})")
        verdict = "within" if o - b < 1e-3 else "OVER"
        print(f"overhead of our layer:      {(o - b) * 1e3:7.3f} ms/call ({verdict} the 1 ms target)")
        print(f"ratio ours / bare:          {o / b:7.3f}")


_MCP_SERVER = """
from mcp.server import MCPServer

server = MCPServer("bench")


@server.tool()
def echo(x: int) -> int:
    return x


server.run()
"""


def bench_mcp(calls: int = 200) -> None:
    """MCP tool call overhead over stdio: the median of ``calls`` calls of a trivial tool through
    MCPResource (a sync call from this thread, argument validation, the resource's loop thread),
    beside the bare SDK's ``Client.call_tool`` against a second copy of the same server, the two
    taking turns call by call so drift on a shared machine hits both alike. Target: < 5 ms/call."""
    import asyncio
    import tempfile

    try:
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters
    except ImportError:
        print("mcp tool call over stdio:   skipped (pip install 'danaflow[mcp]')")
        return
    from danaflow.context.mcp import MCPResource

    async def measure(script: Path) -> tuple[list[float], list[float]]:
        bare_times: list[float] = []
        ours_times: list[float] = []
        params = StdioServerParameters(command=sys.executable, args=[str(script)])
        async with Client(params) as client:
            with MCPResource("bench", command=[sys.executable, str(script)]) as server:
                echo = server.tool("echo")  # connects (blocking this loop meanwhile is fine)
                for i in range(20):  # warm both sessions
                    await client.call_tool("echo", {"x": i})
                    echo.call(x=i)
                for i in range(calls):  # call by call in turn
                    t0 = time.perf_counter()
                    await client.call_tool("echo", {"x": i})
                    t1 = time.perf_counter()
                    echo.call(x=i)
                    t2 = time.perf_counter()
                    bare_times.append(t1 - t0)
                    ours_times.append(t2 - t1)
        return bare_times, ours_times

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_server.py"
        script.write_text(_MCP_SERVER, encoding="utf-8")
        bare_times, ours_times = asyncio.run(measure(script))
    b, o = statistics.median(bare_times), statistics.median(ours_times)
    how = f"median of {len(ours_times)} calls, stdio"
    verdict = "within" if o < 5e-3 else "OVER"
    print(f"bare mcp SDK call_tool:     {b * 1e3:7.3f} ms/call ({how})")
    print(f"MCPResource tool call:      {o * 1e3:7.3f} ms/call ({how}; {verdict} the 5 ms target)")
    print(f"our layer over the SDK:     {(o - b) * 1e3:7.3f} ms/call (ratio {o / b:.3f})")


def bench_tool_round(calls: int = 300) -> None:
    """The overhead of one tool-call round: a turn that asks for a tool, the call, the results sent
    back and the final answer, through ``LLMResource.run_tools`` (request building, argument
    validation, the call's span, the tool messages, accounting) beside the same two HTTP exchanges
    by hand with the bare ``openai`` SDK and a direct call of the function, against the fake server
    (no model time), taking turns round by round. Target: < 2 ms per round."""
    import json

    import openai

    from danaflow.context import ToolResource
    from danaflow.testing.fake_llm import FakeLLMServer

    def add(a: int, b: int) -> int:
        return a + b

    tool = ToolResource("add", "Adds two integers", func=add)
    schema = tool.parameters
    with FakeLLMServer() as fake:
        answered = lambda req: req.body["messages"][-1]["role"] == "tool"  # noqa: E731
        fake.add_rule(answered, "3")
        fake.default_reply = fake.tool_calls(("add", {"a": 1, "b": 2}))
        bare = openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
        llm = fake.resource()
        tools = [{"type": "function", "function": {"name": "add", "description": "", "parameters": schema}}]

        def run_bare() -> None:
            messages: list[dict] = [{"role": "user", "content": "1 + 2?"}]
            first = bare.chat.completions.create(
                model=fake.model, messages=messages, tools=tools, timeout=60.0
            )
            asked = first.choices[0].message
            call = asked.tool_calls[0]
            value = add(**json.loads(call.function.arguments))
            messages.append(asked.model_dump(exclude_none=True))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": str(value)})
            bare.chat.completions.create(model=fake.model, messages=messages, tools=tools, timeout=60.0)

        def run_ours() -> None:
            llm.run_tools("1 + 2?", [tool])

        for _ in range(30):  # warm both connection pools and code paths
            run_bare()
            run_ours()
        bare_times, ours_times = [], []
        for _ in range(calls):
            t0 = time.perf_counter()
            run_bare()
            t1 = time.perf_counter()
            run_ours()
            t2 = time.perf_counter()
            bare_times.append(t1 - t0)
            ours_times.append(t2 - t1)
    b, o = statistics.median(bare_times), statistics.median(ours_times)
    how = f"median of {calls} rounds, 2 HTTP exchanges each"
    verdict = "within" if o - b < 2e-3 else "OVER"
    print(f"bare SDK tool round:        {b * 1e3:7.3f} ms/round ({how})")
    print(f"LLMResource.run_tools:      {o * 1e3:7.3f} ms/round ({how})")
    overhead = f"{(o - b) * 1e3:7.3f} ms/round ({verdict} the 2 ms target; ratio {o / b:.3f})"
    print(f"tool-round overhead:        {overhead}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-local", action="store_true", help="do not load the embedded model")
    parser.add_argument("--calls", type=int, default=1000, help="calls per side for the overhead")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    args = parser.parse_args(argv)
    bench_overhead(args.calls, args.rounds)
    bench_tool_round()
    bench_mcp()
    if not args.skip_local:
        bench_local()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
