"""Running Dana in a worker process (``run(..., isolation="process")``) against running it in
the calling thread: the same values, prints and scope changes; the host answering the worker's
calls (registered functions, ``use()`` capabilities, ``reason()``); what may and may not be
stored; limits that end in a ResourceLimitError at the Dana line; and a host left unaffected.

The reasoner and resources here are plain Python classes at the edge, not mocks of danaflow.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from danaflow.context.state import AgentState
from danaflow.errors import DanaflowError, DanaSyntaxError, ResourceLimitError, SandboxError
from danaflow.lang.api import ExecutionOutcome, compile_expression, run
from danaflow.lang.codec import Codec, CodecError
from danaflow.lang.policy import SandboxPolicy
from danaflow.lang.registry import FunctionRegistry
from danaflow.lang.sandbox import SCOPES, SandboxContext
from danaflow.lang.structs import DanaStruct
from danaflow.lang.values import Capability

ISOLATIONS = ["process", "inprocess"]


@dataclass
class Ran:
    outcome: ExecutionOutcome
    ctx: SandboxContext
    printed: list[str]


def run_in(isolation: str, source: str | Path, ctx: SandboxContext | None = None, **kw: Any) -> Ran:
    ctx = ctx if ctx is not None else SandboxContext()
    printed: list[str] = []
    outcome = run(source, ctx, isolation=isolation, print_sink=printed.append, **kw)  # type: ignore[arg-type]
    return Ran(outcome, ctx, printed)


_STRICT = Codec(lambda name, fields: type(name, (), {}))
"""What a worker may send back in a scope: data only (no exporter, no opaque descriptions)."""


def plain(value: Any) -> Any:
    """A value compared across isolations: a struct as its name and fields (each side has its own
    class), an exception as its class (it is a fresh object), containers element by element."""
    if isinstance(value, DanaStruct):
        return ("struct", type(value).__name__, plain(value.model_dump()))
    if isinstance(value, type) and issubclass(value, DanaStruct):
        return ("struct type", value.__name__, value.__dana_fields__)
    if isinstance(value, BaseException):
        return ("exception", type(value).__name__)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(v) for v in value)
    return value


def _is_data(value: Any) -> bool:
    try:
        _STRICT.dumps(value)
    except CodecError:
        return False
    return True


def data_scopes(ctx: SandboxContext) -> dict[str, dict[str, Any]]:
    """Each scope's data, as a worker sends it back (functions and modules stay behind), without
    the runtime's own reserved system keys."""
    return {
        s: {
            k: plain(v)
            for k, v in ctx.scope(s).items()
            if _is_data(v) and not (s == "system" and k in ctx.reserved_system_keys)
        }
        for s in SCOPES
    }


def error_summary(err: DanaflowError | None) -> Any:
    if err is None:
        return None
    loc = err.location
    return (
        type(err).__name__,
        getattr(err, "error_type", None),
        err.message,
        (Path(loc.file).name, loc.line, loc.col) if loc else None,
        [(fn, (at.line, at.col)) for fn, at in getattr(err, "stack", [])],
    )


def run_both(source: str | Path, make_ctx: Callable[[], SandboxContext] = SandboxContext, **kw: Any) -> Ran:
    """Runs ``source`` in both isolations; asserts they agree; returns the process run."""
    process = run_in("process", source, make_ctx(), **kw)
    inprocess = run_in("inprocess", source, make_ctx(), **kw)
    assert error_summary(process.outcome.error) == error_summary(inprocess.outcome.error)
    assert plain(process.outcome.value) == plain(inprocess.outcome.value)
    assert type(process.outcome.value) is type(inprocess.outcome.value) or isinstance(
        process.outcome.value, DanaStruct
    )
    assert process.printed == inprocess.printed
    assert process.outcome.output == inprocess.outcome.output == "".join(process.printed)
    assert data_scopes(process.ctx) == data_scopes(inprocess.ctx)
    assert process.outcome.logs == inprocess.outcome.logs
    return process


# ---- the same results in both isolations -----------------------------------------------------


