"""The pure scheduling steps: readiness, edge taking, skip propagation."""

from __future__ import annotations

from danaflow.flow import FlowDefinition, PythonNode
from danaflow.flow._algo import DagState, flow_failed, initial_ready, settle


def _flow(edges: list[tuple[str, str, dict]], names: str) -> FlowDefinition:
    flow = FlowDefinition("f")
    for n in names:
        flow.node(n, PythonNode(lambda ctx: None))
    for a, b, kw in edges:
        flow.connect(a, b, **kw)
    return flow


def test_diamond_join_waits_for_both_parents():
    plan = _flow([("a", "b", {}), ("a", "c", {}), ("b", "d", {}), ("c", "d", {})], "abcd").compile()
    state = DagState.start(plan)
    assert initial_ready(plan) == [0]
    assert settle(plan, state, 0, True) == ([1, 2], [])
    assert settle(plan, state, 1, True) == ([], [])
    assert settle(plan, state, 2, True) == ([3], [])


def test_failure_takes_error_edges_and_skips_success_edges_transitively():
    flow = FlowDefinition("f")
    for n in ("a", "ok", "after", "handler"):
        flow.node(n, PythonNode(lambda ctx: None))
    flow.connect("a", "ok").connect("ok", "after").connect("a", "handler", on_error=True)
    plan = flow.compile()
    state = DagState.start(plan)
    ready, skipped = settle(plan, state, 0, False)
    assert ready == [3]
    assert sorted(skipped) == [1, 2]
    assert flow_failed(plan, [0]) == []  # routed


def test_success_skips_the_error_route_and_unrouted_failures_count():
    flow = FlowDefinition("f")
    for n in ("a", "b", "handler"):
        flow.node(n, PythonNode(lambda ctx: None))
    flow.connect("a", "handler", on_error=True)
    plan = flow.compile()
    state = DagState.start(plan)
    assert initial_ready(plan) == [0, 1]
    assert settle(plan, state, 0, True) == ([], [2])
    assert flow_failed(plan, [1]) == [1]


def test_edge_on_both_is_taken_either_way():
    flow = FlowDefinition("f")
    for n in ("a", "cleanup"):
        flow.node(n, PythonNode(lambda ctx: None))
    flow.connect("a", "cleanup", on_success=True, on_error=True)
    plan = flow.compile()
    assert settle(plan, DagState.start(plan), 0, False) == ([1], [])
