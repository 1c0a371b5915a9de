"""ToolResource, DatabaseResource (SQLite always, PostgreSQL when reachable) and the context's
resource lifecycle: registration by name, ``use()`` from Dana, closing at the end even on failure."""

from __future__ import annotations

import getpass
import json
import sqlite3
import sys
import uuid

import pytest

from danaflow.context import ExecutionContext, ToolResource
from danaflow.context._sql import to_psycopg
from danaflow.context.resources import DatabaseResource
from danaflow.errors import ComponentError, ResourceError
from danaflow.lang.api import run as run_dana

# ---- tools ---------------------------------------------------------------------------------------


def test_func_tool_validates_arguments_against_its_schema():
    def scale(values: list[float], factor: float = 2.0) -> list[float]:
        return [v * factor for v in values]

    tool = ToolResource("scale", "Multiplies values", func=scale)
    assert tool.parameters["required"] == ["values"]
    assert tool.parameters["properties"]["values"]["type"] == "array"
    assert tool(values=[1, 2.5]) == [2.0, 5.0]
    assert tool.call(values=[1], factor=3) == [3]
    with pytest.raises(ResourceError, match=r"tool 'scale'.*missing required 'values'"):
        tool.call()
    with pytest.raises(ResourceError, match=r"arguments\.factor: got str 'x', want number"):
        tool.call(values=[1], factor="x")


def test_explicit_schema_refuses_unknown_and_out_of_range_arguments():
    seen = []
    tool = ToolResource(
        "pick",
        "Picks a line",
        func=lambda line, limit=10: seen.append((line, limit)) or line,
        parameters={
            "type": "object",
            "properties": {
                "line": {"type": "string", "enum": ["A", "B"]},
                "limit": {"type": "integer", "minimum": 1},
            },
            "required": ["line"],
            "additionalProperties": False,
        },
    )
    with pytest.raises(ResourceError) as info:
        tool.call(line="C", limit=0, extra=True)
    message = str(info.value)
    assert "got 'C', want one of ['A', 'B']" in message
    assert "want >= 1" in message
    assert "unexpected 'extra'" in message
    assert seen == []  # the function never saw invalid arguments
    assert tool.call(line="B", limit=3) == "B" and seen == [("B", 3)]
    assert tool.spec()["name"] == "pick"


def test_command_tool_runs_a_real_subprocess_with_placeholders_and_stdin(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text(
        "import json, sys\nargs = json.load(sys.stdin)\nprint(sys.argv[1], args['word'].upper())\n"
    )
    tool = ToolResource("shout", "Shouts a word", command=[sys.executable, str(script), "{word}"])
    assert tool.parameters["required"] == ["word"]
    assert tool.call(word="hi") == "hi HI\n"
    # A placeholder fills one argv element: no shell, so shell syntax stays literal text.
    assert tool.call(word="$(echo pwned); ls") == "$(echo pwned); ls $(ECHO PWNED); LS\n"


def test_command_tool_reports_exit_code_and_stderr():
    tool = ToolResource(
        "fails", "", command=[sys.executable, "-c", "import sys; sys.stderr.write('bad input'); sys.exit(3)"]
    )
    with pytest.raises(ResourceError, match=r"tool 'fails'.*exited with 3: bad input"):
        tool.call()
    missing = ToolResource("nope", "", command="definitely-not-a-program-xyz --flag")
    with pytest.raises(ResourceError, match="program 'definitely-not-a-program-xyz' not found"):
        missing.call()


def test_tool_without_implementation_raises_a_clear_error():
    tool = ToolResource(name="data_analysis", description="Tool for data analysis", tool_type="analysis")
    assert tool.tool_type == "analysis" and not tool.is_callable
    with pytest.raises(ResourceError, match=r"tool 'data_analysis' has no implementation: want .*func="):
        tool()
    with pytest.raises(ResourceError, match="got both func= and command="):
        ToolResource("x", func=print, command="echo")
    with pytest.raises(ResourceError, match="bad tool resource name"):
        ToolResource("1bad")


async def test_acall_runs_sync_async_and_command_tools():
    async def add(a: int, b: int) -> int:
        return a + b

    assert await ToolResource("add", func=add).acall(a=2, b=3) == 5
    assert await ToolResource("neg", func=lambda x: -x, parameters={"type": "object"}).acall(x=4) == -4
    echo = ToolResource("echo", command=[sys.executable, "-c", "print('ok')"])
    assert await echo.acall() == "ok\n"
    with pytest.raises(ResourceError, match="is async and an event loop is running"):
        ToolResource("add2", func=add).call(a=1, b=2)


def test_a_failing_function_is_wrapped_with_the_tool_name():
    def boom() -> None:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ResourceError, match="tool 'boom' failed: ZeroDivisionError: division by zero"):
        ToolResource("boom", func=boom).call()


