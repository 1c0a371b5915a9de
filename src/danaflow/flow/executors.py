"""Executors: where a node's work runs — in this process, or on a Dask cluster.

The runner schedules; an Executor only turns one node of one context into its result
(``await executor.run_node(ctx, node)``). ``LocalExecutor`` is the default: the node executes
here, on the event loop and in threads. ``DaskExecutor`` ships each node whose placement allows
it to a Dask worker with a snapshot of what it may read and merges what comes back (flow/_remote.py);
nodes pinned to the host run here, as with the local executor. Either way the coordinator — this
process — alone writes the run's store, events and spans.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import uuid
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from danaflow.errors import ComponentError, ConfigurationError, FlowDefinitionError

from . import _remote, _remote_dana

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.context.result import NodeExecutionResult

    from .nodes.base import Node

__all__ = [
    "DEFAULT_PLACEMENT",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "Placement",
    "check_executor_spec",
    "executor_from_spec",
    "placement_of",
]

Placement = Literal["host", "any"]

DEFAULT_PLACEMENT: dict[str, Placement] = {
    "python": "any",
    "dana": "any",
    "ai_model": "host",
    "command": "host",
    "file_operation": "host",
    "folder_analyzer": "host",
}
"""Where each node type may run when ``node.placement`` is not set. ``host`` for the node types
that need this machine: the embedded model and the run's LLM clients (AIModelNode), its files and
programs (CommandNode, FileOperationNode, FolderAnalyzerNode). Node types not listed (your own
Node subclasses) stay on the host unless they say ``placement = "any"``."""

_DASK_ADDRESS = re.compile(r"^dask://(?P<address>[^\s/]+)/?$")
_DASK_LOCAL = re.compile(r"^dask-local:(?P<n>\d+)$")


def placement_of(node: Node, path: str) -> Placement:
    """The node's ``placement`` attribute, else its type's default (``DEFAULT_PLACEMENT``)."""
    value = getattr(node, "placement", None)
    if value is None:
        return DEFAULT_PLACEMENT.get(node.node_type, "host")
    if value not in ("host", "any"):
        raise FlowDefinitionError(
            f"{type(node).__name__}.placement: got {value!r}, want 'host' or 'any'", path=path
        )
    return value


@runtime_checkable
class Executor(Protocol):
    """Runs one node's work and returns its result; the runner does everything else.

    ``run_node`` returns the node's NodeExecutionResult or raises as ``node.execute`` does
    (NodeFailedError keeps what the node produced). Scope writes made elsewhere are merged into
    ``ctx``'s scopes before it returns, so they are in place before the node counts as finished.
    """

    name: str

    async def run_node(self, ctx: ExecutionContext, node: Node) -> NodeExecutionResult: ...

    def close(self) -> None:
        """Releases what the executor started (a cluster it made); safe to call twice."""


class LocalExecutor:
    """Node work in this process: the node's ``execute`` on the event loop (blocking work in threads)."""

    name = "local"

    async def run_node(self, ctx: ExecutionContext, node: Node) -> NodeExecutionResult:
        return await node.execute(ctx)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "LocalExecutor()"


LOCAL = LocalExecutor()
"""The executor a runner uses when given none."""


