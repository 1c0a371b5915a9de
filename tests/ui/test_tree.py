"""The component tree and the graph model: nesting, edges from the definition, collapsing."""

from __future__ import annotations

from danaflow import FlowDefinition, PythonNode
from danaflow.runs.store import ComponentRecord
from danaflow.ui.tree import apply_collapse, component_tree, graph_from_definition, graph_from_tree


def _rec(path: str, status: str = "completed", seq: int = 0, kind: str = "node") -> ComponentRecord:
    return ComponentRecord("r", path, status, seq, kind)


def test_the_tree_nests_by_path_in_start_order() -> None:
    records = [_rec("a.f.y", seq=3), _rec("a", seq=0, kind="agent"), _rec("a.f", seq=1, kind="flow")]
    roots = component_tree([*records, _rec("a.f.x", seq=2)])
    assert [r.path for r in roots] == ["a"]
    flow = roots[0].children[0]
    assert [c.name for c in flow.children] == ["x", "y"]


def test_the_tree_hangs_orphans_on_their_nearest_ancestor() -> None:
    roots = component_tree([_rec("a", kind="flow"), _rec("a.loop.3.body", seq=5)])
    assert roots[0].children[0].path == "a.loop.3.body"


def _noop(ctx):
    return None


def test_the_graph_has_the_definitions_edges_and_unrun_branches() -> None:
    inner = FlowDefinition().node("n", PythonNode(_noop))
    flow = (
        FlowDefinition("f")
        .node("a", PythonNode(_noop))
        .node("b", PythonNode(_noop))
        .conditional("c", "true", inner, FlowDefinition().node("m", PythonNode(_noop)))
        .connect("a", "b")
        .connect("a", "c", on_error=True, on_success=True)
    )
    records = {p: _rec(p) for p in ("f", "f.a", "f.b", "f.c", "f.c.n")}
    root = graph_from_definition(flow, "f", records)
    assert [(e.source, e.target, e.kind) for e in root.edges] == [(0, 1, "success"), (0, 2, "always")]
    cond = root.children[2]
    assert [(c.path, c.status) for c in cond.children] == [("f.c.n", "completed"), ("f.c.m", "not_run")]


def test_for_each_iterations_come_from_the_records() -> None:
    flow = FlowDefinition("f").for_each("loop", [1, 2], PythonNode(_noop))
    records = {p: _rec(p) for p in ("f", "f.loop", "f.loop.0", "f.loop.0.body", "f.loop.1", "f.loop.1.body")}
    root = graph_from_definition(flow, "f", records)
    loop = root.children[0]
    assert [c.label for c in loop.children] == ["#0", "#1"]
    assert loop.children[1].children[0].path == "f.loop.1.body"
    assert graph_from_definition(flow, "f", {}).children[0].children[0].path == "f.loop.*"


def test_big_composites_start_collapsed_and_toggles_flip_them() -> None:
    flow = FlowDefinition("f").for_each("loop", list(range(20)), PythonNode(_noop))
    records = {"f.loop": _rec("f.loop")} | {f"f.loop.{i}": _rec(f"f.loop.{i}") for i in range(20)}
    records |= {
        f"f.loop.{i}.body": _rec(f"f.loop.{i}.body", "failed" if i < 3 else "completed") for i in range(20)
    }
    root = graph_from_definition(flow, "f", records)
    apply_collapse(root, set())
    loop = root.children[0]
    assert loop.collapsed and loop.summary() == "20 iteration(s) · 17 completed, 3 failed"
    apply_collapse(root, {"f.loop"})
    assert not loop.collapsed and loop.toggled


def test_without_a_definition_the_graph_follows_start_order() -> None:
    tree = component_tree([_rec("f", kind="flow"), _rec("f.b", seq=2), _rec("f.a", seq=1)])
    root = graph_from_tree(tree[0])
    assert [c.label for c in root.children] == ["a", "b"] and [e.kind for e in root.edges] == ["order"]