# ---- SQLite --------------------------------------------------------------------------------------


def make_db(tmp_path, name="manufacturing_db") -> DatabaseResource:
    return DatabaseResource(name, "Manufacturing data", f"sqlite:///{tmp_path / 'm.db'}")


def test_sqlite_is_lazy_and_parameterized(tmp_path):
    db = make_db(tmp_path)
    assert not db.connected and not (tmp_path / "m.db").exists()
    db.execute("CREATE TABLE output (line TEXT, units INTEGER, defects INTEGER)")
    assert db.connected
    changed = db.executemany(
        "INSERT INTO output VALUES (?, ?, ?)", [("A", 100, 2), ("A", 120, 1), ("B", 90, 7)]
    )
    assert changed == 3
    rows = db.query(
        "SELECT line, SUM(defects) AS d FROM output WHERE units >= ? GROUP BY line ORDER BY line", [90]
    )
    assert rows == [{"line": "A", "d": 3}, {"line": "B", "d": 7}]
    assert db.query_one("SELECT units FROM output WHERE line = :line ORDER BY units", {"line": "B"}) == {
        "units": 90
    }
    assert db.query_one("SELECT * FROM output WHERE line = ?", ["Z"]) is None
    # A value that looks like SQL stays a value.
    assert db.query("SELECT * FROM output WHERE line = ?", ["A' OR '1'='1"]) == []
    db.close()
    # The data is in a real file another connection can read.
    with sqlite3.connect(tmp_path / "m.db") as other:
        assert other.execute("SELECT COUNT(*) FROM output").fetchone() == (3,)


def test_sqlite_refuses_interpolation_shapes_and_bad_sql(tmp_path):
    db = make_db(tmp_path)
    db.execute("CREATE TABLE t (x TEXT)")
    with pytest.raises(ResourceError, match="got params as a str, want a list or a dict"):
        db.query("SELECT * FROM t WHERE x = ?", "A")
    with pytest.raises(ResourceError, match="want a list or a dict"):
        db.query("SELECT * FROM t WHERE x = ?", 5)
    with pytest.raises(ResourceError, match=r"database 'manufacturing_db'.*one statement"):
        db.execute("INSERT INTO t VALUES ('a'); DROP TABLE t")
    with pytest.raises(ResourceError, match=r"no such table: missing \(in: SELECT \* FROM missing\)"):
        db.query("SELECT * FROM missing")
    assert db.query("SELECT COUNT(*) AS n FROM t") == [{"n": 0}]


def test_sqlite_transaction_rolls_back_on_error(tmp_path):
    db = make_db(tmp_path)
    db.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(ValueError, match="abort"):
        with db.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (?)", [1])
            assert tx.query("SELECT COUNT(*) AS n FROM t") == [{"n": 1}]
            raise ValueError("abort")
    assert db.query("SELECT COUNT(*) AS n FROM t") == [{"n": 0}]
    with db.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (?)", [2])
    assert db.query("SELECT x FROM t") == [{"x": 2}]


def test_closed_database_and_connection_string_forms(tmp_path):
    db = make_db(tmp_path)
    db.execute("CREATE TABLE t (x INTEGER)")
    db.close()
    db.close()  # idempotent
    with pytest.raises(ResourceError, match="database resource 'manufacturing_db' is closed"):
        db.query("SELECT 1")
    memory = DatabaseResource("mem", "", "sqlite:///:memory:")
    assert memory.path == ":memory:" and memory.query("SELECT 1 AS one") == [{"one": 1}]
    assert DatabaseResource("rel", "", "sqlite:///data/x.db").path == "data/x.db"
    assert DatabaseResource("abs", "", "sqlite:////tmp/x.db").path == "/tmp/x.db"
    with pytest.raises(ResourceError, match="want sqlite:///path or postgresql://"):
        DatabaseResource("bad", "", "mysql://u:secret@h/db")
    try:
        DatabaseResource("bad", "", "mysql://u:secret@h/db")
    except ResourceError as exc:
        assert "secret" not in str(exc)


def test_postgres_resource_registers_without_connecting():
    # The seed's resource: no server named 'manufacturing' needs to exist to register it.
    db = DatabaseResource(
        name="manufacturing_db",
        description="Database for manufacturing data",
        connection_string="postgresql://user:pass@localhost:5432/manufacturing",
    )
    assert db.backend == "postgresql" and not db.connected
    assert "pass" not in repr(db) and "user:***@localhost:5432" in repr(db)
    ctx = ExecutionContext()
    ctx.register_resource(db)
    assert ctx.get_resource("manufacturing_db") is db
    ctx.close()
    assert db.closed


