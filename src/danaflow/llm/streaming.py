"""Token listeners: where the text of model calls goes, delta by delta, while someone listens.

A flow streamed with ``mode="tokens"`` wants every model call a component makes (an AIModelNode's,
a Dana program's ``reason()``, a PythonNode's own ``llm.complete``) to arrive as text deltas,
without each caller handing a callback down through typed answers, re-asks and the tool loop. So
the listener is a context variable: ``listening(open_call)`` sets it, and each LLMResource call
made inside asks it for that call's callback (``token_callback()``) and feeds it the deltas. A
call made from a thread that did not inherit the context (the sandbox host answering a worker's
``reason()``) gets the listener through a reasoner wrapped by ``bind_tokens``. Nothing here knows
about flows or component paths; a provider that cannot stream a request answers it whole, as
one delta.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Protocol, runtime_checkable

from .provider import LLMRequest, LLMResponse, ProviderFailure

__all__ = [
    "OpenCall",
    "StreamingProvider",
    "TokenCallback",
    "acomplete_streaming",
    "bind_tokens",
    "complete_streaming",
    "listen",
    "listening",
    "token_callback",
    "unlisten",
]

TokenCallback = Callable[[str], None]
"""Receives one model call's text deltas in order; it must be quick (it runs on the caller's
thread, between two chunks of the answer)."""
OpenCall = Callable[[], TokenCallback]
"""Called once as each model call starts; returns the callback for that call's deltas."""

_LISTENER: ContextVar[OpenCall | None] = ContextVar("danaflow_token_listener", default=None)


@runtime_checkable
class StreamingProvider(Protocol):
    """A Provider that can stream a whole answer: deltas to ``on_delta`` as they arrive, and the
    same LLMResponse ``complete`` would give (text, usage, finish reason) once it is over.

    Optional: LLMResource calls ``complete`` for providers without it and hands the text over as
    one delta. A request the provider cannot stream (tool calls, say) it answers whole, the same
    way. Failures are ProviderFailure, as for ``complete``.
    """

    def stream_complete(self, request: LLMRequest, on_delta: TokenCallback) -> LLMResponse: ...

    async def astream_complete(self, request: LLMRequest, on_delta: TokenCallback) -> LLMResponse: ...


@contextmanager
def listening(open_call: OpenCall) -> Iterator[None]:
    """Model calls made inside the block (in this thread or task, and in threads or tasks started
    from it) stream their deltas to ``open_call()``'s callbacks."""
    token = _LISTENER.set(open_call)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def listen(open_call: OpenCall) -> Token[OpenCall | None]:
    """``listening`` without the ``with``, for a caller that pays for every microsecond (the flow
    runner, once a node): the returned token goes to ``unlisten`` when the listening ends."""
    return _LISTENER.set(open_call)


def unlisten(token: Token[OpenCall | None]) -> None:
    _LISTENER.reset(token)


def token_callback() -> TokenCallback | None:
    """For a model call about to start: the callback its deltas go to, or None (nobody listens)."""
    open_call = _LISTENER.get()
    return open_call() if open_call is not None else None


def bind_tokens(reasoner: Any) -> Any:
    """``reasoner``, wrapped so that its calls stream to the listener active now, whichever
    thread makes them later; ``reasoner`` itself when nobody listens (or it is None)."""
    open_call = _LISTENER.get()
    if open_call is None or reasoner is None:
        return reasoner
    if isinstance(reasoner, _BoundReasoner):
        reasoner = reasoner.inner
    return _BoundReasoner(reasoner, open_call)


class _BoundReasoner:
    """A reasoner whose ``reason``/``areason`` run inside ``listening(open_call)``; every other
    attribute (``model_aliases``, ``models``, ...) is the wrapped reasoner's."""

    __slots__ = ("inner", "open_call")

    def __init__(self, inner: Any, open_call: OpenCall):
        self.inner = inner
        self.open_call = open_call

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        with listening(self.open_call):
            return self.inner.reason(prompt, desired_type, **options)

    async def areason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        with listening(self.open_call):
            return await self.inner.areason(prompt, desired_type, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"{self.inner!r} (streaming tokens)"


class _ListenerFailed(BaseException):
    """Carries an exception the token callback raised through the provider and the retry loop
    (both catch Exception: a listener's bug must not read as a malformed response and be retried)."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


class _Forward:
    """The callback a provider sees: skips empty deltas, remembers whether any text went out (a
    failure after that is final: a retry would send the text again), shields the listener."""

    __slots__ = ("emitted", "on_token")

    def __init__(self, on_token: TokenCallback):
        self.on_token = on_token
        self.emitted = False

    def __call__(self, text: str) -> None:
        if not text:
            return
        self.emitted = True
        try:
            self.on_token(text)
        except Exception as exc:
            raise _ListenerFailed(exc) from exc


def complete_streaming(provider: Any, request: LLMRequest, on_token: TokenCallback) -> LLMResponse:
    """One attempt at ``request``, streamed to ``on_token`` when ``provider`` can stream, else
    answered whole and handed over as one delta. A ProviderFailure after text went out is made
    non-retryable, so the listener never hears an answer twice."""
    forward = _Forward(on_token)
    stream = getattr(provider, "stream_complete", None)
    try:
        if stream is None:
            response = provider.complete(request)
            forward(response.text)
        else:
            response = stream(request, forward)
    except ProviderFailure as failure:
        if forward.emitted:
            failure.retryable = False
        raise
    except _ListenerFailed as failed:
        raise failed.error from None
    return response


async def acomplete_streaming(provider: Any, request: LLMRequest, on_token: TokenCallback) -> LLMResponse:
    """The async twin of ``complete_streaming``."""
    forward = _Forward(on_token)
    stream: Callable[..., Awaitable[LLMResponse]] | None = getattr(provider, "astream_complete", None)
    try:
        if stream is None:
            response = await provider.acomplete(request)
            forward(response.text)
        else:
            response = await stream(request, forward)
    except ProviderFailure as failure:
        if forward.emitted:
            failure.retryable = False
        raise
    except _ListenerFailed as failed:
        raise failed.error from None
    return response
