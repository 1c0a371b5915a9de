"""The worker process: runs one untrusted Dana job, confined, and reports back to the host.

A worker starts from a clean interpreter (``python -I -m danaflow.lang.worker``) with no API keys
in its environment, either directly (``single``) or forked from a warm ``zygote`` that has
already imported the runtime. For its one job it confines itself (confine.py), runs the compiled
program on the scope snapshot it was sent, answers ``reason()``, ``use()`` and registered
functions by calling the host, and sends back the value and the delta of the scopes. It never
parses Dana (the host compiled it) and never sees the host's objects, only data.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import marshal
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["main"]

_SNAPSHOT_SCOPES = ("local", "private", "public", "system")
_RESERVE = 8 << 20


def _codec(struct_registry: dict, call_host: Any = None) -> Any:
    from . import structs
    from .codec import Codec
    from .values import Capability

    def struct_class(name: str, fields: list[tuple[str, Any]]) -> type:
        spec = {f: (t, structs.NO_DEFAULT) for f, t in fields}
        return structs.make_struct(name, spec, canonical=struct_registry)

    def import_capability(handle: int, name: str, methods: list[str], description: str) -> Capability:
        def stub(method: str) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                return call_host("cap", handle=handle, method=method, args=list(args), kwargs=kwargs)

            call.__name__ = method
            return call

        return Capability(name, {m: stub(m) for m in methods}, description)

    return Codec(struct_class, import_capability=import_capability, opaque=True)


class _Host:
    """The worker's side of the channel: sends messages, and makes calls that wait for a reply."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.codec: Any = None
        self._next = 0

    def send(self, message: dict[str, Any]) -> None:
        from .exchange import send_message

        send_message(self.sock, self.codec, message)

    def call(self, kind: str, **fields: Any) -> Any:
        from .exchange import error_from_record, recv_message
        from .values import SAFE_EXCEPTIONS

        self._next += 1
        self.send({"op": "call", "id": self._next, "kind": kind, **fields})
        reply = recv_message(self.sock, self.codec)
        if reply.get("op") != "reply" or reply.get("id") != self._next:
            raise RuntimeError("the host sent an unexpected message")
        if "refresh" in reply:
            self.on_refresh(reply["refresh"])
        if "error" in reply:
            err = reply["error"]
            if isinstance(err, dict):
                raise error_from_record(err)
            name, message = err
            raise SAFE_EXCEPTIONS.get(name, RuntimeError)(message)
        return reply.get("value")

    def on_refresh(self, refresh: Any) -> None:  # replaced by the job
        pass


def _scope_delta(ctx: Any, snapshot: dict[str, dict[str, bytes]], codec: Any) -> tuple[dict, list[str]]:
    """The keys each scope gained or changed, and which it lost; problems as messages."""
    from .codec import CodecError

    delta: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for scope in _SNAPSHOT_SCOPES:
        current = ctx.scope(scope)
        before = snapshot.get(scope, {})
        sets: dict[str, Any] = {}
        for key, value in list(current.items()):
            if key.startswith("_") and scope in ("private", "public"):  # the host's keys
                continue
            try:
                encoded = codec.dumps(value)
            except CodecError:
                if scope != "local":
                    problems.append(
                        f"{scope}:{key} holds a {type(value).__name__}; only data can be stored there"
                    )
                continue
            if before.get(key) != encoded:
                sets[key] = value
        deleted = [k for k in before if k not in current]
        if sets or deleted:
            delta[scope] = {"set": sets, "del": deleted}
    return delta, problems


