"""RetryPolicy and CachePolicy: what a node does when it fails, and when it need not run at all.

A RetryPolicy runs a failed node again after a backoff, while the error is retryable and attempts
remain; a CachePolicy lets a node reuse a result that an earlier run stored under the same key
(the node's code and everything it reads: ``_cachekey.py``). Both are declared on the definition
(``flow.node(id, node, retry=..., cache=...)``; ``FlowDefinition(retry=...)`` is a default for the
nodes below it) and applied by the runner; the cache itself belongs to the run (``ResultCache``,
which the runs layer backs with its store). Retries of LLM HTTP calls are another matter, with a
policy of their own: ``danaflow.llm.RetryPolicy``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from danaflow.context.result import NodeExecutionResult
from danaflow.errors import (
    ComponentError,
    DanaflowError,
    DanaSyntaxError,
    FlowDefinitionError,
    SandboxError,
    TemplateError,
)

from ._cachekey import SCOPES, NodeKey, scope_writes
from .nodes.base import NodeFailedError

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = [
    "NEVER_RETRIED",
    "AttemptTimeoutError",
    "CachePolicy",
    "CachedResult",
    "ResultCache",
    "RetriesExhaustedError",
    "RetryPolicy",
    "error_line",
    "make_entry",
    "restore_hit",
    "run_attempts",
]

R = TypeVar("R")

NEVER_RETRIED: tuple[type[BaseException], ...] = (
    DanaSyntaxError,
    SandboxError,
    FlowDefinitionError,
    TemplateError,
)
"""Errors no RetryPolicy retries: running the same code on the same inputs again fails the same way
(a Dana syntax error, a sandbox refusal, an invalid definition or template)."""
_NEVER_RETRIED_NAMES = frozenset({"SyntaxError", "SandboxError", "FlowDefinitionError", "TemplateError"})
"""The same, as the error type a node reports (a Dana worker sends names, not classes)."""


def _positive_or_none(what: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise FlowDefinitionError(f"{what}: got {value!r}, want a number of seconds >= 0 or None")
    return float(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Runs a failed node again: ``RetryPolicy(max_attempts=3, backoff=0.5, retry_on=(OSError,))``.

    The wait after failed attempt ``n`` is ``backoff * backoff_factor ** (n - 1)``, at most
    ``max_backoff`` (or ``backoff(n)`` when backoff is a function), then jittered. An error is
    retried when it matches ``retry_on`` (classes, matched against the exception and against the
    error type a node reports, so ``ZeroDivisionError`` matches a Dana program's; or a predicate)
    and is not one of ``NEVER_RETRIED``. After the last attempt the node fails with
    RetriesExhaustedError, whose message lists every attempt's error.
    """

    max_attempts: int = 3
    """Attempts in all, the first included (1 means never retry)."""
    backoff: float | Callable[[int], float] = 0.5
    """Seconds to wait before the second attempt, or a function of the failed attempt's number."""
    backoff_factor: float = 2.0
    """How much longer each following wait is."""
    max_backoff: float = 60.0
    """The longest wait, before jitter."""
    jitter: bool | float = True
    """True: each wait is drawn from [0, wait] (full jitter, so retrying nodes spread out); a
    fraction f draws from [wait * (1 - f), wait]; False waits exactly."""
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = (Exception,)
    """Which errors are retried: exception classes, or a predicate of the exception."""
    timeout: float | None = None
    """Seconds one attempt may take; a slower one is cancelled and fails with a TimeoutError."""
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    """How to wait (tests inject a recorder); cancelling the run cancels the wait."""
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.max_attempts
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise FlowDefinitionError(f"RetryPolicy: got max_attempts={n!r}, want an int >= 1")
        if not callable(self.backoff):
            _positive_or_none("RetryPolicy backoff", self.backoff)
        _positive_or_none("RetryPolicy max_backoff", self.max_backoff)
        factor = self.backoff_factor
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor >= 1:
            raise FlowDefinitionError(f"RetryPolicy: got backoff_factor={factor!r}, want a number >= 1")
        jitter = self.jitter
        if not isinstance(jitter, bool) and (not isinstance(jitter, int | float) or not 0 <= jitter <= 1):
            raise FlowDefinitionError(f"RetryPolicy: got jitter={jitter!r}, want True, False or 0..1")
        retry_on = self.retry_on
        if isinstance(retry_on, type):
            retry_on = (retry_on,)
            object.__setattr__(self, "retry_on", retry_on)
        if isinstance(retry_on, tuple):
            for cls in retry_on:
                if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                    raise FlowDefinitionError(
                        f"RetryPolicy retry_on: got {cls!r}, want exception classes or a predicate"
                    )
        elif not callable(retry_on):
            raise FlowDefinitionError(
                f"RetryPolicy retry_on: got {type(retry_on).__name__}, want exception classes or a predicate"
            )
        timeout = _positive_or_none("RetryPolicy timeout", self.timeout)
        if timeout == 0:
            raise FlowDefinitionError("RetryPolicy timeout: got 0, want a number of seconds > 0 or None")
        object.__setattr__(self, "timeout", timeout)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based), jitter applied."""
        if callable(self.backoff):
            wait = float(self.backoff(attempt))
        else:
            wait = min(self.max_backoff, self.backoff * self.backoff_factor ** (attempt - 1))
        share = 1.0 if self.jitter is True else float(self.jitter or 0.0)
        return max(wait - self.rng.uniform(0, wait * share), 0.0) if share and wait > 0 else max(wait, 0.0)

    def retryable(self, exc: BaseException) -> bool:
        """Whether ``exc`` may be retried: never for NEVER_RETRIED, else as ``retry_on`` says."""
        error_type = getattr(exc, "error_type", None)
        if isinstance(exc, NEVER_RETRIED) or error_type in _NEVER_RETRIED_NAMES:
            return False
        if not isinstance(self.retry_on, tuple):
            return bool(self.retry_on(exc))
        reported = _builtin_exception(error_type)
        return any(
            isinstance(exc, cls)
            or error_type == cls.__name__
            or (reported is not None and issubclass(reported, cls))
            for cls in self.retry_on
        )


def _builtin_exception(name: Any) -> type[BaseException] | None:
    """The builtin exception class a reported error type names (``"ZeroDivisionError"``), if any."""
    if not isinstance(name, str):
        return None
    cls = getattr(builtins, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else None


class AttemptTimeoutError(ComponentError, TimeoutError):
    """One attempt ran past its RetryPolicy ``timeout`` and was cancelled (retryable by default)."""

    error_type = "TimeoutError"


class RetriesExhaustedError(NodeFailedError):
    """A node failed on every attempt its RetryPolicy allowed; the message lists each error.

    ``error_type`` and ``location`` are the last attempt's, so an on_error route or a ``retry_on``
    further up reads the same error the node would have failed with; ``errors`` keeps them all.
    """

    def __init__(self, path: str, errors: list[BaseException], *, gave_up: str):
        last = errors[-1]
        lines = [f"failed after {len(errors)} attempts ({gave_up}):"]
        lines += [f"  attempt {i}: {error_line(e)}" for i, e in enumerate(errors, 1)]
        super().__init__(
            "\n".join(lines),
            path=path,
            outcome=getattr(last, "outcome", None),
            output=getattr(last, "output", None),
            location=getattr(last, "location", None),
            error_type=getattr(last, "error_type", None) or type(last).__name__,
        )
        self.errors = errors


def error_line(exc: BaseException) -> str:
    """An error on one line, at most 400 characters: its type, message and where it happened
    (each attempt's in RetriesExhaustedError and in ``node_retrying`` events)."""
    kind = getattr(exc, "error_type", None) or type(exc).__name__
    message = exc.message if isinstance(exc, DanaflowError) else str(exc)
    text = " ".join(message.split()) or kind
    if not text.startswith(kind):
        text = f"{kind}: {text}"
    location = getattr(exc, "location", None)
    if location is not None and str(location) not in text:
        text += f" (at {location})"
    return text if len(text) <= 400 else text[:399] + "…"


async def run_attempts(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[R]],
    on_retry: Callable[[int, BaseException, float], Awaitable[None]],
    path: str,
) -> R:
    """Awaits ``attempt(1)``, ``attempt(2)``, ... until one returns, as ``policy`` allows.

    ``on_retry(n, error, wait)`` runs after failed attempt ``n`` is judged retryable, before the
    wait. A first attempt that fails for good raises its own error unchanged (a non-retryable error
    reads as it would without a policy); a later one raises RetriesExhaustedError. Signals
    (InputRequired) and cancellation are never caught.
    """
    errors: list[BaseException] = []
    n = 1
    while True:
        try:
            if policy.timeout is None:
                return await attempt(n)
            try:
                async with asyncio.timeout(policy.timeout):
                    return await attempt(n)
            except TimeoutError as exc:
                raise AttemptTimeoutError(
                    f"attempt {n} took longer than {policy.timeout:g} s (RetryPolicy timeout)", path=path
                ) from exc
        except Exception as exc:
            errors.append(exc)
            if not policy.retryable(exc):
                if n == 1:
                    raise
                raise RetriesExhaustedError(path, errors, gave_up="not retryable") from exc
            if n >= policy.max_attempts:
                if n == 1:
                    raise
                raise RetriesExhaustedError(path, errors, gave_up="no attempts left") from exc
            wait = policy.delay(n)
            await on_retry(n, exc, wait)
            if wait > 0:
                await policy.sleep(wait)
            n += 1


