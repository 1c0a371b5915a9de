"""RunMetrics: durations, token counts and node counts of one run, written as ``metrics.jsonl``.

Plain counters rather than the OpenTelemetry metrics SDK: a run is short-lived and wants its totals
in its own directory, not a periodic reader exporting to a collector. One line per component, then
one ``summary`` line; ``danaflow runs show`` and the benchmarks read the same file.

Each LLM call and its tokens count once, at the node that made it. A composite's row rolls up its
descendants' calls and tokens (the runner already sums a composite's usage from its children), so
the summary adds up nodes only: summing every row would count a call once per level of nesting.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["ComponentMetric", "RunMetrics"]


@dataclass(frozen=True, slots=True)
class ComponentMetric:
    """One finished component: how long it took and what it spent."""

    path: str
    kind: str
    status: str
    duration_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    reused: bool = False
    llm_calls: int = 0
    """Model calls made at this path (a node) or under it (a composite), cache hits included."""


_LEAF_KINDS = frozenset({"node"})
"""Where calls are made and counted; every other kind is a composite whose usage sums its children."""

_FIELDS = tuple(f.name for f in fields(ComponentMetric))


class RunMetrics:
    """Thread-safe counters for one run; parallel nodes record from several threads."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._lock = threading.Lock()
        self.components: list[ComponentMetric] = []
        self.status_counts: Counter[str] = Counter()
        self.kind_counts: Counter[str] = Counter()
        self.llm_calls = 0
        self._calls_at: Counter[str] = Counter()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0

    def record_component(self, metric: ComponentMetric) -> None:
        with self._lock:
            self.components.append(metric)
            self.status_counts[metric.status] += 1
            self.kind_counts[metric.kind] += 1
            if not metric.reused and metric.kind in _LEAF_KINDS:
                self.prompt_tokens += metric.prompt_tokens
                self.completion_tokens += metric.completion_tokens
                self.cost += metric.cost

    def record_llm_call(self, path: str | None = None) -> None:
        """Counts one model call, made by the component at ``path`` (None when it is not known)."""
        with self._lock:
            self.llm_calls += 1
            if path is not None:
                self._calls_at[path] += 1

    def calls_under(self, path: str) -> int:
        """Calls made at ``path`` or by any component below it."""
        with self._lock:
            prefix = path + "."
            return sum(n for p, n in self._calls_at.items() if p == path or p.startswith(prefix))

    def _rolled_up_calls(self) -> dict[str, int]:
        """Calls by path, each also added to every ancestor path (caller holds the lock)."""
        totals: Counter[str] = Counter()
        for path, n in self._calls_at.items():
            parts = path.split(".")
            for i in range(1, len(parts) + 1):
                totals[".".join(parts[:i])] += n
        return totals

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "type": "summary",
                "run_id": self.run_id,
                "components": len(self.components),
                "by_status": dict(self.status_counts),
                "by_kind": dict(self.kind_counts),
                "llm_calls": self.llm_calls,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "cost": self.cost,
            }

    def write(self, path: Path) -> None:
        """Writes one line per component then the summary, atomically (temp file + rename)."""
        with self._lock:
            # Fields are scalars: a shallow dict (asdict deep-copies, a cost per component).
            calls = self._rolled_up_calls()
            rows = [
                {
                    "type": "component",
                    "run_id": self.run_id,
                    **{f: getattr(m, f) for f in _FIELDS},
                    "llm_calls": m.llm_calls or calls.get(m.path, 0),
                }
                for m in self.components
            ]
        rows.append(self.summary())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        os.replace(tmp, path)
