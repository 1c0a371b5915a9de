"""The flow definition behind a run, for the graph's edges and a waiting node's input form.

The store keeps components and results but not the edges a flow declared, so the viewer imports
the target the run recorded (``meta.target``, ``module.py:flow``), as ``danaflow resume`` does,
and keeps it while the file is unchanged. Importing runs the module's top level: that code is the
user's own (trusted, DESIGN §8), never text from a model. Runs started from Python without a
target, or a module that no longer imports, get the graph the stored components imply.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from danaflow.errors import DanaflowError
from danaflow.flow.definition import (
    AgentDefinition,
    ConditionalElement,
    Element,
    FlowDefinition,
    ForEachElement,
    NodeElement,
    SubagentElement,
    SubflowElement,
)
from danaflow.runs.cli_commands import load_target
from danaflow.runs.store import RunRecord

__all__ = ["Definitions", "Loaded", "children_of", "element_at", "input_schema"]

Definition = FlowDefinition | AgentDefinition


@dataclass(frozen=True, slots=True)
class Loaded:
    """A run's definition, or why there is none (shown under the graph)."""

    definition: Definition | None
    reason: str | None = None


class Definitions:
    """Loads and caches run targets by (target, file mtime); ``enabled=False`` never imports."""

    def __init__(self, *, enabled: bool = True):
        self.enabled = enabled
        self._cache: dict[str, tuple[float, Loaded]] = {}
        self._lock = threading.Lock()

    def for_run(self, record: RunRecord) -> Loaded:
        target = record.meta.get("target")
        if not self.enabled:
            return Loaded(None, "the viewer was started with --no-import")
        if record.meta.get("target_kind") != "python" or not isinstance(target, str) or not target:
            return Loaded(None, "the run was started from Python, not from a module.py:flow target")
        file = target.rpartition(":")[0]
        try:
            stamp = Path(file).stat().st_mtime if file.endswith(".py") else 0.0
        except OSError:
            return Loaded(None, f"{file} no longer exists")
        with self._lock:
            cached = self._cache.get(target)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            try:
                definition, _files, _name = load_target(target)
                loaded = Loaded(definition)
            except DanaflowError as exc:
                loaded = Loaded(None, f"cannot load {target}: {exc}")
            self._cache[target] = (stamp, loaded)
            return loaded


def children_of(element: Element | Definition) -> list[tuple[str, Element | FlowDefinition]]:
    """The (id, child) pairs under a definition element, in definition order.

    A conditional's children are its branches' elements (the runner names them directly under
    the conditional); a for_each's child is its body, named ``*`` (one per iteration at run time).
    """
    if isinstance(element, FlowDefinition | AgentDefinition):
        return [(el.id, el) for el in element.elements]
    if isinstance(element, SubflowElement):
        return [(el.id, el) for el in element.flow.elements]
    if isinstance(element, SubagentElement):
        return [(el.id, el) for el in element.agent.elements]
    if isinstance(element, ConditionalElement):
        out: list[tuple[str, Element | FlowDefinition]] = []
        for branch in (element.then, element.else_):
            if branch is not None:
                out.extend((el.id, el) for el in branch.elements)
        return out
    if isinstance(element, ForEachElement):
        return [("*", element.body)]
    return []


def element_at(definition: Definition, root_id: str, path: str) -> Element | Definition | None:
    """The definition element at a component path (``flow.loop.3.node``), or None."""
    parts = path.split(".")
    if not parts or parts[0] != root_id:
        return None
    current: Element | Definition = definition
    for part in parts[1:]:
        children = dict(children_of(current))
        if "*" in children and part.isdigit():
            current = children["*"]  # type: ignore[assignment]
            continue
        found = children.get(part)
        if found is None:
            return None
        current = found  # type: ignore[assignment]
    return current


def input_schema(element: Any) -> tuple[dict[str, Any] | None, Any, str | None]:
    """A node's declared input: (JSON schema, the validating type if any, its description).

    Nodes may set ``input_schema`` to a pydantic model class, any type pydantic can adapt, or a
    JSON schema dict; without one the form asks for a JSON (or text) value.
    """
    if not isinstance(element, NodeElement):
        return None, None, None
    node = element.node
    description = getattr(node, "description", None)
    declared = getattr(node, "input_schema", None)
    if declared is None:
        return None, None, description
    if isinstance(declared, dict):
        return declared, None, description
    from pydantic import TypeAdapter
    from pydantic.errors import PydanticUserError

    try:
        return TypeAdapter(declared).json_schema(), declared, description
    except PydanticUserError as exc:  # a type pydantic cannot describe: free JSON, and say why
        return None, None, f"{description or ''} (input_schema {declared!r} has no JSON schema: {exc})"
