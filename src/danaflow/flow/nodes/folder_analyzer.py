"""FolderAnalyzerNode: describes a directory tree (structure, sizes, file contents) for prompts.

Every limit is explicit (depth, files, bytes per file, total content) and the result says when it
was cut, because the typical consumer is an LLM prompt with a budget. Walking runs in a thread.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.errors import ComponentError
from danaflow.template.engine import TemplateEngine

from ._paths import input_variables, inside
from .base import Node

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["FolderAnalysisOperation", "FolderAnalyzerNode", "FolderAnalyzerSettings"]

DEFAULT_EXCLUDES = [
    ".git",
    "__pycache__",
    "node_modules",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    "*.pyc",
]


class FolderAnalysisOperation(BaseModel):
    """One analysis of ``path`` (relative to the base directory)."""

    type: Literal["analyze_folder", "get_structure", "find_files", "analyze_file"] = "analyze_folder"
    """analyze_folder: tree with sizes (and contents if asked); get_structure: tree without
    contents; find_files: a flat list of matching files; analyze_file: one file."""
    path: str = "."
    max_depth: int | None = None
    include_content: bool = False
    include_patterns: list[str] = Field(default_factory=list)
    """Glob patterns a file name or relative path must match (empty: every file)."""
    exclude_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    max_file_size: int = 100_000
    """Files larger than this are listed but their content is not read."""
    max_files: int = 500
    max_total_content: int = 1_000_000
    """Characters of file content over the whole operation."""


class FolderAnalyzerSettings(BaseModel):
    base_directory: str | Path
    operations: list[FolderAnalysisOperation] = Field(default_factory=lambda: [FolderAnalysisOperation()])


class FolderAnalyzerNode(Node):
    """Outcome ``results``: one dict per operation (``tree`` or ``files``, totals, ``truncated``)."""

    node_type = "folder_analyzer"

    def __init__(self, settings: FolderAnalyzerSettings, **kw: Any):
        super().__init__(**kw)
        self.settings = settings

    def templates(self) -> list[tuple[str, str]]:
        return [("base_directory", str(self.settings.base_directory))]

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        variables = input_variables(ctx.node_input)
        name = f"{ctx.path}.base_directory"
        base = Path(TemplateEngine.render_text(str(self.settings.base_directory), variables, ctx, name=name))
        if not base.is_dir():
            raise ComponentError(f"base directory {str(base)!r} does not exist", path=ctx.path)
        results = await asyncio.to_thread(
            lambda: [_Analysis(base, op, ctx.path).run() for op in self.settings.operations]
        )
        text = "\n\n".join(r["summary"] for r in results)
        return self.make_result(NodeOutcome(text=text, structured=results, results=results), output=results)


class _Analysis:
    def __init__(self, base: Path, op: FolderAnalysisOperation, node_path: str):
        self.base = base.resolve()
        self.op = op
        self.root = inside(base, op.path, node_path)
        self.node_path = node_path
        self.files = 0
        self.dirs = 0
        self.size = 0
        self.content_chars = 0
        self.truncated: list[str] = []

    def run(self) -> dict[str, Any]:
        op = self.op
        rel_root = self.rel(self.root)
        out: dict[str, Any] = {"operation": op.type, "path": rel_root}
        if op.type == "analyze_file":
            if not self.root.is_file():
                raise ComponentError(f"analyze_file {op.path!r}: no such file", path=self.node_path)
            out["file"] = self.file_entry(self.root, with_content=True)
        elif op.type == "find_files":
            found: list[dict[str, Any]] = []
            self.collect(self.root, 0, found)
            out["files"] = found
        else:
            if not self.root.is_dir():
                raise ComponentError(f"{op.type} {op.path!r}: no such directory", path=self.node_path)
            with_content = op.include_content and op.type == "analyze_folder"
            out["tree"] = self.tree(self.root, 0, with_content)
        out.update(
            total_files=self.files, total_dirs=self.dirs, total_size=self.size, truncated=self.truncated
        )
        out["summary"] = self.summary(out)
        return out

    def rel(self, p: Path) -> str:
        r = p.relative_to(self.base).as_posix()
        return r or "."

    def excluded(self, p: Path) -> bool:
        rel = self.rel(p)
        return any(
            fnmatch.fnmatch(p.name, pat) or fnmatch.fnmatch(rel, pat) for pat in self.op.exclude_patterns
        )

    def included(self, p: Path) -> bool:
        pats = self.op.include_patterns
        rel = self.rel(p)
        return not pats or any(fnmatch.fnmatch(p.name, pat) or fnmatch.fnmatch(rel, pat) for pat in pats)

    def children(self, d: Path) -> list[Path]:
        try:
            return sorted(d.iterdir(), key=lambda c: (not c.is_dir(), c.name))
        except OSError as exc:
            self.truncated.append(f"{self.rel(d)}: unreadable ({exc.strerror})")
            return []

    def tree(self, d: Path, depth: int, with_content: bool) -> dict[str, Any]:
        self.dirs += 1
        node: dict[str, Any] = {
            "name": d.name or ".",
            "path": self.rel(d),
            "type": "directory",
            "children": [],
        }
        if self.op.max_depth is not None and depth >= self.op.max_depth:
            node["truncated"] = True
            return node
        for child in self.children(d):
            if self.excluded(child) or (child.is_symlink() and not _inside(child, self.base)):
                continue
            if child.is_dir():
                node["children"].append(self.tree(child, depth + 1, with_content))
            elif child.is_file() and self.included(child):
                if self.files >= self.op.max_files:
                    self.truncated.append(f"max_files={self.op.max_files} reached")
                    node["truncated"] = True
                    break
                node["children"].append(self.file_entry(child, with_content))
        node["size"] = sum(c.get("size", 0) for c in node["children"])
        return node

    def collect(self, d: Path, depth: int, found: list[dict[str, Any]]) -> None:
        if self.op.max_depth is not None and depth > self.op.max_depth:
            return
        for child in self.children(d):
            if self.excluded(child):
                continue
            if child.is_dir():
                self.dirs += 1
                self.collect(child, depth + 1, found)
            elif child.is_file() and self.included(child):
                if self.files >= self.op.max_files:
                    self.truncated.append(f"max_files={self.op.max_files} reached")
                    return
                found.append(self.file_entry(child, self.op.include_content))

    def file_entry(self, f: Path, with_content: bool) -> dict[str, Any]:
        size = f.stat().st_size
        self.files += 1
        self.size += size
        entry: dict[str, Any] = {"name": f.name, "path": self.rel(f), "type": "file", "size": size}
        if not with_content:
            return entry
        if size > self.op.max_file_size:
            entry["content_skipped"] = f"larger than max_file_size={self.op.max_file_size}"
            return entry
        room = self.op.max_total_content - self.content_chars
        if room <= 0:
            entry["content_skipped"] = f"max_total_content={self.op.max_total_content} reached"
            self.truncated.append(entry["content_skipped"])
            return entry
        raw = f.read_bytes()
        if b"\0" in raw[:1024]:
            entry["content_skipped"] = "binary"
            return entry
        text = raw.decode("utf-8", errors="replace")
        if len(text) > room:
            text = text[:room]
            entry["content_truncated"] = True
            self.truncated.append(f"{entry['path']}: content cut at max_total_content")
        self.content_chars += len(text)
        entry["content"] = text
        return entry

    def summary(self, out: dict[str, Any]) -> str:
        lines = [f"{out['operation']} {out['path']}: {self.files} files, {self.dirs} dirs, {self.size} bytes"]
        if "tree" in out:
            _tree_lines(out["tree"], 0, lines)
        for entry in out.get("files", []):
            lines.append(f"  {entry['path']} ({entry['size']} bytes)")
        return "\n".join(lines)


def _tree_lines(node: dict[str, Any], depth: int, lines: list[str]) -> None:
    for child in node.get("children", []):
        suffix = "/" if child["type"] == "directory" else f" ({child['size']} bytes)"
        lines.append(f"{'  ' * (depth + 1)}{child['name']}{suffix}")
        if child["type"] == "directory":
            _tree_lines(child, depth + 1, lines)


def _inside(p: Path, base: Path) -> bool:
    target = Path(os.path.realpath(p))
    return target == base or base in target.parents
