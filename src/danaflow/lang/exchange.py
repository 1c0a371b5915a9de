"""The messages between the host and a Dana worker, and how they are framed on the socket.

One message is a 4-byte big-endian length and a codec payload (a dict with ``op``). The host
sends ``run``; the worker answers with any number of ``print``, ``log`` and ``call`` messages
(each ``call`` gets a ``reply``) and ends with ``done``. Errors cross as records (class name,
message, location, Dana stack) and are rebuilt from a fixed table of danaflow error classes, so
a worker can never make the host instantiate a class of its choosing.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from typing import Any

from danaflow import errors as E
from danaflow.errors import DanaflowError, Location

from .codec import Codec, CodecError

__all__ = [
    "ChannelClosed",
    "error_from_record",
    "error_record",
    "recv_message",
    "send_message",
    "short_text",
]

_HEADER = struct.Struct(">I")
_ERROR_CLASSES: dict[str, type[DanaflowError]] = {
    c.__name__: c
    for c in (
        E.DanaflowError,
        E.DanaSyntaxError,
        E.DanaRuntimeError,
        E.DanaNameError,
        E.SandboxError,
        E.ResourceLimitError,
        E.ReasonError,
        E.LLMError,
        E.ConfigurationError,
        E.TemplateError,
        E.ResourceError,
    )
}
_MAX_STACK = 64


class ChannelClosed(ConnectionError):
    """The other side closed the channel (a worker that died, or a host that went away)."""


def short_text(text: str, limit: int = 4000) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters not shown)"


def send_message(sock: socket.socket, codec: Codec, message: dict[str, Any]) -> None:
    payload = codec.dumps(message)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exactly(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                raise TimeoutError("no message before the deadline")
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ChannelClosed("channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket, codec: Codec, deadline: float | None = None) -> dict[str, Any]:
    """The next message; TimeoutError past ``deadline`` (monotonic), ChannelClosed at EOF."""
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size, deadline))
    if size > codec.max_bytes:
        raise CodecError(f"message of {size} bytes: want at most {codec.max_bytes}")
    message = codec.loads(_recv_exactly(sock, size, deadline))
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise CodecError("malformed message: want a dict with 'op'")
    return message


def _loc(loc: Location | None) -> list[Any] | None:
    if loc is None:
        return None
    return [loc.file, loc.line, loc.col, loc.source_line]


def _unloc(data: Any) -> Location | None:
    if not isinstance(data, list) or len(data) != 4:
        return None
    file, line, col, text = data
    return Location(
        short_text(str(file), 300),
        int(line) if isinstance(line, int) else 0,
        int(col) if isinstance(col, int) else 0,
        short_text(str(text), 500) if isinstance(text, str) else None,
    )


def error_record(err: DanaflowError, limit: int = 4000) -> dict[str, Any]:
    """What crosses for an error: plain fields, the message already cut to ``limit``."""
    cls = type(err)
    while cls.__name__ not in _ERROR_CLASSES or _ERROR_CLASSES[cls.__name__] is not cls:
        cls = cls.__mro__[1]
    stack = getattr(err, "stack", None) or []
    if len(stack) > _MAX_STACK:
        stack = [*stack[: _MAX_STACK // 2], *stack[-_MAX_STACK // 2 :]]
    return {
        "class": cls.__name__,
        "message": short_text(str(err.message), limit),
        "error_type": str(getattr(err, "error_type", cls.__name__)),
        "location": _loc(err.location),
        "path": err.path,
        "stack": [[str(fn), _loc(loc)] for fn, loc in stack],
        "raw": short_text(str(err.raw), limit) if isinstance(err, E.ReasonError) and err.raw else None,
    }


def error_from_record(rec: Any, limit: int = 4000) -> DanaflowError:
    """The DanaflowError a record describes (a malformed record is itself a clean error)."""
    if not isinstance(rec, dict):
        return E.DanaRuntimeError("the worker sent a malformed error report", error_type="WorkerError")
    cls = _ERROR_CLASSES.get(str(rec.get("class")), E.DanaRuntimeError)
    message = short_text(str(rec.get("message", "")), limit)
    location = _unloc(rec.get("location"))
    path = rec.get("path") if isinstance(rec.get("path"), str) else None
    if issubclass(cls, E.DanaRuntimeError):
        stack = []
        for item in (rec.get("stack") or [])[:_MAX_STACK]:
            if isinstance(item, list) and len(item) == 2 and (loc := _unloc(item[1])) is not None:
                stack.append((short_text(str(item[0]), 100), loc))
        error_type = short_text(str(rec.get("error_type") or cls.__name__), 100)
        return cls(message, location=location, path=path, error_type=error_type, stack=stack)
    if cls is E.ReasonError:
        raw = rec.get("raw")
        return E.ReasonError(message, raw=raw if isinstance(raw, str) else None, location=location, path=path)
    return cls(message, location=location, path=path)
