"""Tool and database resources: what a context registers besides its LLMs (seed 000, DESIGN §6).

A resource is a named, described object that components reach with ``ctx.get_resource(name)``
and Dana programs with ``use("name")`` (its public methods are the API). Resources may hold
connections, so they are opened lazily (registering one never touches the network) and an
ExecutionContext closes the ones registered on it when it ends. LLMResource lives in llm/; this
module holds the other two kinds: ToolResource (a Python callable or a subprocess, with a
JSON-schema parameter description for LLM tool use) and DatabaseResource (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import shlex
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from danaflow.errors import ResourceError

from ._jsonschema import schema_problems, validate
from ._sql import redacted, short_sql, sqlite_path, to_psycopg

__all__ = ["DatabaseResource", "Params", "Resource", "ToolResource"]

Params = Sequence[Any] | Mapping[str, Any] | None
"""Query parameters: a list for ``?`` placeholders, a dict for ``:name`` ones, or None."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Resource:
    """The base of tool and database resources: a name, a description, and ``close()``.

    The name is how contexts and Dana's ``use()`` find it, so it must be an identifier
    (``-`` allowed). ``close()`` is idempotent; a resource used after it raises ResourceError.
    """

    kind: str = "resource"
    dana_methods: frozenset[str] = frozenset()
    """The methods a Dana program may call through ``use(name)``; nothing else of it is reachable."""

    def __init__(self, name: str, description: str = ""):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ResourceError(
                f"bad {self.kind} resource name {name!r}: want letters, digits, '_' or '-', "
                "not starting with a digit"
            )
        self.name = name
        self.description = description
        self.closed = False

    def close(self) -> None:
        """Releases what the resource holds (nothing here); safe to call twice."""
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise ResourceError(f"{self.kind} resource {self.name!r} is closed: want an open resource")

    def __enter__(self) -> Resource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- tools --------------------------------------------------------------------------------------
