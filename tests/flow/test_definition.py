"""Flow and agent definitions: building, and validation errors that name the path."""

from __future__ import annotations

import pytest

from danaflow.errors import FlowDefinitionError
from danaflow.flow import AgentDefinition, FlowDefinition, PythonNode
from danaflow.flow.nodes import AIModelNode, AIModelNodeSettings
from danaflow.template import Prompt


def _noop(ctx):
    return None


def _ai(text: str) -> AIModelNode:
    return AIModelNode(AIModelNodeSettings(prompt=Prompt.with_dad_text(text=text)))


def test_builder_chains_and_keeps_order():
    flow = FlowDefinition("f").vars({"a": 1}).node("x", PythonNode(_noop)).node("y", PythonNode(_noop))
    assert [e.id for e in flow.elements] == ["x", "y"]
    assert flow.variables == {"a": 1}
    plan = flow.compile()
    assert plan.sequential and plan.ids == ("x", "y")


def test_duplicate_id_is_refused_with_its_path():
    flow = FlowDefinition("impl").node("x", PythonNode(_noop))
    with pytest.raises(FlowDefinitionError) as exc:
        flow.node("x", PythonNode(_noop))
    assert exc.value.path == "impl.x" and "duplicate component id 'x'" in str(exc.value)


def test_ids_cannot_contain_dots():
    with pytest.raises(FlowDefinitionError, match="dots separate path parts"):
        FlowDefinition("f").node("a.b", PythonNode(_noop))


def test_connect_to_unknown_id_names_path_and_known_ids():
    flow = FlowDefinition("f").node("a", PythonNode(_noop)).connect("a", "ghost")
    with pytest.raises(FlowDefinitionError) as exc:
        flow.validate()
    assert exc.value.path == "f.ghost"
    assert "no component 'ghost'" in str(exc.value) and "known: a" in str(exc.value)


def test_cycles_are_reported_with_their_members():
    flow = FlowDefinition("f")
    for n in "abc":
        flow.node(n, PythonNode(_noop))
    flow.connect("a", "b").connect("b", "c").connect("c", "a")
    with pytest.raises(FlowDefinitionError, match=r"cycle in flow f: a -> b -> c -> a"):
        flow.compile()


def test_self_loop_and_duplicate_edges():
    flow = FlowDefinition("f").node("a", PythonNode(_noop)).connect("a", "a")
    with pytest.raises(FlowDefinitionError, match="cannot follow itself"):
        flow.compile()
    flow = FlowDefinition("f").node("a", PythonNode(_noop)).node("b", PythonNode(_noop))
    flow.connect("a", "b").connect("a", "b")
    with pytest.raises(FlowDefinitionError, match="appears twice"):
        flow.compile()


def test_connect_flags():
    flow = (
        FlowDefinition("f")
        .node("a", PythonNode(_noop))
        .node("b", PythonNode(_noop))
        .node("c", PythonNode(_noop))
    )
    flow.connect("a", "b").connect("a", "c", on_error=True)
    assert [(e.on_success, e.on_error) for e in flow.edges] == [(True, False), (False, True)]
    with pytest.raises(FlowDefinitionError, match="want on_success=True and/or on_error=True"):
        flow.connect("b", "c", on_success=False)
    plan = flow.compile()
    assert plan.error_routed == (True, False, False)


def test_hier_reference_to_a_component_that_cannot_exist():
    flow = FlowDefinition("impl").node("gen", _ai("Use $expr{$hier{analyzer}.outcome.text}"))
    with pytest.raises(FlowDefinitionError) as exc:
        flow.validate()
    assert exc.value.path == "impl.gen"
    assert "$hier{analyzer}" in str(exc.value) and "no component 'analyzer'" in str(exc.value)


def test_hier_references_may_name_components_anywhere_in_the_tree():
    inner = FlowDefinition().node("writer", _ai("$hier{analyzer.outcome.text}"))
    outer = FlowDefinition("impl").node("analyzer", PythonNode(_noop)).subflow("sub", inner)
    outer.validate()  # the subflow may name its parent's node
    agent = AgentDefinition("agent").flow("f1", FlowDefinition().node("a", PythonNode(_noop)))
    agent.flow("f2", FlowDefinition().node("b", _ai("$hier{f1.a.outcome.text}")))
    agent.validate()


def test_several_problems_report_the_first_and_count_the_rest():
    flow = FlowDefinition("f").node("a", _ai("$hier{x}")).node("b", _ai("$hier{y}"))
    with pytest.raises(FlowDefinitionError, match=r"and 1 more problem"):
        flow.validate()


def test_bad_template_is_a_definition_error():
    with pytest.raises(FlowDefinitionError, match="unterminated"):
        FlowDefinition("f").node("a", _ai("$expr{1 +")).validate()


def test_component_paths_cover_nested_components():
    body = FlowDefinition().node("step", PythonNode(_noop))
    flow = (
        FlowDefinition()
        .node("a", PythonNode(_noop))
        .for_each("loop", [1, 2], body)
        .conditional("cond", "true", PythonNode(_noop))
    )
    paths = list(flow.component_paths("root"))
    assert paths == ["root.a", "root.loop", "root.loop.*", "root.loop.*.step", "root.cond", "root.cond.then"]


def test_wrong_argument_types_are_refused():
    with pytest.raises(FlowDefinitionError, match="want a Node"):
        FlowDefinition().node("a", _noop)
    with pytest.raises(FlowDefinitionError, match="want an AgentDefinition"):
        AgentDefinition().subagent("s", FlowDefinition())
    with pytest.raises(FlowDefinitionError, match="max_concurrency=0"):
        FlowDefinition().for_each("l", [], PythonNode(_noop), max_concurrency=0)
