"""Server-rendered SVG: the flow graph and the waterfall timeline of a run's spans.

Drawn on the server so the page needs no graph library and no script: boxes, edges and bars are
SVG presentation attributes (a strict Content-Security-Policy allows them), colours come from
``ui.css`` by status class, and every label and tooltip is escaped text, since component ids are
the user's but tooltips carry error messages, which may quote a model's answer.
The graph is laid out top to bottom in layers (longest path from the sources); a layer wider
than six boxes wraps, and an open composite is a box holding its own layout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from danaflow.observability.records import SpanRecord
from danaflow.runs.store import ComponentRecord

from .tree import GraphNode

__all__ = ["graph_svg", "waterfall_svg"]

NODE_W, NODE_H = 170, 34
COLLAPSED_H = 46
GAP_X, GAP_Y = 18, 28
PAD, HEADER = 10, 26
MAX_ROW = 6
CHAR_W = 6.6
"""Average width of a 12px sans-serif character, for cutting labels to their box."""


@dataclass(slots=True)
class _Box:
    w: float
    h: float
    children: list[tuple[float, float]]
    """Offsets of the children inside this box."""


def _layers(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    preds: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, t in edges:
        preds[t].append(s)
        succs[s].append(t)
        indeg[t] += 1
    layer = [0] * n
    ready = [i for i in range(n) if indeg[i] == 0]
    while ready:
        v = ready.pop(0)
        for w in succs[v]:
            layer[w] = max(layer[w], layer[v] + 1)
            indeg[w] -= 1
            if indeg[w] == 0:
                ready.append(w)
    return layer


def _measure(node: GraphNode, boxes: dict[int, _Box]) -> _Box:
    if not node.children or node.collapsed:
        box = _Box(NODE_W, COLLAPSED_H if node.children else NODE_H, [])
        boxes[id(node)] = box
        return box
    sizes = [_measure(c, boxes) for c in node.children]
    layer = _layers(len(sizes), [(e.source, e.target) for e in node.edges])
    by_layer: dict[int, list[int]] = {}
    for i, lay in enumerate(layer):
        by_layer.setdefault(lay, []).append(i)
    rows: list[list[int]] = []
    for lay in sorted(by_layer):
        members = by_layer[lay]
        rows.extend(members[k : k + MAX_ROW] for k in range(0, len(members), MAX_ROW))
    row_dims = []
    for row in rows:
        width = sum(sizes[i].w for i in row) + GAP_X * (len(row) - 1)
        row_dims.append((width, max(sizes[i].h for i in row)))
    inner_w = max(w for w, _ in row_dims)
    offsets: list[tuple[float, float]] = [(0.0, 0.0)] * len(sizes)
    y = float(HEADER)
    for row, (row_w, row_h) in zip(rows, row_dims, strict=True):
        x = PAD + (inner_w - row_w) / 2
        for i in row:
            offsets[i] = (x, y + (row_h - sizes[i].h) / 2)
            x += sizes[i].w + GAP_X
        y += row_h + GAP_Y
    box = _Box(max(inner_w + 2 * PAD, NODE_W), y - GAP_Y + PAD, offsets)
    boxes[id(node)] = box
    return box


def _fit(text: str, width: float) -> str:
    room = max(4, int((width - 16) / CHAR_W))
    return text if len(text) <= room else text[: room - 1] + "…"


def graph_svg(
    root: GraphNode,
    link: Callable[[str], str],
    toggle_link: Callable[[str], str],
    titles: Mapping[str, str] | None = None,
) -> Markup:
    """The graph as one ``<svg>``. ``link(path)`` is a component's URL, ``toggle_link(path)`` the
    page URL that opens or closes a composite, ``titles`` extra tooltip text by path."""
    boxes: dict[int, _Box] = {}
    box = _measure(root, boxes)
    out: list[str] = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{box.w + 2:.0f}" '
        f'height="{box.h + 2:.0f}" viewBox="-1 -1 {box.w + 2:.0f} {box.h + 2:.0f}" role="img" '
        'aria-label="flow graph">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/></marker></defs>',
    ]
    _draw(root, 0.0, 0.0, boxes, out, link, toggle_link, titles or {}, top=True)
    out.append("</svg>")
    return Markup("".join(out))


def _draw(
    node: GraphNode,
    x: float,
    y: float,
    boxes: dict[int, _Box],
    out: list[str],
    link: Callable[[str], str],
    toggle_link: Callable[[str], str],
    titles: Mapping[str, str],
    *,
    top: bool = False,
) -> None:
    box = boxes[id(node)]
    status = escape(node.status)
    tip = f"{node.path} — {node.kind}, {node.status.replace('_', ' ')}" + (" (reused)" if node.reused else "")
    if node.path in titles:
        tip += "\n" + titles[node.path]
    if node.collapsed:
        tip += "\n" + node.summary()
    reused = " reused" if node.reused else ""
    data = f' data-path="{escape(node.path)}" data-status="{status}"'
    if not node.children:
        out.append(
            f'<a href="{escape(link(node.path))}" class="gnode"{data}><title>{escape(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="6" '
            f'class="st-{status}{reused}"/>'
            f'<text x="{x + 10:.1f}" y="{y + 15:.1f}" class="glabel">{escape(_fit(node.label, box.w))}</text>'
            f'<text x="{x + 10:.1f}" y="{y + 28:.1f}" class="gkind">{escape(_fit(node.kind, box.w))}'
            "</text></a>"
        )
        return
    cls = "gbox" if not top else "gbox groot"
    out.append(
        f'<g class="{cls}"{data}><title>{escape(tip)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="8" '
        f'class="box st-{status}{reused}"/></g>'
    )
    sign = "+" if node.collapsed else "−"
    if not top:
        out.append(
            f'<a href="{escape(toggle_link(node.path))}" class="gtoggle" data-toggle="{escape(node.path)}">'
            f"<title>{'open' if node.collapsed else 'close'} {escape(node.path)}</title>"
            f'<rect x="{x + box.w - 24:.1f}" y="{y + 5:.1f}" width="18" height="16" rx="3" class="toggle"/>'
            f'<text x="{x + box.w - 15:.1f}" y="{y + 17:.1f}" class="gsign">{sign}</text></a>'
        )
    title_w = box.w - (30 if not top else 8)
    out.append(
        f'<a href="{escape(link(node.path))}" class="gnode gcomposite"{data}>'
        f'<text x="{x + 10:.1f}" y="{y + 17:.1f}" class="gtitle">'
        f"{escape(_fit(f'{node.label}  ·  {node.kind}', title_w))}</text></a>"
    )
    if node.collapsed:
        out.append(
            f'<text x="{x + 10:.1f}" y="{y + 36:.1f}" class="gkind">'
            f"{escape(_fit(node.summary(), box.w))}</text>"
        )
        return
    for edge in node.edges:
        (sx, sy), (tx, ty) = box.children[edge.source], box.children[edge.target]
        sb, tb = boxes[id(node.children[edge.source])], boxes[id(node.children[edge.target])]
        x1, y1 = x + sx + sb.w / 2, y + sy + sb.h
        x2, y2 = x + tx + tb.w / 2, y + ty
        if y2 <= y1:  # wrapped into the same row: go from the right side to the left side
            x1, y1, x2, y2 = x + sx + sb.w, y + sy + sb.h / 2, x + tx, y + ty + tb.h / 2
            mid = (x1 + x2) / 2
            d = f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        else:
            mid = (y1 + y2) / 2
            d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"
        out.append(f'<path d="{d}" class="edge edge-{edge.kind}" marker-end="url(#arrow)"/>')
    for child, (cx, cy) in zip(node.children, box.children, strict=True):
        _draw(child, x + cx, y + cy, boxes, out, link, toggle_link, titles)


# ---- the waterfall ----------------------------------------------------------------------------
ROW_H = 18
LABEL_W = 300
BARS_W = 720
MAX_ROWS = 2000


def waterfall_svg(
    spans: Sequence[SpanRecord],
    records: Mapping[str, ComponentRecord],
    link: Callable[[str], str],
    *,
    now: float | None = None,
) -> Markup:
    """One bar per span, nested under its parent, on a shared time axis; components the store
    shows running (no span yet) get an open bar up to ``now``."""
    now = time.time() if now is None else now
    rows = _span_rows(spans)
    seen = {s.path for s in spans if s.kind != "llm"}
    for record in sorted(records.values(), key=lambda r: r.seq):
        if record.status == "running" and record.path not in seen and record.started_at is not None:
            depth = record.path.count(".") + 1
            start, end = int(record.started_at * 1e9), int(now * 1e9)
            rows.append((depth, record.path, record.path, start, end, "running", "node"))
    if not rows:
        return Markup('<p class="muted">No spans yet (tracing off, or nothing finished).</p>')
    extra = len(rows) - MAX_ROWS
    rows = rows[:MAX_ROWS]
    t0 = min(r[3] for r in rows)
    t1 = max(r[4] for r in rows)
    total = max(t1 - t0, 1)
    height = ROW_H * (len(rows) + 1) + 4
    out = [
        f'<svg class="waterfall" xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + BARS_W + 90}" '
        f'height="{height}" role="img" aria-label="timeline">'
    ]
    for k in range(5):
        tx = LABEL_W + BARS_W * k / 4
        out.append(
            f'<line x1="{tx:.1f}" y1="{ROW_H - 4}" x2="{tx:.1f}" y2="{height}" class="tick"/>'
            f'<text x="{tx + 2:.1f}" y="{ROW_H - 6}" class="ticklabel">{_fmt_ns(total * k / 4)}</text>'
        )
    for i, (depth, label, path, start, end, status, kind) in enumerate(rows):
        y = ROW_H * (i + 1)
        bx = LABEL_W + BARS_W * (start - t0) / total
        bw = max(1.5, BARS_W * (end - start) / total)
        text = escape(_fit(label, LABEL_W - depth * 10 + 10))
        label_svg = f'<text x="{4 + depth * 10}" y="{y + 13}" class="wlabel wk-{escape(kind)}">{text}</text>'
        if path is not None and path in records:
            label_svg = f'<a href="{escape(link(path))}">{label_svg}</a>'
        tip = escape(f"{label} — {_fmt_ns(end - start)} ({status})")
        out.append(
            f'<g class="wrow" data-path="{escape(path or "")}">{label_svg}'
            f'<rect x="{bx:.1f}" y="{y + 3}" width="{bw:.1f}" height="{ROW_H - 6}" rx="2" '
            f'class="bar wk-{escape(kind)} ws-{escape(status)}"><title>{tip}</title></rect>'
            f'<text x="{bx + bw + 4:.1f}" y="{y + 13}" class="wdur">{_fmt_ns(end - start)}</text></g>'
        )
    out.append("</svg>")
    if extra > 0:
        out.append(f'<p class="muted">… {extra} more spans not drawn.</p>')
    return Markup("".join(out))


def _span_rows(spans: Sequence[SpanRecord]) -> list[tuple[int, str, str | None, int, int, str, str]]:
    """Spans in tree order (each under its parent, siblings by start) with their depth."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for s in spans:
        parent = s.parent_id if s.parent_id in ids else None
        children.setdefault(parent, []).append(s)
    rows: list[tuple[int, str, str | None, int, int, str, str]] = []
    stack = [(0, s) for s in reversed(children.get(None, []))]
    while stack:
        depth, s = stack.pop()
        label = s.name if s.kind in ("run", "llm") else (s.path or s.name)
        rows.append((depth, label, s.path, s.start_ns, s.end_ns, s.status, s.kind))
        stack.extend((depth + 1, c) for c in reversed(children.get(s.span_id, [])))
    return rows


def _fmt_ns(ns: float) -> str:
    ms = ns / 1e6
    if ms < 1:
        return f"{ms * 1000:.0f}µs"
    if ms < 1000:
        return f"{ms:.1f}ms"
    return f"{ms / 1000:.2f}s"