class DaskExecutor:
    """Node work on a Dask cluster: ``FlowRunner(flow, run_context, executor=DaskExecutor(client))``.

    ``client`` is a ``distributed.Client`` (synchronous, the usual kind); the executor does not
    close it unless ``owns_client`` (``executor_from_spec`` makes such ones). Each node with
    placement ``any`` becomes one Dask task: a DanaNode's program travels as source and data and
    comes back as data (the sandbox's codec; it runs confined on the worker's machine), any other
    node by pickle. Nodes with placement ``host`` run here. The run's ``max_concurrency`` bounds
    how many tasks are in flight; a worker that dies mid-task has its tasks re-run elsewhere by
    the scheduler, while results already merged here are never asked for again.
    """

    name = "dask"

    def __init__(self, client: Any, *, owns_client: bool = False, cluster: Any = None):
        self.client = client
        self.owns_client = owns_client
        self.cluster = cluster
        """A LocalCluster this executor started (``dask-local:N``), closed with it."""
        self._results = _remote.ResultCache()
        self._nodes: dict[int, tuple[Node, bytes]] = {}
        self._fetch = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="danaflow-dask")
        self._closed = False

    async def run_node(self, ctx: ExecutionContext, node: Node) -> NodeExecutionResult:
        if placement_of(node, ctx.path) == "host":
            return await node.execute(ctx)
        from .nodes.dana import DanaNode

        if isinstance(node, DanaNode):
            job = _remote_dana.dana_job(ctx, node, self._results)
            data = await self._submit(ctx.path, _remote_dana.run_dana_job, job)
            return _remote_dana.dana_reply(ctx, job, data)
        pjob = _remote.python_job(ctx, node, self._node_bytes(node, ctx.path), self._results)
        blob = await self._submit(ctx.path, _remote.run_python_job, pjob)
        return _remote.python_reply(ctx, node, blob)

    def _node_bytes(self, node: Node, path: str) -> bytes:
        """The pickled node, made once per node object (a for_each body runs many times)."""
        hit = self._nodes.get(id(node))
        if hit is None or hit[0] is not node:
            hit = (node, _remote.pickle_node(node, path))
            self._nodes[id(node)] = hit
        return hit[1]

    async def _submit(self, path: str, fn: Any, job: Any) -> bytes:
        """Runs ``fn(job)`` as one Dask task and waits for it without holding a thread."""
        if self._closed:
            raise ComponentError("the Dask executor is closed: want an open one", path=path)
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def wake(_: Any) -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

        key = f"danaflow-{path}-{uuid.uuid4().hex[:8]}"
        future = self.client.submit(fn, job, key=key, pure=False)
        future.add_done_callback(wake)
        try:
            await done
            data = await loop.run_in_executor(self._fetch, future.result)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            raise ComponentError(
                f"the Dask task for this node failed: {type(exc).__name__}: {exc}", path=path
            ) from exc
        finally:
            future.release()
        if not isinstance(data, bytes):
            raise ComponentError(
                f"the Dask task for this node returned {type(data).__name__}, want bytes", path=path
            )
        return data

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._fetch.shutdown(wait=False, cancel_futures=True)
        if self.owns_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        scheduler = getattr(self.client, "scheduler", None)
        return f"DaskExecutor({getattr(scheduler, 'address', '?')})"


def check_executor_spec(spec: str | None) -> None:
    """ConfigurationError unless ``spec`` names an executor (it connects to nothing)."""
    if spec is None or spec == "local" or _DASK_ADDRESS.match(spec):
        return
    local = _DASK_LOCAL.match(spec)
    if local is not None and int(local.group("n")) >= 1:
        return
    raise ConfigurationError(
        f"bad executor {spec!r}: want 'local', 'dask://HOST:PORT' or 'dask-local:N' (N >= 1)", path=spec
    )


def executor_from_spec(spec: str | None) -> Executor:
    """The executor a spec names: ``local`` (or None), ``dask://HOST:PORT`` (connect to a
    scheduler) or ``dask-local:N`` (start a LocalCluster of N worker processes on this machine).

    ConfigurationError for a spec that names none of them, a missing ``dask[distributed]``, or a
    scheduler that does not answer; the Dask executors close their client (and cluster) on close().
    """
    check_executor_spec(spec)
    if spec is None or spec == "local":
        return LOCAL
    address = _DASK_ADDRESS.match(spec)
    local = _DASK_LOCAL.match(spec)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigurationError(
            f"executor {spec!r} needs Dask: pip install 'danaflow[dask]'", path=spec
        ) from None
    if local is not None:
        cluster = LocalCluster(n_workers=int(local.group("n")), processes=True, dashboard_address=None)
        return DaskExecutor(Client(cluster), owns_client=True, cluster=cluster)
    assert address is not None
    target = f"tcp://{address.group('address')}"
    try:
        client = Client(target, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise ConfigurationError(
            f"cannot reach the Dask scheduler at {target} ({type(exc).__name__}: {exc}): "
            "want a running scheduler (dask scheduler) and its address",
            path=spec,
        ) from None
    return DaskExecutor(client, owns_client=True)
