"""The fault policy, exercised through the real SDK against injected 429/5xx/timeouts/garbage."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket

import pytest

from danaflow.errors import LLMError
from danaflow.llm import LLMResource, RetryPolicy
from danaflow.llm.openai_compat import OpenAICompatProvider
from danaflow.llm.provider import ProviderFailure
from danaflow.llm.retry import parse_retry_after


def recording_policy(**kw) -> tuple[RetryPolicy, list[float]]:
    """A policy whose waits are recorded instead of slept."""
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)

    return RetryPolicy(sleep=waits.append, asleep=asleep, **kw), waits


def test_429_is_retried_honoring_retry_after(fake_llm):
    policy, waits = recording_policy()
    llm = fake_llm.resource(retry=policy)
    fake_llm.fail(429, times=2, retry_after=1.5).reply("done")
    assert llm.complete("hi").text == "done"
    assert [r.status for r in fake_llm.requests] == [429, 429, 200]
    assert waits == [1.5, 1.5]
    assert llm.calls[-1].attempts == 3


def test_retry_after_is_capped(fake_llm):
    policy, waits = recording_policy(max_retry_after=2.0)
    llm = fake_llm.resource(retry=policy)
    fake_llm.fail(429, retry_after=120).reply("done")
    assert llm.complete("hi").text == "done"
    assert waits == [2.0]


def test_backoff_is_exponential_without_jitter(fake_llm):
    policy, waits = recording_policy(base_delay=0.5, max_delay=1.5, jitter=False)
    llm = fake_llm.resource(retry=policy)
    fake_llm.fail(503, times=3).reply("done")
    assert llm.complete("hi").text == "done"
    assert waits == [0.5, 1.0, 1.5]


def test_jittered_backoff_stays_within_its_ceiling():
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0, rng=random.Random(7))
    failure = ProviderFailure("boom", status=500, retryable=True)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [policy.delay(retry, failure) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # really spread, not stuck at zero


def test_real_waits_are_bounded_by_recorded_request_times(fake_llm):
    llm = fake_llm.resource(retry=RetryPolicy(base_delay=0.05, max_delay=0.05, jitter=False))
    fake_llm.fail(500, times=2).reply("done")
    llm.complete("hi")
    times = [r.time for r in fake_llm.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 2
    assert all(g >= 0.05 for g in gaps)  # it did wait; the upper bound is left to the clock-free tests


def test_final_failure_names_provider_model_status_and_attempts(fake_llm):
    policy, waits = recording_policy(max_retries=3)
    llm = fake_llm.resource(retry=policy)
    fake_llm.fail(500, times=10, message="the GPU caught fire")
    with pytest.raises(LLMError) as info:
        llm.complete("hi")
    msg = str(info.value)
    assert "openai-compatible model fake-model" in msg
    assert "HTTP 500" in msg and "the GPU caught fire" in msg
    assert "after 4 attempts" in msg
    assert len(fake_llm.requests) == 4 and len(waits) == 3
    assert info.value.status == 500 and info.value.attempts == 4
    assert llm.calls[-1].error == msg


def test_client_errors_are_not_retried(fake_llm):
    policy, waits = recording_policy()
    llm = fake_llm.resource(retry=policy)
    fake_llm.fail(400, message="bad request")
    with pytest.raises(LLMError, match=r"after 1 attempt \(not retryable\): HTTP 400: bad request"):
        llm.complete("hi")
    assert len(fake_llm.requests) == 1 and waits == []


def test_timeout_is_retried(fake_llm):
    policy, waits = recording_policy()
    llm = fake_llm.resource(retry=policy, timeout=0.3)
    fake_llm.hang(30).reply("late but fine")
    assert llm.complete("hi").text == "late but fine"
    assert len(fake_llm.requests) == 2 and len(waits) == 1


def test_timeout_per_call_option(fake_llm):
    policy, _ = recording_policy(max_retries=0)
    llm = fake_llm.resource(retry=policy)
    fake_llm.hang(30)
    with pytest.raises(LLMError, match="timeout"):
        llm.complete("hi", timeout=0.2)


def test_malformed_json_is_retried(fake_llm):
    policy, _ = recording_policy()
    llm = fake_llm.resource(retry=policy)
    fake_llm.malformed().reply("clean")
    assert llm.complete("hi").text == "clean"
    assert len(fake_llm.requests) == 2


def test_connection_refused_gives_up_with_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy, waits = recording_policy(max_retries=2)
    provider = OpenAICompatProvider("m", base_url=f"http://127.0.0.1:{port}/v1", name="openai-compatible")
    llm = LLMResource(provider=provider, retry=policy)
    with pytest.raises(LLMError, match=r"openai-compatible model m failed after 3 attempts.*connection"):
        llm.complete("hi")
    assert len(waits) == 2


def test_stream_is_retried_before_the_first_delta(fake_llm):
    policy, _ = recording_policy()
    llm = fake_llm.resource(retry=policy)
    fake_llm.fail(502).reply("a b c")
    assert "".join(llm.stream("hi")) == "a b c"
    assert len(fake_llm.requests) == 2


async def test_async_retries(fake_llm):
    policy, waits = recording_policy(jitter=False, base_delay=0.25)
    llm = fake_llm.resource(retry=policy)
    fake_llm.fail(503, times=2).reply("ok")
    assert (await llm.acomplete("hi")).text == "ok"
    assert waits == [0.25, 0.5]


async def test_cancelling_a_hung_call_propagates(fake_llm):
    llm = fake_llm.resource()
    fake_llm.hang(30)
    task = asyncio.create_task(llm.acomplete("hi"))
    assert await asyncio.to_thread(fake_llm.wait_for_requests, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(fake_llm.requests) == 1


async def test_cancelling_during_backoff_stops_retrying(fake_llm):
    llm = fake_llm.resource(retry=RetryPolicy(base_delay=30, jitter=False))
    fake_llm.fail(500, times=5)
    task = asyncio.create_task(llm.acomplete("hi"))
    assert await asyncio.to_thread(fake_llm.wait_for_requests, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize(
    ("header", "want"),
    [("2", 2.0), ("0.25", 0.25), (None, None), ("soon", None), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)],
)
def test_parse_retry_after(header, want):
    assert parse_retry_after(header) == want
