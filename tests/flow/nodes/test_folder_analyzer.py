"""FolderAnalyzerNode: tree, sizes, contents and their limits; symlinks, loops and bounds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from danaflow.context import ExecutionStatusEnum as S
from danaflow.flow import FlowDefinition, FlowRunner, FolderAnalyzerNode, FolderAnalyzerSettings
from danaflow.flow.nodes import FolderAnalysisOperation
from danaflow.runs import RunContext

from .test_file_operation import RACER


def _repo(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/app.py").write_text("print('hi')\n")
    (tmp_path / "src/big.py").write_text("x" * 5000)
    (tmp_path / "README.md").write_text("# Title\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/config").write_text("secret")
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2")
    return tmp_path


async def _analyze(base, *ops):
    node = FolderAnalyzerNode(settings=FolderAnalyzerSettings(base_directory=str(base), operations=list(ops)))
    result = await FlowRunner(FlowDefinition("f").node("scan", node)).run()
    return result.get_result("scan")


async def test_tree_with_sizes_and_default_excludes(tmp_path):
    r = await _analyze(_repo(tmp_path), FolderAnalysisOperation(type="get_structure"))
    assert r.execution_status is S.completed
    (res,) = r.outcome.results
    tree = res["tree"]
    names = [c["name"] for c in tree["children"]]
    assert names == ["src", "README.md", "blob.bin"]  # dirs first, .git excluded
    src = tree["children"][0]
    assert {c["name"]: c["size"] for c in src["children"]} == {"app.py": 12, "big.py": 5000}
    assert src["size"] == 5012 and res["total_files"] == 4
    assert "content" not in src["children"][0]
    assert "app.py (12 bytes)" in r.outcome.text


async def test_contents_respect_size_limits_and_skip_binaries(tmp_path):
    op = FolderAnalysisOperation(type="analyze_folder", include_content=True, max_file_size=1000)
    r = await _analyze(_repo(tmp_path), op)
    files = {}

    def walk(node):
        for c in node.get("children", []):
            if c["type"] == "file":
                files[c["path"]] = c
            else:
                walk(c)

    walk(r.outcome.results[0]["tree"])
    assert files["src/app.py"]["content"] == "print('hi')\n"
    assert "max_file_size=1000" in files["src/big.py"]["content_skipped"]
    assert files["blob.bin"]["content_skipped"] == "binary"


async def test_total_content_and_file_count_limits(tmp_path):
    base = _repo(tmp_path)
    r = await _analyze(
        base, FolderAnalysisOperation(type="find_files", include_content=True, max_total_content=10)
    )
    res = r.outcome.results[0]
    contents = [f.get("content", "") for f in res["files"]]
    assert sum(len(c) for c in contents) == 10 and res["truncated"]
    r = await _analyze(base, FolderAnalysisOperation(type="find_files", max_files=2))
    assert (
        len(r.outcome.results[0]["files"]) == 2 and "max_files=2 reached" in r.outcome.results[0]["truncated"]
    )


async def test_include_patterns_and_depth(tmp_path):
    base = _repo(tmp_path)
    r = await _analyze(base, FolderAnalysisOperation(type="find_files", include_patterns=["*.py"]))
    assert [f["path"] for f in r.outcome.results[0]["files"]] == ["src/app.py", "src/big.py"]
    r = await _analyze(base, FolderAnalysisOperation(type="get_structure", max_depth=0))
    assert r.outcome.results[0]["tree"]["truncated"] is True


async def test_analyze_file_and_escape_refusal(tmp_path):
    base = _repo(tmp_path)
    r = await _analyze(base, FolderAnalysisOperation(type="analyze_file", path="README.md"))
    assert r.outcome.results[0]["file"]["content"] == "# Title\n"
    r = await _analyze(base / "src", FolderAnalysisOperation(path=".."))
    assert r.execution_status is S.failed and "escapes the base directory" in r.error.message


def _loops(tmp_path):
    """A tree with two symlink loops (loop -> ., sub/up -> ..) and an alias of sub."""
    base = tmp_path / "base"
    (base / "sub/deep").mkdir(parents=True)
    (base / "a.txt").write_text("a")
    (base / "sub/b.txt").write_text("b")
    (base / "sub/deep/c.txt").write_text("c")
    (base / "loop").symlink_to(".")
    (base / "sub/up").symlink_to("..")
    (base / "alias").symlink_to("sub")
    return base


# Runs the node in a child process so a walk that never ends fails the test instead of hanging it.
LOOP_SCRIPT = r"""
import asyncio, json, sys
from danaflow.flow import FlowDefinition, FlowRunner, FolderAnalyzerNode, FolderAnalyzerSettings
from danaflow.flow.nodes import FolderAnalysisOperation
from danaflow.runs import RunContext

async def main(base, follow):
    ops = [
        FolderAnalysisOperation(type=t, include_content=True, follow_symlinks=follow)
        for t in ("analyze_folder", "get_structure", "find_files")
    ]
    node = FolderAnalyzerNode(settings=FolderAnalyzerSettings(base_directory=base, operations=ops))
    r = (await FlowRunner(FlowDefinition("f").node("scan", node)).run()).get_result("scan")
    assert r.error is None, r.error
    print(json.dumps(r.outcome.results))