def test_values_of_every_kind_come_back() -> None:
    src = (
        "x = 2 ** 70\n"
        "(x, -x, 1.5, None, True, 'text', 'raw'.encode(), [1, [2]], (3, (4,)), {5, 6}, frozenset([7]),\n"
        " {1: 'int key', (2, 3): 'tuple key', 'k': {'nested': [None]}})\n"
    )
    r = run_both(src)
    assert r.outcome.value == (
        2**70,
        -(2**70),
        1.5,
        None,
        True,
        "text",
        b"raw",
        [1, [2]],
        (3, (4,)),
        {5, 6},
        frozenset([7]),
        {1: "int key", (2, 3): "tuple key", "k": {"nested": [None]}},
    )


def test_prints_come_back_in_order() -> None:
    r = run_both("print('a', 1)\nfor i in range(3):\n    print(i)\nprint([1, (2, 3)], {'k': None})\n")
    assert r.printed == ["a 1\n", "0\n", "1\n", "2\n", "[1, (2, 3)] {'k': None}\n"]


def _state() -> SandboxContext:
    return SandboxContext(
        initial_private_state={"count": 1, "items": [1]},
        initial_public_state={"log": ["start"]},
        initial_system_state={"note": "s"},
    )


def test_scope_changes_flow_back_including_in_place_mutation() -> None:
    src = (
        "private:count = private:count + 1\n"
        "private:items.append(2)\n"
        "public:log.append('dana')\n"
        "public:made = {'k': (1, 2)}\n"
        "system:seen = True\n"
        "answer = 42\n"
    )
    r = run_both(src, _state)
    assert data_scopes(r.ctx) == {
        "local": {"answer": 42},
        "private": {"count": 2, "items": [1, 2]},
        "public": {"log": ["start", "dana"], "made": {"k": (1, 2)}},
        "system": {"note": "s", "seen": True},
    }


def test_state_the_program_never_names_is_left_as_it_was() -> None:
    untouched = [1, 2]
    client = object()  # not data: it would refuse to cross, but the program never reaches it
    ctx = SandboxContext(initial_private_state={"other": untouched, "client": client, "n": 1})
    r = run_in("process", "private:n = private:n + 1\n", ctx)
    assert r.outcome.error is None
    assert ctx.private["n"] == 2
    assert ctx.private["other"] is untouched and ctx.private["client"] is client


def test_structs_defined_by_the_program_come_back_as_values() -> None:
    src = (
        "struct Address:\n    city: str\n"
        "struct Person:\n    name: str\n    tags: list[str] = []\n    home: Address | None = None\n"
        "p = Person(name='Ann', home=Address(city='Oslo'))\n"
        "p.tags.append('admin')\n"
        "private:who = p\n"
        "p\n"
    )
    r = run_both(src)
    value = r.outcome.value
    assert type(value).__name__ == "Person"
    assert value.model_dump() == {"name": "Ann", "tags": ["admin"], "home": {"city": "Oslo"}}
    assert r.ctx.private["who"] == value


def test_an_error_is_reported_at_its_line_with_the_dana_stack() -> None:
    src = (
        "x = 1\n"
        "def inner(v):\n    return 10 / v\n"
        "def outer(v):\n    return inner(v)\n"
        "y = outer(0)\n"
        "print('never')\n"
    )
    r = run_both(src)
    err = r.outcome.error
    assert err is not None and err.error_type == "ZeroDivisionError"
    assert err.location is not None and err.location.line == 3
    assert [fn for fn, _ in err.stack] == ["<main>", "outer", "inner"]
    assert r.printed == []
    assert r.ctx.local["x"] == 1  # what ran before the error is kept


def test_functions_lambdas_and_modules_in_local_are_dropped_silently() -> None:
    src = "import math\ndef f(a):\n    return a * 2\ng = lambda: 1\nk = f(2) + g()\nm = math.floor(2.5)\n"
    r = run_both(src)
    assert r.outcome.error is None
    assert dict(r.ctx.local) == {"k": 5, "m": 2}


def test_logs_come_back() -> None:
    r = run_both("log('hello', level='warning')\nlog('detail', level='info', step=2)\n")
    assert r.outcome.logs[0] == {"level": "warning", "message": "hello"}


