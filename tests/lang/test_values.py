"""What crosses into Dana: to_dana_value's copies and conversions, read-only Records,
Capabilities (allow-listed methods, nothing settable, ``with``), and safe exceptions."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import json
import pickle
import uuid
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, NamedTuple

import pydantic
import pytest

from danaflow.errors import DanaRuntimeError, SandboxError
from danaflow.lang import structs
from danaflow.lang.values import (
    SAFE_EXCEPTIONS,
    Capability,
    Record,
    capability_of,
    safe_exception,
    to_dana_value,
)

# ---- to_dana_value ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, True, 0, -(10**40), 1.5, 2j, "text", b"\x00\xff"], ids=repr)
def test_scalars_cross_as_themselves(value: Any) -> None:
    assert to_dana_value(value) is value


@pytest.mark.parametrize(
    "value",
    [
        dt.date(2024, 2, 29),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.time(12, 30),
        dt.timedelta(days=-1, seconds=3),
        Decimal("1.10"),
        uuid.UUID(int=7),
    ],
    ids=repr,
)
def test_dates_decimals_and_uuids_cross_as_themselves(value: Any) -> None:
    assert to_dana_value(value) is value


def test_containers_are_copied_so_dana_never_changes_host_objects() -> None:
    inner = [1, 2]
    host = {"xs": inner, 3: ("a", {"b"}), (1, 2): frozenset({4})}
    out = to_dana_value(host)
    assert out == host
    assert out is not host and out["xs"] is not inner
    out["xs"].append(99)
    assert inner == [1, 2]
    assert type(out[3]) is tuple and type(out[3][1]) is set
    assert type(out[(1, 2)]) is frozenset


def test_shared_sub_objects_stay_shared_and_cycles_are_kept() -> None:
    shared = [1]
    out = to_dana_value([shared, shared])
    assert out[0] is out[1] and out[0] is not shared

    loop: list[Any] = [1]
    loop.append(loop)
    copied = to_dana_value(loop)
    assert copied[1] is copied and copied is not loop

    d: dict[str, Any] = {}
    d["self"] = d
    back = to_dana_value(d)
    assert back["self"] is back


def test_paths_become_strings() -> None:
    assert to_dana_value(Path("/tmp/a.txt")) == "/tmp/a.txt"
    assert type(to_dana_value(Path("rel/b"))) is str
    assert to_dana_value(PurePosixPath("x/y")) == "x/y"
    assert to_dana_value(PureWindowsPath("C:/x")) == "C:\\x"


class Colour(enum.Enum):
    RED = "red"
    NESTED = (1, [2])


class Level(enum.IntEnum):
    HIGH = 3


class Tag(enum.StrEnum):
    A = "a"


def test_enums_become_their_values() -> None:
    assert to_dana_value(Colour.RED) == "red"
    assert to_dana_value(Colour.NESTED) == (1, [2])
    assert type(to_dana_value(Level.HIGH)) is int and to_dana_value(Level.HIGH) == 3
    assert type(to_dana_value(Tag.A)) is str


class MyStr(str):
    def upper(self) -> str:  # a host method Dana must not reach through the subclass
        return "HOST"


class MyInt(int):
    pass


class MyList(list):
    pass


def test_subclasses_of_scalars_and_containers_become_the_plain_type() -> None:
    s = to_dana_value(MyStr("abc"))
    assert type(s) is str and s.upper() == "ABC"
    i = to_dana_value(MyInt(5))
    assert type(i) is int and i == 5
    xs = to_dana_value(MyList([MyStr("a"), 1]))
    assert type(xs) is list and type(xs[0]) is str


class Outcome(pydantic.BaseModel):
    text: str
    score: float = 0.5
    tags: list[str] = []


@dataclasses.dataclass
class Result:
    path: Path
    outcome: Outcome
    count: int = 1


class Pair(NamedTuple):
    a: int
    b: str


def test_pydantic_models_dataclasses_and_namedtuples_become_records() -> None:
    model = to_dana_value(Outcome(text="hi", tags=["x"]))
    assert type(model) is Record
    assert model == {"text": "hi", "score": 0.5, "tags": ["x"]}
    assert model.text == "hi" and model["score"] == 0.5

    result = to_dana_value(Result(Path("/out/r.json"), Outcome(text="ok")))
    assert type(result) is Record
    assert result.path == "/out/r.json"
    assert type(result.outcome) is Record and result.outcome.text == "ok"
    assert result.count == 1

    pair = to_dana_value(Pair(1, "b"))
    assert type(pair) is Record and pair == {"a": 1, "b": "b"}


def test_other_mappings_become_records() -> None:
    counts = to_dana_value(collections.Counter("aab"))
    assert type(counts) is Record and counts == {"a": 2, "b": 1}
    ordered = to_dana_value(collections.OrderedDict([("k", [1])]))
    assert type(ordered) is Record and ordered.k == [1]


def test_records_are_copied_structs_and_capabilities_cross_as_themselves() -> None:
    record = Record({"a": 1})
    point_cls = structs.make_struct("Pt", {"x": (int, structs.NO_DEFAULT)})
    point = point_cls(x=1)
    cap = Capability("db", {})
    copied = to_dana_value(record)  # copied: dict.update(r, ...) could change a shared one
    assert copied == record and copied is not record and type(copied) is Record
    assert to_dana_value(point) is point
    assert to_dana_value(cap) is cap


def test_host_exceptions_cross_as_fresh_safe_ones() -> None:
    original = json.JSONDecodeError("bad", "doc", 0)
    out = to_dana_value({"err": original})["err"]
    assert type(out) is ValueError and out is not original
    assert "JSONDecodeError" in str(out)


class Client:
    api_key = "sk-secret"


@pytest.mark.parametrize("value", [Client(), object(), len, lambda: 1, json, Client, iter([])], ids=repr)
def test_objects_that_are_not_data_are_refused_naming_the_place(value: Any) -> None:
    with pytest.raises(TypeError) as info:
        to_dana_value({"nested": [value]}, "private:client")
    message = str(info.value)
    assert message.startswith("private:client: a ")
    assert "cannot cross into Dana" in message
    assert "sk-secret" not in message


def test_deep_nesting_is_refused() -> None:
    value: Any = 0
    for _ in range(300):
        value = [value]
    with pytest.raises(TypeError, match="public:deep: nested more than 200 levels deep"):
        to_dana_value(value, "public:deep")


# ---- Record ------------------------------------------------------------------------------


def test_a_record_reads_as_attributes_and_items() -> None:
    r = Record({"outcome": Record({"text": "t"}), "items": 3})
    assert r.outcome.text == "t"
    assert r["outcome"]["text"] == "t"
    assert callable(r.items)  # the real dict method wins over the key of the same name
    assert r["items"] == 3
    with pytest.raises(AttributeError, match="record has no field 'missing'"):
        _ = r.missing
    assert repr(r) == "Record({'outcome': Record({'text': 't'}), 'items': 3})"
    assert isinstance(r, dict)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.__setitem__("a", 2),
        lambda r: r.__delitem__("a"),
        lambda r: setattr(r, "a", 2),
        lambda r: delattr(r, "a"),
        lambda r: r.clear(),
        lambda r: r.pop("a"),
        lambda r: r.popitem(),
        lambda r: r.setdefault("b", 1),
        lambda r: r.update(b=1),
        lambda r: r.__ior__({"b": 1}),
    ],
    ids=[
        "setitem",
        "delitem",
        "setattr",
        "delattr",
        "clear",
        "pop",
        "popitem",
        "setdefault",
        "update",
        "ior",
    ],
)
def test_a_record_cannot_be_changed(change: Any) -> None:
    r = Record({"a": 1})
    with pytest.raises(TypeError, match="read-only: copy it with dict"):
        change(r)
    assert r == {"a": 1}


def test_a_copied_record_is_a_plain_mutable_dict() -> None:
    r = Record({"a": 1})
    d = dict(r)
    d["a"] = 2
    assert r == {"a": 1} and d == {"a": 2}
    merged = r | {"b": 2}
    assert type(merged) is dict and merged == {"a": 1, "b": 2}


def test_a_record_pickles_as_a_record() -> None:
    back = pickle.loads(pickle.dumps(Record({"a": [1]})))
    assert type(back) is Record and back.a == [1]


# ---- Capability -----------------------------------------------------------------------------


def test_a_capability_offers_exactly_its_methods() -> None:
    calls: list[Any] = []
    cap = Capability(
        "db",
        {"query": lambda q: calls.append(q) or [q], "count": lambda: 2},
        "the orders database",
        "sql",
    )
    assert cap.name == "db" and cap.description == "the orders database"
    assert cap.methods == ["count", "query"]
    assert cap.query("select 1") == ["select 1"] and calls == ["select 1"]
    assert repr(cap) == "<sql resource 'db': count, query>"
    with pytest.raises(AttributeError, match="resource 'db' has no method 'drop'; it offers: count, query"):
        _ = cap.drop


@pytest.mark.parametrize("attr", ["query", "name", "_methods", "new"])
def test_nothing_on_a_capability_can_be_set_or_deleted(attr: str) -> None:
    original = lambda: "original"  # noqa: E731
    cap = Capability("db", {"query": original})
    with pytest.raises(SandboxError, match=f"cannot set '{attr}' on resource 'db'"):
        setattr(cap, attr, lambda: "replaced")
    # Deleting is refused too. (It fails as a TypeError today: __delattr__ is __setattr__, which
    # wants a value; reported to the lead. Dana itself has no del and no delattr.)
    with pytest.raises((SandboxError, TypeError)):
        delattr(cap, attr)
    assert cap.query is original and cap.name == "db"


def test_a_capability_is_callable_only_with_a_call_method() -> None:
    assert Capability("f", {"call": lambda x: x * 2})(4) == 8
    with pytest.raises(TypeError, match="resource 'g' is not callable; it offers: run"):
        Capability("g", {"run": lambda: 1})()


def test_a_capability_as_a_context_manager_enters_and_exits() -> None:
    events: list[Any] = []
    cap = Capability("tx", {"enter": lambda: events.append("enter") or "conn", "exit": events.append})
    with cap as conn:
        assert conn == "conn"
    assert events == ["enter", False]

    with pytest.raises(ZeroDivisionError), cap:
        _ = 1 / 0
    assert events == ["enter", False, "enter", True]  # the error propagates, exit is told


def test_a_capability_without_enter_refuses_with() -> None:
    with pytest.raises(TypeError, match="cannot be used in 'with': it offers no enter"), Capability("x", {}):
        pass


def test_exit_is_optional() -> None:
    with Capability("x", {"enter": lambda: 5}) as value:
        assert value == 5


class Tool:
    dana_methods = ("run", "missing", "version")
    description = "a tool"
    kind = "cli"
    version = "1.0"  # not callable: not offered

    def __init__(self) -> None:
        self.argv = ["echo"]

    def run(self, arg: str) -> str:
        return f"ran {arg}"

    def delete_everything(self) -> None:
        raise AssertionError("never offered")


def test_capability_of_offers_only_the_allow_listed_callables() -> None:
    labels: list[str] = []

    def wrap(fn: Any, label: str) -> Any:
        labels.append(label)
        return fn

    cap = capability_of("tool", Tool(), wrap)
    assert cap.methods == ["run"]
    assert cap.run("x") == "ran x"
    assert labels == ["tool.run"]
    assert (cap.description, repr(cap)) == ("a tool", "<cli resource 'tool': run>")
    with pytest.raises(AttributeError):
        _ = cap.delete_everything
    with pytest.raises(AttributeError):
        _ = cap.argv


def test_capability_of_maps_a_method_to_the_attribute_implementing_it() -> None:
    class LLM:
        dana_methods = {"reason": "dana_reason"}

        def reason(self, prompt: str) -> str:
            raise AssertionError("the unchecked variant")

        def dana_reason(self, prompt: str) -> str:
            return f"checked {prompt}"

    cap = capability_of("llm", LLM(), lambda fn, label: fn)
    assert cap.methods == ["reason"]
    assert cap.reason("p") == "checked p"


def test_a_resource_without_dana_methods_offers_nothing() -> None:
    class Quiet:
        def run(self) -> None:
            raise AssertionError("not offered")

    cap = capability_of("quiet", Quiet(), lambda fn, label: fn)
    assert cap.methods == []
    assert capability_of("same", cap, lambda fn, label: fn) is cap


# ---- safe_exception -------------------------------------------------------------------------


def test_a_builtin_exception_crosses_as_a_fresh_one_with_its_message() -> None:
    original = ValueError("bad value")
    out = safe_exception(original)
    assert type(out) is ValueError and out is not original
    assert out.args == ("bad value",)
    assert out.__traceback__ is None and out.__cause__ is None


def test_a_key_error_keeps_its_key_text() -> None:
    out = safe_exception(KeyError("name"))
    assert type(out) is KeyError and out.args == ("name",)  # not re-quoted on each crossing


class HostValueError(ValueError):
    pass


class HostError(Exception):
    def __init__(self) -> None:
        super().__init__("boom")
        self.client = Client()


@pytest.mark.parametrize(
    ("exc", "cls", "message"),
    [
        (HostValueError("v"), ValueError, "HostValueError: v"),
        (HostError(), RuntimeError, "HostError: boom"),
        (IsADirectoryError("d"), OSError, "IsADirectoryError: d"),
        (json.JSONDecodeError("msg", "doc", 1), ValueError, "JSONDecodeError: msg"),
        (FileNotFoundError("f"), FileNotFoundError, "f"),
        (SystemExit(3), RuntimeError, "SystemExit: 3"),
        (KeyboardInterrupt(), RuntimeError, "KeyboardInterrupt: "),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v)[:20],
)
def test_other_exceptions_map_to_the_nearest_safe_builtin(
    exc: BaseException, cls: type, message: str
) -> None:
    out = safe_exception(exc)
    assert type(out) is cls
    assert str(out).startswith(message)
    assert not hasattr(out, "client")


def test_a_danaflow_error_keeps_its_message_only() -> None:
    out = safe_exception(SandboxError("refused thing", error_type="SandboxError"))
    assert type(out) is PermissionError  # SandboxError's builtin base
    assert str(out) == "SandboxError: refused thing"
    runtime = safe_exception(DanaRuntimeError("failed"))
    assert type(runtime) is RuntimeError and str(runtime) == "DanaRuntimeError: failed"


def test_a_long_message_is_cut() -> None:
    out = safe_exception(ValueError("x" * 10_000))
    assert len(str(out)) < 4100
    assert str(out).endswith("(6000 more characters)")


def test_an_exception_whose_str_fails_still_crosses() -> None:
    class Broken(ValueError):
        def __str__(self) -> str:
            raise RuntimeError("no")

    out = safe_exception(Broken())
    assert type(out) is ValueError and str(out) == "Broken: <Broken>"


def test_safe_exceptions_are_plain_builtins() -> None:
    for name, cls in SAFE_EXCEPTIONS.items():
        assert cls.__name__ == name and cls.__module__ == "builtins"