def _run_job(
    host: _Host, job: dict[str, Any], workdir: str, struct_registry: dict, info: Any
) -> dict[str, Any]:
    from danaflow.errors import DanaflowError, ResourceLimitError

    from .codec import Codec
    from .confine import set_limits
    from .exchange import error_record
    from .limits import Watchdog
    from .policy import SandboxPolicy
    from .registry import FunctionRegistry
    from .report import register_source, to_dana_error
    from .typespace import decode_type

    policy = job["policy"]
    set_limits(policy.get("memory_limit"), policy.get("cpu_limit"), info)
    strict = Codec(host.codec.struct_class)  # for the delta: what is not data is refused, not described

    snapshot: dict[str, dict[str, bytes]] = job["scopes"]
    ctx = _WorkerContext(host)
    for scope, fields in (job.get("typed") or {}).items():
        if scope in _SNAPSHOT_SCOPES and scope != "local":
            types = {n: decode_type(d, host.codec.struct_class) for n, d in fields.items()}
            setattr(ctx, scope, _typed_scope(scope, types))
    for scope in _SNAPSHOT_SCOPES:
        target = ctx.scope(scope)
        for key, encoded in snapshot.get(scope, {}).items():
            target[key] = host.codec.loads(encoded)
    ctx.reserved_system_keys = set(job.get("reserved", ()))
    ctx.policy = SandboxPolicy(
        isolation="inprocess",
        allow_python_modules=policy.get("allow_python_modules", ()),
        allow_model_specs=bool(policy.get("allow_model_specs", False)),
    )
    ctx.reasoner.aliases = tuple(str(m) for m in job.get("models") or ())

    def refresh(values: Any) -> None:
        for scope, items in (values or {}).items():
            for key, encoded in items.items():
                ctx.scope(scope)[key] = host.codec.loads(encoded)
                snapshot.setdefault(scope, {})[key] = encoded

    host.on_refresh = refresh
    registry = FunctionRegistry()
    for name, pass_context in job.get("functions", []):
        registry.register(name, _function_stub(host, ctx, snapshot, strict, name, bool(pass_context)))
    ctx.registry = registry

    filename = job["filename"]
    for mod in job.get("modules", []):
        register_source(mod["path"], mod["source"])
    register_source(filename, job["source"])
    timeout = policy.get("timeout")
    max_steps = policy.get("max_steps")
    runtime = _WorkerRuntime(
        ctx,
        filename=filename,
        max_steps=max_steps,
        timeout=timeout,
        modules={m["dotted"]: m for m in job.get("modules", [])},
    )
    runtime.struct_registry = struct_registry
    value, error = None, None
    limit = policy.get("memory_limit")
    # Headroom for the report: once the program has exhausted the address space, building an
    # error (or encoding the state) needs memory too. Released the moment a MemoryError arrives.
    reserve = [bytearray(_RESERVE)]
    started = time.perf_counter()
    try:
        with Watchdog(timeout, on_fire=runtime.expire):
            value = runtime.execute(job)
    except MemoryError as exc:
        reserve.clear()
        err = to_dana_error(exc, timeout=timeout, max_steps=max_steps)
        error = ResourceLimitError(
            f"memory limit {_human(limit)} exceeded" if limit else "out of memory",
            location=err.location,
            stack=getattr(err, "stack", None),
            error_type="MemoryError",
        )
    except DanaflowError as exc:
        error = to_dana_error(exc, timeout=timeout, max_steps=max_steps)
    except BaseException as exc:  # a Dana program's uncaught error, whatever its Python type
        error = to_dana_error(exc, timeout=timeout, max_steps=max_steps)
    run_s = time.perf_counter() - started
    reserve.clear()
    try:
        delta, problems = _scope_delta(ctx, snapshot, strict)
    except MemoryError:
        # The state is too big to send back within the memory limit: report that, keep nothing.
        ctx.local.clear()
        delta, value = {}, None
        problems = [f"the program's state does not fit in the memory limit {_human(limit)} to be sent back"]
        if error is None:
            error = ResourceLimitError(problems[0], error_type="MemoryError")
    if problems and error is None:
        error = DanaflowError("; ".join(problems[:5]), path=None)
    chars = int(policy.get("max_message_chars") or 4000)
    return {
        "op": "done",
        "value": value,
        "delta": delta,
        "error": error_record(error, chars) if error is not None else None,
        "confinement": {"landlock": info.landlock_abi, "seccomp": info.seccomp, "notes": info.notes},
        "run_s": run_s,
    }


def _typed_scope(scope: str, types: dict[str, Any]) -> Any:
    """A scope dict that validates (and coerces) writes to typed fields, as the host's views do."""
    from pydantic import TypeAdapter, ValidationError

    from .sandbox import ScopeDict

    adapters = {n: TypeAdapter(t) for n, t in types.items()}

    class TypedScope(ScopeDict):
        __slots__ = ()

        def __setitem__(self, key: str, value: Any) -> None:
            adapter = adapters.get(key)
            if adapter is not None:
                try:
                    value = adapter.validate_python(value)
                except ValidationError as exc:
                    msg = exc.errors()[0]["msg"]
                    raise TypeError(f"{scope}:{key}: got {value!r}, want {types[key]!r} ({msg})") from None
            dict.__setitem__(self, key, value)

    return TypedScope(scope)


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _function_stub(host: _Host, ctx: Any, snapshot: dict, strict: Any, name: str, pass_context: bool) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        fields: dict[str, Any] = {"name": name, "args": list(args), "kwargs": kwargs}
        if pass_context:
            # The host function reads the context: hand it the program's writes so far.
            fields["delta"] = _scope_delta(ctx, snapshot, strict)[0]
        return host.call("fn", **fields)

    call.__name__ = name
    return call


