"""The one fault policy for LLM calls: which failures are retried, how long to wait, when to give up.

Adapters turn their SDK's errors into ``ProviderFailure`` (with the SDK's own retries switched
off), so a 429 is retried here and only here. Waits grow exponentially with full jitter, honor a
server's Retry-After up to a cap, and go through an injectable sleep so tests assert the schedule
without sleeping. In async code the wait is ``asyncio.sleep``: cancelling the task cancels the wait.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from danaflow.errors import LLMError

from .provider import ProviderFailure

__all__ = ["RetryPolicy", "acall_with_retries", "call_with_retries", "parse_retry_after", "retrying_stream"]

T = TypeVar("T")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


@dataclass(slots=True)
class RetryPolicy:
    """How many times to retry a retryable failure and how long to wait between tries.

    The wait before retry ``n`` (1-based) is ``uniform(0, min(max_delay, base_delay * 2**(n-1)))``
    (full jitter; ``jitter=False`` waits the full amount), or the server's Retry-After when it
    sent one, capped at ``max_retry_after``.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: bool = True
    sleep: Callable[[float], None] = time.sleep
    """Blocking wait used by sync calls; tests inject a recorder."""
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """Awaitable wait used by async calls."""
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int, failure: ProviderFailure) -> float:
        """Seconds to wait before retry number ``retry`` (1-based) after ``failure``."""
        if failure.retry_after is not None:
            return min(failure.retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling


def _final_error(what: str, failure: ProviderFailure, attempts: int) -> LLMError:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    why = "not retryable" if not failure.retryable else "gave up"
    err = LLMError(f"{what} failed after {tries} ({why}): {failure.describe()}")
    err.status = failure.status  # type: ignore[attr-defined]
    err.attempts = attempts  # type: ignore[attr-defined]
    return err


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str) -> tuple[T, int]:
    """Runs ``fn`` until it succeeds or fails for good; returns (result, attempts).

    ``what`` names the provider and model for the final LLMError ("openai model gpt-4o-mini").
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(), attempt
        except ProviderFailure as failure:
            if not failure.retryable or attempt > policy.max_retries:
                raise _final_error(what, failure, attempt) from failure
            policy.sleep(policy.delay(attempt, failure))


async def acall_with_retries(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> tuple[T, int]:
    """The async twin of ``call_with_retries``; cancellation propagates from the call or the wait."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn(), attempt
        except ProviderFailure as failure:
            if not failure.retryable or attempt > policy.max_retries:
                raise _final_error(what, failure, attempt) from failure
            await policy.asleep(policy.delay(attempt, failure))


def retrying_stream(
    open_stream: Callable[[], Iterator[str]], policy: RetryPolicy, what: str
) -> Iterator[str]:
    """Streams text deltas, retrying only while nothing has been yielded yet.

    Once a delta has reached the caller a retry would repeat text, so a later failure is final.
    """
    attempt = 0
    while True:
        attempt += 1
        started = False
        try:
            for delta in open_stream():
                started = True
                yield delta
            return
        except ProviderFailure as failure:
            if started or not failure.retryable or attempt > policy.max_retries:
                raise _final_error(what, failure, attempt) from failure
            policy.sleep(policy.delay(attempt, failure))


async def aretrying_stream(
    open_stream: Callable[[], AsyncIterator[str]], policy: RetryPolicy, what: str
) -> AsyncIterator[str]:
    """The async twin of ``retrying_stream``."""
    attempt = 0
    while True:
        attempt += 1
        started = False
        try:
            async for delta in open_stream():
                started = True
                yield delta
            return
        except ProviderFailure as failure:
            if started or not failure.retryable or attempt > policy.max_retries:
                raise _final_error(what, failure, attempt) from failure
            await policy.asleep(policy.delay(attempt, failure))
