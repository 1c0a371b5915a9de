"""Plain-text rendering for the run commands: the runs table, the component tree, one component in
full, and a run's outcome.

Kept apart from ``cli_commands`` (which parses arguments and drives runs) and written without Rich:
what is printed here is mostly text a model or a tool wrote, so it goes through ``clean()`` (no
terminal escape sequences, no markup to interpret), and ``runs list`` stays cheap to start. Widths
are explicit so a run id is never cut: the other columns give way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import ComponentRecord, RunRecord

__all__ = [
    "MARKS",
    "clean",
    "error_text",
    "fmt_duration",
    "fmt_time",
    "format_table",
    "leaf_failures",
    "outcome_text",
    "render_component",
    "render_run",
    "shorten",
    "truncate",
]

MARKS = {
    "completed": "✓",
    "failed": "✗",
    "skipped": "-",
    "waiting_input": "⏸",
    "running": "…",
    "interrupted": "!",
    "pending": "·",
}

# C0/C1 controls except tab and newline, DEL, and the bidirectional overrides: text from a model
# or a tool must not move the cursor, recolour the terminal or reorder what the user reads.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), safe to print on a terminal."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else
                       f"\\u{ord(m.group()):04x}", text)  # fmt: skip


def fmt_time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def shorten(text: str, width: int) -> str:
    """The first line of ``text``, cut to ``width`` characters with an ellipsis."""
    lines = text.strip().splitlines() or [""]
    first = lines[0]
    if len(lines) > 1:
        first += " …"
    if len(first) <= width:
        return first
    return first[: max(width - 1, 0)] + "…"


def truncate(text: str, max_lines: int = 20, max_chars: int = 2000) -> tuple[str, int]:
    """``text`` cut to ``max_lines`` lines and ``max_chars`` characters; returns (text, lines cut)."""
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines[:max_lines]:
        if size + len(line) > max_chars:
            kept.append(line[: max(max_chars - size, 0)] + "…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept), len(lines) - len(kept)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def outcome_text(result: dict[str, Any] | None) -> str | None:
    """What a component produced, as text: its structured value as JSON when that is a container,
    else its text, else its structured scalar; None when it produced nothing."""
    outcome = (result or {}).get("outcome") or {}
    structured = outcome.get("structured")
    text = outcome.get("text")
    if isinstance(structured, dict | list) and structured:
        return _json(structured)
    if text is not None and text != "":
        return str(text)
    if structured is not None and structured != [] and structured != {}:
        return structured if isinstance(structured, str) else _json(structured)
    return None


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None, keep: Sequence[int] = (0,)
) -> str:
    """Columns padded to their widest cell. When ``width`` is set and the table is wider, columns not
    in ``keep`` shrink (widest first, never below their header) and their cells end in ``…``; the
    ``keep`` columns are never cut, even if the line must then exceed ``width``."""
    cols = len(headers)
    widths = [max([len(headers[i])] + [len(r[i]) for r in rows]) for i in range(cols)]
    gap = 2
    if width is not None:
        excess = sum(widths) + gap * (cols - 1) - width
        floor = [len(h) if i not in keep else widths[i] for i, h in enumerate(headers)]
        while excess > 0:
            shrinkable = [i for i in range(cols) if i not in keep and widths[i] > max(floor[i], 1)]
            if not shrinkable:
                break
            i = max(shrinkable, key=lambda j: widths[j])
            widths[i] -= 1
            excess -= 1

    def cell(text: str, w: int) -> str:
        return text if len(text) <= w else text[: max(w - 1, 0)] + "…"

    lines = []
    for row in [list(headers), *rows]:
        parts = [cell(str(row[i]), widths[i]).ljust(widths[i]) for i in range(cols)]
        lines.append((" " * gap).join(parts).rstrip())
    return "\n".join(lines)


def _parse(record: ComponentRecord) -> dict[str, Any] | None:
    if record.result is None:
        return None
    try:
        data = json.loads(record.result)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


# danaflow's own errors say what they are in their message; a Python exception's type is news.
_OWN_ERRORS = frozenset(
    {
        "ComponentError", "ConfigurationError", "DanaNameError", "DanaRuntimeError", "DanaSyntaxError",
        "DanaflowError", "EventHandlerError", "FlowDefinitionError", "LLMError", "NodeFailedError",
        "ReasonError", "ResourceError", "ResourceLimitError", "RunError", "SandboxError", "TemplateError",
    }
)  # fmt: skip


def error_text(record: ComponentRecord) -> str:
    """A failed component's whole error, led by its Python type when that is not one of ours
    (``ValueError: …``; an LLMError's message already says what failed)."""
    message = record.error or "failed"
    error = (_parse(record) or {}).get("error") or {}
    kind = error.get("type")
    if kind and kind not in _OWN_ERRORS and not message.startswith(kind):
        return f"{kind}: {message}"
    return message


def _parent(path: str) -> str | None:
    return path.rsplit(".", 1)[0] if "." in path else None


def leaf_failures(components: Sequence[ComponentRecord]) -> list[ComponentRecord]:
    """The failed components with no failed descendant: where a failure happened, rather than the
    composites it failed on its way up (whose errors only repeat it)."""
    failed = [c for c in components if c.status == "failed"]
    inner = {p for c in failed for p in _ancestors(c.path)}
    return [c for c in failed if c.path not in inner]


def _ancestors(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def render_run(
    record: RunRecord, status: str, components: Sequence[ComponentRecord], width: int | None = None
) -> str:
    """A run's header and its component tree: status, duration, tokens and a line of output for
    each component, and the whole error where a failure happened."""
    width = width or 100
    leaves = {c.path for c in leaf_failures(components)}
    nodes = [c for c in components if c.kind == "node"]
    prompt = sum(c.prompt_tokens for c in nodes if not c.reused)
    completion = sum(c.completion_tokens for c in nodes if not c.reused)
    out = [f"run      {record.run_id}", f"root     {record.root_component_id}", f"status   {status}"]
    created = f"created  {fmt_time(record.created_at)}"
    if record.updated_at and record.created_at and status not in ("running", "interrupted"):
        created += f"   took {fmt_duration(record.updated_at - record.created_at)}"
    out.append(created)
    if record.run_dir:
        out.append(f"dir      {clean(record.run_dir)}")
    if prompt or completion:
        out.append(f"tokens   {prompt + completion} ({prompt} prompt + {completion} completion)")
    if record.previous_run_id:
        at = f" from {record.start_path}" if record.start_path else " (what did not complete)"
        out.append(f"resumes  {record.previous_run_id}{at}")
    out.append(f"code     {record.code_fingerprint or '-'}   inputs {record.inputs_hash or '-'}")
    error = (record.meta or {}).get("error")
    if not components:
        if status == "failed":
            why = clean(str(error)) if error else "no error was recorded (see logs.jsonl in the run dir)"
            out.append(f"\nfailed before any component ran: {why}")
        else:
            out.append("\nno components recorded")
        return "\n".join(out)
    out.append("")
    by_parent: dict[str | None, list[ComponentRecord]] = {}
    known = {c.path for c in components}
    for c in components:
        parent = _parent(c.path)
        by_parent.setdefault(parent if parent in known else None, []).append(c)

    def walk(parent: str | None, prefix: str) -> None:
        children = sorted(by_parent.get(parent, []), key=lambda c: c.seq)
        for n, c in enumerate(children):
            last = n == len(children) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            below = prefix + ("" if parent is None else ("   " if last else "│  "))
            name = c.path if parent is None else c.path.rsplit(".", 1)[-1]
            label = f"{MARKS.get(c.status, '?')} {name}  {c.status}  {fmt_duration(c.duration_s)}"
            tokens = c.prompt_tokens + c.completion_tokens
            if tokens and c.kind == "node":
                label += f"  {tokens} tokens"
            if c.reused:
                label += "  (reused)"
            if c.attempt > 1:
                label += f"  (attempt {c.attempt})"
            data = _parse(c) if c.status == "completed" else None
            if data is not None and data.get("cached"):
                label += f"  (cached from {clean(str(data.get('cached_from')))})"
            text = outcome_text(data) if data is not None else None
            if text is not None:
                room = width - len(prefix) - len(branch) - len(label) - 4
                label += f"  → {shorten(clean(text), max(room, 20))}"
            out.append(prefix + branch + label)
            if c.status == "failed" and c.error:
                pad = below + ("│  " if by_parent.get(c.path) else "   ")
                if c.path in leaves:
                    for line in clean(error_text(c)).splitlines() or [""]:
                        out.append(f"{pad}{line}")
                else:
                    failed = [
                        x.path.rsplit(".", 1)[-1] for x in by_parent.get(c.path, []) if x.status == "failed"
                    ]
                    out.append(f"{pad}(failed in {', '.join(failed) or 'a child'})")
            walk(c.path, below)

    walk(None, "")
    return "\n".join(out)


def render_component(record: ComponentRecord) -> str:
    """One component in full: every field of its stored result, nothing truncated."""
    data = _parse(record) or {}
    kind = record.kind or data.get("executable_type") or "component"
    node_type = data.get("node_type")
    out = [f"component  {record.path}  ({kind}{', ' + node_type if node_type else ''})"]
    out.append(
        f"status     {record.status}   attempt {record.attempt}   reused {'yes' if record.reused else 'no'}"
    )
    out.append(
        f"time       {fmt_time(record.started_at)} → {fmt_time(record.finished_at)}"
        f"   ({fmt_duration(record.duration_s)})"
    )
    if record.prompt_tokens or record.completion_tokens:
        out.append(f"tokens     {record.prompt_tokens} prompt + {record.completion_tokens} completion")
    if data.get("cached"):
        out.append(f"cached     from run {clean(str(data.get('cached_from')))}")

    def section(title: str, value: Any) -> None:
        if value is None or value == {} or value == []:
            return
        text = value if isinstance(value, str) else _json(value)
        out.append(f"{title}:")
        out.extend(f"  {line}" for line in clean(text).splitlines())

    section("input", data.get("input"))
    section("output", data.get("output"))
    outcome = dict(data.get("outcome") or {})
    if outcome.get("text") is not None:
        section("outcome.text", outcome.pop("text"))
    else:
        outcome.pop("text", None)
    if outcome.get("structured") is not None:
        section("outcome.structured", outcome.pop("structured"))
    else:
        outcome.pop("structured", None)
    extra = {k: v for k, v in outcome.items() if v is not None}
    section("outcome (other fields)", extra or None)
    error = data.get("error")
    if error or record.error:
        error = error or {}
        where = " ".join(x for x in (error.get("path"), error.get("location")) if x)
        out.append(f"error:     {error.get('type', 'error')}" + (f" at {where}" if where else ""))
        out.extend(f"  {line}" for line in clean(error.get("message") or record.error or "").splitlines())
        section("traceback", error.get("traceback"))
    return "\n".join(out)