asyncio.run(main(sys.argv[1], sys.argv[2] == "follow"))
"""


def _walk_loops(base, follow):
    done = subprocess.run(
        [sys.executable, "-c", LOOP_SCRIPT, str(base), "follow" if follow else "no"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _entries(res):
    """path -> entry, for every entry of a result's tree or file list (each path at most once)."""
    out = {}

    def walk(node):
        for c in node.get("children", []):
            assert c["path"] not in out, f"{c['path']} listed twice"
            out[c["path"]] = c
            walk(c)

    if "tree" in res:
        walk(res["tree"])
    for f in res.get("files", []):
        assert f["path"] not in out, f"{f['path']} listed twice"
        out[f["path"]] = f
    return out


def test_two_symlink_loops_end_and_list_each_file_once_without_following(tmp_path):
    base = _loops(tmp_path)
    for res in _walk_loops(base, follow=False):
        entries = _entries(res)
        files = sorted(p for p, e in entries.items() if e["type"] == "file")
        assert files == ["a.txt", "sub/b.txt", "sub/deep/c.txt"], res["operation"]
        links = {p: e for p, e in entries.items() if e["type"] == "symlink"}
        assert {p: (e["target"], e["not_followed"]) for p, e in links.items()} == {
            "alias": ("sub", "not followed"),
            "loop": (".", "not followed"),
            "sub/up": ("..", "not followed"),
        }
        assert res["total_files"] == 3 and res["truncated"] == []
    analyzed = _entries(_walk_loops(base, follow=False)[0])
    assert analyzed["sub/deep/c.txt"]["content"] == "c"


def test_following_symlinks_detects_the_cycles_by_inode(tmp_path):
    base = _loops(tmp_path)
    for res in _walk_loops(base, follow=True):
        entries = _entries(res)
        files = sorted(p for p, e in entries.items() if e["type"] == "file")
        assert files == ["a.txt", "sub/b.txt", "sub/deep/c.txt"], res["operation"]
        assert entries["loop"]["not_followed"] == "already listed at ."
        assert entries["sub/up"]["not_followed"] == "already listed at ."
        assert entries["alias"]["not_followed"] == "already listed at sub"
        assert res["total_files"] == 3


async def test_a_followed_symlink_inside_the_base_is_entered_once(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/mod.py").write_text("x = 1\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app/lib").symlink_to("../pkg")
    r = await _analyze(tmp_path, FolderAnalysisOperation(type="get_structure", follow_symlinks=True))
    entries = _entries(r.outcome.results[0])
    # app/ is walked first, so pkg is listed through the link and its real path points back.
    assert entries["app/lib"]["type"] == "directory" and entries["app/lib"]["symlink_to"] == "pkg"
    assert entries["app/lib/mod.py"]["size"] == 6
    assert entries["pkg"] == {
        "name": "pkg",
        "path": "pkg",
        "type": "directory",
        "not_followed": "already listed at app/lib",
    }
    assert r.outcome.results[0]["total_files"] == 1
    r = await _analyze(tmp_path / "app", FolderAnalysisOperation(type="find_files", follow_symlinks=True))
    (lib,) = r.outcome.results[0]["files"]  # pkg is outside this base: listed, never entered
    assert lib["type"] == "symlink" and lib["not_followed"] == "outside the base directory"


async def test_symlinks_pointing_outside_are_listed_never_read(tmp_path):
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET")
    (outside / "more").mkdir()
    (outside / "more/x.txt").write_text("TOP-SECRET too")
    (base / "notes.txt").write_text("mine")
    (base / "leak.txt").symlink_to(outside / "secret.txt")
    (base / "leakdir").symlink_to(outside / "more")
    (base / "same.txt").symlink_to("notes.txt")
    (base / "dangling").symlink_to("nowhere")
    for follow in (False, True):
        r = await _analyze(
            base,
            FolderAnalysisOperation(type="analyze_folder", include_content=True, follow_symlinks=follow),
            FolderAnalysisOperation(type="find_files", include_content=True, follow_symlinks=follow),
        )
        assert r.execution_status is S.completed
        assert "TOP-SECRET" not in r.outcome.text and "TOP-SECRET" not in json.dumps(r.outcome.results)
        for res in r.outcome.results:
            entries = _entries(res)
            assert entries["leak.txt"]["type"] == "symlink"
            assert entries["leak.txt"]["not_followed"] == "outside the base directory"
            assert entries["leak.txt"]["target"] == str(outside / "secret.txt")
            assert entries["leakdir"]["not_followed"] == "outside the base directory"
            assert entries["dangling"]["not_followed"] == "dangling"
            assert entries["same.txt"]["content"] == "mine"  # a link to a file inside is read
            assert entries["same.txt"]["symlink_to"] == "notes.txt"
        assert f"leak.txt -> {outside / 'secret.txt'} (symlink, outside the base directory)" in r.outcome.text
    r = await _analyze(base, FolderAnalysisOperation(type="analyze_file", path="leak.txt"))
    assert r.execution_status is S.failed and "'leak.txt' is a symlink: refused" in r.error.message
    r = await _analyze(base, FolderAnalysisOperation(type="get_structure", path="leakdir"))
    assert r.execution_status is S.failed and "'leakdir' is a symlink: refused" in r.error.message


async def test_depth_defaults_to_32_and_every_bound_is_reported(tmp_path):
    deep = tmp_path.joinpath(*[f"d{i}" for i in range(40)])
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("x")
    r = await _analyze(tmp_path, FolderAnalysisOperation(type="find_files"))
    res = r.outcome.results[0]
    assert res["files"] == [] and res["truncated"] == ["max_depth=32 reached"]
    assert res["total_dirs"] == 32
    assert "(cut: max_depth=32 reached)" in r.outcome.text
    r = await _analyze(tmp_path, FolderAnalysisOperation(type="get_structure", max_depth=None))
    assert r.outcome.results[0]["total_files"] == 1 and r.outcome.results[0]["truncated"] == []

    wide = tmp_path / "wide"
    wide.mkdir()
    for i in range(50):
        (wide / f"f{i:02}.txt").write_text("x")
    r = await _analyze(wide, FolderAnalysisOperation(type="find_files", max_entries=20))
    res = r.outcome.results[0]
    assert [f["name"] for f in res["files"]] == [f"f{i:02}.txt" for i in range(20)]
    assert res["truncated"] == ["max_entries=20 reached"]
    r = await _analyze(wide, FolderAnalysisOperation(type="get_structure", max_files=5))
    res = r.outcome.results[0]
    assert len(res["tree"]["children"]) == 5 and res["tree"]["truncated"] is True
    assert res["truncated"] == ["max_files=5 reached"]


async def test_a_fifo_is_skipped_not_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "pipe.txt").symlink_to("pipe")
    (tmp_path / "ok.txt").write_text("ok")
    r = await _analyze(tmp_path, FolderAnalysisOperation(type="analyze_folder", include_content=True))
    entries = _entries(r.outcome.results[0])
    assert set(entries) == {"ok.txt", "pipe.txt"}
    assert entries["pipe.txt"]["not_followed"] == "not a regular file"