def test_placeholders_are_rewritten_for_psycopg_outside_literals():
    sql = "SELECT '50%' AS p, x::text, \"a?b\" FROM t WHERE a = ? -- what?\n AND b LIKE '%' || ?"
    assert to_psycopg(sql, [1, 2]) == (
        "SELECT '50%%' AS p, x::text, \"a?b\" FROM t WHERE a = %s -- what?\n AND b LIKE '%%' || %s"
    )
    assert to_psycopg("SELECT * FROM t WHERE a = :a AND b = :b", {"a": 1, "b": 2}) == (
        "SELECT * FROM t WHERE a = %(a)s AND b = %(b)s"
    )
    with pytest.raises(ResourceError, match="want one style"):
        to_psycopg("SELECT ? , :a", [1])
    with pytest.raises(ResourceError, match="want a dict"):
        to_psycopg("SELECT :a", [1])


# ---- PostgreSQL (a real server when one is reachable) --------------------------------------------


def _postgres_url() -> str | None:
    try:
        import psycopg
    except ImportError:
        return None
    for user in (getpass.getuser(), "postgres"):
        url = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            with psycopg.connect(url, connect_timeout=2):
                return url
        except psycopg.Error:
            continue
    return None


@pytest.fixture(scope="module")
def postgres_url() -> str:
    url = _postgres_url()
    if url is None:
        pytest.skip(
            "no PostgreSQL reachable at 127.0.0.1:5432 (database 'test', as the current user or "
            "'postgres', trust auth), or psycopg is not installed"
        )
    return url


def test_postgres_pooled_queries(postgres_url):
    table = f"df_test_{uuid.uuid4().hex[:8]}"
    db = DatabaseResource("pg", "a real server", postgres_url, min_size=1, max_size=2)
    try:
        assert not db.connected
        db.execute(f"CREATE TABLE {table} (line TEXT, units INTEGER, note TEXT)")
        assert db.connected
        db.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?)",
            [("A", 100, "ok"), ("B", 90, "50% scrap"), ("A", 120, "ok")],
        )
        rows = db.query(
            f"SELECT line, SUM(units)::int AS units FROM {table} WHERE note LIKE '%ok%' OR line = :line "
            "GROUP BY line ORDER BY line",
            {"line": "B"},
        )
        assert rows == [{"line": "A", "units": 220}, {"line": "B", "units": 90}]
        assert db.query(f"SELECT * FROM {table} WHERE line = ?", ["A' OR '1'='1"]) == []
        with pytest.raises(ValueError):
            with db.transaction() as tx:
                tx.execute(f"DELETE FROM {table}")
                raise ValueError("roll back")
        assert db.query_one(f"SELECT COUNT(*)::int AS n FROM {table}") == {"n": 3}
        with pytest.raises(ResourceError, match=r"database 'pg'.*missing_table"):
            db.query("SELECT * FROM missing_table")
    finally:
        db.execute(f"DROP TABLE IF EXISTS {table}")
        db.close()
    assert not db.connected
    with pytest.raises(ResourceError, match="is closed"):
        db.query("SELECT 1")


def test_postgres_unreachable_server_fails_on_first_query_not_registration():
    db = DatabaseResource("far", "", "postgresql://user:pass@127.0.0.1:1/none", timeout=1)
    ctx = ExecutionContext()
    ctx.register_resource(db)
    with pytest.raises(ResourceError, match=r"database 'far': cannot connect to postgresql://user:\*\*\*@"):
        db.query("SELECT 1")
    ctx.close()


# ---- the context: registration, use() from Dana, lifecycle ---------------------------------------


def test_dana_reaches_resources_with_use(tmp_path):
    db = make_db(tmp_path)
    db.execute("CREATE TABLE output (line TEXT, defects INTEGER)")
    db.executemany("INSERT INTO output VALUES (?, ?)", [("A", 2), ("B", 7)])
    ctx = ExecutionContext()
    ctx.register_resource(db)
    ctx.register_resource(ToolResource("double", func=lambda x: 2 * x, parameters={"type": "object"}))
    outcome = run_dana(
        'rows = use("manufacturing_db").query("SELECT line FROM output WHERE defects > ?", [5])\n'
        'private:worst = rows[0]["line"]\n'
        'use("double").call(x=21)\n',
        ctx.sandbox,
    )
    assert outcome.error is None, outcome.error
    assert outcome.value == 42
    assert ctx.agent_state.worst == "B"
    missing = run_dana('use("nothing")', ctx.sandbox)
    assert missing.error is not None and "nothing" in str(missing.error)
    ctx.close()


