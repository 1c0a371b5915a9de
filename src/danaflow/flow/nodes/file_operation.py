"""FileOperationNode: creates, edits, deletes and moves files under a base directory, staged.

Operations come from the settings or from an ObjectTemplate (typically an LLM's structured output:
``$expr{$hier{code_generator}.outcome.structured.file_operations}``). With ``stage=True`` (the
default) every operation is checked and its result computed against a virtual view of the
directory first; the disk changes only when all of them succeeded, so a bad edit in the middle
leaves nothing half-applied. Every check and every write walks from a descriptor on the base
directory without following symlinks (``_paths.BaseDir``), so neither ``..``, an absolute path nor
a directory swapped for a symlink mid-run puts a byte outside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.errors import ComponentError
from danaflow.template.engine import ObjectTemplate, TemplateEngine

from ._paths import BaseDir, Parts, input_variables, split
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
    """A virtual view of the base directory: what each path will hold once the actions run.

    Keys are path components (``split``); every look at the disk goes through the ``BaseDir``, so
    the checks refuse a symlink exactly as the writes do.
    """

    def __init__(self, root: BaseDir, path: str):
        self.root = root
        self.node_path = path
        self.files: dict[Parts, str | Parts | None] = {}
        """Path -> new text, the disk path whose content moves here, or None (deleted)."""
        self.dirs: dict[Parts, bool] = {}
        self.actions: list[tuple[str, Callable[[], None]]] = []
        """(what, action): ``what`` names the operation and path if the action fails."""

    def resolve(self, rel: str, what: str) -> Parts:
        parts = split(rel, what, self.node_path, self.root.path)
        if not parts:
            raise ComponentError(f"{what}: the path names the base directory itself", path=self.node_path)
        return parts

    def _gone(self, p: Parts) -> bool:
        return any(self.dirs.get(p[:i]) is False for i in range(1, len(p)))

    def is_file(self, p: Parts, what: str) -> bool:
        if p in self.files:
            return self.files[p] is not _DELETED
        return not self._gone(p) and self.root.kind(p, what) == "file"

    def is_dir(self, p: Parts, what: str) -> bool:
        if p in self.dirs:
            return self.dirs[p]
        return not self._gone(p) and self.root.kind(p, what) == "dir"

    def read(self, p: Parts, what: str) -> str:
        value = self.files.get(p, p)
        if isinstance(value, str):
            return value
        assert value is not None
        return self.root.read_text(value, what)

    def apply(self, op: FileOperation) -> dict[str, Any]:
        what = f"{op.type} {op.path!r}"
        p = self.resolve(op.path, what)
        record: dict[str, Any] = {"type": op.type, "path": "/".join(p)}
        root, err = self.root, self.node_path
        if op.type == "create_file":
            if self.is_dir(p, what):
                raise ComponentError(f"{what}: a directory is there", path=err)
            if not op.overwrite and self.is_file(p, what):
                raise ComponentError(f"{what}: the file exists and overwrite is false", path=err)
            data = (op.content or "").encode("utf-8")
            self.files[p] = op.content or ""
            # Without overwrite the write uses O_EXCL: a file that appeared since is kept.
            replace = op.overwrite
            self.actions.append((what, lambda: root.write_bytes(p, data, what, overwrite=replace)))
            record["bytes"] = len(data)
        elif op.type == "edit_file":
            if not self.is_file(p, what):
                raise ComponentError(f"{what}: no such file", path=err)
            text = self.read(p, what)
            for edit in op.edits:
                if edit.old_text not in text:
                    raise ComponentError(
                        f"{what}: text to replace not found: {edit.old_text[:80]!r}", path=err
                    )
                text = text.replace(edit.old_text, edit.new_text, 1)
            if op.content is not None and not op.edits:
                text = op.content
            self.files[p] = text
            data = text.encode("utf-8")
            self.actions.append((what, lambda: root.write_bytes(p, data, what)))
            record["edits"] = len(op.edits)
        elif op.type == "delete_file":
            if not self.is_file(p, what):
                raise ComponentError(f"{what}: no such file", path=err)
            self.files[p] = _DELETED
            self.actions.append((what, lambda: root.unlink(p, what)))
        elif op.type == "move_file":
            if not op.destination:
                raise ComponentError(f"{what}: want a destination", path=err)
            to = f"move_file to {op.destination!r}"
            dst = self.resolve(op.destination, to)
            if not self.is_file(p, what):
                raise ComponentError(f"{what}: no such file", path=err)
            if self.is_dir(dst, to):
                raise ComponentError(f"{to}: a directory is there", path=err)
            if self.is_file(dst, to) and not op.overwrite:
                raise ComponentError(f"{to}: the file exists", path=err)
            self.files[dst] = self.files.get(p, p)
            self.files[p] = _DELETED
            self.actions.append((what, lambda: root.rename(p, dst, what)))
            record["destination"] = "/".join(dst)
        elif op.type == "create_directory":
            if self.is_file(p, what):
                raise ComponentError(f"{what}: a file is there", path=err)
            self.dirs[p] = True
            self.actions.append((what, lambda: root.make_dirs(p, what)))
        elif op.type == "delete_directory":
            if not self.is_dir(p, what):
                raise ComponentError(f"{what}: no such directory", path=err)
            self.dirs[p] = False
            for f in [f for f in self.files if f[: len(p)] == p]:
                self.files[f] = _DELETED
            self.actions.append((what, lambda: root.remove_tree(p, what)))
        return record

    def commit(self) -> None:
        actions, self.actions = self.actions, []
        for what, action in actions:
            try:
                action()
            except OSError as exc:
                raise ComponentError(f"{what}: {exc.strerror or exc}", path=self.node_path) from exc


def _apply(base: Path, operations: list[FileOperation], stage: bool, path: str) -> list[dict[str, Any]]:
    with BaseDir(base, path) as root:
        st = _Stage(root, path)
        results: list[dict[str, Any]] = []
        for op in operations:
            try:
                results.append(st.apply(op))
            except OSError as exc:
                raise ComponentError(f"{op.type} {op.path!r}: {exc.strerror or exc}", path=path) from exc
            if not stage:
                st.commit()
        st.commit()
        return results
