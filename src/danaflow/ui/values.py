"""Hostile values as HTML: escaped text with "show more", and JSON as a collapsible tree.

Everything here may come from a model, a template or a tool (``<script>``, ``javascript:`` URLs,
megabytes of text), so nothing is ever emitted unescaped and nothing becomes a link or an
attribute other than our own URLs. Long strings and long containers are cut; the cut part is one
"show more" request away, addressed by a JSON pointer into the component's stored result, so the
server never needs to keep page state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

__all__ = ["PointerError", "json_text", "resolve_pointer", "text_block", "value_tree"]

TEXT_LIMIT = 2000
"""Characters of a string shown before "show more"."""
FULL_LIMIT = 1_000_000
"""Characters "show more" renders; past that the value is a download."""
ITEMS_LIMIT = 100
DEPTH_LIMIT = 12

MoreLink = Callable[[str], str]
"""A JSON pointer → the URL that renders the value there in full."""


class PointerError(LookupError):
    """A JSON pointer that names nothing in the document."""


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """The value at an RFC 6901 pointer (``/outcome/structured/items/0``)."""
    if pointer == "":
        return doc
    if not pointer.startswith("/"):
        raise PointerError(f"bad pointer {pointer!r}: want '' or one starting with '/'")
    current = doc
    for raw in pointer[1:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            raise PointerError(f"pointer {pointer!r} names nothing at {key!r}")
    return current


def _child(pointer: str, key: str | int) -> str:
    return f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"


def json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def text_block(text: str, pointer: str | None, more: MoreLink | None, *, limit: int = TEXT_LIMIT) -> Markup:
    """``<pre>`` of escaped text, cut at ``limit`` with a "show more" button when ``more`` is given."""
    if len(text) <= limit:
        return Markup('<pre class="text">{}</pre>').format(text)
    shown = text[:limit]
    rest = len(text) - limit
    if more is None or pointer is None:
        return Markup(
            '<pre class="text">{}</pre><p class="muted">… {} more characters not shown.</p>'
        ).format(shown, f"{rest:,}")
    return Markup(
        '<div class="value"><pre class="text">{}</pre>'
        '<button type="button" class="more" hx-get="{}" hx-target="closest .value" hx-swap="outerHTML">'
        "show more ({} more characters)</button></div>"
    ).format(shown, more(pointer), f"{rest:,}")


def value_tree(
    value: Any,
    pointer: str = "",
    more: MoreLink | None = None,
    *,
    limit: int = TEXT_LIMIT,
    items: int = ITEMS_LIMIT,
    depth: int = 0,
) -> Markup:
    """A JSON value as nested ``<details>``: objects and lists open for the first two levels."""
    if isinstance(value, str):
        if "\n" in value or len(value) > 80:
            return text_block(value, pointer, more, limit=limit)
        return Markup('<span class="v-str">{}</span>').format(json.dumps(value, ensure_ascii=False))
    if value is None or isinstance(value, bool | int | float):
        cls = "v-null" if value is None else "v-bool" if isinstance(value, bool) else "v-num"
        return Markup('<span class="{}">{}</span>').format(cls, json.dumps(value))
    if not isinstance(value, dict | list):
        return text_block(str(value), pointer, more, limit=limit)
    if depth >= DEPTH_LIMIT:
        return text_block(json_text(value), pointer, more, limit=limit)
    entries = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    if not entries:
        return Markup('<span class="v-empty">{}</span>').format("{}" if isinstance(value, dict) else "[]")
    n = len(entries)
    label = f"{{{n} key{'s' * (n != 1)}}}" if isinstance(value, dict) else f"[{n} item{'s' * (n != 1)}]"
    parts = [Markup('<details class="tree"{}><summary>{}</summary><ul>').format(
        Markup(" open") if depth < 2 else Markup(""), label
    )]  # fmt: skip
    for key, item in entries[:items]:
        inner = value_tree(item, _child(pointer, key), more, limit=limit, items=items, depth=depth + 1)
        parts.append(Markup('<li><span class="k">{}</span>: {}</li>').format(key, inner))
    if len(entries) > items:
        rest = len(entries) - items
        if more is not None:
            parts.append(
                Markup(
                    '<li class="value"><button type="button" class="more" hx-get="{}" '
                    'hx-target="closest details" hx-swap="outerHTML">show {} more</button></li>'
                ).format(more(pointer), rest)
            )
        else:
            parts.append(Markup('<li class="muted">… {} more</li>').format(rest))
    parts.append(Markup("</ul></details>"))
    return Markup("").join(parts)