def test_reserved_system_keys_are_refused_in_the_worker_too() -> None:
    def make() -> SandboxContext:
        ctx = SandboxContext(initial_system_state={"run_id": "r1"})
        ctx.reserved_system_keys.add("run_id")
        return ctx

    r = run_both("print(system:run_id)\nsystem:run_id = 'evil'\n", make)
    assert isinstance(r.outcome.error, SandboxError)
    assert r.outcome.error.location is not None and r.outcome.error.location.line == 2
    assert r.ctx.system["run_id"] == "r1" and r.printed == ["r1\n"]


# ---- what may be stored ------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["private", "public", "system"])
def test_a_function_stored_in_a_shared_scope_is_an_error_naming_the_key(scope: str) -> None:
    r = run_in("process", f"def f(x):\n    return x\n{scope}:fn = f\n{scope}:ok = 1\n")
    err = r.outcome.error
    assert err is not None
    assert f"{scope}:fn holds a function; only data can be stored there" in err.message
    assert "fn" not in r.ctx.scope(scope)
    assert r.ctx.scope(scope)["ok"] == 1  # the data that was written still lands


def test_a_host_object_the_program_reads_is_an_error_naming_the_key() -> None:
    ctx = SandboxContext(initial_private_state={"client": object()})
    r = run_in("process", "c = private:client\n", ctx)
    err = r.outcome.error
    assert err is not None
    assert err.message.startswith("private:client: a object cannot cross into Dana")


class Step(AgentState):
    step: int = 0


def test_a_typed_state_view_validates_writes_at_the_line_in_both_isolations() -> None:
    results = {}
    for isolation in ISOLATIONS:
        ctx = SandboxContext()
        ctx.private = Step()
        src = "private:step = '3'\nprint(private:step + 1)\nprivate:step = 'abc'\nprint('after')\n"
        results[isolation] = run_in(isolation, src, ctx)
    for r in results.values():
        err = r.outcome.error
        assert err is not None
        assert err.location is not None and err.location.line == 3
        assert "step: got 'abc'" in err.message and "int" in err.message
        assert r.printed == ["4\n"]  # '3' was coerced to 3 where it was written
        assert r.ctx.private["step"] == 3 and type(r.ctx.private["step"]) is int


# ---- .na imports -----------------------------------------------------------------------------


def test_dana_modules_are_read_by_the_host_and_run_in_the_worker(tmp_path: Path) -> None:
    (tmp_path / "inner.na").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "helpers.na").write_text(
        "import inner\n"
        "print('helpers loaded')\n"
        "GREETING = 'hello'\n"
        "def greet(name):\n    return f'{GREETING}, {name}'\n"
        "struct Pair:\n    a: int\n    b: int\n"
        "def total(p):\n    return inner.add(p.a, p.b)\n"
    )
    main = tmp_path / "main.na"
    main.write_text(
        "import helpers\n"
        "from helpers import Pair, total\n"
        "print(helpers.greet('ann'), total(Pair(a=2, b=3)))\n"
    )
    r = run_both(main)
    assert r.outcome.error is None
    assert r.printed == ["helpers loaded\n", "hello, ann 5\n"]


def test_a_syntax_error_in_an_imported_module_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "broken.na").write_text("x = (\n")
    main = tmp_path / "main.na"
    main.write_text("import broken\n")
    for isolation in ISOLATIONS:
        err = run_in(isolation, main).outcome.error
        assert isinstance(err, DanaSyntaxError)
        assert err.location is not None and Path(err.location.file).name == "broken.na"


def test_a_syntax_error_in_the_program_needs_no_worker() -> None:
    r = run_in("process", "x = 1\ny = (\n")
    assert isinstance(r.outcome.error, DanaSyntaxError)
    assert r.outcome.error.location is not None and r.outcome.error.location.line == 2
    assert "x" not in r.ctx.local


# ---- registered functions --------------------------------------------------------------------


