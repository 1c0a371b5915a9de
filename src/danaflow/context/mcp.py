"""MCPResource: the tools of an MCP server (stdio or streamable HTTP) as ToolResources.

The official ``mcp`` SDK is async and its session must live in one task, so each MCPResource owns
an event loop on a thread of its own: sync callers (worker threads, a flow's nodes, Dana's host
calls) and async ones (``acall``) all send their requests to that one session. Nothing starts
until first use (registering a server never spawns or connects), and ``close()`` (or the closing
of the ExecutionContext it is registered on) ends the session and the server process.
Only tools are taken from the server: its prompts, resources and sampling requests are left out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import shlex
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from danaflow.errors import ResourceError

from .resources import Resource, ToolResource

__all__ = ["MCPResource", "MCPTool"]

_log = logging.getLogger("danaflow.context.mcp")

_MAX_PAGES = 100
"""tools/list pages read at most: a server whose cursor never ends cannot hang the connect."""
_STOP_WAIT = 15.0
"""Seconds close() waits for the SDK's shutdown (stdin closed, 2 s grace, SIGTERM, SIGKILL)."""
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_\-]")


class MCPResource(Resource):
    """An MCP server: ``MCPResource(name, command=[...])`` runs it as a subprocess over stdio,
    ``MCPResource(name, url="http://host:port/mcp")`` reaches it over streamable HTTP.

    Its tools are ``tools`` (MCPTool, a ToolResource: spec, schema-checked ``call``), and from Dana
    ``use(name).<tool>(arg=...)``. The server's environment is the SDK's safe default (PATH, HOME,
    USER, ...) plus ``env``: the host's API keys are not passed on. ``timeout`` bounds each request
    (seconds, None for no bound), ``connect_timeout`` the start and the tool listing.

    A server that cannot start, or that dies, is a ResourceError naming the resource and the
    command or URL (with the tail of its stderr); the resource then stays failed (no silent
    restart of a server that may hold state). A tool that answers with an error is a ResourceError
    with the tool's text.
    """

    kind = "mcp"

    def __init__(
        self,
        name: str,
        description: str = "",
        *,
        command: str | Sequence[str] | None = None,
        url: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 60.0,
        connect_timeout: float = 30.0,
    ):
        super().__init__(name, description)
        if (command is None) == (url is None):
            got = "both command= and url=" if command is not None else "neither command= nor url="
            raise ResourceError(f"mcp server {name!r}: got {got}, want one of them")
        self.argv: list[str] | None = None
        self.url: str | None = None
        if command is not None:
            self.argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
            if not self.argv:
                raise ResourceError(f"mcp server {name!r}: got an empty command, want a program to run")
        else:
            parts = urlsplit(str(url))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ResourceError(
                    f"mcp server {name!r}: got url {_safe_url(str(url))!r}, want http(s)://host[:port]/path"
                )
            self.url = str(url)
        if timeout is not None and timeout <= 0:
            raise ResourceError(f"mcp server {name!r}: got timeout={timeout}, want seconds > 0 or None")
        self.env = {str(k): str(v) for k, v in env.items()} if env is not None else None
        self.cwd = Path(cwd) if cwd is not None else None
        self.headers = dict(headers) if headers is not None else None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.refused: dict[str, str] = {}
        """Tools the server listed that are left out (a bad name or schema), with the reason."""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._serving: concurrent.futures.Future[None] | None = None
        self._stop: asyncio.Event | None = None
        self._scope: Any = None
        self._client: Any = None
        self._tools: dict[str, MCPTool] | None = None
        self._dana: dict[str, str] = {}
        self._failure: str | None = None
        self._stderr: Any = None

    # ---- what the server offers ---------------------------------------------------------------
    @property
    def where(self) -> str:
        """The server as errors name it: its command line or its URL (credentials masked)."""
        if self.argv is not None:
            text = shlex.join(self.argv)
            return text if len(text) <= 200 else text[:197] + "..."
        return _safe_url(self.url or "")

    @property
    def connected(self) -> bool:
        return self._tools is not None and self._failure is None and not self.closed

    @property
    def tools(self) -> list[MCPTool]:
        """The server's tools, listed once on first use (this connects)."""
        return list(self._ensure().values())

    def tool(self, name: str) -> MCPTool:
        """One tool by its MCP name (or its resource name); ResourceError lists the others."""
        tools = self._ensure()
        for tool in tools.values():
            if name in (tool.mcp_name, tool.name):
                return tool
        offered = ", ".join(sorted(t.mcp_name for t in tools.values())) or "none"
        raise ResourceError(f"mcp server {self.name!r} has no tool {name!r}: want one of {offered}")

    def call(self, tool: str, /, **arguments: Any) -> Any:
        """Calls a tool by name: ``server.call("read_file", path="a.txt")``."""
        return self.tool(tool).call(**arguments)

    async def acall(self, tool: str, /, **arguments: Any) -> Any:
        """The async twin of ``call``."""
        found = await asyncio.to_thread(self.tool, tool)
        return await found.acall(**arguments)

    def connect(self) -> MCPResource:
        """Starts (or reaches) the server and lists its tools now rather than at first use."""
        self._ensure()
        return self

    @property
    def dana_methods(self) -> Mapping[str, str]:  # type: ignore[override]
        """Each tool as Dana calls it (``-`` and ``.`` become ``_``), mapped to the attribute
        ``tool_<name>`` that calls it; reading this connects, as ``use(name)`` is a use."""
        self._ensure()
        return dict(self._dana)

    # ---- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Ends the session and stops the server process; idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._shutdown()

    def _ensure(self) -> dict[str, MCPTool]:
        with self._lock:
            self._check_open()
            if self._failure is not None:
                raise ResourceError(self._failure)
            if self._tools is not None:
                return self._tools
            listing = self._start()
            self._tools = self._adopt(listing)
            return self._tools

    def _start(self) -> list[Any]:
        """Runs the loop thread and the session task; returns the tool listing (under _lock)."""
        try:
            import mcp  # noqa: F401
        except ImportError:
            raise ResourceError(
                f"mcp server {self.name!r}: MCP needs the mcp SDK: want `pip install 'danaflow[mcp]'`"
            ) from None
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name=f"danaflow-mcp-{self.name}", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread
        if self.argv is not None:
            # The server's stderr, for the tail an error shows; closed by _shutdown.
            self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        ready: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        self._serving = asyncio.run_coroutine_threadsafe(self._serve(ready), loop)
        try:
            return ready.result(timeout=self.connect_timeout)
        except concurrent.futures.TimeoutError:
            self._failure = (
                f"mcp server {self.name!r} ({self.where}) did not answer within "
                f"{self.connect_timeout}s: want a server that speaks MCP{self._stderr_tail()}"
            )
            self._abandon_connect(loop)
        except Exception as exc:
            self._failure = (
                f"mcp server {self.name!r} ({self.where}) did not start: "
                f"{_describe(exc)}{self._stderr_tail()}"
            )
        except BaseException:  # Ctrl-C while connecting: stop what started, then let it through
            self._failure = f"mcp server {self.name!r} ({self.where}): connecting was interrupted"
            self._shutdown()
            raise
        self._shutdown()
        raise ResourceError(self._failure)

    async def _serve(self, ready: concurrent.futures.Future[list[Any]]) -> None:
        """The session's one task: connect, list the tools, wait for close(), disconnect."""
        import anyio

        self._stop = stop = asyncio.Event()
        try:
            with anyio.CancelScope() as self._scope:
                async with AsyncExitStack() as stack:
                    client = await stack.enter_async_context(await self._client_for(stack))
                    listing = await _list_tools(client)
                    self._client = client
                    ready.set_result(listing)
                    await stop.wait()
            if not ready.done():  # connecting was abandoned (the scope was cancelled)
                ready.cancel()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif self._failure is not None:  # tearing down a lost connection fails as it is lost
                _log.debug("mcp server %r: teardown after the loss: %s", self.name, _describe(exc))
            else:  # the transport's teardown failed after a clean session: say so, nothing waits on it
                _log.warning("mcp server %r (%s): shutdown failed: %s", self.name, self.where, _describe(exc))
        finally:
            self._client = None

    def _abandon_connect(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stops a connection that did not answer in time. The SDK stops the server process in
        a shielded, bounded cleanup; a native ``task.cancel()`` can cut that cleanup short and
        leave the process running, so the session's own anyio scope is cancelled instead and
        ``_shutdown`` waits for the cleanup to end."""
        scope = self._scope
        if scope is not None and not loop.is_closed():
            loop.call_soon_threadsafe(scope.cancel)
        elif self._serving is not None:  # the task has not reached its scope yet
            self._serving.cancel()

    async def _client_for(self, stack: AsyncExitStack) -> Any:
        from mcp import Client
        from mcp_types import Implementation

        info = Implementation(name="danaflow", version=_version())
        if self.argv is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=self.argv[0], args=self.argv[1:], env=self.env, cwd=self.cwd
            )
            transport: Any = stdio_client(params, errlog=self._stderr)
        else:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers=self.headers, timeout=httpx2.Timeout(30.0, read=300.0))
            )
            transport = streamable_http_client(self.url or "", http_client=http)
        return Client(transport, read_timeout_seconds=self.timeout, client_info=info)

    def _adopt(self, listing: list[Any]) -> dict[str, MCPTool]:
        """MCPTools for the listing; a tool with a bad name or schema is refused, not fatal."""
        tools: dict[str, MCPTool] = {}
        self._dana = {}
        for spec in listing:
            mcp_name = str(spec.name)
            try:
                tool = MCPTool(self, mcp_name, spec.description or "", spec.input_schema, spec.output_schema)
            except ResourceError as err:
                self.refused[mcp_name] = err.message
                continue
            if tool.name in tools:
                self.refused[mcp_name] = f"its name {tool.name!r} is taken by {tools[tool.name].mcp_name!r}"
                continue
            tools[tool.name] = tool
            dana = tool.name.replace("-", "_")
            if dana.isidentifier() and not dana.startswith("_") and dana not in self._dana:
                attr = f"tool_{dana}"
                setattr(self, attr, _dana_entry(tool))
                self._dana[dana] = attr
        for mcp_name, why in self.refused.items():
            _log.warning("mcp server %r (%s): tool %r left out: %s", self.name, self.where, mcp_name, why)
        return tools

    def _shutdown(self) -> None:
        """Stops the session task and the loop thread (under _lock; safe on a half-started one)."""
        loop, thread, serving = self._loop, self._thread, self._serving
        self._loop = self._thread = self._serving = None
        if loop is None:
            return
        stop = self._stop
        if stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if serving is not None:
            try:
                serving.result(timeout=_STOP_WAIT)
            except concurrent.futures.TimeoutError:
                _log.warning("mcp server %r (%s): shutdown took over %ss", self.name, self.where, _STOP_WAIT)
                serving.cancel()
            except BaseException as exc:  # a failed start: its cause is reported already
                _log.debug("mcp server %r: session ended with %s", self.name, _describe(exc))
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=_STOP_WAIT)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # ---- calls --------------------------------------------------------------------------------
    def _submit(self, tool: MCPTool, arguments: dict[str, Any]) -> concurrent.futures.Future[Any]:
        self._ensure()
        loop = self._loop
        if loop is None:
            raise ResourceError(self._failure or f"mcp server {self.name!r} is not running")
        if threading.current_thread() is self._thread:
            raise ResourceError(
                f"tool {tool.name!r} was called on mcp server {self.name!r}'s own event loop: "
                "want `await tool.acall(...)` from another loop"
            )
        return asyncio.run_coroutine_threadsafe(self._request(tool, arguments), loop)

    def _call(self, tool: MCPTool, arguments: dict[str, Any]) -> Any:
        future = self._submit(tool, arguments)
        bound = None if self.timeout is None else self.timeout + _STOP_WAIT
        try:
            return future.result(timeout=bound)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ResourceError(
                f"tool {tool.name!r} of mcp server {self.name!r} ({self.where}) did not answer within "
                f"{bound}s"
            ) from None

    async def _acall(self, tool: MCPTool, arguments: dict[str, Any]) -> Any:
        future = await asyncio.to_thread(self._submit, tool, arguments)
        return await asyncio.wrap_future(future)

    async def _request(self, tool: MCPTool, arguments: dict[str, Any]) -> Any:
        """One tools/call on the session (runs on the resource's loop)."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        client = self._client
        if client is None:
            raise ResourceError(self._failure or f"mcp server {self.name!r} ({self.where}) is not connected")
        try:
            result = await client.call_tool(tool.mcp_name, arguments)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise ResourceError(self._lost()) from None
            if exc.code == REQUEST_TIMEOUT:
                raise ResourceError(
                    f"tool {tool.name!r} of mcp server {self.name!r} ran past its {self.timeout}s timeout"
                ) from None
            raise ResourceError(
                f"tool {tool.name!r} of mcp server {self.name!r} was refused: {exc.message} "
                f"(MCP error {exc.code})"
            ) from None
        except (OSError, EOFError) as exc:
            raise ResourceError(self._lost(exc)) from None
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in ("httpx2", "httpx", "anyio"):
                raise ResourceError(self._lost(exc)) from None
            raise
        return _value(tool, result)

    def _lost(self, cause: BaseException | None = None) -> str:
        """Marks the session lost (on the loop); the message every later call raises too."""
        if self._failure is None:
            why = f": {_describe(cause)}" if cause is not None else ""
            self._failure = (
                f"mcp server {self.name!r} ({self.where}) is gone: the connection closed (the server "
                f"exited or crashed){why}{self._stderr_tail()}"
            )
            if self._stop is not None:
                self._stop.set()  # the transport tears down and reaps the process
        return self._failure

    def _stderr_tail(self, limit: int = 1000) -> str:
        err = self._stderr
        if err is None or err.closed:
            return ""
        try:
            fd = err.fileno()
            size = os.fstat(fd).st_size
            data = os.pread(fd, limit, max(0, size - limit)).decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return f"; its stderr ends: {data}" if data else ""

    def __repr__(self) -> str:
        state = (
            "closed"
            if self.closed
            else "failed"
            if self._failure
            else "connected"
            if self._tools
            else "not started"
        )
        return f"MCPResource(name={self.name!r}, {self.where!r}, {state})"


class MCPTool(ToolResource):
    """One tool of an MCP server as a ToolResource: arguments are checked against the schema the
    server published before anything is sent, and the call goes over the server's session.

    ``name`` is the MCP name with anything but letters, digits, ``_`` and ``-`` made ``_`` (the
    ``mcp_name`` is what goes to the server). The value is the tool's structured result when it
    gives one (``{"result": x}`` unwrapped to ``x``, the SDK's wrapping of a plain return), else
    its text (a list when it sent several blocks; non-text blocks as dicts).
    """

    def __init__(
        self,
        server: MCPResource,
        mcp_name: str,
        description: str,
        parameters: Mapping[str, Any],
        output_schema: Mapping[str, Any] | None = None,
    ):
        name = _NOT_A_NAME.sub("_", mcp_name)
        if name and name[0].isdigit():
            name = f"_{name}"
        super().__init__(name or "_", description, tool_type="mcp", parameters=dict(parameters))
        self.server = server
        self.mcp_name = mcp_name
        self.output_schema = dict(output_schema) if output_schema else None

    @property
    def is_callable(self) -> bool:
        return True

    def call(self, **kwargs: Any) -> Any:
        """Checks the arguments, then calls the tool on the server and returns its value."""
        self._check_open()
        self.validate_args(kwargs)
        return self.server._call(self, kwargs)

    __call__ = call

    async def acall(self, **kwargs: Any) -> Any:
        """The async twin of ``call``."""
        self._check_open()
        self.validate_args(kwargs)
        return await self.server._acall(self, kwargs)

    def _check_open(self) -> None:
        super()._check_open()
        if self.server.closed:
            raise ResourceError(
                f"tool {self.name!r}: its mcp server {self.server.name!r} is closed: want an open resource"
            )

    def __repr__(self) -> str:
        return f"MCPTool(name={self.name!r}, server={self.server.name!r})"


# ---- helpers ----------------------------------------------------------------------------------------
def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The resource's loop thread; once stopped, it lets cancelled tasks finish their cleanup
    (the SDK's shutdown of a server process is shielded and bounded) before closing."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _list_tools(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _dana_entry(tool: MCPTool) -> Callable[..., Any]:
    """What ``use(server).<tool>`` calls: keyword arguments only (MCP arguments have names)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if args:
            names = ", ".join(f"{p}=..." for p in (tool.parameters.get("properties") or {}))
            raise TypeError(f"tool {tool.name!r} takes keyword arguments: want {tool.name}({names})")
        return tool.call(**kwargs)

    call.__name__ = tool.name
    call.__doc__ = tool.description
    return call


def _value(tool: MCPTool, result: Any) -> Any:
    blocks = [_block(b) for b in result.content or ()]
    if result.is_error:
        text = "; ".join(b if isinstance(b, str) else repr(b) for b in blocks) or "(no message)"
        raise ResourceError(f"tool {tool.name!r} of mcp server {tool.server.name!r} failed: {text[:4000]}")
    structured = result.structured_content
    if structured is not None:
        props = (tool.output_schema or {}).get("properties") or {}
        if isinstance(structured, dict) and list(structured) == ["result"] and list(props) == ["result"]:
            return structured["result"]
        return structured
    if not blocks:
        return None
    return blocks[0] if len(blocks) == 1 else blocks


def _block(block: Any) -> Any:
    if getattr(block, "type", None) == "text":
        return block.text
    return block.model_dump(mode="json", by_alias=True, exclude_none=True)


def _describe(exc: BaseException | None) -> str:
    """The innermost cause of an error (anyio wraps transport failures in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc is None:
        return "unknown error"
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"program {exc.filename!r} not found"
    text = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {text[:500]}"


def _safe_url(url: str) -> str:
    """A URL without userinfo or query (where tokens travel), for errors and reprs."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":?"
    if not parts.scheme:
        return url[:200]
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"[:200]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("danaflow")
    except PackageNotFoundError:
        return "0"
