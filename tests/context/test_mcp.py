"""MCPResource against a small MCP server these tests write (the SDK's MCPServer), run as a real
subprocess over stdio and over streamable HTTP on 127.0.0.1: listing, calls, tool errors, calls
refused by the schema before they reach the server, a server killed mid-session, close(), the
context closing it, and Dana's ``use("files").read_file(...)`` through the capability boundary."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

pytest.importorskip("mcp")

import danaflow
from danaflow.context import ExecutionContext, ToolResource
from danaflow.context.mcp import MCPResource, MCPTool
from danaflow.errors import ResourceError

SERVER = textwrap.dedent(
    '''
    """A small MCP server for the tests: files, arithmetic, an erroring tool, its own pid."""
    import os
    import socket
    import sys
    from typing import Annotated

    from pydantic import Field

    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("files")
    calls = 0


    @server.tool()
    def read_file(path: str) -> str:
        """Reads a text file (relative to the server's directory)."""
        global calls
        calls += 1
        with open(path, encoding="utf-8") as f:
            return f.read()


    @server.tool()
    def add(a: int, b: int) -> int:
        """Adds two integers."""
        global calls
        calls += 1
        return a + b


    @server.tool(name="line-code")
    def line_code(
        code: Annotated[str, Field(pattern="^[A-Z]{3}-[0-9]{2}$")], limit: int = 10
    ) -> dict[str, str | int]:
        """Looks up a production line by its code."""
        global calls
        calls += 1
        return {"code": code, "limit": limit}


    @server.tool()
    def fail(message: str) -> str:
        """Always fails with the message."""
        raise ToolError(message)


    @server.tool()
    def calls_so_far() -> int:
        """How many calls reached read_file, add and line-code."""
        return calls


    @server.tool()
    def pid() -> int:
        """The server's process id."""
        return os.getpid()


    if __name__ == "__main__":
        if sys.argv[1:] == ["http"]:
            import uvicorn

            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            print(sock.getsockname()[1], flush=True)
            app = server.streamable_http_app(host="127.0.0.1")
            uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
        else:
            print("files server starting", file=sys.stderr, flush=True)
            server.run()
    '''
)


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mcp")
    (root / "files_server.py").write_text(SERVER, encoding="utf-8")
    (root / "a.txt").write_text("hello from a.txt\n", encoding="utf-8")
    return root


def _stdio(server_dir: Path, name: str = "files", **kw) -> MCPResource:
    return MCPResource(name, "Files", command=[sys.executable, "files_server.py"], cwd=server_dir, **kw)


@pytest.fixture(scope="module")
def files(server_dir):
    resource = _stdio(server_dir)
    yield resource
    resource.close()


@pytest.fixture(scope="module")
def http_server(server_dir):
    proc = subprocess.Popen(
        [sys.executable, "files_server.py", "http"], cwd=server_dir, stdout=subprocess.PIPE, text=True
    )
    port = int(proc.stdout.readline())
    yield proc, f"http://127.0.0.1:{port}/mcp"
    proc.kill()
    proc.wait()


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie (exited, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stopped(pid: int, within: float = 10.0) -> bool:
    """Whether ``pid`` is gone within ``within`` seconds: stopping a server is a signal and an
    exit, which a loaded machine may take a moment to schedule."""
    import time

    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ---- stdio ---------------------------------------------------------------------------------------
def test_stdio_lists_the_tools_as_tool_resources(files):
    assert not files.connected  # nothing starts before first use
    tools = {t.mcp_name: t for t in files.tools}
    assert files.connected
    assert set(tools) == {"read_file", "add", "line-code", "fail", "calls_so_far", "pid"}
    code = tools["line-code"]
    assert isinstance(code, MCPTool) and isinstance(code, ToolResource)
    assert code.name == "line-code" and code.tool_type == "mcp"
    assert code.spec()["description"] == "Looks up a production line by its code."
    assert code.parameters["properties"]["code"]["pattern"] == "^[A-Z]{3}-[0-9]{2}$"
    assert code.parameters["required"] == ["code"]
    assert files.dana_methods["line_code"] == "tool_line_code"
    assert repr(files).endswith("connected)")


def test_stdio_calls_return_text_and_structured_values(files):
    assert files.tool("read_file").call(path="a.txt") == "hello from a.txt\n"
    assert files.call("add", a=2, b=3) == 5  # the SDK's {"result": 5} unwrapped
    assert files.tool("line-code")(code="ABC-12") == {"code": "ABC-12", "limit": 10}


def test_a_tool_error_is_a_resource_error_with_the_tools_text(files):
    with pytest.raises(
        ResourceError,
        match=r"^tool 'fail' of mcp server 'files' failed: Error executing tool fail: the disk is full$",
    ):
        files.call("fail", message="the disk is full")
    assert files.call("add", a=1, b=1) == 2  # the session goes on


def test_a_call_the_schema_refuses_never_reaches_the_server(files):
    before = files.call("calls_so_far")
    with pytest.raises(ResourceError) as info:
        files.call("line-code", code="abc", limit="ten")
    message = str(info.value)
    assert message.startswith("tool 'line-code' refused its arguments: ")
    assert "arguments.code: got 'abc', want a string matching '^[A-Z]{3}-[0-9]{2}$'" in message
    assert "arguments.limit: got str 'ten', want integer" in message
    with pytest.raises(
        ResourceError, match=r"tool 'add' refused its arguments: arguments: missing required 'b'"
    ):
        files.call("add", a=1)
    assert files.call("calls_so_far") == before
    with pytest.raises(ResourceError, match=r"has no tool 'nope': want one of add, calls_so_far, fail"):
        files.call("nope")


def test_calls_from_many_threads_and_from_asyncio_share_one_session(files):
    results: list[int] = []
    lock = threading.Lock()

    def work(base: int) -> None:
        for i in range(10):
            value = files.call("add", a=base, b=i)
            with lock:
                results.append(value)

    threads = [threading.Thread(target=work, args=(100 * n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(100 * n + i for n in range(6) for i in range(10))

    async def together() -> list[int]:
        add = files.tool("add")
        return await asyncio.gather(*(add.acall(a=i, b=i) for i in range(8)))

    assert asyncio.run(together()) == [2 * i for i in range(8)]


def test_a_killed_server_is_a_clear_error_naming_it(server_dir):
    files = _stdio(server_dir, "doomed")
    try:
        pid = files.call("pid")
        assert files.call("add", a=1, b=2) == 3
        os.kill(pid, signal.SIGKILL)
        for _ in range(2):  # the first call finds it gone, the next ones are told the same
            with pytest.raises(ResourceError) as info:
                files.call("add", a=1, b=2)
            message = str(info.value)
            assert message.startswith(f"mcp server 'doomed' ({sys.executable} files_server.py) is gone: ")
            assert "the server exited or crashed" in message
            assert "files server starting" in message  # the tail of its stderr
        assert not files.connected and "failed" in repr(files)
    finally:
        files.close()
    assert _stopped(pid)


def test_close_stops_the_subprocess_and_later_calls_are_refused(server_dir):
    files = _stdio(server_dir, "closing")
    pid = files.call("pid")
    assert _alive(pid)
    add = files.tool("add")
    files.close()
    assert _stopped(pid)
    files.close()  # idempotent
    with pytest.raises(ResourceError, match=r"mcp resource 'closing' is closed"):
        files.call("add", a=1, b=2)
    with pytest.raises(ResourceError, match=r"tool 'add': its mcp server 'closing' is closed"):
        add.call(a=1, b=2)


def test_a_server_that_cannot_start_fails_at_first_use_naming_it(server_dir, tmp_path):
    missing = MCPResource("ghost", command=["no-such-mcp-server-binary", "--stdio"])
    assert repr(missing) == "MCPResource(name='ghost', 'no-such-mcp-server-binary --stdio', not started)"
    with pytest.raises(
        ResourceError,
        match=r"mcp server 'ghost' \(no-such-mcp-server-binary --stdio\) did not "
        r"start: program 'no-such-mcp-server-binary' not found",
    ):
        missing.connect()
    with pytest.raises(ResourceError, match="did not start"):  # it stays failed
        missing.call("anything")
    missing.close()

    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nsys.stderr.write('config file missing')\nsys.exit(3)\n")
    crashing = MCPResource("crashing", command=f"{sys.executable} {crash}")
    with pytest.raises(ResourceError) as info:
        crashing.connect()
    assert str(info.value).startswith(f"mcp server 'crashing' ({sys.executable} {crash}) did not start: ")
    assert str(info.value).endswith("its stderr ends: config file missing")
    crashing.close()


def test_bad_definitions_are_refused_at_construction():
    with pytest.raises(ResourceError, match="got neither command= nor url=, want one of them"):
        MCPResource("x")
    with pytest.raises(ResourceError, match="got both command= and url=, want one of them"):
        MCPResource("x", command=["a"], url="http://127.0.0.1:1/mcp")
    with pytest.raises(ResourceError, match=r"got url 'ftp://h/mcp', want http\(s\)://host\[:port\]/path"):
        MCPResource("x", url="ftp://user:pw@h/mcp")
    with pytest.raises(ResourceError, match="got an empty command"):
        MCPResource("x", command=[])


# ---- streamable HTTP -----------------------------------------------------------------------------
def test_http_lists_calls_and_reports_tool_errors(http_server):
    _proc, url = http_server
    web = MCPResource("web", url=url + "?token=s3cret", headers={"Authorization": "Bearer s3cret"})
    try:
        assert "read_file" in {t.mcp_name for t in web.tools}
        assert web.call("add", a=20, b=22) == 42
        assert web.call("read_file", path="a.txt") == "hello from a.txt\n"
        with pytest.raises(
            ResourceError,
            match=r"tool 'fail' of mcp server 'web' failed: Error executing tool fail: no such line",
        ):
            web.call("fail", message="no such line")
        assert "s3cret" not in repr(web) and web.where == url
    finally:
        web.close()


def test_http_server_killed_mid_session_is_a_clear_error(server_dir):
    proc = subprocess.Popen(
        [sys.executable, "files_server.py", "http"], cwd=server_dir, stdout=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{int(proc.stdout.readline())}/mcp"
    web = MCPResource("web", url=url)
    try:
        assert web.call("add", a=1, b=1) == 2
        proc.kill()
        proc.wait()
        with pytest.raises(ResourceError, match=rf"mcp server 'web' \({url}\) is gone: "):
            web.call("add", a=1, b=1)
    finally:
        web.close()
        proc.kill()
        proc.wait()
    unreachable = MCPResource("web", url=url, connect_timeout=10)
    with pytest.raises(ResourceError, match=rf"mcp server 'web' \({url}\) did not start: ConnectError"):
        unreachable.connect()
    unreachable.close()


# ---- contexts and Dana ---------------------------------------------------------------------------
def test_dana_reaches_the_tools_through_use_and_the_context_closes_the_server(server_dir):
    with ExecutionContext() as ctx:
        files = _stdio(server_dir)
        ctx.register_resource(files)
        outcome = danaflow.run('print(use("files").read_file(path="a.txt"))', ctx.sandbox)
        assert outcome.error is None, outcome.error
        assert outcome.output == "hello from a.txt\n\n"
        program = 'n = use("files").add(a=2, b=40)\nprint(use("files").line_code(code="XYZ-01")["code"], n)'
        assert danaflow.run(program, ctx.sandbox).output == "XYZ-01 42\n"
        failed = danaflow.run('use("files").fail(message="refused by the tool")', ctx.sandbox)
        assert (
            failed.error is not None
            and "failed: Error executing tool fail: refused by the tool" in failed.error.message
        )
        refused = danaflow.run('use("files").add(a="two", b=1)', ctx.sandbox)
        assert "arguments.a: got str 'two', want integer" in refused.error.message
        positional = danaflow.run('use("files").add(1, 2)', ctx.sandbox)
        assert "tool 'add' takes keyword arguments: want add(a=..., b=...)" in positional.error.message
        hidden = danaflow.run('use("files").close()', ctx.sandbox)
        assert "has no method 'close'" in hidden.error.message
        pid = files.call("pid")
    assert files.closed and _stopped(pid)


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path):
    mute = tmp_path / "mute.py"
    mute.write_text(
        "import os, pathlib, time\npathlib.Path('mute.pid').write_text(str(os.getpid()))\ntime.sleep(120)\n"
    )
    silent = MCPResource("mute", command=[sys.executable, str(mute)], cwd=tmp_path, connect_timeout=3)
    with pytest.raises(ResourceError, match=r"mcp server 'mute' \(.*mute\.py\) did not answer within 3s"):
        silent.connect()
    silent.close()
    pid = int((tmp_path / "mute.pid").read_text())
    assert _stopped(pid)