async def test_a_directory_swapped_for_a_symlink_mid_walk_is_never_read_through(tmp_path):
    base, outside = tmp_path / "base", tmp_path / "outside"
    (base / "sub").mkdir(parents=True)
    (base / "sub/inner.txt").write_text("inner")
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET")
    racer = subprocess.Popen(
        [sys.executable, "-c", RACER, str(base), str(outside)], stdout=subprocess.PIPE, text=True
    )
    seen = []
    try:
        assert racer.stdout.readline().strip() == "ready"
        for i in range(200):
            r = await _analyze(
                base,
                FolderAnalysisOperation(
                    type="analyze_folder", include_content=True, follow_symlinks=i % 2 == 0
                ),
                FolderAnalysisOperation(type="find_files", include_content=True, follow_symlinks=i % 2 == 1),
            )
            assert r.execution_status is S.completed, r.error
            dumped = json.dumps(r.outcome.results)
            assert "TOP-SECRET" not in dumped and "secret.txt" not in dumped
            seen.extend(_entries(res).get("sub", {}).get("type") for res in r.outcome.results)
    finally:
        racer.terminate()
        cycles = int(racer.communicate(timeout=10)[0].strip())
    assert cycles >= 1 and set(seen) <= {"directory", "symlink", None}


async def test_a_run_inside_the_analysed_folder_is_never_listed(tmp_path):
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "runs_elsewhere").mkdir()
    (tmp_path / "runs_elsewhere/run.json").write_text("{}")  # a run.json alone is a user's file
    node = FolderAnalyzerNode(
        settings=FolderAnalyzerSettings(
            base_directory=str(tmp_path),
            operations=[
                FolderAnalysisOperation(include_content=True),
                FolderAnalysisOperation(type="find_files"),
            ],
        )
    )
    run_context = RunContext(root_component_id="f", project_root=tmp_path, run_root=tmp_path / "runs")
    run_context.setup_run(run_id_prefix="scan")
    try:
        result = await FlowRunner(FlowDefinition("f").node("scan", node), run_context).run()
    finally:
        run_context.close()
    scan = result.get_result("scan")
    assert scan.execution_status is S.completed, scan.error
    assert (tmp_path / "runs" / "danaflow.db").exists()  # the run root is there, but not in the text
    assert "events.jsonl" not in scan.outcome.text and "danaflow.db" not in scan.outcome.text
    assert "runs/" not in scan.outcome.text
    assert "calc.py" in scan.outcome.text and "runs_elsewhere/run.json" in json.dumps(scan.outcome.results)
    # A run directory on its own (store elsewhere) is skipped too.
    moved = tmp_path / "copied_run"
    (tmp_path / "runs" / run_context.run_id).rename(moved)
    again = await _analyze(tmp_path, FolderAnalysisOperation(type="find_files"))
    assert not any(f["path"].startswith("copied_run") for f in again.outcome.results[0]["files"])
