"""A DanaNode's work in another process: the sandbox's exchange, carried by a remote task.

The program is untrusted (DESIGN §8), so its job holds source text and data only — exactly the
names the program can reach, as codec bytes — and its reply is codec bytes the coordinator
decodes as data (structs validated, nothing unpickled). On the worker, the task plays the host
for a confined worker process of that machine (``lang.api.run``), with ``reason()`` answered by
that machine's configured LLM and no resources.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from danaflow.context.context import ExecutionContext
from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.context.status import ExecutableTypeEnum
from danaflow.errors import ComponentError, DanaflowError, SandboxError
from danaflow.lang import structs
from danaflow.lang.codec import Codec, CodecError
from danaflow.lang.exchange import error_from_record, error_record
from danaflow.lang.sandbox import SCOPES, SandboxContext
from danaflow.lang.values import to_dana_value
from danaflow.template.engine import to_text

from ._remote import ContextSnapshot, ResultCache, apply_delta, changes, pickler, rebuild_context, unpicklable
from ._remote import snapshot_context as _snapshot
from .nodes.base import NodeFailedError

if TYPE_CHECKING:
    from danaflow.lang.policy import SandboxPolicy

    from .nodes.dana import DanaNode

__all__ = ["DanaJob", "dana_job", "dana_reply", "run_dana_job"]

_T = ExecutableTypeEnum
_SHARED = ("private", "public", "system")

_HOST_STRUCTS: dict[tuple[Any, ...], type] = {}
_HOST_STRUCTS_LOCK = threading.Lock()


def _struct_class(name: str, fields: list[tuple[str, Any]]) -> type:
    """This side's class for a struct descriptor: one per (name, field types), no methods."""
    with _HOST_STRUCTS_LOCK:
        return structs.make_struct(
            name, {f: (t, structs.NO_DEFAULT) for f, t in fields}, canonical=_HOST_STRUCTS
        )


@dataclass(frozen=True, slots=True)
class DanaJob:
    """A Dana program's job: its source, the data it may read (codec bytes) and its limits."""

    path: str
    source: str
    filename: str
    scopes: dict[str, dict[str, bytes]]
    """``local``, ``private``, ``public``, ``system``: exactly the names the program can reach."""
    policy: SandboxPolicy
    reserved_system_keys: tuple[str, ...]
    functions: bytes | None
    """The registered functions the program may call, pickled (trusted host code), or None."""
    timeout: float | None
    max_steps: int | None
    isolation: str | None
    memory_limit: Any
    context: ContextSnapshot | None
    """For ``result("path")``: the results the node depends on (None when it never calls it)."""


def _reachable(source: str, filename: str) -> tuple[dict[str, set[str]] | None, bool]:
    """The names per scope the program can reach (None: everything, it imports .na modules) and
    whether it calls ``result()``."""
    from danaflow.lang.compiler import compile_program  # deferred: the compiler loads lark

    program = compile_program(source, filename)
    refs = program.refs
    calls_result = "result" in refs.free
    if refs.imports:
        return None, calls_result
    free = set(refs.free) | set(program.top_level_names)
    wanted = {s: set(free) for s in SCOPES}
    for scope, name in refs.scoped:
        wanted[scope].add(name)
    return wanted, calls_result


def dana_job(ctx: ExecutionContext, node: DanaNode, cache: ResultCache) -> DanaJob:
    """The job of a DanaNode (raises NodeFailedError as the node would, for a value that is not data)."""
    source, filename = node.source()
    if node.program is not None:
        filename = f"<{ctx.path}>"
    try:
        wanted, calls_result = _reachable(source, filename)
    except DanaflowError as err:  # the error DanaNode reports for a program that does not compile
        error_type = getattr(err, "error_type", type(err).__name__)
        raise NodeFailedError(
            f"{error_type}: {err.message}",
            path=ctx.path,
            outcome=NodeOutcome(text="", structured=None, value=None, output=""),
            output="",
            location=err.location,
            error_type=error_type,
        ) from None
    codec = Codec(_struct_class)
    sandbox = ctx.sandbox
    local = dict(sandbox.local)
    for name, value in ctx.visible_variables().items():
        if name.isidentifier() and not name.startswith("_"):
            local.setdefault(name, value)
    sources = {"local": local, **{s: sandbox.scope(s) for s in _SHARED}}
    scopes: dict[str, dict[str, bytes]] = {}
    for scope in SCOPES:
        items: dict[str, bytes] = {}
        values = sources[scope]
        names = values.keys() if wanted is None else wanted[scope]
        for name in list(names):
            if name not in values:
                continue
            try:
                items[name] = codec.dumps(to_dana_value(values[name], f"{scope}:{name}"))
            except (TypeError, CodecError) as exc:
                if wanted is None:
                    continue  # with imports, every name is sent that can be; the rest stays here
                raise NodeFailedError(f"TypeError: {exc}", path=ctx.path, error_type="TypeError") from None
        scopes[scope] = items
    functions = None
    if len(sandbox.registry):
        cp = pickler()
        try:
            functions = cp.dumps(sandbox.registry)
        except Exception:
            for fn in sandbox.registry:
                try:
                    cp.dumps(fn)
                except Exception as exc:
                    raise unpicklable(f"the registered function {fn.name!r}", ctx.path, exc) from None
            raise
    return DanaJob(
        path=ctx.path,
        source=source,
        filename=filename,
        scopes=scopes,
        policy=sandbox.policy,
        reserved_system_keys=tuple(sorted(sandbox.reserved_system_keys)),
        functions=functions,
        timeout=node.timeout,
        max_steps=node.max_steps,
        isolation=node.isolation,
        memory_limit=node.memory_limit,
        context=_snapshot(ctx, cache) if calls_result else None,
    )


