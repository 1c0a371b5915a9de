"""The shapes a run page draws: the component tree (agent > flow > node) and the flow graph.

The tree comes from the store alone: paths nest by their dots, children in start order. The graph
comes from the definition when the run's target loads (edges for ``connect``, on_error routes,
branches that did not run, for_each iterations by index) and otherwise from the tree, with
dotted "started after" edges. Which composites are drawn open is decided here, so a run of a
thousand components draws the first ~150 and collapses the rest into counted summaries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
from danaflow.runs.store import ComponentRecord

__all__ = [
    "GraphEdge",
    "GraphNode",
    "TreeNode",
    "apply_collapse",
    "component_tree",
    "graph_from_definition",
    "graph_from_tree",
]

NOT_RUN = "not_run"
_FOREACH_OPEN_MAX = 8
"""A for_each with more iterations than this starts collapsed."""


@dataclass(slots=True)
class TreeNode:
    path: str
    name: str
    record: ComponentRecord | None
    children: list[TreeNode] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.record.status if self.record is not None else NOT_RUN


def component_tree(records: Iterable[ComponentRecord]) -> list[TreeNode]:
    """The records nested by path (a path's parent is its longest recorded prefix), in start order."""
    ordered = sorted(records, key=lambda r: (r.path.count("."), r.seq, r.path))
    nodes: dict[str, TreeNode] = {}
    roots: list[TreeNode] = []
    for record in ordered:
        node = TreeNode(record.path, record.path.rsplit(".", 1)[-1], record)
        nodes[record.path] = node
        parent = None
        prefix = record.path
        while "." in prefix and parent is None:
            prefix = prefix.rsplit(".", 1)[0]
            parent = nodes.get(prefix)
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: (n.record.seq if n.record else 0, n.path))
    roots.sort(key=lambda n: (n.record.seq if n.record else 0, n.path))
    return roots


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: int
    target: int
    kind: str
    """``success`` (connect), ``error`` (on_error), ``always`` (both), ``order`` (runs after)."""


@dataclass(slots=True)
class GraphNode:
    path: str
    label: str
    kind: str
    """The node type (``ai_model``, ``python``…) or the composite kind (``flow``, ``for_each``…)."""
    status: str
    reused: bool = False
    children: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    collapsed: bool = False
    toggled: bool = False
    """Drawn in the opposite of its default state (the page's ``toggle`` parameter names it)."""

    @property
    def is_composite(self) -> bool:
        return bool(self.children)

    def walk(self) -> Iterable[GraphNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def summary(self) -> str:
        """What a collapsed composite holds: ``12 iterations · 10 completed, 2 failed``."""
        counts = Counter(n.status for n in self.walk() if n is not self and not n.children)
        what = (
            f"{len(self.children)} iteration(s)"
            if self.kind == "for_each"
            else f"{sum(counts.values())} node(s)"
        )
        parts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.most_common())
        return f"{what} · {parts}" if parts else what


def _record_status(records: Mapping[str, ComponentRecord], path: str) -> tuple[str, bool]:
    record = records.get(path)
    return (record.status, record.reused) if record is not None else (NOT_RUN, False)


def graph_from_definition(
    definition: FlowDefinition | AgentDefinition, root_id: str, records: Mapping[str, ComponentRecord]
) -> GraphNode:
    """The graph of the definition, coloured by the run's records."""
    status, reused = _record_status(records, root_id)
    kind = "agent" if isinstance(definition, AgentDefinition) else "flow"
    root = GraphNode(root_id, root_id, kind, status, reused)
    _fill(root, definition, records)
    return root


def _fill(
    node: GraphNode,
    element: Element | FlowDefinition | AgentDefinition,
    records: Mapping[str, ComponentRecord],
) -> None:
    if isinstance(element, FlowDefinition | AgentDefinition):
        _fill_flow(node, element, records)
    elif isinstance(element, SubflowElement):
        _fill_flow(node, element.flow, records)
    elif isinstance(element, SubagentElement):
        _fill_flow(node, element.agent, records)
    elif isinstance(element, ConditionalElement):
        for branch in (element.then, element.else_):
            if branch is not None:
                _fill_flow(node, branch, records)
    elif isinstance(element, ForEachElement):
        prefix = node.path + "."
        indices = sorted(
            {int(p[len(prefix) :].split(".", 1)[0]) for p in records if p.startswith(prefix)
             and p[len(prefix) :].split(".", 1)[0].isdigit()}
        )  # fmt: skip
        for i in indices or [None]:
            name = "*" if i is None else str(i)
            path = f"{node.path}.{name}"
            status, reused = _record_status(records, path)
            iteration = GraphNode(path, f"#{name}", "iteration", status, reused)
            _fill_flow(iteration, element.body, records)
            node.children.append(iteration)


def _fill_flow(
    node: GraphNode, flow: FlowDefinition | AgentDefinition, records: Mapping[str, ComponentRecord]
) -> None:
    offset = len(node.children)
    index: dict[str, int] = {}
    for el in flow.elements:
        path = f"{node.path}.{el.id}"
        status, reused = _record_status(records, path)
        child = GraphNode(path, el.id, _kind(el), status, reused)
        _fill(child, el, records)
        index[el.id] = len(node.children)
        node.children.append(child)
    edges = flow.edges if isinstance(flow, FlowDefinition) else []
    if edges:
        for e in edges:
            kind = "always" if e.on_success and e.on_error else "error" if e.on_error else "success"
            node.edges.append(GraphEdge(index[e.source], index[e.target], kind))
    else:
        count = len(node.children) - offset
        node.edges.extend(GraphEdge(offset + i, offset + i + 1, "order") for i in range(count - 1))


def _kind(el: Element) -> str:
    if isinstance(el, NodeElement):
        return el.node.node_type
    return {
        SubflowElement: "subflow",
        SubagentElement: "agent",
        ConditionalElement: "conditional",
        ForEachElement: "for_each",
    }[type(el)]


def graph_from_tree(tree: TreeNode) -> GraphNode:
    """The graph the stored components imply: children in start order, ``order`` edges between them."""
    record = tree.record
    kind = (record.kind or "component") if record is not None else "component"
    node = GraphNode(tree.path, tree.name, kind, tree.status, bool(record and record.reused))
    node.children = [graph_from_tree(c) for c in tree.children]
    if kind not in ("for_each", "conditional"):
        node.edges = [GraphEdge(i, i + 1, "order") for i in range(len(node.children) - 1)]
    return node


def apply_collapse(root: GraphNode, toggles: set[str], budget: int = 150) -> None:
    """Marks composites collapsed: breadth first, open while the drawing stays within ``budget``
    boxes (a large for_each starts closed); a path in ``toggles`` flips its default."""
    visible = 1 + len(root.children)
    queue = [c for c in root.children if c.is_composite]
    while queue:
        current = queue.pop(0)
        many = current.kind == "for_each" and len(current.children) > _FOREACH_OPEN_MAX
        default_open = not many and visible + len(current.children) <= budget
        current.toggled = current.path in toggles
        is_open = default_open != current.toggled
        current.collapsed = not is_open
        if is_open:
            visible += len(current.children)
            queue.extend(c for c in current.children if c.is_composite)
