"""FileOperationNode on a temp dir: create/edit/delete/move, staging, escape and symlink refusal
(including a racing process that swaps a directory for a symlink), templates."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
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


def _tree(root):
    """Every path under ``root`` with its text (files) or None (directories and links)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            text = p.read_text() if p.is_file() and not p.is_symlink() else None
            out[p.relative_to(root).as_posix()] = text
    return out


@pytest.fixture
def base_and_outside(tmp_path):
    base, outside = tmp_path / "base", tmp_path / "outside"
    (base / "real").mkdir(parents=True)
    (base / "real/inner.txt").write_text("inner")
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (base / "link").symlink_to(outside, target_is_directory=True)
    (base / "filelink").symlink_to(outside / "secret.txt")
    return base, outside


SYMLINK_OPS = [
    FileOperation(type="create_file", path="link/new.txt", content="pwned"),
    FileOperation(type="create_file", path="link/deeper/new.txt", content="pwned"),
    FileOperation(type="create_file", path="filelink", content="pwned"),
    FileOperation(type="edit_file", path="link/secret.txt", edits=[{"old_text": "secret", "new_text": "x"}]),
    FileOperation(type="edit_file", path="filelink", content="pwned"),
    FileOperation(type="delete_file", path="link/secret.txt"),
    FileOperation(type="delete_file", path="filelink"),
    FileOperation(type="move_file", path="link/secret.txt", destination="stolen.txt"),
    FileOperation(type="move_file", path="real/inner.txt", destination="link/planted.txt"),
    FileOperation(type="create_directory", path="link/newdir"),
    FileOperation(type="delete_directory", path="link"),
]


@pytest.mark.parametrize("stage", [True, False])
@pytest.mark.parametrize("op", SYMLINK_OPS, ids=lambda op: f"{op.type}:{op.path}->{op.destination or ''}")
async def test_a_symlink_on_the_way_is_refused_naming_the_operation_and_path(base_and_outside, op, stage):
    base, outside = base_and_outside
    before = _tree(outside)
    r = await _run(base, [op], stage=stage)
    assert r.execution_status is S.failed
    assert op.type in r.error.message and "is a symlink: refused" in r.error.message
    assert "'link'" in r.error.message or "'filelink'" in r.error.message
    assert r.error.path == "f.ops"
    assert _tree(outside) == before
    assert (base / "real/inner.txt").read_text() == "inner"
    assert not (base / "stolen.txt").exists()


async def test_dot_dot_that_stays_inside_is_folded(tmp_path):
    r = await _run(tmp_path, [FileOperation(type="create_file", path="a/../b/./c.txt", content="ok")])
    assert r.execution_status is S.completed, r.error
    assert (tmp_path / "b/c.txt").read_text() == "ok" and r.outcome.files == ["b/c.txt"]
    assert not (tmp_path / "a").exists()


async def test_writes_keep_the_mode_of_the_file_they_replace(tmp_path):
    (tmp_path / "run.sh").write_text("echo old\n")
    (tmp_path / "run.sh").chmod(0o750)
    r = await _run(tmp_path, [FileOperation(type="create_file", path="run.sh", content="echo new\n")])
    assert r.execution_status is S.completed, r.error
    assert (tmp_path / "run.sh").read_text() == "echo new\n"
    assert stat.S_IMODE((tmp_path / "run.sh").stat().st_mode) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["run.sh"]  # no temp file left behind


async def test_no_overwrite_create_keeps_an_existing_file(tmp_path):
    (tmp_path / "a.txt").write_text("first")
    r = await _run(tmp_path, [FileOperation(type="create_file", path="a.txt", content="x", overwrite=False)])
    assert r.execution_status is S.failed and "create_file 'a.txt': the file exists" in r.error.message
    assert (tmp_path / "a.txt").read_text() == "first"


# Swaps base/sub (a directory) with base/sub.link (a symlink to the outside directory) as fast as
# it can until SIGTERM: atomically with renameat2(RENAME_EXCHANGE) where libc has it (sub is never
# missing, half the time a symlink), else by four renames. Prints "ready" after its first full
# cycle, and the number of cycles when stopped.
RACER = r"""
import ctypes, os, signal, sys
base, outside = sys.argv[1], sys.argv[2]
sub, real, link = (os.path.join(base, n) for n in ("sub", "sub.real", "sub.link"))
os.symlink(outside, link)
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = getattr(libc, "renameat2", None)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b = sub.encode(), link.encode()
def exchange():
    if renameat2 is not None and renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
        return
    for src, dst in ((sub, real), (link, sub), (sub, link), (real, sub)):
        try:
            os.rename(src, dst)
        except OSError:
            pass
cycles = 0
def stop(*_):
    print(cycles, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    exchange()
    exchange()
    cycles += 1
    if cycles == 1:
        print("ready", flush=True)
"""


async def test_a_directory_swapped_for_a_symlink_mid_run_never_lets_a_write_out(tmp_path):
    base, outside = tmp_path / "base", tmp_path / "outside"
    (base / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "victim.txt").write_text("keep me")
    racer = subprocess.Popen(
        [sys.executable, "-c", RACER, str(base), str(outside)], stdout=subprocess.PIPE, text=True
    )
    completed = 0
    try:
        assert racer.stdout.readline().strip() == "ready"
        for i in range(400):
            ops = [
                FileOperation(type="create_file", path=f"sub/f{i}.txt", content="data"),
                FileOperation(type="create_file", path=f"sub/d{i}/g.txt", content="data"),
                FileOperation(type="create_file", path="sub/victim.txt", content="data"),
                FileOperation(type="edit_file", path="sub/victim.txt", content="edited"),
                FileOperation(type="move_file", path=f"sub/f{i}.txt", destination=f"sub/m{i}.txt"),
                FileOperation(type="create_directory", path=f"sub/e{i}"),
                FileOperation(type="delete_file", path="sub/victim.txt"),
                FileOperation(type="delete_directory", path=f"sub/d{i}"),
            ]
            r = await _run(base, ops, stage=i % 2 == 0)
            completed += r.execution_status is S.completed
            if r.execution_status is S.failed:  # refused or raced, never an unexplained crash
                assert r.error.message.startswith(tuple(f"f.ops: {t} " for t in _TYPES)), r.error.message
    finally:
        racer.terminate()
        cycles = int(racer.communicate(timeout=10)[0].strip())
    assert cycles >= 1
    assert _tree(outside) == {"victim.txt": "keep me"}  # zero escapes, nothing deleted or changed


_TYPES = ("create_file", "edit_file", "delete_file", "move_file", "create_directory", "delete_directory")