def test_registered_functions_run_on_the_host() -> None:
    calls: list[tuple[Any, ...]] = []

    def add(a: int, b: int = 0) -> int:
        calls.append((os.getpid(), a, b))
        return a + b

    def bad(text: str) -> None:
        raise ValueError(f"bad input {text}")

    def make() -> SandboxContext:
        reg = FunctionRegistry()
        reg.register("add", add)
        reg.register("bad", bad)
        return SandboxContext(registry=reg)

    src = "x = add(1, b=2)\ntry:\n    bad('q')\nexcept ValueError as e:\n    print('caught', e)\nx\n"
    r = run_both(src, make)
    assert r.outcome.value == 3
    assert r.printed == ["caught bad input q\n"]
    assert {pid for pid, *_ in calls} == {os.getpid()}
    assert [(a, b) for _, a, b in calls] == [(1, 2), (1, 2)]  # once per isolation


def test_a_registered_function_result_that_is_not_data_is_refused() -> None:
    def make() -> SandboxContext:
        reg = FunctionRegistry()
        reg.register("leak", lambda: object())
        return SandboxContext(registry=reg)

    r = run_both("x = 1\nleak()\n", make)
    err = r.outcome.error
    assert err is not None and "cannot cross into Dana" in err.message
    assert err.location is not None and err.location.line == 2


def test_pass_context_functions_see_the_programs_writes_and_theirs_flow_back() -> None:
    seen: list[Any] = []

    def peek(ctx: SandboxContext) -> int:
        seen.append((ctx.private["n"], list(ctx.public["notes"])))
        ctx.private["n"] = ctx.private["n"] * 2
        ctx.public["notes"].append("host")
        return ctx.private["n"]

    def make() -> SandboxContext:
        reg = FunctionRegistry()
        reg.register("peek", peek, pass_context=True)
        return SandboxContext(
            registry=reg, initial_private_state={"n": 0}, initial_public_state={"notes": []}
        )

    src = (
        "private:n = 5\n"
        "public:notes.append('dana')\n"
        "r = peek()\n"
        "print(r, private:n, public:notes)\n"
        "private:n = private:n + 1\n"
    )
    r = run_both(src, make)
    assert seen == [(5, ["dana"]), (5, ["dana"])]  # once per isolation
    assert r.printed == ["10 10 ['dana', 'host']\n"]
    assert r.ctx.private["n"] == 11 and r.ctx.public["notes"] == ["dana", "host"]


# ---- use() and capabilities --------------------------------------------------------------------


class Database:
    """A resource as an embedding program writes one: an allow-list and plain methods."""

    dana_methods = ("query", "enter", "exit")
    description = "the orders database"

    def __init__(self) -> None:
        self.events: list[Any] = []

    def query(self, sql: str, limit: int = 10) -> list[dict[str, Any]]:
        self.events.append(("query", sql, limit))
        return [{"sql": sql, "limit": limit}]

    def enter(self) -> Capability:
        self.events.append("enter")
        return Capability("tx", {"commit": lambda: self.events.append("commit") or "committed"})

    def exit(self, failed: bool) -> None:
        self.events.append(("exit", failed))

    def drop_everything(self) -> None:
        self.events.append("DROPPED")


def test_use_hands_out_a_capability_whose_methods_run_on_the_host() -> None:
    dbs: list[Database] = []

    def make() -> SandboxContext:
        dbs.append(Database())
        return SandboxContext(resources={"db": dbs[-1]})

    src = (
        "db = use('db')\n"
        "print(db.name, db.description, db.methods)\n"
        "print(db.query('select 1', limit=2))\n"
        "try:\n    db.drop_everything()\nexcept AttributeError as e:\n    print('refused')\n"
        "try:\n    use('nope')\nexcept KeyError as e:\n    print(e)\n"
    )
    r = run_both(src, make)
    assert r.outcome.error is None
    assert r.printed == [
        "db the orders database ['enter', 'exit', 'query']\n",
        "[{'sql': 'select 1', 'limit': 2}]\n",
        "refused\n",
        "\"no resource named 'nope'; available: db\"\n",
    ]
    assert [db.events for db in dbs] == [[("query", "select 1", 2)]] * 2


def test_a_capability_works_as_a_context_manager_and_returns_capabilities() -> None:
    dbs: list[Database] = []

    def make() -> SandboxContext:
        dbs.append(Database())
        return SandboxContext(resources={"db": dbs[-1]})

    src = (
        "with use('db') as tx:\n    print(tx.commit())\n"
        "try:\n    with use('db') as tx:\n        x = 1 / 0\n"
        "except ZeroDivisionError:\n    print('propagated')\n"
    )
    r = run_both(src, make)
    assert r.outcome.error is None and r.printed == ["committed\n", "propagated\n"]
    expected = ["enter", "commit", ("exit", False), "enter", ("exit", True)]
    assert [db.events for db in dbs] == [expected, expected]


