"""TemplateEngine / ObjectTemplate semantics (DESIGN §5), including the DAD defects not to repeat."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from danaflow.context import (
    ExecutableTypeEnum,
    ExecutionContext,
    ExecutionStatusEnum,
    NodeExecutionResult,
    NodeOutcome,
)
from danaflow.errors import TemplateError
from danaflow.flow.hooks import InMemoryRun
from danaflow.template import ObjectTemplate, Prompt, TemplateEngine

render = TemplateEngine.render_template


class FileOp(BaseModel):
    path: str
    content: str


class Impl(BaseModel):
    file_operations: list[FileOp]


@dataclass
class TaskSpec:
    task_id: str
    description: str


def _ctx(allow_python: bool = False):
    run = InMemoryRun(allow_python_templates=allow_python)
    agent = ExecutionContext(ExecutableTypeEnum.agent, "agent", run_context=run, variables={"lang": "rust"})
    flow = agent.create_child(
        ExecutableTypeEnum.flow,
        "impl",
        variables={"task_spec": TaskSpec("T1", "build it"), "index": 1, "cfg": {"depth": 2}},
    )
    gen = NodeExecutionResult(
        component_id="code_generator",
        execution_status=ExecutionStatusEnum.completed,
        outcome=NodeOutcome(
            text="generated",
            structured=Impl(
                file_operations=[FileOp(path="a.py", content="A"), FileOp(path="b.py", content="B")]
            ),
        ),
    )
    flow.set_result("code_generator", gen)
    flow.set_result(
        "analysis",
        NodeExecutionResult(
            component_id="analysis",
            execution_status=ExecutionStatusEnum.completed,
            outcome=NodeOutcome(text="tree", structured={"items": [10, 20, 30]}, results=[{"name": "x"}]),
        ),
    )
    node = flow.create_child(ExecutableTypeEnum.node, "writer")
    return agent, flow, node


def test_var_and_dotted_var_on_objects_and_dicts():
    _, _, node = _ctx()
    out = render(
        "Task $var{task_spec.task_id}: $var{task_spec.description} ($var{cfg.depth}, $var{lang})", {}, node
    )
    assert out == "Task T1: build it (2, rust)"
    assert render("$var{who}", {"who": "explicit"}, node) == "explicit"


def test_expr_on_component_variables():
    _, _, node = _ctx()
    assert render("Task ID: $expr{task_spec.task_id}", {}, node) == "Task ID: T1"


def test_hier_bare_with_attribute_path():
    _, _, node = _ctx()
    assert render("Value: $hier{code_generator.outcome.text}", {}, node) == "Value: generated"
    files = render("$expr{$hier{code_generator.outcome.structured.file_operations}}", {}, node)
    assert [f.path for f in files] == ["a.py", "b.py"]


def test_bare_hier_never_leaks_a_placeholder():
    _, _, node = _ctx()
    out = render("Result: $hier{analysis}", {}, node)
    assert "_hier" not in out and '"text": "tree"' in out


def test_hier_inside_expr_with_nested_var_index():
    _, _, node = _ctx()
    out = render("$expr{$hier{code_generator}.outcome.structured.file_operations[$var{index}]}", {}, node)
    assert out == FileOp(path="b.py", content="B")
    assert render("$expr{$hier{analysis}.outcome.structured.items[$var{index}] * 2}", {}, node) == 40


def test_dict_results_read_like_objects():
    _, _, node = _ctx()
    assert render("$expr{$hier{analysis}.outcome.results[0].name}", {}, node) == "x"


def test_indexing_on_the_first_name():
    _, _, node = _ctx()
    assert render("$expr{items[0] + items[-1]}", {"items": [1, 2, 5]}, node) == 6


def test_comparisons_arithmetic_and_precedence():
    _, _, node = _ctx()
    assert render("$expr{index >= 1}", {}, node) is True
    assert render("$expr{index <= 0}", {}, node) is False
    assert render("$expr{2 + 3 * 4}", {}, node) == 14
    assert render("$expr{(2 + 3) * 4}", {}, node) == 20
    assert render("$expr{10 - 4 - 3}", {}, node) == 3
    assert render("$expr{not index > 5 and index == 1}", {}, node) is True


def test_braces_and_strings_inside_expr():
    _, _, node = _ctx()
    assert render('$expr{ {"a": "}"}["a"] }', {}, node) == "}"
    assert render('<$expr{"x" + "}"}>', {}, node) == "<x}>"


def test_single_expr_keeps_type_mixed_text_is_str():
    _, _, node = _ctx()
    assert render("$expr{[1, 2]}", {}, node) == [1, 2]
    assert render("n=$expr{1 + 1}", {}, node) == "n=2"
    assert ObjectTemplate(expression="  $expr{{'k': 1}}  ").evaluate(node) == {"k": 1}
    assert ObjectTemplate(expression="$hier{analysis.outcome.structured}").evaluate(node) == {
        "items": [10, 20, 30]
    }


def test_dollar_escapes():
    _, _, node = _ctx()
    assert (
        render("costs $$5 for $var{lang}; literal $$var{lang}", {}, node)
        == "costs $5 for rust; literal $var{lang}"
    )


def test_root_flow_vars_are_visible():
    root = ExecutionContext(ExecutableTypeEnum.flow, "root", variables={"greeting": "hi"})
    node = root.create_child(ExecutableTypeEnum.node, "n")
    assert render("$var{greeting} / $expr{greeting + '!'}", {}, node) == "hi / hi!"


def test_hier_prefers_siblings_then_ancestors_and_absolute_paths():
    agent, _flow, node = _ctx()
    agent.set_result(
        "analysis",
        NodeExecutionResult(component_id="analysis", outcome=NodeOutcome(text="agent-level")),
    )
    assert render("$hier{analysis.outcome.text}", {}, node) == "tree"  # the sibling wins
    assert render("$hier{impl.code_generator.outcome.text}", {}, node) == "generated"
    assert render("$hier{agent.impl.code_generator.outcome.text}", {}, node) == "generated"


@pytest.mark.parametrize(
    ("template", "reference", "why"),
    [
        ("Hello $var{missing}", "$var{missing}", "variable 'missing' is not defined"),
        ("x $hier{ghost.outcome}", "$hier{ghost.outcome}", "no component named 'ghost'"),
        ("$hier{analysis.outcome.nope}", "$hier{analysis.outcome.nope}", "has no field 'nope'"),
        ("$expr{undefined_name + 1}", "$expr{undefined_name + 1}", "missing reference"),
    ],
)
def test_missing_reference_names_template_reference_and_node(template, reference, why):
    _, _, node = _ctx()
    with pytest.raises(TemplateError) as exc:
        render(template, {}, node, name="my_prompt")
    text = str(exc.value)
    assert "my_prompt" in text and reference in text and why in text
    assert "agent.impl.writer" in text
    assert exc.value.path == "agent.impl.writer"


def test_component_without_result_yet_is_an_error():
    _, flow, node = _ctx()
    flow.create_child(ExecutableTypeEnum.node, "later")
    with pytest.raises(TemplateError, match="'later' has no result yet"):
        render("$hier{later.outcome.text}", {}, node)


def test_python_expressions_only_when_the_run_allows_them():
    _, _, node = _ctx()
    with pytest.raises(TemplateError, match="allow_python_templates"):
        render("$expr{py: sorted([3, 1, 2])}", {}, node)
    _, _, node = _ctx(allow_python=True)
    assert render("$expr{py: sorted([3, 1, 2])}", {}, node) == [1, 2, 3]
    assert render("$expr{py: $hier{analysis}.outcome.text.upper()}", {}, node) == "TREE"


def test_sandbox_refuses_private_attributes():
    _, _, node = _ctx()
    with pytest.raises(TemplateError):
        render("$expr{task_spec.__class__}", {}, node)
    with pytest.raises(TemplateError, match="private"):
        render("$var{task_spec._secret}", {}, node)


def test_scan_errors_become_template_errors_with_position():
    with pytest.raises(TemplateError) as exc:
        render("line one\nbad $expr{1 + ", {})
    assert exc.value.location is not None and exc.value.location.line == 2


def test_prompt_renders_text_with_its_variables():
    _, _, node = _ctx()
    prompt = Prompt.with_dad_text(text="Do $var{task_spec.task_id} in $var{tool}", variables={"tool": "vim"})
    assert prompt.render(node) == "Do T1 in vim"
    assert prompt.render(node, {"tool": "emacs"}) == "Do T1 in emacs"


def test_a_dana_struct_reads_as_json_in_text() -> None:
    from danaflow.lang.api import run
    from danaflow.template.engine import to_text

    outcome = run("struct P:\n    x: int\n    tags: list[str] = []\nP(x=1, tags=['a'])\n")
    assert json.loads(to_text(outcome.value)) == {"x": 1, "tags": ["a"]}
    assert json.loads(to_text([outcome.value])) == [{"x": 1, "tags": ["a"]}]
