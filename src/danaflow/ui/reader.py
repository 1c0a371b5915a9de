"""RunReader: what the viewer knows about runs, read through the RunStore and the run directory.

Every name that arrives in a URL (run id, component path, artifact name) is checked against what
the store or the folder listing holds before it touches the disk, and every file it opens must
resolve inside the run root, so no path parameter reads outside it (symlinks included). JSONL
files are parsed once per (size, mtime) and kept in a small cache: a run page re-renders on each
live update, and re-reading a 1,000-span trace every time would dominate it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from danaflow.observability.records import SpanRecord
from danaflow.runs.artifacts import RunDirectory, component_dirname
from danaflow.runs.cli_commands import run_status
from danaflow.runs.store import ComponentRecord, RunRecord, RunStore

__all__ = ["Artifact", "JsonlFile", "NotFound", "RunReader", "RunSummary", "is_final"]

_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_MAX_JSONL_BYTES = 32 * 1024 * 1024
"""Past this, only the last 32 MiB of a JSONL file are read (the page says so)."""
_FINAL = frozenset({"completed", "failed", "interrupted"})


class NotFound(LookupError):
    """A URL named something the store or the run directory does not hold (HTTP 404)."""

    def __init__(self, what: str, name: str, want: str):
        super().__init__(f"no {what} {name!r}: want {want}")
        self.what, self.name, self.want = what, name, want


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of the runs page: the record plus what it takes a second look-up to know."""

    record: RunRecord
    status: str
    """The stored status, or ``interrupted`` for a ``running`` run whose process is gone."""
    tokens: int | None
    """The root component's tokens (its usage covers every child), None until it finished."""

    @property
    def duration_s(self) -> float:
        """Wall time so far for a running run; else until its last update (finish or pause)."""
        end = time.time() if self.status == "running" else self.record.updated_at
        return max(0.0, end - self.record.created_at)


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    size: int
    text: bool
    """Whether the first bytes decode as UTF-8 (then the page shows it; else it is a download)."""


@dataclass(frozen=True, slots=True)
class JsonlFile:
    """The parsed lines of one JSONL file; ``skipped`` counts lines that were not JSON objects."""

    rows: tuple[dict[str, Any], ...]
    skipped: int = 0
    truncated: bool = False