def test_capabilities_returned_by_functions_cross_as_handles() -> None:
    opened: list[str] = []

    def open_table(name: str) -> Capability:
        opened.append(name)
        return Capability(name, {"get": lambda key: f"{name}[{key}]"}, "a table")

    def make() -> SandboxContext:
        reg = FunctionRegistry()
        reg.register("open_table", open_table)
        return SandboxContext(registry=reg)

    r = run_both(
        "a = open_table('users')\nb = open_table('orders')\n[a.get(1), b.get(2), a.description]\n", make
    )
    assert r.outcome.value == ["users[1]", "orders[2]", "a table"]
    assert opened == ["users", "orders"] * 2


# ---- reason() --------------------------------------------------------------------------------


class FakeReasoner:
    """Answers by desired type and records every call (a plain class at the LLM edge)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
        self.calls.append((prompt, desired_type, options))
        if desired_type is None:
            return f"echo: {prompt}"
        if desired_type is int:
            return 42
        if desired_type == list[str]:
            return ["a", "b"]
        if isinstance(desired_type, type) and issubclass(desired_type, DanaStruct):
            return desired_type.model_validate({"name": "Ann", "age": 41})
        raise AssertionError(f"unexpected desired type {desired_type!r}")

    def model_aliases(self) -> tuple[str, ...]:
        return ("fast", "smart")


def test_reason_is_answered_by_the_hosts_reasoner() -> None:
    reasoners: list[FakeReasoner] = []

    def make() -> SandboxContext:
        reasoners.append(FakeReasoner())
        return SandboxContext(reasoner=reasoners[-1])

    src = (
        "a = reason('hello')\n"
        "n: int = reason('a number', temperature=0.2)\n"
        "names: list[str] = reason('names', model='fast')\n"
        "[a, n + 1, names]\n"
    )
    r = run_both(src, make)
    assert r.outcome.value == ["echo: hello", 43, ["a", "b"]]
    for reasoner in reasoners:
        assert reasoner.calls == [
            ("hello", None, {}),
            ("a number", int, {"temperature": 0.2}),
            ("names", list[str], {"model": "fast"}),
        ]


def test_a_struct_from_reason_is_an_instance_of_the_programs_own_class() -> None:
    reasoners: list[FakeReasoner] = []

    def make() -> SandboxContext:
        reasoners.append(FakeReasoner())
        return SandboxContext(reasoner=reasoners[-1])

    src = (
        "struct Profile:\n    name: str\n    age: int\n"
        "def (p: Profile) older(years: int) -> int:\n    return p.age + years\n"
        "p: Profile = reason('describe a user')\n"
        "print(isinstance(p, Profile), type(p).__name__, p.older(1))\n"
        "p.age = p.age + 1\n"
        "p\n"
    )
    r = run_both(src, make)
    assert r.outcome.error is None
    assert r.printed == ["True Profile 42\n"]
    assert r.outcome.value.model_dump() == {"name": "Ann", "age": 42}
    host_type = reasoners[0].calls[0][1]
    assert host_type.__name__ == "Profile" and host_type.__dana_fields__ == ("name", "age")


def test_reason_may_only_name_the_hosts_model_aliases() -> None:
    reasoners: list[FakeReasoner] = []

    def make() -> SandboxContext:
        reasoners.append(FakeReasoner())
        return SandboxContext(reasoner=reasoners[-1])

    r = run_both("x = reason('hi', model='smart')\ny = reason('hi', model='https://evil.example/v1')\n", make)
    err = r.outcome.error
    assert isinstance(err, SandboxError)
    assert "want one of: fast, smart" in err.message
    assert err.location is not None and err.location.line == 2
    assert [len(rs.calls) for rs in reasoners] == [1, 1]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_reason_without_a_reasoner_is_an_error(isolation: str) -> None:
    err = run_in(isolation, "x = 1\ny = reason('hi')\n").outcome.error
    assert err is not None and "reason() has no LLM configured" in err.message
    assert err.location is not None and err.location.line == 2


# ---- limits and the host ---------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_timeout_stops_a_loop_at_its_line(isolation: str) -> None:
    r = run_in(isolation, "x = 0\nwhile True:\n    x += 1\n", timeout=0.5)
    err = r.outcome.error
    assert isinstance(err, ResourceLimitError) and err.error_type == "TimeoutError"
    assert err.location is not None and err.location.line in (2, 3)
    assert "0.5 s" in err.message


def test_a_timeout_stops_a_builtin_stuck_in_c_code() -> None:
    r = run_in("process", "a = 1\nb = sum(range(10 ** 13))\n", timeout=0.5)
    err = r.outcome.error
    assert isinstance(err, ResourceLimitError) and err.error_type == "TimeoutError"
    assert "stopped inside a builtin call" in err.message
    assert err.location is not None and err.location.line == 2


def test_a_timeout_covers_waiting_for_the_host() -> None:
    release = threading.Event()

    class SlowReasoner:
        def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> str:
            release.wait(30)
            return "late"

    try:
        r = run_in("process", "a = reason('slow')\n", SandboxContext(reasoner=SlowReasoner()), timeout=0.5)
    finally:
        release.set()
    err = r.outcome.error
    assert isinstance(err, ResourceLimitError) and "waiting for reason()" in err.message


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_max_steps_stops_a_loop_at_its_line(isolation: str) -> None:
    r = run_in(isolation, "x = 0\nfor i in range(10 ** 9):\n    x += i\n", max_steps=1000)
    err = r.outcome.error
    assert isinstance(err, ResourceLimitError) and err.error_type == "StepLimitError"
    assert "step budget of 1000 steps" in err.message
    assert err.location is not None and err.location.line == 2


@pytest.mark.parametrize("grow", ["b = [0] * (10 ** 9)", "b = 'x' * (10 ** 9)", "b = list(range(10 ** 8))"])
def test_the_memory_limit_is_a_resource_limit_error_and_the_host_is_unaffected(grow: str) -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    r = run_in("process", f"a = 1\n{grow}\nprint('never')\n", memory_limit=256 << 20)
    err = r.outcome.error
    assert isinstance(err, ResourceLimitError) and err.error_type == "MemoryError"
    assert err.message == "memory limit 256 MiB exceeded"
    assert err.location is not None and err.location.line == 2
    assert r.printed == [] and r.ctx.local["a"] == 1
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert run_in("process", "[1] * 10").outcome.value == [1] * 10


def test_memory_growing_in_a_loop_is_stopped_at_its_line() -> None:
    src = "def grow():\n    chunks = []\n    while True:\n        chunks.append('x' * 1000000)\ngrow()\n"
    err = run_in("process", src, memory_limit=256 << 20).outcome.error
    assert isinstance(err, ResourceLimitError) and err.error_type == "MemoryError"
    assert err.location is not None and err.location.line == 4


# ---- output as it happens, cold workers, templates -------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_print_sink_receives_prints_as_they_happen(isolation: str) -> None:
    printed: list[str] = []
    seen_at_call: list[list[str]] = []
    reg = FunctionRegistry()
    reg.register("probe", lambda: seen_at_call.append(list(printed)) or 0)
    out = run(
        "print('one')\nprobe()\nprint('two')\n",
        SandboxContext(registry=reg),
        isolation=isolation,  # type: ignore[arg-type]
        print_sink=printed.append,
    )
    assert out.error is None
    assert seen_at_call == [["one\n"]]  # "one" arrived before the program went on
    assert printed == ["one\n", "two\n"]


def test_a_cold_worker_gives_the_same_results() -> None:
    ctx = _state()
    out = run(
        "private:count = private:count + 10\nprint('cold')\n7\n", ctx, cold=True, print_sink=lambda s: None
    )
    assert (out.error, out.value, out.output) == (None, 7, "cold\n")
    assert ctx.private["count"] == 11


def test_an_unbounded_template_expression_runs_in_a_worker() -> None:
    expr = compile_expression("sum([i * k for i in range(n)])")
    assert not expr.bounded
    ctx = SandboxContext(initial_private_state={"k": 2})
    assert expr.evaluate({"n": 10}, ctx) == 90
    assert expr.evaluate({"n": 4, "k": 1}, ctx) == 6  # names win over the context's scopes


def test_a_template_expression_is_held_to_the_template_timeout() -> None:
    expr = compile_expression("len([i for i in range(10 ** 12)])")
    ctx = SandboxContext(policy=SandboxPolicy(template_timeout=0.5))
    with pytest.raises(ResourceLimitError, match=r"0\.5 s"):  # C-level work: the wall clock
        compile_expression("sum(range(10 ** 12))").evaluate({}, ctx)
    steps = SandboxContext(policy=SandboxPolicy(template_steps=1000))
    with pytest.raises(ResourceLimitError, match="step budget of 1000"):  # Dana-level loops: steps
        expr.evaluate({}, steps)


# ---- regressions found while writing this file ------------------------------------------------


def test_a_deeply_nested_value_in_the_state_is_dropped_not_a_host_crash() -> None:
    outcome = run("t = ()\nfor i in range(300):\n    t = (t,)\nlen(t)", SandboxContext())
    assert outcome.error is None and outcome.value == 1  # the host is alive to say so


def test_new_keys_a_context_function_writes_reach_the_program() -> None:
    def peek(ctx: SandboxContext) -> None:
        ctx.private["m"] = 7
        ctx.private["n"] = 10

    results = {}
    for isolation in ("process", "inprocess"):
        ctx = SandboxContext()
        ctx.registry.register("peek", peek, pass_context=True)
        out = run("private:n = 5\npeek()\n[private:n, private:m]", ctx, isolation=isolation)
        assert out.error is None, out.error
        results[isolation] = (out.value, dict(ctx.private))
    assert results["process"] == results["inprocess"] == ([10, 7], {"n": 10, "m": 7})


@pytest.mark.parametrize("timeout", [None, 20.0])
def test_memory_held_by_the_program_is_reported_at_its_line(timeout: float | None) -> None:
    src = "chunks = []\nwhile True:\n    chunks.append('x' * 1000000)\n"
    out = run(src, SandboxContext(), memory_limit=256 << 20, timeout=timeout)
    assert isinstance(out.error, ResourceLimitError), out.error
    assert out.error.error_type == "MemoryError" and out.error.location.line == 3


def test_a_host_time_zone_crosses_as_a_value() -> None:
    import datetime as dt

    out = run("str(private:tz)", SandboxContext(initial_private_state={"tz": dt.UTC}))
    assert out.error is None and out.value == "UTC"


def test_a_hostile_workers_reason_options_never_reach_pydantic_as_a_type(tmp_path: Path) -> None:
    from danaflow.lang.isolated import _Job

    sentinel = tmp_path / "X"

    class Recorder:
        calls: list[Any] = []

        def reason(self, prompt: str, desired_type: Any = None, **options: Any) -> Any:
            self.calls.append((desired_type, options))
            return "ok"

    ctx = SandboxContext(reasoner=Recorder())
    job = _Job(ctx, SandboxPolicy())
    evil = f"__import__('os').system('touch {sentinel}') or int"
    for options in ({"__dana_desired_type": evil}, {"max_reasks": 10**6, "timeout": 10**9}):
        reply = job.answer({"op": "call", "id": 1, "kind": "reason", "prompt": "p", "options": options})
        if "__dana_desired_type" in options:
            assert reply["error"]["class"] == "SandboxError" and "not allowed" in reply["error"]["message"]
        else:
            assert reply["value"] == "ok"
    assert not sentinel.exists()
    assert Recorder.calls == [(None, {"max_reasks": 5, "timeout": 600.0})]


def test_a_hostile_struct_descriptor_cannot_name_dunder_fields() -> None:
    import msgpack

    from danaflow.lang.isolated import _Job

    job = _Job(SandboxContext(), SandboxPolicy())
    for field in ("__repr__", "__class__", "model_dump"):
        payload = msgpack.packb([["struct", "Evil", [[field, "int"]]], [1]])  # as a worker could send it
        with pytest.raises(CodecError):
            job.codec.loads(msgpack.packb(msgpack.ExtType(4, payload)))