def _make_context_class() -> type:
    from .sandbox import SandboxContext

    class WorkerContext(SandboxContext):
        """The worker's scopes: output and logs go to the host as they happen."""

        def __init__(self, host: _Host):
            super().__init__()
            self._host = host
            self.resources = _Resources(host)
            self.reasoner = _Reasoner(host)

        def write_output(self, text: str) -> None:
            self._host.send({"op": "print", "text": text})

        def emit_log(self, record: Mapping[str, Any]) -> None:
            self._host.send({"op": "log", "record": dict(record)})

    return WorkerContext


class _Resources(Mapping[str, Any]):
    """``use(name)`` in a worker: the host looks the resource up and sends a capability handle."""

    def __init__(self, host: _Host):
        self._host = host
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            try:
                self._cache[name] = self._host.call("use", name=name)
            except KeyError as exc:
                raise KeyError(exc.args[0] if exc.args else name) from None
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._host.call("resources"))

    def __len__(self) -> int:
        return len(self._host.call("resources"))


class _Reasoner:
    """``reason()`` in a worker: the host checks the model choice and asks its LLM."""

    def __init__(self, host: _Host):
        self._host = host
        self.aliases: tuple[str, ...] = ()
        """The host's model aliases (sent with the job); the host checks the choice again."""

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        return self._host.call("reason", prompt=prompt, desired=desired_type, options=options)

    def model_aliases(self) -> tuple[str, ...]:
        return self.aliases


def _make_runtime_class() -> type:
    from .runtime import Runtime

    class WorkerRuntime(Runtime):
        """A Runtime whose .na imports come precompiled from the host (the worker reads no files)."""

        def __init__(self, ctx: Any, *, modules: dict[str, dict[str, Any]], **kw: Any):
            super().__init__(ctx, module_executor=self._exec_module, **kw)
            self._provided = modules
            self._by_path = {m["path"]: m for m in modules.values()}

        def _find_dana_module(self, dotted: str) -> Path | None:
            mod = self._provided.get(dotted)
            return Path(mod["path"]) if mod is not None else None

        def _exec_module(self, runtime: Any, path: Path, name: str) -> dict[str, Any]:
            mod = self._by_path[str(path)]
            namespace: dict[str, Any] = {}
            self._run_code(mod, namespace, name)
            return namespace

        def _run_code(self, compiled: dict[str, Any], local: Any, module_name: str = "__main__") -> Any:
            code = marshal.loads(compiled["code"])
            g = self.program_globals(local, compiled["store_sites"], module_name)
            if compiled.get("kind") == "expr":
                g["_lk"] = self._lookup
                exec(code, g)
                return g["_dana_expr"]()
            exec(code, g)
            return g["_dana_main"]()

        def _lookup(self, name: str) -> Any:
            from .runtime import undefined_name

            names = self._names
            if name in names:
                return names[name]
            try:
                return self.builtin(name)
            except KeyError:
                pass
            scopes = (self.ctx.local, self.ctx.private, self.ctx.public, self.ctx.system)
            for scope in scopes[:1] if name[:1] == "_" else scopes:  # `_` keys: local: only
                if name in scope:
                    return scope[name]
            return undefined_name(name)

        def execute(self, job: dict[str, Any]) -> Any:
            self._names = job.get("names") or {}
            return self._run_code(job, self.ctx.local)

    return WorkerRuntime


_WorkerContext: Any = None
_WorkerRuntime: Any = None


def _load_classes() -> None:
    global _WorkerContext, _WorkerRuntime
    if _WorkerContext is None:
        _WorkerContext = _make_context_class()
        _WorkerRuntime = _make_runtime_class()


def _rehearse() -> None:
    """Builds and runs a throwaway program's runtime, touching the pages a job will touch."""
    from .registry import FunctionRegistry
    from .runtime import Runtime

    class _Silent:
        def send(self, message: dict[str, Any]) -> None:
            pass

    ctx = _WorkerContext(_Silent())
    ctx.registry = FunctionRegistry()
    runtime = _WorkerRuntime(ctx, filename="<rehearsal>", modules={})
    assert isinstance(runtime, Runtime)
    g = runtime.program_globals(ctx.local)
    exec(compile("def _dana_main():\n    return [1, 2][0]\n", "<rehearsal>", "exec"), g)
    g["_dana_main"]()


