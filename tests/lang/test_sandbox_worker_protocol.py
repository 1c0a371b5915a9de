"""The host's side of a job against a hostile worker: the second wall must not trust the first.

If a program ever escaped the language rules inside a worker, it would own the worker's end of
the channel. These tests play that worker (a thread speaking the exchange protocol over a real
socket pair) and check that the host still enforces every rule itself: a desired type or a model
sent as data is checked again, resource handles and methods are the host's own allow-list,
malformed or oversized messages end the job cleanly, and the delta cannot write what Dana may
not. A payload that ran in the host would create SENTINEL.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from danaflow.context.resources import ToolResource
from danaflow.errors import SandboxError
from danaflow.lang.codec import Codec
from danaflow.lang.compiler import compile_program
from danaflow.lang.exchange import recv_message, send_message
from danaflow.lang.isolated import JobResult, run_isolated
from danaflow.lang.policy import SandboxPolicy
from danaflow.lang.pool import Worker
from danaflow.lang.sandbox import SandboxContext

PAYLOAD = "__import__('os').system('touch SENTINEL') or int"


class HostileWorker:
    """A pool of one fake worker that plays ``script``: dicts are sent as messages (a ``call``
    waits for the host's reply), bytes are written raw. ``diag`` is what its stderr held."""

    def __init__(self, script: list[Any], diag: bytes = b""):
        self.script = script
        self.diag = diag
        self.job: dict[str, Any] | None = None
        self.replies: list[dict[str, Any]] = []
        self._sleeper: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def acquire(self) -> Worker:
        host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        r, w = os.pipe()
        os.write(w, self.diag)
        os.close(w)
        # A real process for the host to kill, so Worker.kill() has a pid of ours to signal.
        self._sleeper = subprocess.Popen(["sleep", "60"])
        self._thread = threading.Thread(target=self._play, args=(child_end,), daemon=True)
        self._thread.start()
        return Worker(self._sleeper.pid, host_end, r, tempfile.mkdtemp(prefix="hostile-"))

    cold = acquire

    def _play(self, sock: socket.socket) -> None:
        codec = Codec(lambda name, fields: None, import_capability=lambda *a: list(a))
        try:
            self.job = recv_message(sock, codec)
            for item in self.script:
                if isinstance(item, bytes):
                    sock.sendall(item)
                    continue
                send_message(sock, codec, item)
                if item.get("op") == "call":
                    self.replies.append(recv_message(sock, codec))
        except Exception as exc:  # the host hung up on us: that is what some tests want
            self.replies.append({"op": "closed", "why": type(exc).__name__})
        finally:
            sock.close()

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(10)
        if self._sleeper is not None:
            self._sleeper.kill()
            self._sleeper.wait()


@pytest.fixture
def hostile() -> Iterator[Any]:
    made: list[HostileWorker] = []

    def play(script: list[Any], ctx: SandboxContext | None = None, *, diag: bytes = b"", source="x = 1\n"):
        worker = HostileWorker(script, diag)
        made.append(worker)
        program = compile_program(source, "hostile.na", steps=True)
        ctx = ctx if ctx is not None else SandboxContext()
        result = run_isolated(program, ctx, SandboxPolicy(timeout=5), pool=worker)
        worker.close()
        return result, worker

    yield play
    for worker in made:
        worker.close()


def _done(**fields: Any) -> dict[str, Any]:
    return {"op": "done", "value": None, "delta": {}, "error": None, **fields}


def _call(kind: str, **fields: Any) -> dict[str, Any]:
    return {"op": "call", "id": 1, "kind": kind, **fields}


def _error_of(reply: dict[str, Any]) -> str:
    err = reply.get("error")
    if isinstance(err, dict):
        return f"{err.get('class')}: {err.get('message')}"
    return f"{err[0]}: {err[1]}" if err else ""


def test_a_desired_type_sent_as_a_string_is_checked_again(hostile, tmp_path: Path, fake_llm) -> None:
    sentinel = tmp_path / "SENTINEL"
    ctx = SandboxContext(reasoner=fake_llm.resource())
    desired = PAYLOAD.replace("SENTINEL", str(sentinel))
    _, worker = hostile([_call("reason", prompt="p", desired=desired, options={}), _done()], ctx)
    assert "TypeError: reason(): the desired type: got the string" in _error_of(worker.replies[0])
    assert not sentinel.exists() and fake_llm.requests == []


def test_a_model_spec_sent_as_data_is_refused(hostile, fake_llm) -> None:
    ctx = SandboxContext(reasoner=fake_llm.resource())
    options = {"model": f"openai-compatible:{fake_llm.base_url}#other"}
    _, worker = hostile([_call("reason", prompt="p", desired=None, options=options), _done()], ctx)
    assert "SandboxError" in _error_of(worker.replies[0]) and "is refused" in _error_of(worker.replies[0])
    assert fake_llm.requests == []


def test_options_that_are_not_keywords_are_refused(hostile, fake_llm) -> None:
    ctx = SandboxContext(reasoner=fake_llm.resource())
    _, worker = hostile([_call("reason", prompt="p", desired=None, options=[1, 2]), _done()], ctx)
    assert "options must be keyword arguments" in _error_of(worker.replies[0])
    assert fake_llm.requests == []


def test_resource_handles_and_methods_are_the_hosts(hostile, tmp_path: Path) -> None:
    tool = ToolResource("tool", command=["echo", "{x}"])
    ctx = SandboxContext(resources={"tool": tool})
    script = [
        _call("cap", handle=7, method="call", args=[], kwargs={"x": "a"}),
        _call("use", name="tool"),
        _call("cap", handle=0, method="close", args=[], kwargs={}),
        _call("cap", handle=0, method="_run_command", args=[{"x": "a"}], kwargs={}),
        _call("cap", handle=0, method="call", args=[], kwargs={"x": "fine"}),
        _call("use", name="../../etc/passwd"),
        _done(),
    ]
    result, worker = hostile(script, ctx)
    errors = [_error_of(r) for r in worker.replies]
    assert "unknown resource handle" in errors[0]
    assert worker.replies[1]["value"][1:3] == ["tool", ["call"]]  # a handle, its name, its methods
    assert "has no method 'close'" in errors[2] and "has no method '_run_command'" in errors[3]
    assert worker.replies[4]["value"] == "fine\n"
    assert "no resource named" in errors[5]
    assert not tool.closed and result.error is None


def test_only_registered_functions_can_be_called(hostile) -> None:
    ctx = SandboxContext()
    ctx.registry.register("double", lambda n: n * 2)
    script = [
        _call("fn", name="__import__", args=["os"], kwargs={}),
        _call("fn", name="eval", args=["1"], kwargs={}),
        _call("fn", name="double", args=[21], kwargs={}),
        _call("os.system", args=["id"]),
        _done(),
    ]
    _, worker = hostile(script, ctx)
    errors = [_error_of(r) for r in worker.replies]
    assert "NameError" in errors[0] and "NameError" in errors[1]
    assert worker.replies[2]["value"] == 42
    assert "unknown call 'os.system'" in errors[3]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (struct.pack(">I", 0xFFFFFFFF), r"message of 4294967295 bytes: want at most"),
        (struct.pack(">I", 4) + b"\xc1\xc1\xc1\xc1", r"malformed"),
        (struct.pack(">I", 3) + b"\x92\x01\x02", r"want a dict with 'op'"),
        (struct.pack(">I", 5) + msgpack.packb({"op": 1}), r"want a dict with 'op'"),
    ],
    ids=["huge-length", "garbage", "not-a-dict", "op-not-a-string"],
)
def test_malformed_messages_end_the_job_cleanly(hostile, raw: bytes, want: str) -> None:
    result, _ = hostile([raw])
    assert isinstance(result.error, SandboxError), result.error
    assert re.search(want, result.error.message), result.error.message


