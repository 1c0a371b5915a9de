"""Framing over a real socket pair (length prefix, large and split messages, deadlines, EOF,
oversized and malformed frames) and errors as records: rebuilt from the fixed class table only,
with messages cut and the stack bounded."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from danaflow import errors as E
from danaflow.errors import Location
from danaflow.lang.codec import Codec, CodecError
from danaflow.lang.exchange import (
    ChannelClosed,
    error_from_record,
    error_record,
    recv_message,
    send_message,
    short_text,
)


def _codec(**kw: Any) -> Codec:
    return Codec(lambda name, fields: type(name, (), {}), **kw)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _soon() -> float:
    return time.monotonic() + 5.0


# ---- framing --------------------------------------------------------------------------------


def test_messages_cross_in_order_with_their_values(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    codec = _codec()
    sent = [{"op": "print", "text": "hi"}, {"op": "call", "id": 1, "args": [(1, 2), {3}]}, {"op": "done"}]
    for message in sent:
        send_message(a, codec, message)
    assert [recv_message(b, codec, _soon()) for _ in sent] == sent


def test_a_frame_is_a_big_endian_length_and_the_payload(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    codec = _codec()
    send_message(a, codec, {"op": "x"})
    payload = codec.dumps({"op": "x"})
    assert b.recv(4096) == struct.pack(">I", len(payload)) + payload


def test_a_frame_split_into_pieces_is_reassembled(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    codec = _codec()
    payload = codec.dumps({"op": "log", "record": {"message": "m" * 1000}})
    frame = struct.pack(">I", len(payload)) + payload
    for i in range(0, len(frame), 7):
        a.sendall(frame[i : i + 7])
    assert recv_message(b, codec, _soon())["record"]["message"] == "m" * 1000


def test_a_message_larger_than_the_socket_buffer_crosses(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    codec = _codec()
    blob = bytes(range(256)) * (12 << 12)  # 12 MiB: many recv() calls, and a sender that blocks
    sender = threading.Thread(target=send_message, args=(a, codec, {"op": "done", "value": blob}))
    sender.start()
    try:
        got = recv_message(b, codec, _soon())
    finally:
        sender.join()
    assert got["value"] == blob


def test_no_message_before_the_deadline_is_a_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    _, b = pair
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no message before the deadline"):
        recv_message(b, _codec(), time.monotonic() + 0.05)
    assert time.monotonic() - started < 2.0
    with pytest.raises(TimeoutError):
        recv_message(b, _codec(), time.monotonic() - 1.0)  # already past


def test_half_a_message_before_the_deadline_is_a_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    codec = _codec()
    payload = codec.dumps({"op": "done"})
    a.sendall(struct.pack(">I", len(payload)) + payload[:-1])
    with pytest.raises(TimeoutError):
        recv_message(b, codec, time.monotonic() + 0.05)


def test_a_message_already_waiting_is_read_whatever_the_deadline(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    codec = _codec()
    send_message(a, codec, {"op": "ready"})
    assert recv_message(b, codec, time.monotonic() + 0.001) == {"op": "ready"}
    send_message(a, codec, {"op": "again"})
    assert recv_message(b, codec) == {"op": "again"}  # no deadline: waits as long as it takes


@pytest.mark.parametrize(
    "sent", [b"", b"\x00\x00", b"\x00\x00\x00\x10abc"], ids=["nothing", "header", "payload"]
)
def test_the_other_side_closing_is_channel_closed(
    pair: tuple[socket.socket, socket.socket], sent: bytes
) -> None:
    a, b = pair
    a.sendall(sent)
    a.close()
    with pytest.raises(ChannelClosed, match="channel closed") as info:
        recv_message(b, _codec(), _soon())
    assert isinstance(info.value, ConnectionError)
    with pytest.raises(ChannelClosed):
        recv_message(b, _codec())


def test_an_oversized_frame_is_refused_before_its_payload_is_read(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.sendall(struct.pack(">I", 0xFFFFFFFF))  # claims 4 GiB, sends nothing more
    with pytest.raises(CodecError, match="message of 4294967295 bytes: want at most 1000"):
        recv_message(b, _codec(max_bytes=1000), _soon())


@pytest.mark.parametrize(
    "payload",
    [[1, 2], "done", {"no": "op"}, {"op": 3}, {"op": None}],
    ids=["list", "str", "no-op", "int-op", "none-op"],
)
def test_a_frame_that_is_not_an_op_dict_is_refused(
    pair: tuple[socket.socket, socket.socket], payload: Any
) -> None:
    a, b = pair
    codec = _codec()
    data = codec.dumps(payload)
    a.sendall(struct.pack(">I", len(data)) + data)
    with pytest.raises(CodecError, match="want a dict with 'op'"):
        recv_message(b, codec, _soon())


def test_a_frame_of_garbage_is_a_codec_error(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    a.sendall(struct.pack(">I", 3) + b"\xc1\xc1\xc1")
    with pytest.raises(CodecError, match="malformed message"):
        recv_message(b, _codec(), _soon())


def test_sending_what_cannot_cross_is_a_codec_error_and_sends_nothing(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    with pytest.raises(CodecError):
        send_message(a, _codec(), {"op": "done", "value": object()})
    send_message(a, _codec(), {"op": "next"})
    assert recv_message(b, _codec(), _soon()) == {"op": "next"}


# ---- errors as records ----------------------------------------------------------------------

LOC = Location("prog.na", 3, 7, "x = 1 / 0\n")


@pytest.mark.parametrize(
    "err",
    [
        E.DanaflowError("plain", path="agent.flow.node"),
        E.DanaSyntaxError("got ')', want expression", location=LOC),
        E.DanaRuntimeError("division by zero", location=LOC, error_type="ZeroDivisionError"),
        E.DanaNameError("private:x is not defined", location=LOC, error_type="NameError"),
        E.SandboxError("refused", location=LOC, error_type="SandboxError"),
        E.ResourceLimitError("timeout", location=LOC, error_type="TimeoutError"),
        E.ReasonError("never validated", raw='{"a": 1}', path="agent.node"),
        E.LLMError("provider failed"),
        E.ConfigurationError("missing key"),
        E.TemplateError("bad reference", location=LOC),
        E.ResourceError("tool failed", path="tools.db"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_each_error_class_round_trips(err: E.DanaflowError) -> None:
    codec = _codec()
    back = error_from_record(codec.loads(codec.dumps(error_record(err))))
    assert type(back) is type(err)
    assert back.message == err.message
    assert back.location == err.location
    assert back.path == err.path
    assert str(back) == str(err)
    if isinstance(err, E.DanaRuntimeError):
        assert back.error_type == err.error_type
    if isinstance(err, E.ReasonError):
        assert back.raw == err.raw


def test_the_dana_stack_round_trips() -> None:
    stack = [("<main>", Location("p.na", 5, 5)), ("outer", Location("p.na", 4, 12)), ("inner", LOC)]
    err = E.DanaRuntimeError("boom", location=LOC, error_type="ValueError", stack=stack)
    back = error_from_record(error_record(err))
    assert back.stack == stack
    assert "Dana call stack" in str(back)


def test_a_subclass_outside_the_table_crosses_as_its_nearest_table_class() -> None:
    class PolicyRefusal(E.SandboxError):
        pass

    rec = error_record(PolicyRefusal("no", error_type="SandboxError"))
    assert rec["class"] == "SandboxError"
    assert type(error_from_record(rec)) is E.SandboxError
    assert error_record(E.FlowDefinitionError("cycle"))["class"] == "DanaflowError"
    assert error_record(E.ComponentError("failed"))["class"] == "DanaflowError"


@pytest.mark.parametrize(
    "name",
    ["FlowDefinitionError", "SystemExit", "os.system", "InputRequired", "", None, 42, ["SandboxError"]],
)
def test_a_class_name_outside_the_table_becomes_dana_runtime_error(name: Any) -> None:
    back = error_from_record({"class": name, "message": "m", "error_type": "X"})
    assert type(back) is E.DanaRuntimeError
    assert back.message == "m" and back.error_type == "X"


def test_messages_are_cut_on_both_sides() -> None:
    err = E.DanaRuntimeError("x" * 10_000)
    rec = error_record(err, limit=100)
    assert rec["message"] == "x" * 100 + "... (9900 more characters not shown)"
    long = {"class": "SandboxError", "message": "y" * 10_000, "error_type": "e" * 1000}
    back = error_from_record(long, limit=50)
    assert back.message == "y" * 50 + "... (9950 more characters not shown)"
    assert len(back.error_type) < 150
    raw = error_record(E.ReasonError("bad", raw="r" * 10_000), limit=10)
    assert raw["raw"].startswith("r" * 10 + "...")


def test_a_long_stack_is_bounded_keeping_both_ends() -> None:
    stack = [(f"f{i}", Location("p.na", i + 1, 1)) for i in range(500)]
    rec = error_record(E.DanaRuntimeError("deep", stack=stack))
    assert len(rec["stack"]) == 64
    assert [fn for fn, _ in rec["stack"][:2]] == ["f0", "f1"]
    assert [fn for fn, _ in rec["stack"][-2:]] == ["f498", "f499"]
    assert len(error_from_record(rec).stack) == 64


def test_a_malformed_record_is_itself_a_clean_error() -> None:
    for rec in (None, "boom", [1, 2], 42):
        back = error_from_record(rec)
        assert type(back) is E.DanaRuntimeError
        assert back.error_type == "WorkerError"
        assert "malformed error report" in back.message


def test_malformed_fields_of_a_record_are_dropped_or_defaulted() -> None:
    rec = {
        "class": "DanaRuntimeError",
        "message": 12345,
        "location": ["f" * 1000, "three", None, "s" * 2000],
        "path": ["not", "a", "str"],
        "stack": [["fn" * 100, ["p.na", 2, 3, None]], "junk", ["only-one"], ["bad-loc", "x"]],
    }
    back = error_from_record(rec)
    assert back.message == "12345"
    assert back.location is not None
    assert back.location.line == 0 and back.location.col == 0
    assert len(back.location.file) < 350 and len(back.location.source_line or "") < 550
    assert back.path is None
    assert len(back.stack) == 1
    fn, loc = back.stack[0]
    assert len(fn) < 150 and (loc.file, loc.line, loc.col) == ("p.na", 2, 3)
    assert error_from_record({"class": "SandboxError", "location": "p.na:1"}).location is None


def test_short_text() -> None:
    assert short_text("abc", 3) == "abc"
    assert short_text("abcd", 3) == "abc... (1 more characters not shown)"
