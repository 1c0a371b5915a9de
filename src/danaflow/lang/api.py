"""Running Dana: ``run()`` for programs, ``compile_expression()`` for templates.

This is the language's own entry point; it needs an explicit ``reasoner`` on the context for
``reason()``. ``danaflow.run`` (one layer up) is the same call with the default LLM wired in.
"""

from __future__ import annotations

import functools
import importlib.metadata
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danaflow.errors import DanaflowError

from .compiler import CompiledExpression as _Code
from .compiler import compile_expression_code, compile_program
from .limits import Watchdog
from .policy import Isolation, SandboxPolicy
from .report import register_source, to_dana_error
from .runtime import Runtime, undefined_name
from .sandbox import SandboxContext
from .syntax_errors import decode_source

__all__ = ["UNSET", "CompiledExpression", "ExecutionOutcome", "check", "compile_expression", "run"]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marks an option the caller did not give (None means 'no limit' for memory_limit)."""


@dataclass
class ExecutionOutcome:
    """What a run produced. ``error`` is set instead of raising, so callers see partial output."""

    value: Any
    context: SandboxContext
    output: str = ""
    """Everything ``print()`` wrote."""
    error: DanaflowError | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    compute_s: float | None = None
    """How long the program itself ran, without compiling or crossing to a worker and back."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> ExecutionOutcome:
        if self.error is not None:
            raise self.error
        return self


def _read_source(source_or_path: str | Path, filename: str | None) -> tuple[str, str]:
    if isinstance(source_or_path, Path) or (
        isinstance(source_or_path, str)
        and "\n" not in source_or_path
        and source_or_path.strip().endswith(".na")
    ):
        path = Path(source_or_path)
        try:
            return decode_source(path.read_bytes(), str(path)), filename or str(path)
        except OSError as exc:
            raise DanaflowError(
                f"cannot read Dana program {str(path)!r}: {exc.strerror}", path=str(path)
            ) from None
    return str(source_or_path), filename or "<string>"


def _search_paths(filename: str, extra: Iterable[str | Path]) -> tuple[Path, ...]:
    """Where ``import a.b`` looks: the program's folder, the given paths, then the folders above
    the program's (so ``from pkg.mod import x`` works from a file inside ``pkg/``)."""
    paths = []
    here = None if filename.startswith("<") else Path(filename).resolve().parent
    if here is not None:
        paths.append(here)
    paths.extend(Path(p) for p in extra)
    if here is not None:
        paths.extend(list(here.parents)[:3])
    if not paths:
        paths.append(Path.cwd())
    return tuple(paths)


def _execute(
    runtime: Runtime, source: str, filename: str, local: Mapping[str, Any], module_name: str = "__main__"
) -> Any:
    program = compile_program(source, filename, steps=runtime.counts_steps)
    register_source(filename, source)
    g = runtime.program_globals(local, program.store_sites, module_name)
    exec(program.code, g)  # defines _dana_main in g; Dana code runs only when called below
    return g["_dana_main"]()


def execute_module(runtime: Runtime, path: Path, name: str) -> dict[str, Any]:
    """Runs an imported .na module (its ``__name__`` is ``name``) with the importing run's
    runtime; returns its top-level names."""
    namespace: dict[str, Any] = {}
    _execute(runtime, decode_source(path.read_bytes(), str(path)), str(path), namespace, name)
    return namespace


def run(
    source_or_path: str | Path,
    context: SandboxContext | None = None,
    *,
    filename: str | None = None,
    timeout: float | None = None,
    max_steps: int | None = None,
    print_sink: Callable[[str], None] | None = None,
    search_paths: Iterable[str | Path] = (),
    isolation: Isolation | None = None,
    memory_limit: int | _Unset | None = UNSET,
    cold: bool = False,
) -> ExecutionOutcome:
    """Runs a Dana program (source text or a .na path) against ``context``.

    Never raises for a problem in the program: syntax errors, runtime errors, sandbox refusals and
    exhausted limits come back in ``outcome.error`` with their Dana location. ``timeout`` is
    wall-clock seconds; ``max_steps`` bounds loop iterations plus function calls.

    ``isolation`` overrides the context's policy: ``"process"`` (the default) runs the program in
    a confined worker process (lang/isolated.py), ``"inprocess"`` in this thread, for trusted code
    only. ``cold`` starts a one-off worker instead of using the warm pool (one-shot commands).
    """
    ctx = context if context is not None else SandboxContext()
    if print_sink is not None:
        ctx.print_sink = print_sink
    started = time.perf_counter()
    try:
        source, fname = _read_source(source_or_path, filename)
    except DanaflowError as err:
        return ExecutionOutcome(None, ctx, error=err)
    _runtime_values(ctx)
    changes: dict[str, Any] = {}
    if timeout is not None:
        changes["timeout"] = timeout
    if max_steps is not None:
        changes["max_steps"] = max_steps
    if memory_limit is not UNSET:
        changes["memory_limit"] = memory_limit
    if isolation is not None:
        changes["isolation"] = isolation
    policy = ctx.policy.widen(**changes) if changes else ctx.policy
    if policy.isolation == "process":
        # Step checks only when asked for: a worker's wall clock is enforced by its watchdog and,
        # for C code, by the host's kill (with faulthandler's report of the line).
        steps = max_steps is not None or timeout is not None or policy.max_steps is not None
        return _run_in_worker(
            source, fname, ctx, policy, _search_paths(fname, search_paths), cold, started, steps
        )
    runtime = Runtime(
        ctx,
        filename=fname,
        max_steps=max_steps,
        timeout=timeout,
        search_paths=_search_paths(fname, search_paths),
        module_executor=execute_module,
    )
    value, error = None, None
    try:
        with Watchdog(timeout, on_fire=runtime.expire):
            value = _execute(runtime, source, fname, ctx.local)
    except (KeyboardInterrupt, SystemExit):
        raise
    except DanaflowError as err:
        error = to_dana_error(err, timeout=timeout, max_steps=max_steps)
    except BaseException as exc:  # a Dana program's uncaught error, whatever its Python type
        error = to_dana_error(exc, timeout=timeout, max_steps=max_steps)
    elapsed = time.perf_counter() - started
    return ExecutionOutcome(value, ctx, "".join(runtime.output), error, runtime.logs, elapsed, elapsed)


