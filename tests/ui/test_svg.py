"""The SVG drawings: every box, edge and bar is there, laid out without overlap, and escaped."""

from __future__ import annotations

import re

from danaflow.observability.records import SpanRecord
from danaflow.runs.store import ComponentRecord
from danaflow.ui.svg import graph_svg, waterfall_svg
from danaflow.ui.tree import GraphEdge, GraphNode


def _boxes(svg: str) -> list[tuple[float, float, float, float]]:
    found = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="(\d+)" height="(\d+)" rx="6"', svg)
    return [(float(x), float(y), float(w), float(h)) for x, y, w, h in found]


def test_a_wide_layer_wraps_and_no_boxes_overlap() -> None:
    children = [GraphNode(f"f.n{i}", f"n{i}", "python", "completed") for i in range(15)]
    root = GraphNode("f", "f", "flow", "completed", children=children)
    svg = str(graph_svg(root, lambda p: f"/c/{p}", lambda p: f"/t/{p}"))
    boxes = _boxes(svg)
    assert len(boxes) == 15 and len({y for _, y, _, _ in boxes}) == 3  # 6 + 6 + 3
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]


def test_edges_follow_layers_and_labels_are_escaped() -> None:
    a = GraphNode("f.a", "<script>", "python", "failed")
    b = GraphNode("f.b", "b", "python", "not_run")
    root = GraphNode("f", "f", "flow", "failed", children=[a, b], edges=[GraphEdge(0, 1, "error")])
    svg = str(graph_svg(root, lambda p: f"/c/{p}", lambda p: p, {"f.a": "boom <img src=x>"}))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<img" not in svg
    assert svg.count('class="edge edge-error"') == 1 and 'href="/c/f.a"' in svg
    ya, yb = (y for _, y, _, _ in _boxes(svg))
    assert yb > ya


def test_the_waterfall_nests_spans_and_shows_running_components() -> None:
    spans = [
        SpanRecord("run r", "run", None, "t", "s0", None, 0, 1_000_000_000, "ok"),
        SpanRecord("flow f", "flow", "f", "t", "s1", "s0", 100, 900_000_000, "ok"),
        SpanRecord("llm m", "llm", "f.a", "t", "s3", "s1", 200, 500_000_000, "ok"),
    ]
    running = {"f.b": ComponentRecord("r", "f.b", "running", 2, "node", started_at=0.5)}
    svg = str(waterfall_svg(spans, running, lambda p: f"/c/{p}", now=1.0))
    rows = re.findall(r'<g class="wrow" data-path="([^"]*)">', svg)
    assert rows == ["", "f", "f.a", "f.b"]
    assert "ws-running" in svg and 'class="bar wk-llm ws-ok"' in svg
    assert "No spans yet" in str(waterfall_svg([], {}, lambda p: p))
