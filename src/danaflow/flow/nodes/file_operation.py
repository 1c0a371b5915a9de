"""FileOperationNode: creates, edits, deletes and moves files under a base directory, staged.

Operations come from the settings or from an ObjectTemplate (typically an LLM's structured output:
``$expr{$hier{code_generator}.outcome.structured.file_operations}``). With ``stage=True`` (the
default) every operation is checked and its result computed against a virtual view of the
directory first; the disk changes only when all of them succeeded, so a bad edit in the middle
leaves nothing half-applied. Paths that escape the base directory are refused.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.errors import ComponentError
from danaflow.template.engine import ObjectTemplate, TemplateEngine

from ._paths import input_variables, inside
from .base import Node

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext

__all__ = ["FileEdit", "FileOperation", "FileOperationNode", "FileOperationNodeSettings"]

OperationType = Literal[
    "create_file", "edit_file", "delete_file", "move_file", "create_directory", "delete_directory"
]
_ALIASES = {
    "create": "create_file",
    "write": "create_file",
    "write_file": "create_file",
    "edit": "edit_file",
    "delete": "delete_file",
    "remove": "delete_file",
    "move": "move_file",
    "rename": "move_file",
    "mkdir": "create_directory",
    "rmdir": "delete_directory",
}


class FileEdit(BaseModel):
    """Replace the first occurrence of ``old_text`` with ``new_text``."""

    old_text: str
    new_text: str


class FileOperation(BaseModel):
    """One file-system change, relative to the base directory."""

    type: OperationType
    path: str
    content: str | None = None
    """The file's text, for create_file."""
    edits: list[FileEdit] = Field(default_factory=list)
    destination: str | None = None
    """For move_file."""
    overwrite: bool = True
    """create_file/move_file may replace an existing file."""

    @field_validator("type", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return _ALIASES.get(value, value) if isinstance(value, str) else value


class FileOperationNodeSettings(BaseModel):
    base_directory: str | Path
    """Where operations apply (a template; may use ``$var{}``)."""
    operations: list[FileOperation] | None = None
    operations_template: ObjectTemplate | None = None
    """Evaluates to a list of operations (dicts or models with the FileOperation fields)."""
    stage: bool = True
    """All-or-nothing: apply nothing unless every operation succeeds against the staged view."""


class FileOperationNode(Node):
    """Applies file operations; outcome ``results`` (one per operation) and ``files`` (changed paths)."""

    node_type = "file_operation"

    def __init__(self, settings: FileOperationNodeSettings, **kw: Any):
        super().__init__(**kw)
        if settings.operations is None and settings.operations_template is None:
            raise ComponentError("FileOperationNodeSettings: want operations or operations_template")
        self.settings = settings

    def templates(self) -> list[tuple[str, str]]:
        out = [("base_directory", str(self.settings.base_directory))]
        if self.settings.operations_template is not None:
            out.append(("operations_template", self.settings.operations_template.expression))
        return out

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        s = self.settings
        variables = input_variables(ctx.node_input)
        base = Path(
            TemplateEngine.render_text(
                str(s.base_directory), variables, ctx, name=f"{ctx.path}.base_directory"
            )
        )
        if s.operations is not None:
            operations = list(s.operations)
        else:
            assert s.operations_template is not None
            raw = s.operations_template.evaluate(ctx, variables, name=f"{ctx.path}.operations_template")
            operations = _coerce(raw, ctx.path)
        results = await asyncio.to_thread(_apply, base, operations, s.stage, ctx.path)
        files = sorted(
            {r["path"] for r in results} | {r["destination"] for r in results if r.get("destination")}
        )
        text = "\n".join(
            f"{r['type']} {r['path']}" + (f" -> {r['destination']}" if r.get("destination") else "")
            for r in results
        )
        outcome = NodeOutcome(text=text, structured=results, results=results, files=files)
        return self.make_result(outcome, output=results, input=[op.model_dump() for op in operations])


def _coerce(raw: Any, path: str) -> list[FileOperation]:
    if raw is None:
        return []
    if isinstance(raw, BaseModel | dict):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise ComponentError(
            f"operations_template gave {type(raw).__name__}, want a list of operations", path=path
        )
    ops: list[FileOperation] = []
    for i, item in enumerate(raw):
        if isinstance(item, FileOperation):
            ops.append(item)
            continue
        data = item.model_dump() if isinstance(item, BaseModel) else item
        try:
            ops.append(FileOperation.model_validate(data))
        except Exception as exc:
            raise ComponentError(f"operation {i} is not a valid file operation: {exc}", path=path) from exc
    return ops


_DELETED = None


class _Stage:
    """A virtual view of the base directory: what each path will hold once the actions run."""

    def __init__(self, base: Path, path: str):
        self.base = base
        self.node_path = path
        self.files: dict[Path, str | Path | None] = {}
        """Path -> new text, a disk path whose content moves here, or None (deleted)."""
        self.dirs: dict[Path, bool] = {}
        self.actions: list[Callable[[], None]] = []

    def resolve(self, rel: str) -> Path:
        target = inside(self.base, rel, self.node_path)
        if target == self.base.resolve():
            raise ComponentError(f"path {rel!r} names the base directory itself", path=self.node_path)
        return target

    def is_file(self, p: Path) -> bool:
        if p in self.files:
            return self.files[p] is not _DELETED
        if any(self.dirs.get(a) is False for a in p.parents):
            return False
        return p.is_file()

    def is_dir(self, p: Path) -> bool:
        if p in self.dirs:
            return self.dirs[p]
        if any(self.dirs.get(a) is False for a in p.parents):
            return False
        return p.is_dir()

    def read(self, p: Path) -> str:
        value = self.files.get(p, p)
        if isinstance(value, str):
            return value
        assert value is not None
        return value.read_text(encoding="utf-8")

    def apply(self, op: FileOperation) -> dict[str, Any]:
        p = self.resolve(op.path)
        rel = str(p.relative_to(self.base.resolve()))
        record: dict[str, Any] = {"type": op.type, "path": rel}
        if op.type == "create_file":
            if self.is_dir(p):
                raise ComponentError(f"create_file {rel!r}: a directory is there", path=self.node_path)
            if self.is_file(p) and not op.overwrite:
                raise ComponentError(
                    f"create_file {rel!r}: the file exists and overwrite is false", path=self.node_path
                )
            content = op.content or ""
            self.files[p] = content
            self.actions.append(lambda: _write(p, content))
            record["bytes"] = len(content.encode())
        elif op.type == "edit_file":
            if not self.is_file(p):
                raise ComponentError(f"edit_file {rel!r}: no such file", path=self.node_path)
            text = self.read(p)
            for edit in op.edits:
                if edit.old_text not in text:
                    raise ComponentError(
                        f"edit_file {rel!r}: text to replace not found: {edit.old_text[:80]!r}",
                        path=self.node_path,
                    )
                text = text.replace(edit.old_text, edit.new_text, 1)
            if op.content is not None and not op.edits:
                text = op.content
            self.files[p] = text
            self.actions.append(lambda: _write(p, text))
            record["edits"] = len(op.edits)
        elif op.type == "delete_file":
            if not self.is_file(p):
                raise ComponentError(f"delete_file {rel!r}: no such file", path=self.node_path)
            self.files[p] = _DELETED
            self.actions.append(lambda: p.unlink(missing_ok=True))
        elif op.type == "move_file":
            if not op.destination:
                raise ComponentError(f"move_file {rel!r}: want a destination", path=self.node_path)
            dst = self.resolve(op.destination)
            if not self.is_file(p):
                raise ComponentError(f"move_file {rel!r}: no such file", path=self.node_path)
            if self.is_file(dst) and not op.overwrite:
                raise ComponentError(f"move_file to {op.destination!r}: the file exists", path=self.node_path)
            self.files[dst] = self.files.get(p, p)
            self.files[p] = _DELETED
            self.actions.append(lambda: _move(p, dst))
            record["destination"] = str(dst.relative_to(self.base.resolve()))
        elif op.type == "create_directory":
            if self.is_file(p):
                raise ComponentError(f"create_directory {rel!r}: a file is there", path=self.node_path)
            self.dirs[p] = True
            self.actions.append(lambda: p.mkdir(parents=True, exist_ok=True))
        elif op.type == "delete_directory":
            if not self.is_dir(p):
                raise ComponentError(f"delete_directory {rel!r}: no such directory", path=self.node_path)
            self.dirs[p] = False
            for f in [f for f in self.files if p in f.parents]:
                self.files[f] = _DELETED
            self.actions.append(lambda: shutil.rmtree(p, ignore_errors=False) if p.exists() else None)
        return record

    def commit(self) -> None:
        actions, self.actions = self.actions, []
        for action in actions:
            action()


def _apply(base: Path, operations: list[FileOperation], stage: bool, path: str) -> list[dict[str, Any]]:
    if not base.is_dir():
        raise ComponentError(f"base directory {str(base)!r} does not exist", path=path)
    st = _Stage(base, path)
    results: list[dict[str, Any]] = []
    for op in operations:
        results.append(st.apply(op))
        if not stage:
            st.commit()
    st.commit()
    return results


def _write(p: Path, content: str) -> None:
    """Writes atomically: a temp file in the same folder, then a rename."""
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))
