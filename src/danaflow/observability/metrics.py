"""RunMetrics: durations, token counts and node counts of one run, written as ``metrics.jsonl``.

Plain counters rather than the OpenTelemetry metrics SDK: a run is short-lived and wants its totals
in its own directory, not a periodic reader exporting to a collector. One line per component, then
one ``summary`` line; ``danaflow runs show`` and the benchmarks read the same file.
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
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0

    def record_component(self, metric: ComponentMetric) -> None:
        with self._lock:
            self.components.append(metric)
            self.status_counts[metric.status] += 1
            self.kind_counts[metric.kind] += 1
            if not metric.reused:
                self.prompt_tokens += metric.prompt_tokens
                self.completion_tokens += metric.completion_tokens
                self.cost += metric.cost

    def record_llm_call(self) -> None:
        with self._lock:
            self.llm_calls += 1

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
            rows = [
                {"type": "component", "run_id": self.run_id, **{f: getattr(m, f) for f in _FIELDS}}
                for m in self.components
            ]
        rows.append(self.summary())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        os.replace(tmp, path)