class _WorkerSandbox(SandboxContext):
    """The Dana program's scopes on a remote worker; its ``log()`` records go back in the reply."""

    def emit_log(self, record: Mapping[str, Any]) -> None:
        return None


def run_dana_job(job: DanaJob) -> bytes:
    """Runs a Dana program on this machine as its host; returns the reply as codec bytes.

    The program runs as it would on the coordinator (a confined worker process unless its policy
    says ``inprocess``), with ``reason()`` answered by this machine's configured LLM and no
    resources. The reply is data only: the value, what it printed and logged, the scope delta
    and the error, each encoded by the sandbox's codec.
    """
    from danaflow.lang.api import UNSET, run

    from ._llm import DefaultReasoner
    from .nodes.dana import _result_lookup

    codec = Codec(_struct_class, max_bytes=job.policy.max_exchange_bytes)
    reply_codec = Codec(_struct_class, opaque=True, max_bytes=job.policy.max_exchange_bytes)
    sandbox = _WorkerSandbox(policy=job.policy)
    for scope in SCOPES:
        target = sandbox.scope(scope)
        for name, data in job.scopes.get(scope, {}).items():
            target[name] = codec.loads(data)
    sandbox.reserved_system_keys.update(job.reserved_system_keys)
    sandbox.reasoner = DefaultReasoner.shared()
    if job.functions is not None:
        sandbox.registry = pickle.loads(job.functions)
    if job.context is not None:
        sandbox.registry = sandbox.registry.copy()
        sandbox.registry.register(
            "result",
            _result_lookup(rebuild_context(job.context, {})),
            description="A component result by path.",
        )
    printed: list[str] = []
    outcome = run(
        job.source,
        sandbox,
        filename=job.filename,
        timeout=job.timeout,
        max_steps=job.max_steps,
        print_sink=printed.append,
        isolation=job.isolation,  # type: ignore[arg-type]
        memory_limit=job.memory_limit if job.memory_limit is not None else UNSET,
    )

    def same(value: Any, before: bytes) -> bool:
        try:
            return reply_codec.dumps(value) == before or codec.loads(before) == value
        except (CodecError, TypeError, ValueError):
            return False

    delta = {s: c for s in SCOPES if (c := changes(sandbox.scope(s), job.scopes.get(s, {}), same))}
    error = outcome.error
    reply = {
        "value": outcome.value,
        "output": outcome.output or "".join(printed),
        "logs": outcome.logs,
        "delta": delta,
        "error": error_record(error, job.policy.max_message_chars) if error is not None else None,
    }
    try:
        return reply_codec.dumps(reply)
    except CodecError as exc:
        reply.update(value=None, delta={}, error=error_record(
            SandboxError(f"the program's result cannot cross back: {exc}", error_type="SandboxError")
        ))  # fmt: skip
        return reply_codec.dumps(reply)


def dana_reply(ctx: ExecutionContext, job: DanaJob, data: bytes) -> NodeExecutionResult:
    """Merges a Dana program's reply, decoded as untrusted data, into the node's context."""
    codec = Codec(_struct_class, max_bytes=job.policy.max_exchange_bytes, validate_structs=True)
    try:
        reply = codec.loads(data)
    except CodecError as exc:
        raise SandboxError(f"the remote worker sent a malformed reply: {exc}", path=ctx.path) from None
    if not isinstance(reply, dict) or not isinstance(reply.get("output", ""), str):
        raise SandboxError("the remote worker sent a malformed reply", path=ctx.path)
    for record in reply.get("logs") or ():
        if isinstance(record, dict):
            ctx.sandbox.emit_log({str(k): v for k, v in record.items()})
    err = error_from_record(reply["error"], job.policy.max_message_chars) if reply.get("error") else None
    try:
        apply_delta(ctx, reply.get("delta") or {}, trusted=False)
    except ComponentError as exc:
        err = err or exc
    output = reply.get("output") or ""
    value = reply.get("value")
    text = output if output else ("" if value is None else to_text(value))
    outcome = NodeOutcome(text=text, structured=value, value=value, output=output)
    if err is not None:
        error_type = getattr(err, "error_type", type(err).__name__)
        raise NodeFailedError(
            f"{error_type}: {getattr(err, 'message', str(err))}",
            path=ctx.path,
            outcome=outcome,
            output=output,
            location=getattr(err, "location", None),
            error_type=error_type,
        )
    return NodeExecutionResult(executable_type=_T.node, node_type="dana", outcome=outcome, output=output)
