"""Scans template text into literal text and ``$var{}``, ``$expr{}``, ``$hier{}`` references.

Scanning is separate from resolving so definitions can be validated (which components does a
template reference?) without a context, and so each template is scanned once (results are cached).
Inside ``$expr{…}`` braces balance and string literals are skipped whole, so ``}`` in
``"a}b"`` or in a dict literal never ends the expression; nested ``$var{}``/``$hier{}`` become
parts of the expression. ``$var{}``/``$hier{}`` bodies are paths, parsed strictly by ``paths``.
``$$`` is a literal ``$``; a ``$`` not followed by a reference is literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .paths import Path, PathError, describe, parse_path

__all__ = ["REF_KINDS", "Ref", "ScanError", "Text", "hier_refs", "scan"]

REF_KINDS = ("var", "expr", "hier")
_HEAD = re.compile(r"\$([A-Za-z_]\w*)\{")


class ScanError(Exception):
    """A malformed template; ``offset`` is where (0-based) in the template text."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text (``$$`` already turned into ``$``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Ref:
    """One ``$kind{body}`` reference.

    For ``expr``, ``parts`` splits the body into source text and nested var/hier Refs; for
    ``var``/``hier``, ``target`` is the parsed path.
    """

    kind: str
    body: str
    offset: int
    """Where the ``$`` is in the template text (0-based)."""
    body_offset: int
    parts: tuple[str | Ref, ...] = ()
    target: Path | None = None

    @property
    def source(self) -> str:
        return f"${self.kind}{{{self.body}}}"

    def path(self) -> tuple[list[str], str]:
        """For var/hier: the leading dotted names and the rest as path text (``[0].x`` or '')."""
        if self.target is None:
            return [], self.body
        names = self.target.names()
        return names, describe(self.target.steps[len(names) :])


Segment = Text | Ref


@lru_cache(maxsize=2048)
def scan(template: str) -> tuple[Segment, ...]:
    """Splits ``template`` into segments; raises ScanError on an unterminated or unknown reference."""
    out: list[Segment] = []
    buf: list[str] = []
    i, n = 0, len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            buf.append(template[i:])
            break
        buf.append(template[i:j])
        if template.startswith("$$", j):
            buf.append("$")
            i = j + 2
            continue
        m = _HEAD.match(template, j)
        if m is None:
            buf.append("$")
            i = j + 1
            continue
        if text := "".join(buf):
            out.append(Text(text))
        buf = []
        ref, i = _scan_ref(template, j, m, nested=False)
        out.append(ref)
    if buf and (text := "".join(buf)):
        out.append(Text(text))
    return tuple(out)


def _scan_ref(template: str, start: int, m: re.Match[str], *, nested: bool) -> tuple[Ref, int]:
    kind = m.group(1)
    if kind not in REF_KINDS:
        raise ScanError(
            f"unknown reference ${kind}{{: want $var{{}}, $expr{{}} or $hier{{}} (write $$ for $)", start
        )
    body_start = m.end()
    if kind == "expr":
        if nested:
            raise ScanError("$expr{} cannot nest inside $expr{}: write the expression directly", start)
        parts, end = _scan_expr(template, body_start, start)
        return Ref(kind, template[body_start:end], start, body_start, tuple(parts)), end + 1
    try:
        target, end = parse_path(template, body_start, kind=kind, ref_start=start)
    except PathError as exc:
        raise ScanError(exc.message, exc.offset) from None
    return Ref(kind, template[body_start:end], start, body_start, target=target), end + 1


def _scan_expr(template: str, i: int, start: int) -> tuple[list[str | Ref], int]:
    """Scans an expression body from ``i``; returns its parts and the index of its closing brace."""
    parts: list[str | Ref] = []
    seg_start = i
    depth = 1
    n = len(template)
    while i < n:
        c = template[i]
        if c in "'\"":
            i = _skip_string(template, i, start)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if i > seg_start:
                    parts.append(template[seg_start:i])
                return parts, i
        elif c == "$":
            m = _HEAD.match(template, i)
            if m is not None:
                if i > seg_start:
                    parts.append(template[seg_start:i])
                ref, i = _scan_ref(template, i, m, nested=True)
                parts.append(ref)
                seg_start = i
                continue
        i += 1
    raise ScanError("unterminated $expr{: want a closing '}' (braces must balance)", start)


def _skip_string(template: str, i: int, start: int) -> int:
    quote = template[i]
    if template.startswith(quote * 3, i):
        end = template.find(quote * 3, i + 3)
        if end < 0:
            raise ScanError("unterminated string literal in $expr{}", start)
        return end + 3
    i += 1
    n = len(template)
    while i < n:
        c = template[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i + 1
        if c == "\n":
            break
        i += 1
    raise ScanError("unterminated string literal in $expr{}", start)


def hier_refs(template: str) -> list[Ref]:
    """Every ``$hier{}`` reference in the template, including those nested in ``$expr{}``."""
    found: list[Ref] = []
    for seg in scan(template):
        if isinstance(seg, Ref):
            if seg.kind == "hier":
                found.append(seg)
            found.extend(p for p in seg.parts if isinstance(p, Ref) and p.kind == "hier")
    return found
