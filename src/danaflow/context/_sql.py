"""SQL text helpers for DatabaseResource: connection-string parsing and masking, placeholder rewriting.

DatabaseResource offers one placeholder style (``?`` / ``:name``) on both backends; psycopg wants
``%s`` / ``%(name)s`` and a doubled literal ``%``, so the SQL text is rewritten with a small scanner
that respects string literals, quoted identifiers, comments and ``::`` casts. Nothing here
touches a database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from danaflow.errors import ResourceError

__all__ = ["redacted", "short_sql", "sqlite_path", "to_psycopg"]


def sqlite_path(connection_string: str) -> str:
    """``sqlite:///rel.db`` is relative, ``sqlite:////abs.db`` absolute, ``sqlite:///:memory:``
    (or ``sqlite://``) in memory — SQLAlchemy's convention."""
    rest = connection_string.split(":", 1)[1]
    if rest in ("", "//", "///", "///:memory:", "//:memory:"):
        return ":memory:"
    if not rest.startswith("///"):
        raise ResourceError(
            f"got {connection_string!r}, want sqlite:///relative/path or sqlite:////absolute/path"
        )
    return rest[3:]


def redacted(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable connection string>"
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def short_sql(sql: str) -> str:
    one = " ".join(sql.split())
    return one if len(one) <= 120 else one[:117] + "..."


_NAMED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def to_psycopg(sql: str, params: Any) -> str:
    """Rewrites ``?`` / ``:name`` placeholders to psycopg's ``%s`` / ``%(name)s`` and doubles
    literal ``%``; quoted strings, quoted identifiers, comments and ``::`` casts are left alone."""
    out: list[str] = []
    i, n = 0, len(sql)
    styles: set[str] = set()
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:  # '' escapes a quote
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == "?":
            styles.add("?")
            out.append("%s")
            i += 1
        elif c == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and (m := _NAMED.match(sql, i + 1)):
            styles.add(":name")
            out.append(f"%({m.group(0)})s")
            i = m.end()
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    if len(styles) > 1:
        raise ResourceError(f"got both ? and :name placeholders in {short_sql(sql)!r}, want one style")
    if "?" in styles and isinstance(params, Mapping):
        raise ResourceError(f"got ? placeholders with a dict of params in {short_sql(sql)!r}, want a list")
    if ":name" in styles and not isinstance(params, Mapping):
        raise ResourceError(
            f"got :name placeholders with a list of params in {short_sql(sql)!r}, want a dict"
        )
    return "".join(out)