class ToolResource(Resource):
    """A tool an agent can call: a Python callable (``func``) or a subprocess (``command``).

    ``parameters`` is a JSON schema of the keyword arguments (an ``object`` schema); arguments are
    checked against it before the tool runs, so a model's bad call fails with a message naming the
    tool and the argument instead of deep inside the function. Without it, the schema is derived
    from ``func``'s signature, or from the ``{name}`` placeholders of ``command``.

    A command is an argv list, or a string split like a shell would (``shlex``) but never run by
    a shell: each ``{name}`` placeholder is replaced inside its own argv element, so an argument
    cannot inject options or commands. The arguments also arrive as one JSON object on stdin.
    The tool's value is the command's stdout; a non-zero exit raises ResourceError with stderr.
    A tool with neither ``func`` nor ``command`` (the seed's descriptive ``data_analysis``) can be
    registered and described, and raises a clear ResourceError when called.
    """

    kind = "tool"
    dana_methods = frozenset({"call"})

    def __init__(
        self,
        name: str,
        description: str = "",
        tool_type: str | None = None,
        func: Callable[..., Any] | None = None,
        command: str | Sequence[str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = 60.0,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ):
        super().__init__(name, description)
        if func is not None and command is not None:
            raise ResourceError(f"tool {name!r}: got both func= and command=, want one of them")
        if func is not None and not callable(func):
            raise ResourceError(f"tool {name!r}: got func={type(func).__name__}, want a callable")
        self.tool_type = tool_type
        self.func = func
        self.argv: list[str] | None = None
        if command is not None:
            self.argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
            if not self.argv:
                raise ResourceError(f"tool {name!r}: got an empty command, want a program to run")
        self.timeout = timeout
        self.cwd = Path(cwd) if cwd is not None else None
        self.env = dict(env) if env is not None else None
        if parameters is None:
            parameters = self._derived_schema()
        if parameters.get("type", "object") != "object":
            raise ResourceError(
                f"tool {name!r}: got a parameters schema of type {parameters.get('type')!r}, want 'object'"
            )
        problems = schema_problems(parameters, "parameters")
        if problems:
            raise ResourceError(f"tool {name!r} has an invalid parameters schema: {problems[0]}")
        self.parameters: dict[str, Any] = dict(parameters)

    @property
    def is_callable(self) -> bool:
        """Whether the tool has an implementation (a func or a command)."""
        return self.func is not None or self.argv is not None

    def spec(self) -> dict[str, Any]:
        """The tool as an LLM sees it: name, description and parameter schema."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def _derived_schema(self) -> dict[str, Any]:
        if self.argv is not None:
            names = sorted({m for arg in self.argv for m in _PLACEHOLDER.findall(arg)})
            return {
                "type": "object",
                "properties": {n: {"type": ["string", "number", "integer", "boolean"]} for n in names},
                "required": names,
            }
        if self.func is None:
            return {"type": "object", "properties": {}}
        return _signature_schema(self.func, self.name)

    # ---- calling ------------------------------------------------------------------------------
    def validate_args(self, args: Mapping[str, Any]) -> None:
        """Raises ResourceError listing every way ``args`` breaks the parameter schema."""
        problems = validate(dict(args), self.parameters, "arguments")
        if problems:
            raise ResourceError(f"tool {self.name!r} refused its arguments: " + "; ".join(problems))

    def call(self, **kwargs: Any) -> Any:
        """Checks the arguments, then runs the tool and returns its value (stdout for a command)."""
        self._check_open()
        self._check_callable()
        self.validate_args(kwargs)
        if self.argv is not None:
            return self._run_command(kwargs)
        assert self.func is not None
        if inspect.iscoroutinefunction(self.func):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(self._call_func(kwargs))
            raise ResourceError(
                f"tool {self.name!r} is async and an event loop is running: want `await tool.acall(...)`"
            )
        return self._call_func_sync(kwargs)

    __call__ = call

    async def acall(self, **kwargs: Any) -> Any:
        """The async twin of ``call``: blocking functions and commands run in a worker thread."""
        self._check_open()
        self._check_callable()
        self.validate_args(kwargs)
        if self.func is not None and inspect.iscoroutinefunction(self.func):
            return await self._call_func(kwargs)
        if self.argv is not None:
            return await asyncio.to_thread(self._run_command, kwargs)
        return await asyncio.to_thread(self._call_func_sync, kwargs)

    def _check_callable(self) -> None:
        if not self.is_callable:
            raise ResourceError(
                f"tool {self.name!r} has no implementation: want ToolResource(..., func=callable) "
                "or ToolResource(..., command=[...]) to call it"
            )

    def _call_func_sync(self, kwargs: dict[str, Any]) -> Any:
        assert self.func is not None
        try:
            return self.func(**kwargs)
        except ResourceError:
            raise
        except Exception as exc:
            raise ResourceError(f"tool {self.name!r} failed: {type(exc).__name__}: {exc}") from exc

    async def _call_func(self, kwargs: dict[str, Any]) -> Any:
        assert self.func is not None
        try:
            return await self.func(**kwargs)
        except ResourceError:
            raise
        except Exception as exc:
            raise ResourceError(f"tool {self.name!r} failed: {type(exc).__name__}: {exc}") from exc

    def _run_command(self, kwargs: dict[str, Any]) -> str:
        assert self.argv is not None

        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in kwargs:
                raise ResourceError(f"tool {self.name!r}: command needs {{{key}}}, got no {key!r} argument")
            return str(kwargs[key])

        argv = [_PLACEHOLDER.sub(fill, arg) for arg in self.argv]
        env = {**os.environ, **self.env} if self.env is not None else None
        try:
            done = subprocess.run(
                argv,
                input=json.dumps(kwargs, default=str),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                cwd=self.cwd,
                env=env,
                check=False,
            )
        except FileNotFoundError:
            raise ResourceError(f"tool {self.name!r}: program {argv[0]!r} not found") from None
        except subprocess.TimeoutExpired:
            raise ResourceError(
                f"tool {self.name!r}: {argv[0]} ran past its {self.timeout}s timeout"
            ) from None
        if done.returncode != 0:
            tail = done.stderr.strip()[-500:] or "(no stderr)"
            raise ResourceError(f"tool {self.name!r}: {argv[0]} exited with {done.returncode}: {tail}")
        return done.stdout

    def __repr__(self) -> str:
        impl = "func" if self.func is not None else "command" if self.argv is not None else "no func/command"
        kind = f", tool_type={self.tool_type!r}" if self.tool_type else ""
        return f"ToolResource(name={self.name!r}{kind}, {impl})"


def _signature_schema(func: Callable[..., Any], tool: str) -> dict[str, Any]:
    """A parameters schema from a function's signature (pydantic does the type mapping)."""
    from pydantic import ConfigDict, create_model

    fields: dict[str, Any] = {}
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return {"type": "object"}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        annotation = Any if p.annotation is p.empty else p.annotation
        fields[p.name] = (annotation, ... if p.default is p.empty else p.default)
    try:
        model = create_model(f"{tool}_args", __config__=ConfigDict(arbitrary_types_allowed=True), **fields)
        schema = model.model_json_schema()
    except Exception:  # an annotation pydantic cannot describe: accept any object
        return {"type": "object"}
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


# ---- databases ----------------------------------------------------------------------------------
class DatabaseResource(Resource):
    """A database by connection string: ``sqlite:///path`` (stdlib) or ``postgresql://…`` (psycopg 3).

    Nothing connects until the first query, so a resource for an unreachable server can be
    registered. PostgreSQL connections come from a ``psycopg_pool.ConnectionPool``
    (``min_size``..``max_size``); SQLite uses one connection guarded by a lock (any thread).

    Values only travel as parameters: ``query(sql, params)`` / ``execute(sql, params)`` take the
    SQL text and its values separately, there is no way to format values into the SQL, and a
    statement is one statement (both drivers refuse several). Placeholders are ``?`` (positional,
    params a list) or ``:name`` (named, params a dict) on both backends; for PostgreSQL they are
    rewritten to psycopg's ``%s`` / ``%(name)s`` outside string literals, identifiers and comments.
    Rows come back as dicts. Each ``execute`` commits; ``transaction()`` groups statements.
    """

    kind = "database"
    dana_methods = frozenset({"query", "query_one", "execute", "executemany"})

    def __init__(
        self,
        name: str,
        description: str = "",
        connection_string: str = "",
        *,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 30.0,
    ):
        super().__init__(name, description)
        self.connection_string = connection_string
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout
        scheme = urlsplit(connection_string).scheme.lower()
        if scheme == "sqlite":
            self.backend = "sqlite"
            self.path = sqlite_path(connection_string)
        elif scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            self.backend = "postgresql"
            self.path = None
        else:
            raise ResourceError(
                f"database {name!r}: got connection string {redacted(connection_string)!r}, "
                "want sqlite:///path or postgresql://user:pass@host:port/db"
            )
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        self._pool: Any = None

    @property
    def url(self) -> str:
        """The connection string with its password masked (safe for logs and reprs)."""
        return redacted(self.connection_string)

    @property
    def connected(self) -> bool:
        return self._sqlite is not None or self._pool is not None

    # ---- public API ---------------------------------------------------------------------------
    def query(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        """Runs one statement and returns its rows as dicts."""
        with self._connection() as conn:
            return self._run(conn, sql, params, fetch=True)

    def query_one(self, sql: str, params: Params = None) -> dict[str, Any] | None:
        """The first row of ``query``, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Params = None) -> int:
        """Runs one statement, commits, and returns the number of rows it changed."""
        with self._connection() as conn:
            return self._run(conn, sql, params, fetch=False)

    def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any] | Mapping[str, Any]]) -> int:
        """Runs one statement per parameter set, in one transaction; returns the rows changed."""
        with self.transaction() as tx:
            return sum(tx.execute(sql, params) for params in seq_of_params)

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        """Groups statements: committed when the block ends, rolled back when it raises."""
        with self._connection() as conn:
            if self.backend == "sqlite":
                conn.execute("BEGIN")
                try:
                    yield _Transaction(self, conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction():
                    yield _Transaction(self, conn)

    async def aquery(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        """The async twin of ``query`` (the driver call runs in a worker thread)."""
        return await asyncio.to_thread(self.query, sql, params)

    async def aexecute(self, sql: str, params: Params = None) -> int:
        """The async twin of ``execute``."""
        return await asyncio.to_thread(self.execute, sql, params)

    def close(self) -> None:
        """Closes the SQLite connection or the PostgreSQL pool; idempotent."""
        with self._lock:
            self.closed = True
            conn, self._sqlite = self._sqlite, None
            pool, self._pool = self._pool, None
        if conn is not None:
            conn.close()
        if pool is not None:
            pool.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "connected" if self.connected else "not connected"
        return f"DatabaseResource(name={self.name!r}, url={self.url!r}, {state})"

    # ---- internals ----------------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[Any]:
        self._check_open()
        if self.backend == "sqlite":
            with self._lock:
                if self._sqlite is None:
                    self._sqlite = self._open_sqlite()
                yield self._sqlite
            return
        pool = self._open_pool()
        try:
            with pool.connection(timeout=self.timeout) as conn:
                yield conn
        except ResourceError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith(("psycopg", "psycopg_pool")):
                raise ResourceError(f"database {self.name!r} ({self.url}): {exc}") from exc
            raise

    def _open_sqlite(self) -> sqlite3.Connection:
        assert self.path is not None
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise ResourceError(f"database {self.name!r}: cannot open {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        # The resource grants this one database file: ATTACH would open (or create) any other.
        conn.set_authorizer(_refuse_attach)
        return conn

    def _open_pool(self) -> Any:
        with self._lock:
            if self._pool is not None:
                return self._pool
            try:
                from psycopg.rows import dict_row
                from psycopg_pool import ConnectionPool
            except ImportError:
                raise ResourceError(
                    f"database {self.name!r}: PostgreSQL needs psycopg 3: "
                    "want `pip install 'danaflow[postgres]'`"
                ) from None
            conninfo = self.connection_string.replace("postgresql+psycopg://", "postgresql://", 1)
            pool = ConnectionPool(
                conninfo,
                min_size=self.min_size,
                max_size=self.max_size,
                kwargs={"row_factory": dict_row, "connect_timeout": max(1, int(self.timeout))},
                open=False,
                name=f"danaflow-{self.name}",
            )
            try:
                pool.open(wait=True, timeout=self.timeout)
            except Exception as exc:
                pool.close()
                raise ResourceError(f"database {self.name!r}: cannot connect to {self.url}: {exc}") from exc
            self._pool = pool
            return pool

    def _run(self, conn: Any, sql: str, params: Any, *, fetch: bool) -> Any:
        if not isinstance(sql, str):
            raise ResourceError(f"database {self.name!r}: got SQL of type {type(sql).__name__}, want str")
        if isinstance(params, (str, bytes)):
            raise ResourceError(
                f"database {self.name!r}: got params as a {type(params).__name__}, want a list or a dict "
                "(values go in params, never into the SQL text)"
            )
        if params is not None and not isinstance(params, (Sequence, Mapping)):
            raise ResourceError(
                f"database {self.name!r}: got params of type {type(params).__name__}, want a list or a dict"
            )
        if self.backend == "sqlite":
            try:
                cur = conn.execute(sql, params if params is not None else ())
                rows = [dict(r) for r in cur.fetchall()] if fetch else cur.rowcount
                cur.close()
                return rows
            except sqlite3.Error as exc:
                raise ResourceError(f"database {self.name!r}: {exc} (in: {short_sql(sql)})") from exc
        import psycopg

        text = to_psycopg(sql, params) if params is not None else sql
        try:
            cur = conn.execute(text, params)
            if fetch:
                return [dict(r) for r in cur.fetchall()] if cur.description is not None else []
            return cur.rowcount
        except psycopg.Error as exc:
            raise ResourceError(f"database {self.name!r}: {exc} (in: {short_sql(sql)})") from exc


_REFUSED_PRAGMAS = frozenset({"temp_store_directory", "data_store_directory"})
"""Pragmas that point SQLite at another directory of the host's file system."""


def _refuse_attach(action: int, arg1: Any = None, *args: Any) -> int:
    """The authorizer of SQLite databases: no ATTACH/DETACH (other files), no directory pragmas."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and str(arg1).lower() in _REFUSED_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class _Transaction:
    """The handle ``DatabaseResource.transaction()`` yields: query/execute on one connection."""

    def __init__(self, db: DatabaseResource, conn: Any):
        self._db = db
        self._conn = conn

    def query(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        return self._db._run(self._conn, sql, params, fetch=True)

    def execute(self, sql: str, params: Params = None) -> int:
        return self._db._run(self._conn, sql, params, fetch=False)
