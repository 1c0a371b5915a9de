"""ResumePlan: which components of a previous run a new run reuses instead of executing.

Two modes. With no start path, every component that completed is reused and everything else
(failed, skipped, still ``running`` when the process died, ``waiting_input``) runs again. With a
start path, which must name a component exactly (never by suffix), the components that started
before it in the previous run and completed are reused; it, its descendants, its ancestors (which
must run to reach it) and everything that started after it run again.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from danaflow.errors import RunError

from .store import ComponentRecord, RunStore

if TYPE_CHECKING:
    from danaflow.context.result import NodeExecutionResult

__all__ = ["ResumePlan", "unknown_path_error"]

_LISTED = 40


def unknown_path_error(what: str, path: str, valid: Iterable[str], run_id: str) -> RunError:
    """A RunError for a path that names nothing, listing the valid paths (and close matches first)."""
    names = sorted(set(valid))
    close = difflib.get_close_matches(path, names, n=3, cutoff=0.6)
    more = f", … ({len(names) - _LISTED} more)" if len(names) > _LISTED else ""
    shown = ", ".join(names[:_LISTED]) + more
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return RunError(
        f"{what} {path!r} names no component of run {run_id!r}{hint}: want one of {shown or '(none)'}",
        path=path,
    )


def _matches_pattern(path: str, patterns: list[list[str]]) -> bool:
    """Whether ``path`` is an iteration of a for_each path pattern (``loop.*.node`` ~ ``loop.3.node``)."""
    parts = path.split(".")
    for pattern in patterns:
        if len(parts) == len(pattern) and all(
            p == q or (q == "*" and p.isdigit()) for p, q in zip(parts, pattern, strict=True)
        ):
            return True
    return False


@dataclass
class ResumePlan:
    """The previous run's records and the rule that picks which to reuse."""

    previous_run_id: str
    start_path: str | None
    records: dict[str, ComponentRecord]
    _children: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _checked: bool = False

    @classmethod
    def load(
        cls, store: RunStore, previous_run_id: str, start_path: str | None, earlier: Iterable[str] = ()
    ) -> ResumePlan:
        """Reads the previous run from ``store``; RunError when there is no such run.

        ``earlier`` are the runs it resumed, oldest first (a resume chain, runs/ownership.py): a
        run that died part-way holds only what it reached, so each path's record is the latest
        one in the chain — a component the previous run never reached keeps its earlier record.
        """
        if store.get_run(previous_run_id) is None:
            recent = ", ".join(r.run_id for r in store.list_runs(limit=5))
            raise RunError(
                f"cannot resume unknown run {previous_run_id!r}: want a run id from this store"
                + (f" (recent: {recent})" if recent else ""),
                path=previous_run_id,
            )
        records: dict[str, ComponentRecord] = {}
        for run_id in (*earlier, previous_run_id):
            records.update((r.path, r) for r in store.list_components(run_id))
        children: dict[str, list[str]] = {}
        for path in records:
            if "." in path:
                children.setdefault(path.rsplit(".", 1)[0], []).append(path)
        return cls(previous_run_id, start_path or None, records, children)

    def check_paths(self, known_paths: Iterable[str] = (), inputs: Mapping[str, Any] | None = None) -> None:
        """Checks the start path and every input path against the run's components.

        ``known_paths`` are the paths the definition declares (the runner reports them); paths the
        previous run recorded (for_each iterations) count too. A miss raises RunError listing them.
        """
        known = list(known_paths)
        valid = set(self.records) | {p for p in known if "*" not in p}
        patterns = [p.split(".") for p in known if "*" in p]
        for what, path in [("resume path", self.start_path), *(("input path", p) for p in inputs or {})]:
            if path is not None and path not in valid and not _matches_pattern(path, patterns):
                raise unknown_path_error(what, path, valid, self.previous_run_id)
        self._checked = True

    @property
    def checked(self) -> bool:
        return self._checked

    def _start_seq(self) -> int | None:
        start = self.records.get(self.start_path) if self.start_path else None
        return start.seq if start is not None else None

    def reusable(self, path: str) -> ComponentRecord | None:
        """The previous record to reuse for ``path``, or None when the component must execute."""
        record = self.records.get(path)
        if record is None or record.status != "completed" or record.result is None:
            return None
        start = self.start_path
        if start is None:
            return record
        if path == start or path.startswith(start + ".") or start.startswith(path + "."):
            return None
        start_seq = self._start_seq()
        # The start component never ran before: everything that completed came before it.
        if start_seq is None or record.seq < start_seq:
            return record
        return None

    def subtree(self, path: str) -> list[ComponentRecord]:
        """The record at ``path`` and those of all its descendants, parents first."""
        out: list[ComponentRecord] = []
        stack = [path]
        while stack:
            current = stack.pop()
            if (record := self.records.get(current)) is not None:
                out.append(record)
            stack.extend(reversed(self._children.get(current, [])))
        return out

    def result_for(self, path: str) -> NodeExecutionResult:
        """The stored result at ``path`` marked reused, with its children attached for ``get_result``."""
        from danaflow.context.result import NodeExecutionResult

        record = self.records[path]
        assert record.result is not None
        result = NodeExecutionResult.model_validate_json(record.result)
        result.reused = True
        for child_path in self._children.get(path, []):
            child = self.records[child_path]
            if child.result is not None:
                result._children[child_path.rsplit(".", 1)[1]] = self.result_for(child_path)
        return result
