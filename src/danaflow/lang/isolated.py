"""Running compiled Dana in a worker process: the host's side of one job (DESIGN §8).

The host compiles, takes a snapshot of exactly the state the program can reach (ProgramRefs),
sends it to a worker, answers the worker's calls under the policy (the model choice, the
resource allow-lists, registered functions), and applies the value and scope delta that come
back: ``local``, then ``private``, ``public``, ``system``, each key written as a whole. A
worker that crashes, runs out of memory or time, or sends garbage becomes a clean Dana error
here; the host never runs code the worker sent.
"""

from __future__ import annotations

import concurrent.futures
import marshal
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danaflow.errors import DanaflowError, DanaRuntimeError, Location, ResourceLimitError, SandboxError

from .builtins import check_model_choice, checked_reason_options, host_call
from .codec import Codec, CodecError
from .compiler import CompiledExpression, CompiledProgram, compile_program
from .exchange import ChannelClosed, error_from_record, error_record, recv_message, send_message, short_text
from .policy import SandboxPolicy
from .report import register_source, source_line
from .runtime import find_dana_module
from .sandbox import SCOPES, SandboxContext
from .syntax_errors import decode_source
from .typespace import check_type
from .values import Capability, capability_of, safe_exception, to_dana_value

__all__ = ["JobResult", "evaluate_isolated", "run_isolated"]

_GRACE_S = 2.0
_HOST_STRUCTS: dict[tuple[Any, ...], type] = {}
_HOST_STRUCTS_LOCK = threading.Lock()
_TRACE_LINE = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<fn>\S+)')


def _host_struct(name: str, fields: list[tuple[str, Any]]) -> type:
    """The host's class for a struct a worker sent: one per (name, field types), no methods."""
    from . import structs

    with _HOST_STRUCTS_LOCK:
        return structs.make_struct(
            name, {f: (t, structs.NO_DEFAULT) for f, t in fields}, canonical=_HOST_STRUCTS
        )


@dataclass
class JobResult:
    """What one isolated job produced."""

    value: Any = None
    error: DanaflowError | None = None
    output: list[str] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    confinement: dict[str, Any] = field(default_factory=dict)
    run_s: float | None = None
    """How long the program itself ran in the worker (the exchange not counted)."""


def _modules(program: CompiledProgram, search_paths: tuple[Path, ...], steps: bool) -> list[CompiledProgram]:
    """Every .na module the program imports, transitively, compiled here (the worker reads no files)."""
    out: dict[str, tuple[str, CompiledProgram]] = {}
    todo = list(program.refs.imports)
    while todo:
        dotted = todo.pop()
        if dotted in out:
            continue
        path = find_dana_module(dotted, search_paths)
        if path is None:
            continue  # a Python module, or missing: the worker decides at the import line
        compiled = compile_program(decode_source(path.read_bytes(), str(path)), str(path), steps=steps)
        register_source(str(path), compiled.source)
        out[dotted] = (str(path), compiled)
        todo.extend(compiled.refs.imports)
    return [(dotted, path, c) for dotted, (path, c) in out.items()]  # type: ignore[misc]


