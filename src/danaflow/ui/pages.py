"""What each page shows: the data a template renders, gathered from the RunReader.

Kept apart from ``app.py`` (HTTP: routes, forms, redirects) so a page's content can be built and
tested without a server, and so the routes stay one screen each. Values from results are parsed
with ``json.loads`` into plain data, never into our pydantic models: the viewer shows what was
stored, even from an older or newer danaflow.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup

from danaflow.runs.store import ComponentRecord, RunRecord

from .compare import ComponentDiff, compare_components
from .definitions import Definitions, element_at, input_schema
from .forms import InputField, fields_for
from .reader import Artifact, RunReader, RunSummary
from .svg import graph_svg, waterfall_svg
from .tree import TreeNode, apply_collapse, component_tree, graph_from_definition, graph_from_tree
from .values import TEXT_LIMIT, text_block, value_tree

__all__ = [
    "PAGE_SIZE",
    "STATUSES",
    "ComponentPage",
    "RunPage",
    "RunsListing",
    "Urls",
    "WaitingInput",
    "compare_page",
    "component_page",
    "run_page",
    "runs_listing",
]

PAGE_SIZE = 50
STATUSES = ("running", "waiting_input", "completed", "failed", "interrupted")
_MAX_TOGGLES = 200


class Urls:
    """Every URL the pages link to, each part quoted (ids are the user's, values never are)."""

    @staticmethod
    def run(run_id: str, toggles: frozenset[str] = frozenset()) -> str:
        base = "/runs/" + quote(run_id, safe="")
        if toggles:
            return base + "?" + urlencode([("toggle", t) for t in sorted(toggles)])
        return base

    @staticmethod
    def run_live(run_id: str, toggles: frozenset[str] = frozenset()) -> str:
        url = Urls.run(run_id, toggles)
        base, sep, query = url.partition("?")
        return f"{base}/live{sep}{query}"

    @staticmethod
    def component(run_id: str, path: str) -> str:
        return f"/runs/{quote(run_id, safe='')}/c/{quote(path, safe='')}"

    @staticmethod
    def value(run_id: str, path: str, pointer: str, *, raw: bool = False) -> str:
        query = [("ptr", pointer)] + ([("raw", "1")] if raw else [])
        return Urls.component(run_id, path) + "/value?" + urlencode(query)

    @staticmethod
    def artifact(run_id: str, path: str, name: str, *, view: bool = False) -> str:
        url = Urls.component(run_id, path) + "/artifacts/" + quote(name, safe="")
        return url + ("?view=1" if view else "")

    @staticmethod
    def compare(a: str, b: str | None = None) -> str:
        return "/compare?" + urlencode([("a", a)] + ([("b", b)] if b else []))


# ---- runs -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunsListing:
    rows: list[RunSummary]
    page: int
    has_next: bool
    status: str
    query: str
    scanned: int
    """How many runs the filter looked at."""

    def page_url(self, page: int) -> str:
        params = [(k, v) for k, v in (("status", self.status), ("q", self.query)) if v]
        return "/?" + urlencode([*params, ("page", str(page))])

    @property
    def table_url(self) -> str:
        params = [(k, v) for k, v in (("status", self.status), ("q", self.query)) if v]
        return "/runs-table?" + urlencode([*params, ("page", str(self.page))])


def _haystack(record: RunRecord) -> str:
    """The text a filter searches, lowercased in one string (one ``in`` per run)."""
    parts = (record.run_id, record.root_component_id, record.previous_run_id or "", record.start_path or "",
             str(record.meta.get("target", "")))  # fmt: skip
    return "\n".join(parts).lower()


def runs_listing(reader: RunReader, *, status: str = "", query: str = "", page: int = 1) -> RunsListing:
    """A page of runs, newest first; filters scan the whole store (the RunStore API has no filter)."""
    status = status if status in STATUSES else ""
    query = query.strip()[:200]
    page = max(1, page)
    start = (page - 1) * PAGE_SIZE
    if not status and not query:
        records = reader.store.list_runs(limit=start + PAGE_SIZE + 1)
        scanned = len(records)
        window = records[start : start + PAGE_SIZE + 1]
        rows = reader.summaries(window[:PAGE_SIZE])
        return RunsListing(rows, page, len(window) > PAGE_SIZE, status, query, scanned)
    needle = query.lower()
    records = reader.store.list_runs()
    picked = [r for r in records if needle in _haystack(r)] if needle else records
    if status:
        # The stored status decides, except that a dead "running" run reads "interrupted".
        kept = []
        for r in picked:
            if status in ("running", "interrupted"):
                if r.status == "running" and reader.summaries([r])[0].status == status:
                    kept.append(r)
            elif r.status == status:
                kept.append(r)
        picked = kept
    window = picked[start : start + PAGE_SIZE + 1]
    return RunsListing(
        reader.summaries(window[:PAGE_SIZE]), page, len(window) > PAGE_SIZE, status, query, len(records)
    )


# ---- one run ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WaitingInput:
    path: str
    fields: list[InputField]
    description: str | None
    validator: Any = None


@dataclass(slots=True)
class RunPage:
    summary: RunSummary
    components: list[ComponentRecord]
    tree: list[TreeNode]
    graph: Markup | None
    graph_note: str | None
    timeline: Markup
    waiting: list[WaitingInput]
    can_resume: bool
    resume_note: str | None
    siblings: list[RunRecord]
    """Other runs of the same root, for Compare."""
    cached: set[str] = field(default_factory=set)
    """Paths with an LLM call answered from the cache."""
    toggles: frozenset[str] = frozenset()

    @property
    def record(self) -> RunRecord:
        return self.summary.record


def _resumable(record: RunRecord) -> tuple[bool, str | None]:
    if record.meta.get("target_kind") != "python" or not record.meta.get("target"):
        return False, "started from Python (no module.py:flow target recorded): resume it from Python"
    return True, None


def run_page(
    reader: RunReader, definitions: Definitions, run_id: str, toggles: list[str] | None = None
) -> RunPage:
    record = reader.run(run_id)
    summary = reader.summaries([record])[0]
    components = reader.components(run_id)
    by_path = {c.path: c for c in components}
    tree = component_tree(components)
    loaded = definitions.for_run(record)
    toggle_set = frozenset(t for t in (toggles or [])[:_MAX_TOGGLES] if len(t) <= 500)
    graph = None
    note = loaded.reason
    if loaded.definition is not None:
        graph = graph_from_definition(loaded.definition, record.root_component_id, by_path)
        known = {n.path for n in graph.walk()}
        extra = [p for p in by_path if p not in known]
        if extra:
            note = f"{len(extra)} stored component(s) are not in the current definition (the code changed)"
    elif tree:
        graph = graph_from_tree(tree[0])
        note = (note or "") + " — drawn from the stored components, in start order"
    graph_markup = None
    if graph is not None:
        apply_collapse(graph, set(toggle_set))
        titles = {c.path: c.error.splitlines()[0][:300] for c in components if c.error}
        graph_markup = graph_svg(
            graph,
            lambda p: Urls.component(run_id, p),
            lambda p: Urls.run(run_id, toggle_set ^ {p}),
            titles,
        )
    spans = reader.spans(run_id)
    cached = {s.path for s in spans if s.kind == "llm" and s.path and s.attributes.get("danaflow.llm.cached")}
    timeline = waterfall_svg(spans, by_path, lambda p: Urls.component(run_id, p))
    waiting = []
    for c in components:
        if c.status == "waiting_input" and c.kind == "node":
            element = (
                element_at(loaded.definition, record.root_component_id, c.path) if loaded.definition else None
            )
            schema, validator, description = input_schema(element)
            waiting.append(WaitingInput(c.path, fields_for(schema), description, validator))
    can_resume, resume_note = _resumable(record)
    siblings = [
        r for r in reader.store.list_runs(limit=200)
        if r.root_component_id == record.root_component_id and r.run_id != run_id
    ][:30]  # fmt: skip
    return RunPage(
        summary, components, tree, graph_markup, note, timeline, waiting, can_resume, resume_note,
        siblings, cached, toggle_set,
    )  # fmt: skip


# ---- one component ----------------------------------------------------------------------------
@dataclass(slots=True)
class ComponentPage:
    run: RunSummary
    record: ComponentRecord
    result: dict[str, Any]
    sections: dict[str, Markup]
    """Rendered values by section name (prompt, system, input, output, text, structured, extras)."""
    error: dict[str, Any] | None
    error_source: str | None
    """The Dana source line and caret under the error message, when the message has them."""
    llm_calls: list[dict[str, Any]]
    artifacts: list[tuple[Artifact, Markup | None]]
    events: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    waiting: WaitingInput | None
    can_resume: bool
    resume_note: str | None
    children: list[ComponentRecord]


def component_page(reader: RunReader, definitions: Definitions, run_id: str, path: str) -> ComponentPage:
    record = reader.run(run_id)
    summary = reader.summaries([record])[0]
    component = reader.component(run_id, path)
    result = _parse_result(component.result)

    def more(pointer: str) -> str:
        return Urls.value(run_id, path, pointer)

    sections: dict[str, Markup] = {}
    given = result.get("input")
    if isinstance(given, dict) and isinstance(given.get("prompt"), str):
        sections["prompt"] = text_block(given["prompt"], "/input/prompt", more)
        if isinstance(given.get("system"), str):
            sections["system"] = text_block(given["system"], "/input/system", more)
        rest = {k: v for k, v in given.items() if k not in ("prompt", "system")}
        if rest:
            sections["input"] = value_tree(rest, "/input", more)
    elif given is not None:
        sections["input"] = value_tree(given, "/input", more)
    outcome = result.get("outcome")
    if isinstance(outcome, dict):
        if outcome.get("text") is not None:
            sections["text"] = text_block(str(outcome["text"]), "/outcome/text", more)
        if outcome.get("structured") is not None:
            sections["structured"] = value_tree(outcome["structured"], "/outcome/structured", more)
        extras = {k: v for k, v in outcome.items() if k not in ("text", "structured") and v is not None}
        if extras:
            sections["outcome extras"] = value_tree(extras, "/outcome", more)
    if result.get("output") is not None:
        sections["output"] = value_tree(result["output"], "/output", more)
    error = result.get("error") if isinstance(result.get("error"), dict) else None
    if error is None and component.error:
        error = {"type": "error", "message": component.error}
    error_source = None
    if error is not None and isinstance(error.get("message"), str) and "\n" in error["message"]:
        first, _, error_source = error["message"].partition("\n")
        error = {**error, "message": first}
    spans = reader.spans(run_id)
    calls = [_llm_call(s) for s in spans if s.kind == "llm" and s.path == path]
    artifacts = []
    for artifact in reader.artifacts(run_id, path):
        preview = None
        if artifact.text:
            with open(reader.artifact_path(run_id, path, artifact.name), "rb") as fh:
                head = fh.read(TEXT_LIMIT * 4).decode("utf-8", errors="replace")
            preview = text_block(head[:TEXT_LIMIT], None, None)
        artifacts.append((artifact, preview))
    events = [e for e in reader.events(run_id).rows if e.get("path") == path][-500:]
    logs = [e for e in reader.logs(run_id).rows if e.get("path") == path][-500:]
    waiting = None
    if component.status == "waiting_input" and component.kind == "node":
        loaded = definitions.for_run(record)
        element = element_at(loaded.definition, record.root_component_id, path) if loaded.definition else None
        schema, validator, description = input_schema(element)
        waiting = WaitingInput(path, fields_for(schema), description, validator)
    can_resume, note = _resumable(record)
    children = [c for c in reader.components(run_id) if c.path.rsplit(".", 1)[0] == path and c.path != path]
    return ComponentPage(
        summary, component, result, sections, error, error_source, calls, artifacts, events, logs,
        waiting, can_resume, note, children,
    )  # fmt: skip


# Span attribute names: OpenTelemetry's GenAI conventions first, then danaflow's older names.
_ATTRS = {
    "provider": ("gen_ai.provider.name", "provider"),
    "model": ("gen_ai.response.model", "gen_ai.request.model", "model"),
    "prompt_tokens": ("gen_ai.usage.input_tokens", "tokens.prompt"),
    "completion_tokens": ("gen_ai.usage.output_tokens", "tokens.completion"),
    "attempts": ("danaflow.llm.attempts", "attempts"),
    "cached": ("danaflow.llm.cached", "cached"),
}


def _attr(attributes: dict[str, Any], name: str) -> Any:
    for key in _ATTRS[name]:
        if attributes.get(key) is not None:
            return attributes[key]
    return None


def _messages(raw: Any) -> list[tuple[str, Markup]]:
    """``gen_ai.*.messages`` (JSON text, recorded when a run captures content) as (role, text)."""
    if not isinstance(raw, str):
        return []
    try:
        messages = json.loads(raw)
    except ValueError:
        return [("?", text_block(raw, None, None))]
    out = []
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, dict):
            continue
        parts = m.get("parts") if isinstance(m.get("parts"), list) else []
        text = "\n".join(str(p.get("content", "")) for p in parts if isinstance(p, dict))
        out.append((str(m.get("role", "?")), text_block(text, None, None, limit=20_000)))
    return out


