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
from danaflow.flow.seam import InMemoryRun
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


def test_paths_index_lists_and_mappings():
    _, _, node = _ctx()
    assert render("$hier{analysis.outcome.structured.items[0]}", {}, node) == "10"
    assert render("$hier{analysis.outcome.results[0].name}", {}, node) == "x"
    assert (
        render("$hier{code_generator.outcome.structured.file_operations[$var{index}].path}", {}, node)
        == "b.py"
    )
    assert (
        render(
            "$var{cfg['depth']} $var{xs[-1]} $var{m[$var{k}][1]}",
            {"xs": [1, 2], "m": {"a b": "xy"}, "k": "a b"},
            node,
        )
        == "2 2 y"
    )
    assert render("$var{ t[0][1] }", {"t": ((1, 2),)}, node) == "2"
    template = ObjectTemplate(expression="$hier{analysis.outcome.structured.items[$var{index}]}")
    assert template.evaluate(node) == 20


def test_values_are_never_templates():
    _, _, node = _ctx(allow_python=True)
    payload = "$expr{py: __import__('os').getcwd()} $hier{analysis}"
    assert render("got: $var{payload}", {"payload": payload}, node) == f"got: {payload}"


def test_method_calls_are_refused_in_paths():
    _, _, node = _ctx()
    with pytest.raises(TemplateError) as exc:
        render("say $var{lang.upper()}", {}, node, name="p")
    assert "got '(' in $var{lang.upper()}, want a path" in str(exc.value)
    assert exc.value.location is not None and exc.value.location.col == 20
    with pytest.raises(TemplateError, match=r"got method lang.upper, want a field"):
        render("$var{lang.upper}", {}, node)
    with pytest.raises(TemplateError, match=r"got method analysis.outcome.text.upper"):
        render("$hier{analysis.outcome.text.upper}", {}, node)


@dataclass
class _Boom:
    @property
    def boom(self) -> str:
        raise RuntimeError("nope")


class _LiveClient:
    """A host object that is not data (a resource, a client): templates must not walk into it."""

    def __init__(self) -> None:
        self.base_url = "http://secret.internal/v1"


def test_templates_do_not_walk_into_host_objects() -> None:
    with pytest.raises(TemplateError, match="is a _LiveClient, want data"):
        TemplateEngine.render_template("$var{llm.base_url}", variables={"llm": _LiveClient()})


@dataclass
class _Holder:
    cb: object


@pytest.mark.parametrize(
    ("template", "why", "col"),
    [
        ("$var{cfg.nope}", "cfg (dict) has no field 'nope'", 10),
        ("$var{cfg['nope']}", "cfg (dict) has no key 'nope'", 10),
        ("$var{cfg[$var{index}]}", "cfg (dict) has no key 1", 10),
        (
            "$hier{analysis.outcome.structured.items[5]}",
            "index 5 is out of range for analysis.outcome.structured.items (list of 3)",
            41,
        ),
        (
            "$hier{analysis.outcome.structured.items['a']}",
            "got ['a'] on analysis.outcome.structured.items (list), want a mapping",
            41,
        ),
        ("$var{task_spec[0]}", "got [0] on task_spec (TaskSpec), want a list, tuple or mapping", 16),
        ("$var{cfg[$var{cfg}]}", "$var{cfg} is dict, want an int or str index", 10),
        ("$var{xs[$var{flag}]}", "$var{flag} is bool, want an int or str index", 9),
        ("$var{xs[$var{ghost}]}", "variable 'ghost' is not defined", 14),
        ("$var{f}", "f is a function, want data", 6),
        ("$var{cls}", "cls is a class, want data", 6),
        ("$var{holder.cb}", "holder.cb is a function, want data", 13),
        ("$var{b.boom}", "reading b.boom raised RuntimeError: nope", 8),
    ],
)
def test_walk_errors_name_the_step(template, why, col):
    _, _, node = _ctx()
    variables = {"xs": [1], "flag": True, "f": len, "cls": dict, "holder": _Holder(lambda: 1), "b": _Boom()}
    with pytest.raises(TemplateError) as exc:
        render(template, variables, node, name="t")
    assert why in exc.value.message and template in exc.value.message
    assert exc.value.location is not None and exc.value.location.col == col


def test_resolve_path_takes_a_path_never_template_text():
    _, _, node = _ctx(allow_python=True)
    assert TemplateEngine.resolve_path("analysis.outcome.structured.items[1]", node) == 20
    assert (
        TemplateEngine.resolve_path(
            "code_generator.outcome.structured.file_operations[$var{index}].path", node
        )
        == "b.py"
    )
    assert TemplateEngine.resolve_path("task_spec.task_id", node, kind="var") == "T1"
    for hostile in ("analysis}$expr{py: 1/0}", "analysis.outcome.text.upper()", "$hier{analysis}"):
        with pytest.raises(TemplateError, match="want a path"):
            TemplateEngine.resolve_path(hostile, node, name="result()")
    with pytest.raises(TemplateError, match="want 'var' or 'hier'"):
        TemplateEngine.resolve_path("index", node, kind="expr")


def test_render_parts_keeps_values_apart_from_the_template_text():
    from danaflow.template.engine import Part

    _, _, node = _ctx()
    parts = TemplateEngine.render_parts("echo $var{lang} $$x $expr{index + 1}", {}, node)
    assert parts == [
        Part("echo "),
        Part("rust", "$var{lang}"),
        Part(" $x "),
        Part("2", "$expr{index + 1}"),
    ]


def test_paths_never_load_the_expression_compiler():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from danaflow.template import TemplateEngine\n"
        "t = \"$var{a.b[0]} $var{a['b'][$var{i}]}\"\n"
        "out = TemplateEngine.render_template(t, {'a': {'b': [1, 2]}, 'i': -1})\n"
        "assert out == '1 2', out\n"
        "heavy = ('lark', 'danaflow.lang.api', 'danaflow.lang.compiler')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
