"""FileOperationNode on a temp dir: create/edit/delete/move, staging, escape refusal, templates."""

from __future__ import annotations

from pydantic import BaseModel

from danaflow.context import ExecutionStatusEnum as S
from danaflow.flow import FileOperationNode, FileOperationNodeSettings, FlowDefinition, FlowRunner, PythonNode
from danaflow.flow.nodes import FileOperation
from danaflow.template import ObjectTemplate


async def _run(base, operations, stage=True):
    node = FileOperationNode(
        settings=FileOperationNodeSettings(base_directory=str(base), operations=operations, stage=stage)
    )
    result = await FlowRunner(FlowDefinition("f").node("ops", node)).run()
    return result.get_result("ops")


async def test_create_edit_move_delete(tmp_path):
    (tmp_path / "old.txt").write_text("bye")
    ops = [
        FileOperation(type="create_file", path="src/app.py", content="print('hello')\n"),
        FileOperation(
            type="edit_file", path="src/app.py", edits=[{"old_text": "hello", "new_text": "world"}]
        ),
        FileOperation(type="move_file", path="src/app.py", destination="src/main.py"),
        FileOperation(type="delete_file", path="old.txt"),
        FileOperation(type="create_directory", path="docs"),
    ]
    r = await _run(tmp_path, ops)
    assert r.execution_status is S.completed
    assert (tmp_path / "src/main.py").read_text() == "print('world')\n"
    assert not (tmp_path / "src/app.py").exists() and not (tmp_path / "old.txt").exists()
    assert (tmp_path / "docs").is_dir()
    assert r.outcome.files == ["docs", "old.txt", "src/app.py", "src/main.py"]
    assert [x["type"] for x in r.outcome.results] == [op.type for op in ops]


async def test_staged_operations_are_all_or_nothing(tmp_path):
    (tmp_path / "keep.txt").write_text("original")
    ops = [
        FileOperation(type="create_file", path="new.txt", content="x"),
        FileOperation(
            type="edit_file", path="keep.txt", edits=[{"old_text": "original", "new_text": "changed"}]
        ),
        FileOperation(type="edit_file", path="keep.txt", edits=[{"old_text": "not there", "new_text": "y"}]),
    ]
    r = await _run(tmp_path, ops)
    assert r.execution_status is S.failed and "text to replace not found" in r.error.message
    assert not (tmp_path / "new.txt").exists()
    assert (tmp_path / "keep.txt").read_text() == "original"


async def test_unstaged_operations_apply_until_the_failure(tmp_path):
    ops = [
        FileOperation(type="create_file", path="new.txt", content="x"),
        FileOperation(type="delete_file", path="missing.txt"),
    ]
    r = await _run(tmp_path, ops, stage=False)
    assert r.execution_status is S.failed and "no such file" in r.error.message
    assert (tmp_path / "new.txt").read_text() == "x"


async def test_paths_escaping_the_base_are_refused(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (tmp_path / "outside.txt").write_text("safe")
    for bad in ("../outside.txt", "/etc/passwd", "sub/../../outside.txt"):
        r = await _run(base, [FileOperation(type="create_file", path=bad, content="pwned")])
        assert r.execution_status is S.failed and "escapes the base directory" in r.error.message
    (base / "link").symlink_to(tmp_path)
    r = await _run(base, [FileOperation(type="create_file", path="link/outside.txt", content="pwned")])
    assert r.execution_status is S.failed
    assert (tmp_path / "outside.txt").read_text() == "safe"


class GeneratedOp(BaseModel):
    type: str
    path: str
    content: str


class Generated(BaseModel):
    file_operations: list[GeneratedOp]


async def test_operations_from_a_template_over_a_previous_result(tmp_path):
    generated = Generated(file_operations=[GeneratedOp(type="create", path="a/b.txt", content="from llm")])
    flow = FlowDefinition("f").vars(out=str(tmp_path))
    flow.node("code_generator", PythonNode(lambda ctx: generated))
    flow.node(
        "code_generator_file_ops",
        FileOperationNode(
            settings=FileOperationNodeSettings(
                base_directory="$var{out}",
                operations_template=ObjectTemplate(
                    expression="$expr{$hier{code_generator}.outcome.structured.file_operations}"
                ),
                stage=True,
            )
        ),
    )
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.completed, result.error
    assert (tmp_path / "a/b.txt").read_text() == "from llm"


async def test_invalid_operation_from_template_fails_clearly(tmp_path):
    flow = FlowDefinition("f")
    flow.node("gen", PythonNode(lambda ctx: [{"type": "explode", "path": "x"}]))
    flow.node(
        "ops",
        FileOperationNode(
            settings=FileOperationNodeSettings(
                base_directory=str(tmp_path),
                operations_template=ObjectTemplate(expression="$hier{gen.outcome.value}"),
            )
        ),
    )
    result = await FlowRunner(flow).run()
    assert "operation 0 is not a valid file operation" in result.get_result("ops").error.message