@functools.cache
def dana_version() -> str:
    """danaflow's version, what ``system:dana_version`` reads (seed 002)."""
    try:
        return importlib.metadata.version("danaflow")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _runtime_values(ctx: SandboxContext) -> None:
    """The runtime's documented ``system:`` values, readable and never writable from Dana."""
    if "dana_version" not in ctx.system:
        ctx.system["dana_version"] = dana_version()
    ctx.reserved_system_keys.add("dana_version")


def _run_in_worker(
    source: str,
    fname: str,
    ctx: SandboxContext,
    policy: SandboxPolicy,
    search_paths: tuple[Path, ...],
    cold: bool,
    started: float,
    steps: bool,
) -> ExecutionOutcome:
    from .isolated import run_isolated

    try:
        program = compile_program(source, fname, steps=steps)
    except DanaflowError as err:
        return ExecutionOutcome(None, ctx, error=err, duration_s=time.perf_counter() - started)
    register_source(fname, source)
    result = run_isolated(program, ctx, policy, search_paths=search_paths, cold=cold)
    return ExecutionOutcome(
        result.value,
        ctx,
        "".join(result.output),
        result.error,
        result.logs,
        time.perf_counter() - started,
        result.run_s,
    )


def check(source_or_path: str | Path, *, filename: str | None = None) -> None:
    """Parses and compiles only; raises DanaSyntaxError / SandboxError with the location."""
    source, fname = _read_source(source_or_path, filename)
    compile_program(source, fname)


class CompiledExpression:
    """A Dana expression compiled once and evaluated many times (templates)."""

    def __init__(self, code: _Code):
        self._code = code
        self.source = code.source

    @property
    def bounded(self) -> bool:
        """Whether evaluating it is bounded by its size and inputs (no calls, loops, ``*``, ``**``)."""
        return self._code.bounded

    def evaluate(self, names: Mapping[str, Any] | None = None, context: SandboxContext | None = None) -> Any:
        """Evaluates with free names from ``names``, then builtins, then the context's scopes.

        A bounded expression runs here; any other runs in a worker process under the context's
        policy (``$expr{sum(range(10**12))}`` in a template cannot stall the host), unless the
        policy is ``inprocess``.
        """
        ctx = context if context is not None else SandboxContext()
        names = names if names is not None else {}
        if not self._code.bounded and ctx.policy.isolation == "process":
            from .isolated import evaluate_isolated

            register_source(self._code.filename, self.source)
            return evaluate_isolated(self._code, names, ctx, ctx.policy)
        runtime = Runtime(ctx, filename=self._code.filename)
        scopes = (ctx.local, ctx.private, ctx.public, ctx.system) if context is not None else ()

        def lookup(name: str) -> Any:
            # The one resolution order (docs/language.md): the template's own names (its variables
            # and nested references), then builtins and registered functions, then the scopes.
            try:
                return names[name]
            except KeyError:
                pass
            try:
                return runtime.builtin(name)
            except KeyError:
                pass
            for scope in scopes[:1] if name[:1] == "_" else scopes:  # `_` keys: local: only
                if name in scope:
                    return scope[name]
            return undefined_name(name)

        g = runtime.expression_globals(lookup)
        register_source(self._code.filename, self.source)
        exec(self._code.code, g)
        try:
            return g["_dana_expr"]()
        except DanaflowError as err:
            raise to_dana_error(err) from None
        except Exception as exc:
            raise to_dana_error(exc) from None

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


def compile_expression(
    source: str,
    *,
    filename: str = "<expr>",
    line: int = 1,
    col: int = 1,
    mapping_attrs: bool = False,
    internal_names: Iterable[str] = (),
) -> CompiledExpression:
    """Compiles one Dana expression; raises DanaSyntaxError / SandboxError with its position.

    ``mapping_attrs`` makes ``a.b`` read key ``b`` of a mapping first (template semantics);
    ``internal_names`` are ``_``-prefixed placeholders the caller supplies in ``names``.
    """
    code = compile_expression_code(
        source,
        filename=filename,
        line=line,
        col=col,
        mapping_attrs=mapping_attrs,
        internal_names=frozenset(internal_names),
    )
    return CompiledExpression(code)
