"""FolderAnalyzerNode: tree, sizes, contents and their limits."""

from __future__ import annotations

from danaflow.context import ExecutionStatusEnum as S
from danaflow.flow import FlowDefinition, FlowRunner, FolderAnalyzerNode, FolderAnalyzerSettings
from danaflow.flow.nodes import FolderAnalysisOperation


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