def _wanted(refs_list: Iterable[Any], top_names: Iterable[str]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {s: set() for s in SCOPES}
    free: set[str] = set(top_names)
    for refs in refs_list:
        for scope, name in refs.scoped:
            wanted[scope].add(name)
        free |= refs.free
    for scope in SCOPES:
        wanted[scope] |= free
    return wanted


class _Job:
    """One job's host side: the codec with its capability table, and the call dispatcher."""

    def __init__(self, ctx: SandboxContext, policy: SandboxPolicy):
        self.ctx = ctx
        self.policy = policy
        self.handles: list[Capability] = []
        # opaque=False: what the host sends is data or it is an error; validate_structs: a worker
        # may send a struct whose fields lie about their types.
        self.codec = Codec(
            _host_struct,
            export_capability=self._export,
            opaque=False,
            max_bytes=policy.max_exchange_bytes,
            validate_structs=True,
        )
        self.functions: dict[str, Callable[..., Any]] = {}
        for fn in ctx.registry:
            func = (lambda f: lambda *a, **k: f(ctx, *a, **k))(fn.func) if fn.pass_context else fn.func
            self.functions[fn.name] = host_call(func, fn.name)
        self.pass_context = {fn.name for fn in ctx.registry if fn.pass_context}
        self.sent: dict[str, dict[str, bytes]] = {}
        self.wanted: Mapping[str, set[str]] = {}
        self.deadline: float | None = None
        """When the job's wall clock runs out (monotonic): what reason() may still spend."""

    def _export(self, cap: Capability) -> int:
        self.handles.append(cap)
        return len(self.handles) - 1

    def snapshot(self, wanted: Mapping[str, set[str]]) -> dict[str, dict[str, bytes]]:
        self.wanted = wanted
        scopes: dict[str, dict[str, bytes]] = {}
        for scope in SCOPES:
            d = self.ctx.scope(scope)
            items: dict[str, bytes] = {}
            for name in wanted[scope]:
                if name in d:
                    value = to_dana_value(d[name], f"{scope}:{name}")
                    items[name] = self.codec.dumps(value)
            scopes[scope] = items
        self.sent = scopes
        return scopes

    def typed_fields(self) -> dict[str, dict[str, Any]]:
        """The typed fields of state views (``AgentState`` subclasses), as type descriptors, so the
        worker validates ``private:step = "3"`` at the line that writes it."""
        from .typespace import encode_type

        out: dict[str, dict[str, Any]] = {}
        for scope in SCOPES:
            types = getattr(self.ctx.scope(scope), "_field_types", None) or {}
            for name, t in types.items():
                try:
                    out.setdefault(scope, {})[name] = encode_type(check_type(t, ""))
                except TypeError:
                    continue  # a type Dana cannot name: the host validates it when the delta lands
        return out

    # ---- calls from the worker ----------------------------------------------------------------
    def answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = {"op": "reply", "id": msg.get("id")}
        try:
            reply["value"] = self._dispatch(msg, reply)
        except DanaflowError as err:
            reply["error"] = error_record(err, self.policy.max_message_chars)
        except Exception as exc:
            safe = safe_exception(exc)
            reply["error"] = [type(safe).__name__, short_text(str(safe), self.policy.max_message_chars)]
        return reply

    def _dispatch(self, msg: dict[str, Any], reply: dict[str, Any]) -> Any:
        kind = msg.get("kind")
        if kind == "reason":
            desired = msg.get("desired")
            if desired is not None:
                check_type(desired, "reason(): the desired type")
            options = msg.get("options") or {}
            if not isinstance(options, dict):
                raise TypeError("reason(): options must be keyword arguments")
            remaining = self.deadline - time.monotonic() if self.deadline is not None else None
            options = checked_reason_options(options, remaining)
            check_model_choice(self.ctx, options)
            if self.ctx.reasoner is None:
                raise DanaflowError("reason() has no LLM configured")
            return to_dana_value(
                self.ctx.reasoner.reason(str(msg.get("prompt")), desired, **options), "reason()"
            )
        if kind == "use":
            name = msg.get("name")
            if not isinstance(name, str):
                raise TypeError("use() wants a resource name")
            try:
                resource = self.ctx.resources[name]
            except KeyError:
                available = ", ".join(sorted(self.ctx.resources)) or "none"
                raise KeyError(f"no resource named {name!r}; available: {available}") from None
            return capability_of(name, resource, host_call)
        if kind == "resources":
            return sorted(self.ctx.resources)
        if kind == "cap":
            handle = msg.get("handle")
            if not isinstance(handle, int) or not 0 <= handle < len(self.handles):
                raise SandboxError("unknown resource handle", error_type="SandboxError")
            method = msg.get("method")
            cap = self.handles[handle]
            if method not in cap.methods:
                raise AttributeError(f"resource {cap.name!r} has no method {method!r}")
            return getattr(cap, method)(*(msg.get("args") or []), **(msg.get("kwargs") or {}))
        if kind == "fn":
            name = msg.get("name")
            fn = self.functions.get(name) if isinstance(name, str) else None
            if fn is None:
                raise NameError(f"name {name!r} is not defined")
            if name in self.pass_context:
                self.apply_delta(msg.get("delta") or {})
                before = {s: dict(v) for s, v in self.sent.items()}
                value = fn(*(msg.get("args") or []), **(msg.get("kwargs") or {}))
                reply["refresh"] = self._changed_since(before)
                return value
            return fn(*(msg.get("args") or []), **(msg.get("kwargs") or {}))
        raise SandboxError(f"unknown call {str(kind)[:40]!r} from the worker", error_type="SandboxError")

    def _changed_since(self, before: dict[str, dict[str, bytes]]) -> dict[str, dict[str, bytes]]:
        """What a host function changed among the names the program can read, new keys included."""
        refresh: dict[str, dict[str, bytes]] = {}
        for scope in SCOPES:
            d = self.ctx.scope(scope)
            old_items = before.get(scope, {})
            for name in self.wanted.get(scope, ()):
                if name not in d:
                    continue
                new = self.codec.dumps(to_dana_value(d[name], f"{scope}:{name}"))
                if new != old_items.get(name):
                    refresh.setdefault(scope, {})[name] = new
                    self.sent.setdefault(scope, {})[name] = new
        return refresh

    # ---- the result ---------------------------------------------------------------------------
    def apply_delta(self, delta: Any) -> None:
        """Writes the worker's scope changes into the host's scopes, in scope order."""
        if not isinstance(delta, dict):
            raise SandboxError("the worker sent a malformed scope delta", error_type="SandboxError")
        for scope in SCOPES:
            change = delta.get(scope)
            if not change:
                continue
            target = self.ctx.scope(scope)
            for name, value in (change.get("set") or {}).items():
                # `_` keys: the program's own in local: (`_helper = 1`), the host's in private:
                # and public:, which Dana code cannot write.
                if not isinstance(name, str) or (name.startswith("_") and scope in ("private", "public")):
                    continue
                if scope == "system" and (name.startswith("__") or name in self.ctx.reserved_system_keys):
                    continue  # the runtime's keys: the worker refused the write already
                target[name] = value
                if name in self.sent.get(scope, {}):
                    self.sent[scope][name] = self.codec.dumps(value)
            for name in change.get("del") or ():
                if isinstance(name, str) and name in target:
                    del target[name]


def _crash_error(worker: Any, policy: SandboxPolicy, killed_for_time: bool) -> DanaflowError:
    """The Dana error for a worker that died: where it was (faulthandler's report) and why."""
    text = worker.diagnostics()
    location = None
    for m in _TRACE_LINE.finditer(text):
        file, line = m.group("file"), int(m.group("line"))
        if source_line(file, line) is not None or file.endswith(".na") or file.startswith("<"):
            location = Location(file, line, 0, source_line(file, line))
            break  # faulthandler lists the innermost frame first
    if "Segmentation fault" in text or "Fatal Python error" in text:
        what = "Fatal Python error" if "Segmentation fault" not in text else "segmentation fault"
        return DanaRuntimeError(
            f"the Dana worker process crashed ({what}); the host is unaffected",
            location=location,
            error_type="WorkerCrashed",
        )
    if killed_for_time or text.startswith("Timeout (") or "\nTimeout (" in text:
        return ResourceLimitError(
            f"timeout: the program ran longer than {policy.timeout:g} s (stopped inside a builtin call)",
            location=location,
            error_type="TimeoutError",
        )
    if "Current thread" in text and policy.cpu_limit:
        return ResourceLimitError(
            f"CPU limit of {policy.cpu_limit:g} s exceeded", location=location, error_type="CPULimitError"
        )
    limit = f" of {policy.memory_limit >> 20} MiB" if policy.memory_limit else ""
    return ResourceLimitError(
        f"the Dana worker process was killed without a report (most likely the memory limit{limit})",
        location=location,
        error_type="WorkerKilled",
    )


def _exchange(
    job: _Job,
    message: dict[str, Any],
    *,
    cold: bool,
    print_sink: Callable[[str], None] | None,
    pool: Any = None,
) -> JobResult:
    from .pool import default_pool

    policy = job.policy
    pool = pool if pool is not None else default_pool()
    if cold or not policy.os_confinement:
        worker = pool.cold(os_confinement=policy.os_confinement)
    else:
        worker = pool.acquire()
    result = JobResult()
    deadline = time.monotonic() + policy.timeout + _GRACE_S if policy.timeout else None
    job.deadline = deadline - _GRACE_S if deadline is not None else None
    calls = concurrent.futures.ThreadPoolExecutor(max_workers=1) if policy.timeout else None
    printed = 0
    try:
        send_message(worker.sock, job.codec, message)
        while True:
            try:
                msg = recv_message(worker.sock, job.codec, deadline)
            except TimeoutError:
                worker.kill()
                result.error = _crash_error(worker, policy, killed_for_time=True)
                break
            except (ChannelClosed, ConnectionError):
                result.error = _crash_error(worker, policy, killed_for_time=worker.killed)
                break
            except CodecError as exc:
                worker.kill()
                result.error = SandboxError(
                    f"the Dana worker sent a malformed message: {exc}", error_type="SandboxError"
                )
                break
            op = msg["op"]
            if op == "print":
                text = str(msg.get("text", ""))
                printed += len(text)
                if printed > policy.max_output_bytes:
                    worker.kill()
                    result.error = ResourceLimitError(
                        f"output limit of {policy.max_output_bytes >> 20} MiB exceeded by print()",
                        error_type="OutputLimitError",
                    )
                    break
                result.output.append(text)
                if print_sink is not None:
                    print_sink(text)
                else:
                    job.ctx.write_output(text)
            elif op == "log":
                record = msg.get("record")
                if len(result.logs) >= policy.max_log_records:
                    worker.kill()
                    result.error = ResourceLimitError(
                        f"log limit of {policy.max_log_records} records exceeded",
                        error_type="OutputLimitError",
                    )
                    break
                if isinstance(record, dict):
                    record = {str(k): v for k, v in record.items()}
                    printed += sum(
                        len(k) + len(v) if isinstance(v, str) else len(k) + 16 for k, v in record.items()
                    )
                    if printed > policy.max_output_bytes:
                        worker.kill()
                        result.error = ResourceLimitError(
                            f"output limit of {policy.max_output_bytes >> 20} MiB "
                            "exceeded by print() and log()",
                            error_type="OutputLimitError",
                        )
                        break
                    result.logs.append(record)
                    job.ctx.emit_log(record)
            elif op == "call":
                if calls is not None and deadline is not None:
                    future = calls.submit(job.answer, msg)
                    try:
                        reply = future.result(timeout=max(deadline - time.monotonic() - _GRACE_S, 0.01))
                    except concurrent.futures.TimeoutError:
                        worker.kill()
                        result.error = ResourceLimitError(
                            f"timeout: the program ran longer than {policy.timeout:g} s "
                            f"(waiting for {msg.get('kind')}())",
                            error_type="TimeoutError",
                        )
                        break
                else:
                    reply = job.answer(msg)
                try:
                    send_message(worker.sock, job.codec, reply)
                except CodecError as exc:
                    send_message(
                        worker.sock,
                        job.codec,
                        {"op": "reply", "id": msg.get("id"), "error": ["TypeError", str(exc)]},
                    )
            elif op == "done":
                result.confinement = msg.get("confinement") or {}
                run_s = msg.get("run_s")
                result.run_s = float(run_s) if isinstance(run_s, int | float) else None
                if msg.get("error") is not None:
                    result.error = error_from_record(msg["error"], policy.max_message_chars)
                try:
                    job.apply_delta(msg.get("delta") or {})
                except DanaflowError as err:
                    result.error = result.error or err
                except (TypeError, ValueError) as exc:  # a typed state view refused a value
                    result.error = result.error or DanaRuntimeError(str(exc), error_type=type(exc).__name__)
                result.value = msg.get("value")
                break
            else:
                worker.kill()
                result.error = SandboxError(f"the Dana worker sent an unknown message {op[:40]!r}")
                break
    finally:
        if calls is not None:
            calls.shutdown(wait=False, cancel_futures=True)
        worker.close()
    return result


def _model_aliases(ctx: SandboxContext) -> list[str]:
    """The model names the worker may let ``reason(model=...)`` pass (the host checks again)."""
    aliases_of = getattr(ctx.reasoner, "model_aliases", None)
    return [str(a) for a in aliases_of()] if callable(aliases_of) else []


def _policy_fields(policy: SandboxPolicy) -> dict[str, Any]:
    return {
        "memory_limit": policy.memory_limit,
        "cpu_limit": policy.cpu_limit,
        "timeout": policy.timeout,
        "max_steps": policy.max_steps,
        "os_confinement": policy.os_confinement,
        "max_message_chars": policy.max_message_chars,
        "allow_python_modules": sorted(policy.allow_python_modules),
        "allow_model_specs": policy.allow_model_specs,
    }


def run_isolated(
    program: CompiledProgram,
    ctx: SandboxContext,
    policy: SandboxPolicy,
    *,
    search_paths: tuple[Path, ...] = (),
    print_sink: Callable[[str], None] | None = None,
    cold: bool = False,
    pool: Any = None,
) -> JobResult:
    """Runs a compiled program in a worker against ``ctx``; never raises for the program's errors."""
    job = _Job(ctx, policy)
    try:
        modules = _modules(program, search_paths, program.counts_steps)
        wanted = _wanted([program.refs, *(c.refs for _, _, c in modules)], program.top_level_names)
        scopes = job.snapshot(wanted)
    except DanaflowError as err:
        return JobResult(error=err)
    except (TypeError, OSError, ValueError) as exc:
        return JobResult(error=DanaRuntimeError(str(exc), error_type=type(exc).__name__))
    message = {
        "op": "run",
        "kind": "program",
        "code": marshal.dumps(program.code),
        "store_sites": program.store_sites,
        "filename": program.filename,
        "source": program.source,
        "modules": [
            {
                "dotted": dotted,
                "path": path,
                "code": marshal.dumps(c.code),
                "store_sites": c.store_sites,
                "source": c.source,
            }
            for dotted, path, c in modules
        ],
        "scopes": scopes,
        "typed": job.typed_fields(),
        "reserved": sorted(ctx.reserved_system_keys),
        "functions": [[fn.name, fn.pass_context] for fn in ctx.registry],
        "models": _model_aliases(ctx),
        "policy": _policy_fields(policy),
    }
    return _exchange(job, message, cold=cold, print_sink=print_sink, pool=pool)


def evaluate_isolated(
    expr: CompiledExpression,
    names: Mapping[str, Any],
    ctx: SandboxContext,
    policy: SandboxPolicy,
    *,
    pool: Any = None,
) -> Any:
    """Evaluates a template expression in a worker; raises its DanaflowError.

    ``names`` resolves the expression's free names (placeholders and variables); what it lacks is
    looked up in the context's scopes by the worker, as in-process evaluation would.
    """
    policy = policy.widen(timeout=policy.template_timeout, max_steps=policy.template_steps)
    job = _Job(ctx, policy)
    provided = {}
    for name in expr.refs.free:
        try:
            provided[name] = to_dana_value(names[name], name)
        except KeyError:
            continue
    wanted = _wanted([expr.refs], ())
    for name in provided:
        for scope in SCOPES:
            wanted[scope].discard(name)
    message = {
        "op": "run",
        "kind": "expr",
        "code": marshal.dumps(expr.code),
        "store_sites": 0,
        "filename": expr.filename,
        "source": expr.source,
        "names": provided,
        "scopes": job.snapshot(wanted),
        "reserved": sorted(ctx.reserved_system_keys),
        "functions": [[fn.name, fn.pass_context] for fn in ctx.registry],
        "models": _model_aliases(ctx),
        "policy": _policy_fields(policy),
    }
    result = _exchange(job, message, cold=False, print_sink=None, pool=pool)
    if result.error is not None:
        raise result.error
    return result.value
