"""Node work done in another process: the job a coordinator ships and the reply it merges.

A job carries what the node may read — its component variables, the results of the components
it depends on, and a snapshot of the scopes — and the reply carries its result and the delta of
its scope writes, which the coordinator applies (``apply_delta``); a worker never writes the
store. Trusted nodes (PythonNode and any other but DanaNode) travel and return by pickle, here;
a DanaNode's program is untrusted and goes by the sandbox's own exchange (``_remote_dana.py``).
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from danaflow.context.context import ExecutionContext
from danaflow.context.result import NodeExecutionResult
from danaflow.context.state import AgentState, ExecutionState, WorldState
from danaflow.context.status import ExecutableTypeEnum
from danaflow.errors import ComponentError, DanaflowError, Location, SandboxError
from danaflow.lang.sandbox import SCOPES

from .definition import AgentDefinition, ConditionalElement, FlowDefinition
from .nodes.base import NodeFailedError
from .seam import InMemoryRun

if TYPE_CHECKING:
    from .nodes.base import Node

__all__ = [
    "ContextSnapshot",
    "Level",
    "PythonJob",
    "ResultCache",
    "ResultTree",
    "apply_delta",
    "changes",
    "pickle_node",
    "pickler",
    "python_job",
    "python_reply",
    "rebuild_context",
    "run_python_job",
    "snapshot_context",
    "unpicklable",
]

_T = ExecutableTypeEnum
_SHARED = ("private", "public", "system")
"""The scopes a node shares with the rest of the run (``local:`` is the node's own)."""


# ---- what a job carries -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResultTree:
    """A finished component a node depends on: its result as JSON, and its children's."""

    component_id: str
    kind: str
    result: str
    children: tuple[ResultTree, ...] = ()


@dataclass(frozen=True, slots=True)
class Level:
    """One context on the path from the root to the node."""

    kind: str
    component_id: str
    variables: dict[str, Any]
    upstream: tuple[ResultTree, ...] = ()
    """Finished children of this context that the next context down depends on."""


@dataclass(frozen=True, slots=True)
class ContextSnapshot:
    """The node's place in the run, as a worker rebuilds it (no scopes: those travel apart)."""

    run_id: str
    levels: tuple[Level, ...]
    """Root first, the node's own context last."""
    global_context: dict[str, Any] = field(default_factory=dict)
    reserved_system_keys: tuple[str, ...] = ()
    node_input: Any = None


class ResultCache:
    """Each finished result's JSON, made once however many later nodes depend on it."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[NodeExecutionResult, str]] = {}
        self._lock = threading.Lock()

    def text(self, result: NodeExecutionResult) -> str:
        with self._lock:
            hit = self._texts.get(id(result))
            if hit is not None and hit[0] is result:
                return hit[1]
        text = result.model_dump_json(fallback=repr)
        with self._lock:
            self._texts[id(result)] = (result, text)
        return text


def _upstream_ids(parent: ExecutionContext, component_id: str) -> list[str]:
    """The ids of the siblings ``component_id`` depends on: in a flow without connections every
    earlier one, in a DAG every transitive predecessor; none among for_each iterations."""
    definition = parent.component_definition
    if isinstance(definition, ConditionalElement):
        then = definition.then
        definition = then if then is not None and component_id in then._elements else definition.else_
    if isinstance(definition, AgentDefinition):
        ids = [e.id for e in definition.elements]
        return ids[: ids.index(component_id)] if component_id in ids else []
    if not isinstance(definition, FlowDefinition):
        return []
    plan = definition.compile()
    if component_id not in plan.ids:
        return []
    i = plan.ids.index(component_id)
    if plan.sequential:
        return list(plan.ids[:i])
    seen: set[int] = set()
    todo = [i]
    while todo:
        for source, _ok, _err in plan.preds[todo.pop()]:
            if source not in seen:
                seen.add(source)
                todo.append(source)
    return [plan.ids[j] for j in sorted(seen)]


def _tree(holder: ExecutionContext, component_id: str, cache: ResultCache) -> ResultTree | None:
    result = holder.execution_results.get(component_id)
    if result is None:
        return None
    child = holder.children.get(component_id)
    children: tuple[ResultTree, ...] = ()
    if child is not None:
        children = tuple(
            t for cid in list(child.execution_results) if (t := _tree(child, cid, cache)) is not None
        )
    return ResultTree(component_id, result.executable_type.value, cache.text(result), children)


def snapshot_context(ctx: ExecutionContext, cache: ResultCache, *, results: bool = True) -> ContextSnapshot:
    """Where ``ctx`` stands in its run and what it may read there (``results=False``: no results)."""
    chain = list(ctx.ancestry())[::-1]
    levels = []
    for depth, here in enumerate(chain):
        upstream: tuple[ResultTree, ...] = ()
        if results and depth + 1 < len(chain):
            below = chain[depth + 1].component_id
            upstream = tuple(
                t for cid in _upstream_ids(here, below) if (t := _tree(here, cid, cache)) is not None
            )
        levels.append(Level(here.executable_type.value, here.component_id, dict(here.variables), upstream))
    return ContextSnapshot(
        run_id=str(getattr(ctx.run_context, "run_id", "") or ""),
        levels=tuple(levels),
        global_context=dict(chain[0].global_context),
        reserved_system_keys=tuple(sorted(ctx.sandbox.reserved_system_keys)),
        node_input=ctx.node_input,
    )


def _install(ctx: ExecutionContext, trees: Iterable[ResultTree]) -> None:
    for tree in trees:
        result = NodeExecutionResult.model_validate_json(tree.result)
        child = ctx.create_child(_T(tree.kind), tree.component_id, None)
        _install(child, tree.children)
        child.result = result
        child.execution_status = result.execution_status
        result._children = child.execution_results
        ctx.set_result(tree.component_id, result)


def rebuild_context(
    snap: ContextSnapshot, scopes: Mapping[str, Mapping[str, Any]], node: Node | None = None
) -> ExecutionContext:
    """The node's ExecutionContext on a worker: its ancestors with their variables and the results
    it depends on, over copies of the scopes (``private:`` the nearest agent's, as shipped)."""
    run = InMemoryRun(
        run_id=snap.run_id or None,
        root_component_id=snap.levels[0].component_id,
        public_state=WorldState(dict(scopes.get("public") or {})),
        system_state=ExecutionState(dict(scopes.get("system") or {})),
    )
    first = snap.levels[0]
    ctx = ExecutionContext(_T(first.kind), first.component_id, None, None, run, variables=first.variables)
    ctx.global_context = dict(snap.global_context)
    ctx.sandbox.reserved_system_keys.update(snap.reserved_system_keys)
    _install(ctx, first.upstream)
    for level in snap.levels[1:-1]:
        ctx = ctx.create_child(_T(level.kind), level.component_id, None, variables=level.variables)
        _install(ctx, level.upstream)
    last = snap.levels[-1]
    sandbox = ctx.sandbox.child(private=AgentState(dict(scopes.get("private") or {})))
    node_ctx = ExecutionContext(
        _T(last.kind), last.component_id, node, ctx, variables=last.variables, sandbox=sandbox
    )
    node_ctx.node_input = snap.node_input
    return node_ctx


# ---- merging a reply ----------------------------------------------------------------------------
def apply_delta(ctx: ExecutionContext, delta: Any, *, trusted: bool) -> None:
    """Writes a node's scope changes into the run's scopes: ``local``, ``private``, ``public``,
    ``system`` in that order, each key written as a whole, then each deleted key removed.

    The runtime's ``system:`` keys (``__``-prefixed, reserved) are never written; from untrusted
    work (a Dana program) neither are ``_``-prefixed names, as in the sandbox's own exchange. A
    value a typed state view refuses fails the node, naming the key.
    """
    if not isinstance(delta, dict):
        raise SandboxError("the worker sent a malformed scope delta", path=ctx.path)
    sandbox = ctx.sandbox
    reserved = sandbox.reserved_system_keys
    for scope in SCOPES:
        change = delta.get(scope)
        if not change:
            continue
        if not isinstance(change, dict):
            raise SandboxError(f"the worker sent a malformed {scope}: delta", path=ctx.path)
        target = sandbox.scope(scope)
        for name, value in (change.get("set") or {}).items():
            if not isinstance(name, str):
                continue
            if scope == "system" and (name.startswith("__") or name in reserved):
                continue
            if not trusted and name.startswith("_") and scope != "system":
                continue
            try:
                target[name] = value
            except (TypeError, ValueError) as exc:
                raise ComponentError(
                    f"the node's write of {scope}:{name} was refused: {exc}", path=ctx.path
                ) from None
        for name in change.get("del") or ():
            if isinstance(name, str) and name in target and not (scope == "system" and name in reserved):
                del target[name]


def changes(current: Mapping[str, Any], before: Mapping[str, Any], same: Any) -> dict[str, Any]:
    """One scope's delta as ``apply_delta`` reads it: keys new or not ``same(value, before)``
    under ``set``, keys gone under ``del``; empty when nothing changed."""
    out: dict[str, Any] = {}
    written = {k: v for k, v in current.items() if k not in before or not same(v, before[k])}
    if written:
        out["set"] = written
    gone = [k for k in before if k not in current]
    if gone:
        out["del"] = gone
    return out


# ---- trusted nodes: pickle both ways ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PythonJob:
    """A trusted node's job: the node and its context, each pickled (cloudpickle) on the coordinator."""

    path: str
    node: bytes
    context: bytes


def pickler() -> Any:
    import cloudpickle  # deferred: a dependency of dask, needed only when work leaves the process

    return cloudpickle


def unpicklable(what: str, path: str, exc: BaseException) -> ComponentError:
    return ComponentError(
        f"{what} cannot be serialised for a remote worker ({type(exc).__name__}: {exc}): "
        "want picklable values, or node.placement = 'host' to run the node here",
        path=path,
    )


def python_job(ctx: ExecutionContext, node: Node, node_bytes: bytes, cache: ResultCache) -> PythonJob:
    """The job of a trusted node; ComponentError naming the node and the value that will not pickle."""
    cp = pickler()
    snap = snapshot_context(ctx, cache)
    scopes = {s: dict(ctx.sandbox.scope(s)) for s in _SHARED}
    try:
        blob = cp.dumps((snap, scopes))
    except Exception as exc:
        for scope, values in scopes.items():
            for name, value in values.items():
                try:
                    cp.dumps(value)
                except Exception as bad:
                    raise unpicklable(f"{scope}:{name}", ctx.path, bad) from None
        raise unpicklable("the node's variables or input", ctx.path, exc) from None
    return PythonJob(ctx.path, node_bytes, blob)


def pickle_node(node: Node, path: str) -> bytes:
    """The node as bytes (by value when its module cannot be imported by name on a worker)."""
    import importlib.machinery
    import sys

    cp = pickler()
    func = getattr(node, "func", None)
    module = sys.modules.get(getattr(func, "__module__", None) or type(node).__module__)
    if module is not None and module.__name__ != "__main__":
        top = module.__name__.partition(".")[0]
        if top not in sys.builtin_module_names and importlib.machinery.PathFinder.find_spec(top) is None:
            cp.register_pickle_by_value(module)  # a file loaded by path (``danaflow run flow.py:x``)
    try:
        return cp.dumps(node)
    except Exception as exc:
        raise unpicklable(f"{type(node).__name__}", path, exc) from None


def _same_pickled(value: Any, original: Any) -> bool:
    if value is original:
        return True
    try:
        if bool(value == original):
            return True
    except Exception:
        pass
    cp = pickler()
    try:
        return cp.dumps(value) == cp.dumps(original)
    except Exception:
        return False


def _error_fields(exc: BaseException) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": getattr(exc, "error_type", None) or type(exc).__name__,
        "message": exc.message if isinstance(exc, DanaflowError) else str(exc),
        "location": exc.location if isinstance(exc, DanaflowError) else None,
        "path": exc.path if isinstance(exc, DanaflowError) else None,
        "traceback": "".join(traceback.format_exception(exc, limit=12)),
    }
    if isinstance(exc, NodeFailedError):
        fields["outcome"], fields["output"] = exc.outcome, exc.output
    return fields


_LOOPS = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """An event loop kept per worker thread: ``asyncio.run`` per node costs a loop, a thread pool
    and their shutdown (1.3 ms here), more than the rest of a job."""
    loop = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = _LOOPS.loop = asyncio.new_event_loop()
    return loop


def run_python_job(job: PythonJob) -> bytes:
    """Runs a trusted node on a worker; returns the pickled reply (never raises for the node's errors)."""
    cp = pickler()
    node = pickle.loads(job.node)
    snap, scopes = pickle.loads(job.context)
    originals = pickle.loads(job.context)[1]
    ctx = rebuild_context(snap, scopes, node)
    result: Any = None
    error: dict[str, Any] | None = None
    try:
        result = _thread_loop().run_until_complete(node.execute(ctx))
    except Exception as exc:
        error = _error_fields(exc)
    delta = {
        s: c for s in SCOPES
        if (c := changes(ctx.sandbox.scope(s), originals.get(s, {}), _same_pickled))
    }  # fmt: skip
    try:
        return cp.dumps(("done", result, error, delta))
    except Exception as exc:
        what = "the node's result"
        for scope, change in delta.items():
            for name, value in (change.get("set") or {}).items():
                try:
                    cp.dumps(value)
                except Exception:
                    what = f"its write of {scope}:{name}"
                    break
        return cp.dumps(("unpicklable", what, f"{type(exc).__name__}: {exc}"))


def python_reply(ctx: ExecutionContext, node: Node, blob: bytes) -> NodeExecutionResult:
    """Merges a trusted node's reply: its delta, then its result (or its error, raised)."""
    reply = pickle.loads(blob)
    if reply[0] == "unpicklable":
        _, what, why = reply
        raise ComponentError(
            f"{type(node).__name__} ran on a remote worker, but {what} cannot be serialised to come back "
            f"({why}): want picklable values, or node.placement = 'host' to run the node here",
            path=ctx.path,
        )
    _, result, error, delta = reply
    apply_delta(ctx, delta, trusted=True)
    if error is not None:
        raise _remote_error(error)
    return result


def _remote_error(fields: Mapping[str, Any]) -> NodeFailedError:
    error = NodeFailedError(
        str(fields.get("message", "")),
        path=fields.get("path"),
        outcome=fields.get("outcome"),
        output=fields.get("output"),
        location=fields.get("location") if isinstance(fields.get("location"), Location) else None,
        error_type=str(fields.get("type") or "Error"),
    )
    remote_tb = fields.get("traceback")
    if remote_tb:
        error.add_note("on the remote worker:\n" + str(remote_tb).rstrip())
    return error