def serve(channel_fd: int, diag_fd: int, base: str, os_confinement: bool = True) -> None:
    """Runs one job arriving on ``channel_fd``, then exits the process."""
    _load_classes()
    from .exchange import ChannelClosed, recv_message, send_message

    os.dup2(diag_fd, 2)
    if diag_fd != 2:
        os.close(diag_fd)
    faulthandler.enable(file=sys.stderr, all_threads=False)
    if hasattr(signal, "SIGXCPU"):
        faulthandler.register(signal.SIGXCPU, file=sys.stderr, all_threads=False, chain=True)
    sock = socket.socket(fileno=channel_fd)
    workdir = tempfile.mkdtemp(prefix="w", dir=base)
    os.chdir(workdir)
    host = _Host(sock)
    struct_registry: dict = {}
    host.codec = _codec(struct_registry, host.call)
    # Confine and warm up before the job arrives: both cost milliseconds (Landlock rules, and the
    # copy-on-write page faults of a fresh fork), which a spare worker pays while it waits.
    from .confine import Confinement, confine_os

    info = confine_os(workdir) if os_confinement else Confinement(notes=["os confinement off"])
    _rehearse()
    try:
        send_message(sock, host.codec, {"op": "hello", "pid": os.getpid(), "workdir": workdir})
        job = recv_message(sock, host.codec)
    except (ChannelClosed, OSError):
        os._exit(0)
    if job.get("op") != "run":
        os._exit(0)
    timeout = job["policy"].get("timeout")
    if timeout:
        # A program stuck in C code past its timeout (the watchdog cannot interrupt it): write
        # where it is and exit, so the host reports the line instead of waiting for its own kill.
        faulthandler.dump_traceback_later(float(timeout) + 1.0, exit=True, file=sys.stderr)
    try:
        result = _run_job(host, job, workdir, struct_registry, info)
    except MemoryError:
        result = {
            "op": "done",
            "value": None,
            "delta": {},
            "error": {
                "class": "ResourceLimitError",
                "message": "memory limit exceeded",
                "error_type": "MemoryError",
                "location": None,
                "stack": [],
            },
        }
    except BaseException as exc:  # the job machinery itself failed: say so, briefly
        result = {"op": "done", "value": None, "delta": {}, "error": _internal(exc)}
    try:
        send_message(sock, host.codec, result)
    except Exception as exc:  # the value or delta could not be encoded
        send_message(sock, host.codec, {"op": "done", "value": None, "delta": {}, "error": _internal(exc)})
    sys.stdout.flush()
    os._exit(0)


def _internal(exc: BaseException) -> dict[str, Any]:
    from .exchange import short_text

    return {
        "class": "DanaRuntimeError",
        "message": short_text(f"{type(exc).__name__}: {exc}", 2000),
        "error_type": "WorkerError",
        "location": None,
        "stack": [],
    }


def _zygote(control_fd: int, base: str, preload: list[str]) -> None:
    """Imports the runtime once, then forks one worker per request on ``control_fd``."""
    import importlib

    for name in preload:
        importlib.import_module(name)
    _load_classes()
    _warm_up()
    # Every object the zygote made goes to the permanent generation: a forked worker's collector
    # never walks (and so never copies) those pages.
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished workers
    control = socket.socket(fileno=control_fd)
    control.sendall(b"R")  # ready
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(control, 16, 2)
        except OSError:
            break
        if not msg:
            break
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                serve(fds[0], fds[1], base, msg != b"U")
            finally:
                os._exit(1)
        for fd in fds:
            os.close(fd)
    os._exit(0)


def _warm_up() -> None:
    """Runs the lazy imports a typical program triggers, so forked workers don't each pay them."""
    from pydantic import TypeAdapter

    from . import structs
    from .confine import prepare

    prepare()

    p = structs.make_struct("Warm", {"x": (int, 0), "tags": (list[str], [])})
    TypeAdapter(p).validate_python({"x": 1, "tags": ["a"]})
    TypeAdapter(list[int] | None).validate_python([1])
    p.model_json_schema()
    json.dumps({"a": 1})


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    config = json.loads(args[1])
    for entry in reversed(config.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if args[0] == "zygote":
        _zygote(int(config["control_fd"]), config["base"], config.get("preload", []))
    elif args[0] == "single":
        serve(
            int(config["channel_fd"]),
            int(config["diag_fd"]),
            config["base"],
            bool(config.get("os_confinement", True)),
        )
    else:
        raise SystemExit(f"unknown worker mode {args[0]!r}")


if __name__ == "__main__":
    main()
