"""Fixtures for the run store tests: a PostgreSQL schema of their own on the local server.

Each test that asks for ``pg_url`` gets a fresh schema (random name) in the ``test`` database and
the schema is dropped afterwards, so parallel test sessions never see each other's runs. Without a
reachable server (``$DANAFLOW_TEST_POSTGRES``, else 127.0.0.1:5432 as the current user or
``postgres``) those tests skip, saying why.
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Iterator

import pytest


def _server_url() -> tuple[str | None, str]:
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed (pip install 'danaflow[postgres]')"
    configured = os.environ.get("DANAFLOW_TEST_POSTGRES")
    candidates = [configured] if configured else [
        f"postgresql://{user}@127.0.0.1:5432/test" for user in (getpass.getuser(), "postgres")
    ]  # fmt: skip
    problems = []
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return url, ""
        except psycopg.Error as exc:
            problems.append(f"{url}: {str(exc).strip().splitlines()[0]}")
    return None, "no PostgreSQL reachable (" + "; ".join(problems) + ")"


@pytest.fixture(scope="session")
def pg_server() -> str:
    url, reason = _server_url()
    if url is None:
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_url(pg_server) -> Iterator[str]:
    """A store URL naming a schema of this test's own; the schema is dropped after the test."""
    import psycopg
    from psycopg import sql

    schema = f"danaflow_test_{os.getpid()}_{secrets.token_hex(4)}"
    separator = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{separator}schema={schema}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