def _ext(code: int, payload: Any) -> bytes:
    body = msgpack.packb({"op": "done", "value": msgpack.ExtType(code, payload), "delta": {}, "error": None})
    return struct.pack(">I", len(body)) + body


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (_ext(99, b""), r"unknown extension type 99"),
        (_ext(6, b"9" * 100_000), r"integer too large"),
        (_ext(7, msgpack.packb(["os.system", "x"])), r"malformed"),
        (_ext(5, msgpack.packb(["generic", "list", [PAYLOAD]])), r"unknown type"),
        (_ext(5, msgpack.packb(["struct", "P", [["x", PAYLOAD]]])), r"unknown type"),
        (_ext(12, msgpack.packb(["SystemExit", "bye"])), None),
    ],
    ids=[
        "unknown-ext",
        "huge-int",
        "bad-time",
        "type-with-string",
        "struct-with-string",
        "exc",
    ],
)
def test_extension_types_decode_to_data_only(hostile, raw: bytes, want: str | None, tmp_path: Path) -> None:
    result, _ = hostile([raw.replace(b"SENTINEL", str(tmp_path / "SENTINEL").encode())])
    if want is None:
        # An exception class the host does not know arrives as a plain RuntimeError value.
        assert result.error is None and type(result.value) is RuntimeError
    else:
        assert isinstance(result.error, SandboxError), result.error
        assert re.search(want, result.error.message), result.error.message
    assert not (tmp_path / "SENTINEL").exists()