def _llm_call(span: Any) -> dict[str, Any]:
    a = span.attributes
    call = {name: _attr(a, name) for name in _ATTRS}
    call.update(
        name=span.name, latency_s=span.duration_s, status=span.status, error=span.error,
        messages=_messages(a.get("gen_ai.input.messages")), answer=_messages(a.get("gen_ai.output.messages")),
    )  # fmt: skip
    return call


def _parse_result(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {"output": text}
    return data if isinstance(data, dict) else {"output": data}


def result_document(reader: RunReader, run_id: str, path: str) -> dict[str, Any]:
    """A component's stored result as plain data (what "show more" pointers point into)."""
    reader.run(run_id)
    return _parse_result(reader.component(run_id, path).result)


# ---- compare ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ComparePage:
    a: RunRecord
    b: RunRecord | None
    rows: list[ComponentDiff]
    candidates: list[RunRecord]
    problem: str | None = None

    @property
    def changed(self) -> int:
        return sum(1 for r in self.rows if r.changed)


def compare_page(reader: RunReader, a_id: str, b_id: str | None) -> ComparePage:
    a = reader.run(a_id)
    candidates = [
        r for r in reader.store.list_runs(limit=500)
        if r.root_component_id == a.root_component_id and r.run_id != a_id
    ][:50]  # fmt: skip
    if not b_id:
        return ComparePage(a, None, [], candidates)
    b = reader.run(b_id)
    if b.root_component_id != a.root_component_id:
        return ComparePage(
            a, b, [], candidates,
            f"runs of different roots: {a.root_component_id!r} and {b.root_component_id!r}; "
            "want two runs of the same agent or flow",
        )  # fmt: skip
    return ComparePage(a, b, compare_components(reader.components(a_id), reader.components(b_id)), candidates)


def fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"