# ---- caching ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Reuses a result stored by an earlier run with the same key: ``CachePolicy(ttl=3600)``.

    The default key covers the node's code, its input, the variables visible to it, and the scope
    values and component results it reads (see ``danaflow.flow._cachekey``); ``key`` replaces all
    but the code. Only completed results whose outcome survives JSON are stored. A hit is marked
    ``cached`` with ``cached_from`` naming the run it came from; a DanaNode's explicit scope writes
    (``public:x = ...``) are replayed, other side effects (files, commands, a Python function's
    writes) are not.
    """

    ttl: float | timedelta | None = None
    """How old (seconds) a stored result may be to be reused; None: any age; 0: never reused."""
    key: str | Callable[[ExecutionContext], Any] | None = None
    """A fixed string, or a function of the node's context returning JSON-able data, that stands
    for everything but the node's code; None: the default key."""
    clock: Callable[[], float] = time.time
    """Seconds since the epoch; what TTLs are measured with (tests inject a fake)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ttl", _positive_or_none("CachePolicy ttl", self.ttl))
        if self.key is not None and not isinstance(self.key, str) and not callable(self.key):
            raise FlowDefinitionError(
                f"CachePolicy key: got {type(self.key).__name__}, want a string, a function of the context "
                "or None"
            )

    def fresh(self, created_at: float) -> bool:
        """Whether an entry stored at ``created_at`` may still be reused."""
        ttl = self.ttl
        return ttl is None or self.clock() - created_at < ttl  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class CachedResult:
    """A stored node result as the runner sees it (the runs layer keeps it as a ``CacheEntry``)."""

    key: str
    path: str
    """The component path that produced it."""
    run_id: str
    """The run that produced it."""
    result: str
    """The NodeExecutionResult as JSON."""
    created_at: float
    effects: str | None = None
    """A JSON object of scope writes to replay (``{"public:x": 1}``), or None."""


class ResultCache(Protocol):
    """Where cached node results live; a run offers one as ``result_cache`` (None: no caching).

    ``RunContext`` backs it with its store (``danaflow.runs.cache.StoreResultCache``), so runs that
    share a store share the cache. Both calls happen on the event loop thread and must be quick.
    """

    def lookup(self, key: str) -> CachedResult | None:
        """The result stored under ``key``, whatever its age, or None."""

    def save(self, entry: CachedResult) -> None:
        """Stores ``entry``, replacing what was under its key."""


def restore_hit(entry: CachedResult, ctx: ExecutionContext) -> NodeExecutionResult | None:
    """The stored result marked cached (no usage: this run spent no tokens on it), with the
    entry's scope writes replayed into ``ctx``; None when the stored JSON no longer validates."""
    from pydantic import ValidationError

    try:
        result = NodeExecutionResult.model_validate_json(entry.result)
        effects = json.loads(entry.effects) if entry.effects else {}
    except (ValidationError, ValueError):
        return None
    for name, value in effects.items():
        scope, _, key = name.partition(":")
        if scope in SCOPES and key:
            getattr(ctx, SCOPES[scope])[key] = value
    fields = {"cached": True, "cached_from": entry.run_id, "usage": None}
    result.__dict__.update(fields)
    result.__pydantic_fields_set__.update(fields)
    return result


def make_entry(
    policy: CachePolicy, key: NodeKey, ctx: ExecutionContext, run_id: str, result: NodeExecutionResult
) -> CachedResult | None:
    """What to store for a node that just completed, or None when its result or its scope writes
    cannot be written as JSON (a hit must give back what the node produced, not a repr of it)."""
    try:
        text = result.model_dump_json()
        effects = scope_writes(key, ctx)
        effects_text = json.dumps(effects, ensure_ascii=False) if effects else None
    except (ValueError, TypeError):
        return None
    return CachedResult(key.digest, ctx.path, run_id, text, policy.clock(), effects_text)
