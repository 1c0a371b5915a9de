"""Scanning inside f-strings: where a ``{field}`` ends and where its expression ends.

Plain functions over text, so the parser's f-string splitting stays readable; they skip nested
brackets and string literals, and know that ``{private:name}`` is a scoped name, not a format spec.
"""

from __future__ import annotations

import re

__all__ = ["match_brace", "top_level_split"]

_SCOPE_PREFIX = re.compile(r"(local|private|public|system):(?!:)[A-Za-z_]")


def _after_string(text: str, start: int) -> int:
    """The index just past the string literal whose quote is text[start] (backslashes escape)."""
    quote, j, n = text[start], start + 1, len(text)
    while j < n and text[j] != quote:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def match_brace(text: str, start: int) -> int:
    """Index of the '}' closing text[start] == '{', skipping nested brackets and string literals."""
    depth, i, n = 0, start, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            i = _after_string(text, i)
            continue
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
            if depth == 0:
                return i if ch == "}" else -1
        i += 1
    return -1


def top_level_split(inner: str) -> int:
    """Where an f-string field's expression ends: the first top-level '!' or ':' not part of the
    expression (so ``{private:name}``, ``{a != b}`` and ``{x[1:2]}`` stay whole)."""
    depth, i, n = 0, 0, len(inner)
    while i < n:
        ch = inner[i]
        if ch in "'\"":
            i = _after_string(inner, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            if ch == "!" and inner[i + 1 : i + 2] != "=":
                return i
            if ch == ":":
                m = _SCOPE_PREFIX.match(inner, max(0, _word_start(inner, i)))
                if m and m.end() == i + 2:
                    i += 1
                    continue
                return i
        i += 1
    return n


def _word_start(text: str, end: int) -> int:
    j = end
    while j > 0 and (text[j - 1].isalnum() or text[j - 1] == "_"):
        j -= 1
    return j