def test_the_delta_cannot_write_what_dana_may_not(hostile) -> None:
    ctx = SandboxContext(initial_system_state={"run_id": "r-1"})
    ctx.reserved_system_keys.add("run_id")
    delta = {
        "system": {"set": {"run_id": "mine", "__dana_desired_type": "str", "ok": 1}, "del": []},
        "private": {"set": {"_hidden": 1, "__class__": 2, "fine": 3}, "del": []},
        "bogus": {"set": {"x": 1}, "del": []},
    }
    result, _ = hostile([_done(delta=delta)], ctx)
    assert result.error is None, result.error
    assert ctx.system["run_id"] == "r-1" and "__dana_desired_type" not in ctx.system
    assert ctx.system["ok"] == 1 and ctx.private["fine"] == 3
    assert "_hidden" not in ctx.private and "__class__" not in ctx.private


def test_an_unknown_error_class_is_rebuilt_from_the_fixed_table(hostile) -> None:
    record = {
        "class": "SystemExit",
        "message": "x" * 100_000,
        "error_type": "Boom",
        "location": ["f", 1, 2, "s"],
    }
    result, _ = hostile([_done(error=record)])
    assert type(result.error).__name__ == "DanaRuntimeError"
    assert len(result.error.message) < 5000 and result.error.location.line == 1


def test_the_snapshot_holds_only_what_the_program_names(hostile) -> None:
    ctx = SandboxContext(
        initial_private_state={"a": 1, "api_token": "secret-test"},
        initial_public_state={"b": [2]},
        initial_system_state={"run_id": "r"},
    )
    _, worker = hostile([_done()], ctx, source="x = private:a + public:b[0]\n")
    assert worker.job is not None
    sent = {scope: sorted(items) for scope, items in worker.job["scopes"].items() if items}
    assert sent == {"private": ["a"], "public": ["b"]}
    assert b"secret-test" not in repr(worker.job).encode()


def test_a_worker_that_dies_becomes_a_clean_error(hostile) -> None:
    diag = (
        b"Fatal Python error: Segmentation fault\n\n"
        b'Current thread 0x1:\n  File "hostile.na", line 1 in _dana_main\n'
    )
    result, _ = hostile([], diag=diag)
    assert result.error is not None and result.error.error_type == "WorkerCrashed"
    assert "segmentation fault" in result.error.message and result.error.location.line == 1


def test_a_silent_exit_is_reported_as_killed(hostile) -> None:
    result, _ = hostile([{"op": "print", "text": "partial\n"}])
    assert isinstance(result, JobResult) and result.output == ["partial\n"]
    assert result.error is not None and result.error.error_type == "WorkerKilled"