def test_register_resource_by_name_or_by_its_own_name():
    ctx = ExecutionContext()
    tool = ToolResource("t1")
    ctx.register_resource(tool)
    ctx.register_resource("alias", tool)
    assert ctx.get_resource("t1") is tool and ctx.get_resource("alias") is tool
    with pytest.raises(ComponentError, match=r"without a \.name, want register_resource"):
        ctx.register_resource(object())
    with pytest.raises(ComponentError, match=r"no resource named 'x' \(registered: alias, t1\)"):
        ctx.get_resource("x")


class Tracked:
    """A resource that records being closed (and can fail to close)."""

    def __init__(self, name, log, fail=False):
        self.name, self.log, self.fail = name, log, fail

    def close(self):
        self.log.append(self.name)
        if self.fail:
            raise OSError(f"{self.name} would not close")


def test_context_manager_closes_resources_even_when_the_body_fails(tmp_path):
    log: list[str] = []
    db = make_db(tmp_path)
    with pytest.raises(RuntimeError, match="body failed"):
        with ExecutionContext() as ctx:
            ctx.register_resource(db)
            ctx.register_resource(Tracked("first", log))
            ctx.register_resource(Tracked("second", log))
            ctx.register_resource("plain", {"not": "closable"})
            db.execute("CREATE TABLE t (x INTEGER)")
            raise RuntimeError("body failed")
    assert log == ["second", "first"]  # newest first
    assert db.closed and not db.connected


def test_every_resource_is_closed_and_the_first_close_failure_is_raised():
    log: list[str] = []
    ctx = ExecutionContext()
    for name, fail in (("a", False), ("b", True), ("c", True)):
        ctx.register_resource(Tracked(name, log, fail))
    with pytest.raises(OSError, match="c would not close"):
        ctx.close()
    assert log == ["c", "b", "a"]
    # A close failure during a failing body rides along as a note; the body's error wins.
    with pytest.raises(KeyError) as info:
        with ExecutionContext() as ctx2:
            ctx2.register_resource(Tracked("x", [], True))
            raise KeyError("body")
    assert any("x would not close" in note for note in info.value.__notes__)


async def test_async_context_manager_closes_resources(tmp_path):
    db = make_db(tmp_path)
    async with ExecutionContext() as ctx:
        ctx.register_resource(db)
        await db.aexecute("CREATE TABLE t (x INTEGER)")
        assert await db.aexecute("INSERT INTO t VALUES (?)", [1]) == 1
        assert await db.aquery("SELECT x FROM t") == [{"x": 1}]
    assert db.closed


def test_reasoning_strategies_are_found_up_the_hierarchy():
    root = ExecutionContext()
    strategy = object()
    root.register_reasoning_strategy("mine", strategy)
    child = root.create_child("flow", "f")
    assert child.get_reasoning_strategy("mine") is strategy
    assert child.reasoning_strategies() == {"mine": strategy}
    with pytest.raises(ComponentError, match=r"no reasoning strategy named 'other' \(registered: mine\)"):
        child.get_reasoning_strategy("other")
    assert child.get_reasoning_strategy("other", None) is None


def test_execute_plan_delegates_to_the_plan_object():
    class FakePlan:
        def execute(self, ctx, **options):
            return ("ran", ctx, options)

    ctx = ExecutionContext()
    assert ctx.execute_plan(FakePlan(), run_root="x") == ("ran", ctx, {"run_root": "x"})
    with pytest.raises(ComponentError, match=r"want a danaflow\.planning\.Plan"):
        ctx.execute_plan(json)


def test_sqlite_resource_refuses_attach(tmp_path) -> None:
    # The resource grants one database file; ATTACH would reach (or create) any other file.
    from danaflow.context.resources import DatabaseResource
    from danaflow.errors import DanaflowError

    db = DatabaseResource("db", "test", f"sqlite:///{tmp_path / 'a.db'}")
    try:
        db.execute("CREATE TABLE t (x INTEGER)")
        other = tmp_path / "other.db"
        try:
            db.execute(f"ATTACH DATABASE '{other}' AS o")
        except (DanaflowError, Exception) as exc:
            assert "not authorized" in str(exc) or "authoriz" in str(exc).lower()
        else:  # pragma: no cover
            raise AssertionError("ATTACH was allowed")
        assert not other.exists()
    finally:
        db.close()