class RunReader:
    """Reads runs for the viewer. ``store`` is shared by every request thread (stores are thread-safe)."""

    def __init__(self, store: RunStore, run_root: Path):
        self.store = store
        self.run_root = Path(run_root)
        self._root_resolved = self.run_root.resolve()
        self._cache: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
        self._cache_lock = threading.Lock()

    # ---- runs ----------------------------------------------------------------------------------
    def run(self, run_id: str) -> RunRecord:
        """The run with this exact id; NotFound for anything else (malformed ids never reach the store)."""
        if not _RUN_ID.match(run_id) or ".." in run_id:
            raise NotFound("run", run_id, "a run id like 'demo_20260101_120000_ab12cd'")
        record = self.store.get_run(run_id)
        if record is None:
            raise NotFound("run", run_id, "the id of a run in this store")
        return record

    def summaries(self, records: list[RunRecord]) -> list[RunSummary]:
        out = []
        for r in records:
            status = run_status(r)
            tokens = None
            if status != "running":
                root = self.store.get_component(r.run_id, r.root_component_id)
                if root is not None:
                    tokens = root.prompt_tokens + root.completion_tokens
            out.append(RunSummary(r, status, tokens))
        return out

    def components(self, run_id: str) -> list[ComponentRecord]:
        return self.store.list_components(run_id)

    def component(self, run_id: str, path: str) -> ComponentRecord:
        record = self.store.get_component(run_id, path) if path else None
        if record is None:
            raise NotFound("component", path, f"the dotted path of a component of run {run_id}")
        return record

    # ---- files ---------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path | None:
        """``run_root/<run_id>`` when it exists and resolves inside the run root."""
        folder = self._inside(self.run_root / run_id)
        return folder if folder is not None and folder.is_dir() else None

    def _inside(self, path: Path) -> Path | None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return None
        return resolved if resolved.is_relative_to(self._root_resolved) else None

    def _component_dir(self, run_id: str, path: str) -> Path | None:
        folder = self.run_dir(run_id)
        if folder is None:
            return None
        inner = self._inside(folder / component_dirname(path))
        return inner if inner is not None and inner.is_relative_to(folder) and inner.is_dir() else None

    def artifacts(self, run_id: str, path: str) -> list[Artifact]:
        """The files a component saved beside its ``result.json`` (no folders, no hidden temp files)."""
        folder = self._component_dir(run_id, path)
        if folder is None:
            return []
        out = []
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name == RunDirectory.RESULT_FILE or entry.name.startswith("."):
                continue
            inside = self._inside(entry)
            if inside is None or not inside.is_file():
                continue
            with open(inside, "rb") as fh:
                head = fh.read(4096)
            out.append(Artifact(entry.name, inside.stat().st_size, _is_text(head)))
        return out

    def artifact_path(self, run_id: str, path: str, name: str) -> Path:
        """The file of artifact ``name``; only names the folder listing shows are ever opened."""
        for artifact in self.artifacts(run_id, path):
            if artifact.name == name:
                folder = self._component_dir(run_id, path)
                assert folder is not None
                return folder / artifact.name
        raise NotFound("artifact", name, f"a file that component {path} saved")

    def spans(self, run_id: str) -> list[SpanRecord]:
        """The run's finished spans (``trace.jsonl``), oldest start first."""
        parsed = self._jsonl(run_id, "trace.jsonl", _parse_spans)
        return parsed if parsed is not None else []

    def events(self, run_id: str) -> JsonlFile:
        return self._jsonl(run_id, "events.jsonl", _parse_rows) or JsonlFile(())

    def logs(self, run_id: str) -> JsonlFile:
        return self._jsonl(run_id, "logs.jsonl", _parse_rows) or JsonlFile(())

    def _jsonl(self, run_id: str, name: str, parse: Callable[[bytes, bool], Any]) -> Any:
        folder = self.run_dir(run_id)
        if folder is None:
            return None
        file = folder / name
        try:
            stat = file.stat()
        except OSError:
            return None
        key = (str(file), stat.st_size, stat.st_mtime_ns)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with open(file, "rb") as fh:
            truncated = stat.st_size > _MAX_JSONL_BYTES
            if truncated:
                fh.seek(stat.st_size - _MAX_JSONL_BYTES)
                fh.readline()
            data = fh.read()
        value = parse(data, truncated)
        with self._cache_lock:
            self._cache[key] = value
            while len(self._cache) > 64:
                self._cache.popitem(last=False)
        return value


def is_final(status: str) -> bool:
    """Whether a run in this status will not change again by itself."""
    return status in _FINAL


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut at the 4 KiB boundary
    return True


def _lines(data: bytes) -> tuple[list[Any], int]:
    rows, skipped = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            skipped += 1  # a line still being written by a live run
    return rows, skipped


def _parse_rows(data: bytes, truncated: bool) -> JsonlFile:
    rows, skipped = _lines(data)
    good = tuple(r for r in rows if isinstance(r, dict))
    return JsonlFile(good, skipped + len(rows) - len(good), truncated)


def _parse_spans(data: bytes, truncated: bool) -> list[SpanRecord]:
    """Spans from either ``trace.jsonl`` form: OTLP JSON (``{"resourceSpans": …}`` a line) or the
    older one-SpanRecord-a-line form."""
    rows, _ = _lines(data)
    spans: list[SpanRecord] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        try:
            if "resourceSpans" in row:
                # Only trace files written by the OTLP exporter hold these lines, so its decoder
                # is there whenever one is read.
                from danaflow.observability.otlp_json import records_from_json

                spans.extend(records_from_json(row))
            else:
                spans.append(SpanRecord.from_json(row))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    spans.sort(key=lambda s: (s.start_ns, s.end_ns))
    return spans
