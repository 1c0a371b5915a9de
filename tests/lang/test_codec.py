"""The exchange codec: every supported value round trips with its exact types, structs are
rebuilt per descriptor (one class per descriptor on each side), capabilities cross as handles,
and everything else — host objects, oversized or malformed messages, bad extension payloads,
deep nesting — is a CodecError, never another exception."""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from decimal import Decimal
from typing import Any

import msgpack
import pytest

from danaflow.lang import structs
from danaflow.lang.codec import Codec, CodecError, Opaque
from danaflow.lang.sandbox import ScopeDict
from danaflow.lang.values import Capability, Record

# The extension codes, as codec.py numbers them (crafted messages below use them).
TUPLE, SET, FROZENSET, STRUCT, TYPE, BIGINT, TIME, RECORD = range(1, 9)
CAP, OPAQUE, COMPLEX, EXC, DECIMAL, UUID = range(9, 15)


def side(**kw: Any) -> Codec:
    """One side of an exchange: a codec whose struct classes live in its own registry."""
    registry: dict = {}

    def struct_class(name: str, fields: list[tuple[str, Any]]) -> type:
        return structs.make_struct(name, {f: (t, structs.NO_DEFAULT) for f, t in fields}, canonical=registry)

    return Codec(struct_class, **kw)


