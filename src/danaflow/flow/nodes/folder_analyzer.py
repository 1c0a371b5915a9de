"""FolderAnalyzerNode: describes a directory tree (structure, sizes, file contents) for prompts.

Every limit is explicit (depth, files, entries, bytes per file, total content) and the result says
when it was cut, because the typical consumer is an LLM prompt with a budget. The walk goes from
a descriptor on the base without following symlinks (``_paths.BaseDir``): a directory symlink is
listed, not entered, unless ``follow_symlinks`` asks (then inside the base only, each directory
once by (st_dev, st_ino)), so symlink loops end. Walking runs in a thread. danaflow's own run
storage (a run root, a run's directory) is never listed: a flow analysing its project folder
would otherwise feed the model its own event log and run database.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.errors import ComponentError
from danaflow.template.engine import TemplateEngine

from ._paths import BaseDir, Parts, input_variables, rel, split
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
    max_depth: int | None = 32
    """Directories deeper than this are listed but not entered (None: no limit)."""
    include_content: bool = False
    include_patterns: list[str] = Field(default_factory=list)
    """Glob patterns a file name or relative path must match (empty: every file)."""
    exclude_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    max_file_size: int = 100_000
    """Files larger than this are listed but their content is not read."""
    max_files: int = 500
    """Files and symlinks listed; directories are not counted."""
    max_entries: int = 100_000
    """Directory entries looked at, listed or not (bounds the walk when patterns list little)."""
    max_total_content: int = 1_000_000
    """Characters of file content over the whole operation."""
    follow_symlinks: bool = False
    """Enter directory symlinks that resolve inside the base directory (each directory once).
    Symlinks to files inside the base are read either way; anything pointing outside is listed
    as a symlink and never read."""


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
        results = await asyncio.to_thread(_analyze, base, self.settings.operations, ctx.path)
        text = "\n\n".join(r["summary"] for r in results)
        return self.make_result(NodeOutcome(text=text, structured=results, results=results), output=results)


def _analyze(base: Path, operations: list[FolderAnalysisOperation], node_path: str) -> list[dict[str, Any]]:
    with BaseDir(base, node_path) as root:
        out = []
        for op in operations:
            try:
                out.append(_Analysis(root, op, node_path).run())
            except OSError as exc:
                raise ComponentError(f"{op.type} {op.path!r}: {exc.strerror or exc}", path=node_path) from exc
        return out


@dataclass(slots=True)
class _Entry:
    """One directory entry, classified: kind is 'dir', 'file', 'link_dir' (a directory symlink
    to enter), 'link_file' (a file symlink to read) or 'symlink' (listed only, ``why`` says why).
    ``real`` is where the entry (or the symlink's target) physically is below the base."""

    name: str
    kind: str
    real: Parts
    size: int = 0
    target: str = ""
    why: str = ""


class _Analysis:
    def __init__(self, root: BaseDir, op: FolderAnalysisOperation, node_path: str):
        self.root = root
        self.op = op
        self.what = f"{op.type} {op.path!r}"
        self.parts = split(op.path, self.what, node_path, root.path)
        self.node_path = node_path
        self.files = 0
        self.listed = 0
        self.entries = 0
        self.dirs = 0
        self.size = 0
        self.content_chars = 0
        self.truncated: list[str] = []
        self.full = False
        """max_files was reached: the walk lists nothing more."""
        self.seen: dict[tuple[int, int], str] = {}
        """(st_dev, st_ino) of every directory listed -> the path it was listed at."""

    def run(self) -> dict[str, Any]:
        op = self.op
        out: dict[str, Any] = {"operation": op.type, "path": rel(self.parts)}
        if op.type == "analyze_file":
            kind = self.root.kind(self.parts, self.what)  # refuses a symlink
            st = self.root.lstat(self.parts, self.what)
            if kind != "file" or st is None:
                raise ComponentError(f"{self.what}: no such file", path=self.node_path)
            out["file"] = self.file_entry(self.parts, rel(self.parts), st.st_size, with_content=True)
        else:
            fd = self.root.open_dir(self.parts, self.what)
            if fd is None:
                raise ComponentError(f"{self.what}: no such directory", path=self.node_path)
            try:
                self.mark_seen(fd, rel(self.parts))
                if op.type == "find_files":
                    found: list[dict[str, Any]] = []
                    self.collect(fd, self.parts, rel(self.parts), 0, found)
                    out["files"] = found
                else:
                    with_content = op.include_content and op.type == "analyze_folder"
                    out["tree"] = self.tree(fd, self.parts, rel(self.parts), 0, with_content)
            finally:
                os.close(fd)
        out.update(
            total_files=self.files, total_dirs=self.dirs, total_size=self.size, truncated=self.truncated
        )
        out["summary"] = self.summary(out)
        return out

    def cut(self, message: str) -> None:
        if message not in self.truncated:
            self.truncated.append(message)

    def matches(self, name: str, shown: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(shown, pat) for pat in patterns)

    def included(self, name: str, shown: str) -> bool:
        return not self.op.include_patterns or self.matches(name, shown, self.op.include_patterns)

    def mark_seen(self, fd: int, shown: str) -> str | None:
        """Records directory ``fd`` as listed at ``shown``; None, or where it was listed before."""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        first = self.seen.get(key)
        if first is None:
            self.seen[key] = shown
        return first

    def children(self, fd: int, real: Parts, shown: str) -> list[_Entry]:
        """The entries of directory ``fd`` (physically at ``real``), dirs first, then by name."""
        if self.entries >= self.op.max_entries:
            self.cut(f"max_entries={self.op.max_entries} reached")
            return []
        try:
            with os.scandir(fd) as it:
                raw = list(it)
        except OSError as exc:
            self.cut(f"{shown}: unreadable ({exc.strerror})")
            return []
        if self.entries + len(raw) > self.op.max_entries:
            raw = sorted(raw, key=lambda e: e.name)[: max(self.op.max_entries - self.entries, 0)]
            self.cut(f"max_entries={self.op.max_entries} reached")
        self.entries += len(raw)
        out = []
        for e in raw:
            child_shown = e.name if shown == "." else f"{shown}/{e.name}"
            if self.matches(e.name, child_shown, self.op.exclude_patterns):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we listed
            if stat.S_ISDIR(st.st_mode):
                if _is_run_storage(fd, e.name):
                    continue
                out.append(_Entry(e.name, "dir", (*real, e.name)))
            elif stat.S_ISREG(st.st_mode):
                out.append(_Entry(e.name, "file", (*real, e.name), st.st_size))
            elif stat.S_ISLNK(st.st_mode):
                out.append(self.link(fd, real, e.name))
        # Real directories before followed links, so a tree is listed where it lives.
        out.sort(key=lambda c: ({"dir": 0, "link_dir": 1}.get(c.kind, 2), c.name))
        return out

    def link(self, fd: int, real: Parts, name: str) -> _Entry:
        """Classifies the symlink ``name``: only a target inside the base is ever read or entered."""
        try:
            target = os.readlink(name, dir_fd=fd)
        except OSError:
            return _Entry(name, "symlink", (*real, name), why="unreadable")
        base = self.root.path
        try:  # realpath only names the target; reading it goes through the descriptor walk
            resolved = Path(os.path.realpath(base.joinpath(*real, name)))
        except OSError:  # a link on the way swapped for something else as it was read
            return _Entry(name, "symlink", (*real, name), target=target, why="changed while it was listed")
        if resolved != base and base not in resolved.parents:
            return _Entry(name, "symlink", (*real, name), target=target, why="outside the base directory")
        parts = resolved.relative_to(base).parts
        try:
            st = self.root.lstat(parts, self.what)
        except ComponentError:  # a symlink swapped in on the way since realpath looked
            return _Entry(name, "symlink", (*real, name), target=target, why="changed while it was listed")
        if st is None:
            return _Entry(name, "symlink", (*real, name), target=target, why="dangling")
        if stat.S_ISREG(st.st_mode):
            return _Entry(name, "link_file", parts, st.st_size, target=target)
        if stat.S_ISDIR(st.st_mode) and self.op.follow_symlinks:
            return _Entry(name, "link_dir", parts, target=target)
        if stat.S_ISDIR(st.st_mode):
            return _Entry(name, "symlink", (*real, name), target=target, why="not followed")
        return _Entry(name, "symlink", (*real, name), target=target, why="not a regular file")

    def enter(self, parent: int, child: _Entry, shown: str) -> int | str:
        """A descriptor on the directory ``child``, or why it is not entered."""
        try:
            if child.kind == "dir":
                fd = os.open(child.name, _DIR_FLAGS, dir_fd=parent)
            else:
                fd = self.root.open_dir(child.real, self.what)
                if fd is None:
                    return "dangling"
        except (OSError, ComponentError):
            return "changed while it was listed"
        first = self.mark_seen(fd, shown)
        if first is not None:
            os.close(fd)
            return f"already listed at {first}"
        return fd

    def over_depth(self, depth: int, shown: str) -> bool:
        if self.op.max_depth is not None and depth > self.op.max_depth:
            self.cut(f"max_depth={self.op.max_depth} reached")
            return True
        return False

    def count(self) -> bool:
        """Counts one listed file or symlink; False (and cut) when max_files is reached."""
        if self.listed >= self.op.max_files:
            self.cut(f"max_files={self.op.max_files} reached")
            self.full = True
            return False
        self.listed += 1
        return True

    def tree(self, fd: int, real: Parts, shown: str, depth: int, with_content: bool) -> dict[str, Any]:
        self.dirs += 1
        node: dict[str, Any] = {
            "name": shown.rsplit("/", 1)[-1],
            "path": shown,
            "type": "directory",
            "children": [],
        }
        if self.over_depth(depth + 1, shown):
            node["truncated"] = True
            node["size"] = 0
            return node
        for child in self.children(fd, real, shown):
            if self.full:
                node["truncated"] = True
                break
            child_shown = child.name if shown == "." else f"{shown}/{child.name}"
            if child.kind in ("dir", "link_dir"):
                sub = self.enter(fd, child, child_shown)
                if isinstance(sub, str):
                    node["children"].append(self.symlink_entry(child, child_shown, sub))
                    continue
                try:
                    entry = self.tree(sub, child.real, child_shown, depth + 1, with_content)
                finally:
                    os.close(sub)
                if child.kind == "link_dir":
                    entry["symlink_to"] = rel(child.real)
                node["children"].append(entry)
            elif self.included(child.name, child_shown):
                if not self.count():
                    node["truncated"] = True
                    break
                node["children"].append(self.listed_entry(child, child_shown, with_content))
        node["size"] = sum(c.get("size", 0) for c in node["children"])
        return node

    def collect(self, fd: int, real: Parts, shown: str, depth: int, found: list[dict[str, Any]]) -> None:
        for child in self.children(fd, real, shown):
            if self.full:
                return
            child_shown = child.name if shown == "." else f"{shown}/{child.name}"
            if child.kind in ("dir", "link_dir"):
                if self.over_depth(depth + 1, child_shown):
                    continue
                sub = self.enter(fd, child, child_shown)
                if isinstance(sub, str):
                    if self.included(child.name, child_shown):
                        if not self.count():
                            return
                        found.append(self.symlink_entry(child, child_shown, sub))
                    continue
                self.dirs += 1
                try:
                    self.collect(sub, child.real, child_shown, depth + 1, found)
                finally:
                    os.close(sub)
            elif self.included(child.name, child_shown):
                if not self.count():
                    return
                found.append(self.listed_entry(child, child_shown, self.op.include_content))

    def listed_entry(self, child: _Entry, shown: str, with_content: bool) -> dict[str, Any]:
        if child.kind == "symlink":
            return self.symlink_entry(child, shown, child.why)
        entry = self.file_entry(child.real, shown, child.size, with_content)
        if child.kind == "link_file":
            entry["symlink_to"] = rel(child.real)
        return entry

    def symlink_entry(self, child: _Entry, shown: str, why: str) -> dict[str, Any]:
        """A symlink listed, not followed: its text and why it was not read or entered."""
        if child.kind == "dir":  # a real directory not entered (listed already: a bind-mount loop)
            return {"name": child.name, "path": shown, "type": "directory", "not_followed": why}
        entry = {"name": child.name, "path": shown, "type": "symlink", "target": child.target}
        entry["not_followed"] = why
        return entry

    def file_entry(self, real: Parts, shown: str, size: int, with_content: bool) -> dict[str, Any]:
        self.files += 1
        self.size += size
        name = shown.rsplit("/", 1)[-1]
        entry: dict[str, Any] = {"name": name, "path": shown, "type": "file", "size": size}
        if not with_content:
            return entry
        if size > self.op.max_file_size:
            entry["content_skipped"] = f"larger than max_file_size={self.op.max_file_size}"
            return entry
        room = self.op.max_total_content - self.content_chars
        if room <= 0:
            entry["content_skipped"] = f"max_total_content={self.op.max_total_content} reached"
            self.cut(entry["content_skipped"])
            return entry
        try:
            fd = self.root.open_file(real, f"{self.op.type} {shown!r}")
        except ComponentError as exc:  # swapped for a symlink or removed since it was listed
            entry["content_skipped"] = exc.message.removeprefix(f"{self.op.type} {shown!r}: ")
            return entry
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(self.op.max_file_size + 1)
        if len(raw) > self.op.max_file_size:
            entry["content_skipped"] = f"larger than max_file_size={self.op.max_file_size}"
            return entry
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
            lines.append(f"  {entry['path']}{_suffix(entry)}")
        lines.extend(f"  (cut: {t})" for t in self.truncated)
        return "\n".join(lines)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


_RUN_MARKERS = (("danaflow.db",), ("run.json", "events.jsonl"))
"""What marks a directory as danaflow's run storage: a run root holds the SQLite index, a run's
own directory holds run.json beside events.jsonl."""


def _is_run_storage(parent_fd: int, name: str) -> bool:
    """Whether directory ``name`` (in ``parent_fd``) is a run root or a run directory."""
    for markers in _RUN_MARKERS:
        try:
            for marker in markers:
                os.stat(f"{name}/{marker}", dir_fd=parent_fd, follow_symlinks=False)
        except OSError:
            continue
        return True
    return False


def _suffix(entry: dict[str, Any]) -> str:
    if entry["type"] == "directory":
        return "/"
    if entry["type"] == "symlink":
        return f" -> {entry['target']} (symlink, {entry['not_followed']})"
    return f" ({entry['size']} bytes)"


def _tree_lines(node: dict[str, Any], depth: int, lines: list[str]) -> None:
    for child in node.get("children", []):
        lines.append(f"{'  ' * (depth + 1)}{child['name']}{_suffix(child)}")
        if child["type"] == "directory":
            _tree_lines(child, depth + 1, lines)