def same_types(a: Any, b: Any) -> bool:
    """Equal, with the same type at every level (True is not 1, a tuple is not a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_types(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_types(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def ext(code: int, payload: Any) -> bytes:
    """A message holding one extension value whose payload is ``payload`` packed (or raw bytes)."""
    data = payload if isinstance(payload, bytes) else msgpack.packb(payload, use_bin_type=True)
    return msgpack.packb(msgpack.ExtType(code, data))


# ---- round trips ---------------------------------------------------------------------------

SCALARS = [
    None,
    True,
    False,
    0,
    -1,
    (1 << 63) - 1,
    -(1 << 63),
    (1 << 64) - 1,
    1 << 64,
    -(1 << 63) - 1,
    10**100,
    -(10**100),
    1.5,
    -0.0,
    float("inf"),
    float("nan"),
    1 + 2j,
    complex(0, -1.5),
    "",
    "ünïcødé ✓ \x00",
    b"",
    b"\x00\xff" * 10,
]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars_round_trip(value: Any) -> None:
    c = side()
    assert same_types(c.loads(c.dumps(value)), value)


CONTAINERS = [
    [],
    [1, [2, [3]]],
    (),
    (1,),
    (1, (2, (3, ())), [4]),
    {1, 2, 3},
    set(),
    frozenset({"a", (1, 2)}),
    {"a": 1, "b": [True, None]},
    {1: "int key", (1, 2): "tuple key", frozenset({3}): "frozenset key", None: "none", 2.5: "float"},
    {"outer": {"inner": {"deep": [(1, {2})]}}},
    [{"k": (1, 2)}, {(3,): {frozenset(): b"x"}}],
]


@pytest.mark.parametrize("value", CONTAINERS, ids=repr)
def test_containers_round_trip_with_their_types(value: Any) -> None:
    c = side()
    back = c.loads(c.dumps(value))
    assert same_types(back, value)
    if isinstance(value, set | frozenset):
        assert type(back) is type(value) and back == value


TIMES = [
    dt.date(2024, 2, 29),
    dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(1999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
    dt.time(0, 0),
    dt.time(23, 59, 59, 999999),
    dt.time(8, 15, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.timedelta(0),
    dt.timedelta(days=-1, seconds=5, microseconds=7),
    dt.timedelta(days=999_999_999),
    Decimal("1.10"),
    Decimal("-0.000000000000000000000001"),
    Decimal("1E+400"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    uuid.UUID(int=0),
]


@pytest.mark.parametrize("value", TIMES, ids=repr)
def test_dates_times_decimals_and_uuids_round_trip(value: Any) -> None:
    c = side()
    back = c.loads(c.dumps(value))
    assert type(back) is type(value) and back == value
    if isinstance(value, Decimal):
        assert str(back) == str(value)  # the exponent too
    if isinstance(value, dt.datetime | dt.time):
        assert back.utcoffset() == value.utcoffset()


def test_dict_and_list_subclasses_cross_as_plain_dicts_and_lists() -> None:
    c = side()
    back = c.loads(c.dumps({"scope": ScopeDict("local", {"a": [1]})}))
    assert type(back["scope"]) is dict and back == {"scope": {"a": [1]}}


def test_a_record_round_trips_read_only() -> None:
    c = side()
    back = c.loads(c.dumps([Record({"a": Record({"b": (1, 2)})})]))[0]
    assert type(back) is Record and type(back.a) is Record
    assert back.a.b == (1, 2)
    with pytest.raises(TypeError, match="read-only"):
        back["a"] = 1


# ---- structs -------------------------------------------------------------------------------


def _program_structs() -> tuple[type, type]:
    address = structs.make_struct("Address", {"city": (str, structs.NO_DEFAULT)})
    person = structs.make_struct(
        "Person",
        {
            "name": (str, structs.NO_DEFAULT),
            "tags": (list[str], []),
            "home": (address | None, None),
            "scores": (dict[str, int], {}),
        },
    )
    return address, person


def test_a_struct_is_rebuilt_from_its_descriptor_on_the_other_side() -> None:
    address, person = _program_structs()
    sender, receiver = side(), side()
    value = person(name="Ann", tags=["admin"], home=address(city="Oslo"), scores={"a": 1})
    back = receiver.loads(sender.dumps(value))
    assert type(back) is not person  # the receiver's own class, built from the descriptor
    assert type(back).__name__ == "Person"
    assert type(back).__dana_fields__ == ("name", "tags", "home", "scores")
    assert back.model_dump() == value.model_dump()
    assert type(back.home).__name__ == "Address" and back.home.city == "Oslo"


def test_the_same_descriptor_gives_the_same_class() -> None:
    address, person = _program_structs()
    sender, receiver = side(), side()
    first = receiver.loads(sender.dumps(person(name="a")))
    second = receiver.loads(sender.dumps([person(name="b"), address(city="x")]))
    assert type(second[0]) is type(first)
    assert type(first.home) is not type(second[1]) or first.home is None
    # ... and a struct type crossing as a value is that class too.
    assert receiver.loads(sender.dumps(person)) is type(first)
    other = side()
    assert type(other.loads(sender.dumps(person(name="c")))) is not type(first)


def test_a_different_descriptor_with_the_same_name_gives_another_class() -> None:
    sender, receiver = side(), side()
    p1 = structs.make_struct("P", {"x": (int, structs.NO_DEFAULT)})
    p2 = structs.make_struct("P", {"x": (str, structs.NO_DEFAULT)})
    a = receiver.loads(sender.dumps(p1(x=1)))
    b = receiver.loads(sender.dumps(p2(x="1")))
    assert type(a) is not type(b)
    assert type(a).__dana_types__ == {"x": int} and type(b).__dana_types__ == {"x": str}


def test_a_struct_with_the_wrong_number_of_field_values_is_refused() -> None:
    desc = ["struct", "P", [["x", "int"], ["y", "int"]]]
    with pytest.raises(CodecError, match="struct P: got 1 field values, want 2"):
        side().loads(ext(STRUCT, [desc, [1]]))


# ---- types -----------------------------------------------------------------------------------

TYPES = [
    int,
    str,
    bytes,
    list,
    dict,
    dt.datetime,
    list[int],
    dict[str, list[int]],
    tuple[int, ...],
    frozenset[str],
    int | None,
    list[int] | dict[str, float] | None,
]


@pytest.mark.parametrize("t", TYPES, ids=repr)
def test_types_round_trip(t: Any) -> None:
    c = side()
    assert c.loads(c.dumps({"t": t}))["t"] == t


def test_struct_and_interface_types_round_trip() -> None:
    address, person = _program_structs()
    named = structs.make_interface("Named", {"name": (str, None)}, ["greet"], None)
    sender, receiver = side(), side()
    back = receiver.loads(sender.dumps([person, list[address] | None, named]))
    assert back[0].__name__ == "Person" and back[0].__dana_fields__ == person.__dana_fields__
    inner = back[1].__args__[0].__args__[0]
    assert inner.__name__ == "Address"
    assert repr(back[2]) == "<interface Named>" and back[2]._methods == ("greet",)


# ---- exceptions and opaque values -----------------------------------------------------------


@pytest.mark.parametrize(
    "exc", [ValueError("bad"), ZeroDivisionError("division by zero"), IndexError(), TimeoutError()]
)
def test_safe_exceptions_round_trip_as_fresh_ones(exc: BaseException) -> None:
    c = side()
    back = c.loads(c.dumps(exc))
    assert type(back) is type(exc) and back is not exc
    assert str(back) == str(exc)


def test_an_exception_message_is_cut() -> None:
    c = side()
    back = c.loads(c.dumps(ValueError("x" * 10_000)))
    assert len(str(back)) == 4000 and str(back).endswith("...")


def test_an_exception_record_naming_another_class_becomes_runtime_error() -> None:
    for name in ("SystemExit", "KeyboardInterrupt", "os.system", "DanaflowSignal"):
        back = side().loads(ext(EXC, [name, "msg"]))
        assert type(back) is RuntimeError and str(back) == "msg"


class HostError(Exception):
    pass


class Thing:
    def __repr__(self) -> str:
        return "<Thing " + "x" * 500 + ">"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_values_that_are_not_data_become_opaque_descriptions_when_allowed() -> None:
    worker = side(opaque=True)
    host = side()  # decoding an Opaque needs no opt-in: it is inert data
    back = host.loads(worker.dumps({"f": len, "t": Thing(), "b": BadRepr(), "e": HostError("e")}))
    assert back["f"] == Opaque("builtin_function_or_method", "<built-in function len>")
    assert back["t"].type_name == "Thing" and len(back["t"].text) == 200 and back["t"].text.endswith("...")
    assert back["b"] == Opaque("BadRepr", "<BadRepr>")
    assert back["e"].type_name == "HostError"
    assert repr(back["f"]) == str(back["f"]) == "<built-in function len>"


@pytest.mark.parametrize(
    "value",
    [object(), len, lambda: 1, Thing(), HostError("x"), math, Thing, iter([]), range(3)],
    ids=lambda v: type(v).__name__,
)
def test_host_objects_are_refused_when_opaque_is_off(value: Any) -> None:
    with pytest.raises(CodecError, match=f"a {type(value).__name__} cannot cross the sandbox boundary"):
        side().dumps({"nested": [value]})


# ---- capabilities ---------------------------------------------------------------------------


def test_a_capability_crosses_as_a_handle_and_comes_back_as_the_importers_stand_in() -> None:
    exported: list[Capability] = []
    imported: list[tuple[int, str, list[str], str]] = []

    def export(cap: Capability) -> int:
        exported.append(cap)
        return len(exported) - 1 + 40

    def import_(handle: int, name: str, methods: list[str], description: str) -> Any:
        imported.append((handle, name, methods, description))
        return Capability(name, {m: (lambda m=m: f"stub {m}") for m in methods}, description)

    host = side(export_capability=export)
    worker = side(import_capability=import_)
    db = Capability("db", {"query": lambda q: q, "close": lambda: None}, "orders")
    back = worker.loads(host.dumps({"a": db, "b": [db]}))
    assert exported == [db, db]
    assert imported == [(40, "db", ["close", "query"], "orders"), (41, "db", ["close", "query"], "orders")]
    assert back["a"].query() == "stub query"
    assert back["b"][0].name == "db"


def test_a_capability_cannot_cross_without_an_exporter_or_importer() -> None:
    with pytest.raises(CodecError, match="resource 'db' cannot cross here"):
        side().dumps(Capability("db", {}))
    with pytest.raises(CodecError, match="a resource handle cannot cross here"):
        side().loads(ext(CAP, [0, "db", ["query"], ""]))


# ---- refusals: sizes, malformed bytes, bad payloads, nesting --------------------------------


def test_a_message_larger_than_max_bytes_is_refused_before_decoding() -> None:
    c = side(max_bytes=100)
    data = side().dumps("x" * 200)
    with pytest.raises(CodecError, match=f"message of {len(data)} bytes: want at most 100"):
        c.loads(data)
    assert c.loads(side().dumps("small")) == "small"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # a byte msgpack never uses
        b"\x92\x01",  # an array of two with one element
        b"\xdd\xff\xff\xff\xff",  # an array claiming 4 billion elements
        b"\xdb\x00\x00\x01\x00",  # a str claiming 256 bytes, holding none
        b"\xa2\xff\xfe",  # a str that is not UTF-8
        b"\x01\x02",  # extra data after a value
        b"\x81\x91\x01\x02",  # a map keyed by a list (unhashable)
    ],
    ids=repr,
)
def test_malformed_bytes_are_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError, match="malformed message"):
        side().loads(data)


BAD_PAYLOADS = [
    (TUPLE, b"\xc1"),
    (SET, [[1], [2]]),  # unhashable members
    (FROZENSET, [{"a": 1}]),
    (BIGINT, b"not a number"),
    (BIGINT, b"\xff\xfe"),
    (BIGINT, b"1" * 6000),
    (TIME, ["bogus", "2024-01-01"]),
    (TIME, ["datetime", "yesterday"]),
    (TIME, ["timedelta", [1]]),
    (TIME, ["date"]),
    (TIME, 5),
    (RECORD, [1, 2]),
    (COMPLEX, ["a", "b"]),
    (COMPLEX, [1.0, 2.0, 3.0]),
    (DECIMAL, b"one"),
    (DECIMAL, b"\xff"),
    (UUID, b"\x01\x02\x03"),
    (STRUCT, [["struct", "P", [["x", "subprocess.Popen"]]], [1]]),
    (STRUCT, [["struct", 5, []], []]),
    (STRUCT, [["generic", "list", ["int"]], [1]]),  # a descriptor, but not of a struct
    (STRUCT, "P"),
    (TYPE, "os.system"),
    (TYPE, ["generic", "os", []]),
    (TYPE, ["union", []]),
    (CAP, [0, "db"]),
    (EXC, ["ValueError"]),
    (OPAQUE, ["function"]),
    (0, b""),
    (15, b""),
    (99, b"\x00"),
]


@pytest.mark.parametrize(("code", "payload"), BAD_PAYLOADS, ids=lambda v: repr(v)[:40])
def test_a_bad_extension_payload_is_a_codec_error(code: int, payload: Any) -> None:
    exported: list[int] = []
    c = side(import_capability=lambda h, n, m, d: exported.append(h))
    with pytest.raises(CodecError):
        c.loads(ext(code, payload))
    assert exported == []


def test_an_unknown_extension_code_is_named() -> None:
    with pytest.raises(CodecError, match="unknown extension type 99"):
        side().loads(ext(99, b"\x00"))


def test_a_too_large_integer_is_refused_on_both_sides() -> None:
    with pytest.raises(CodecError, match="integer too large to cross"):
        side().loads(ext(BIGINT, b"1" * 6000))
    with pytest.raises(CodecError, match="4300 digits"):
        side().dumps(10**5000)


def test_random_bytes_decode_or_fail_cleanly() -> None:
    rng = random.Random(20240601)
    c = side(import_capability=lambda h, n, m, d: None)
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        try:
            c.loads(data)
        except CodecError:
            pass


def test_random_bytes_inside_extensions_decode_or_fail_cleanly() -> None:
    rng = random.Random(7)
    c = side(import_capability=lambda h, n, m, d: None)
    for _ in range(2000):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 24)))
        try:
            c.loads(ext(rng.randrange(1, 15), payload))
        except CodecError:
            pass


def _nested_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _nested_tuple(depth: int) -> Any:
    value: Any = ()
    for _ in range(depth):
        value = (value,)
    return value


@pytest.mark.parametrize("make", [_nested_list, _nested_tuple], ids=["lists", "tuples"])
def test_values_nested_too_deeply_are_refused_on_encoding(make: Any) -> None:
    with pytest.raises(CodecError):
        side().dumps(make(5000))


def test_time_zones_cross_as_values() -> None:
    c = side()
    for tz in (dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")):
        back = c.loads(c.dumps(tz))
        assert back == tz and back.tzname(None) == tz.tzname(None)


def test_deep_nesting_of_extension_values_is_a_clean_error_both_ways() -> None:
    # Each extension level is a nested msgpack call on the C stack: past the bound it is a
    # CodecError, never a C stack overflow of the host (this once segfaulted at ~190 levels).
    c = side()
    with pytest.raises(CodecError, match="nested more than"):
        c.dumps(_nested_tuple(200))
    ext: Any = None
    for _ in range(250):  # a hand-made message, as a hostile worker would send it
        ext = msgpack.ExtType(1, msgpack.packb([ext]))
    with pytest.raises(CodecError, match="nested more than"):
        c.loads(msgpack.packb(ext))


def test_moderate_nesting_round_trips() -> None:
    c = side()
    for value in (_nested_list(100), _nested_tuple(100), {"a": _nested_tuple(50)}):
        assert same_types(c.loads(c.dumps(value)), value)


def test_a_deeply_nested_plain_message_is_refused_on_decoding() -> None:
    with pytest.raises(CodecError):
        side().loads(b"\x91" * 100_000 + b"\xc0")
