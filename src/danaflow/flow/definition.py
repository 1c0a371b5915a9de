"""Flow and agent definitions: builders that validate into an immutable plan.

A FlowDefinition records nodes, subflows, conditionals, for_each loops and connections; an
AgentDefinition records flows and subagents. ``compile()`` checks the whole tree (duplicate or
unknown ids, cycles, ``$hier{}`` references to components that cannot exist) and returns a
``FlowPlan`` of index-based edges that the runner schedules with the pure functions in
``_algo.py``. Definitions hold no run state, so one definition can run many times.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from danaflow.context.status import ExecutableTypeEnum
from danaflow.errors import FlowDefinitionError
from danaflow.template.scanner import ScanError, hier_refs

from .nodes.base import Node
from .policies import CachePolicy, RetryPolicy

__all__ = [
    "AgentDefinition",
    "ConditionalElement",
    "Edge",
    "Element",
    "FlowDefinition",
    "FlowPlan",
    "ForEachElement",
    "NodeElement",
    "SubagentElement",
    "SubflowElement",
]

_ID = re.compile(r"^[A-Za-z_][\w-]*$")
Condition = str | Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class NodeElement:
    id: str
    node: Node
    retry: RetryPolicy | None = None
    """This node's retries; None: the nearest enclosing flow's default, if any."""
    cache: CachePolicy | None = None
    """This node's result cache; None: never cached."""
    kind = ExecutableTypeEnum.node

    def nested(self) -> tuple[tuple[str, _Composite], ...]:
        """The definitions inside this element, each with the path suffix it runs under (the
        one walker every tree pass uses: paths, ids, checks, compilation)."""
        return ()


@dataclass(frozen=True, slots=True)
class SubflowElement:
    id: str
    flow: FlowDefinition
    variables: Mapping[str, Any] = field(default_factory=dict)
    kind = ExecutableTypeEnum.subflow

    def nested(self) -> tuple[tuple[str, _Composite], ...]:
        return (("", self.flow),)


@dataclass(frozen=True, slots=True)
class ConditionalElement:
    id: str
    condition: Condition
    """A Dana expression (``x > 3``), a template (``$expr{...}``), or a callable of the context."""
    then: FlowDefinition | None
    else_: FlowDefinition | None
    kind = ExecutableTypeEnum.conditional

    def nested(self) -> tuple[tuple[str, _Composite], ...]:
        return tuple(("", branch) for branch in (self.then, self.else_) if branch is not None)


@dataclass(frozen=True, slots=True)
class ForEachElement:
    id: str
    items: Any
    """A Dana expression or template giving the items, a callable of the context, or a list."""
    body: FlowDefinition
    parallel: bool = False
    max_concurrency: int | None = None
    item_var: str = "item"
    index_var: str = "index"
    kind = ExecutableTypeEnum.for_each

    def nested(self) -> tuple[tuple[str, _Composite], ...]:
        return ((".*", self.body),)  # iterations are ``id.0``, ``id.1``, ...: ``id.*`` statically


@dataclass(frozen=True, slots=True)
class SubagentElement:
    id: str
    agent: AgentDefinition
    kind = ExecutableTypeEnum.agent

    def nested(self) -> tuple[tuple[str, _Composite], ...]:
        return (("", self.agent),)


Element = NodeElement | SubflowElement | ConditionalElement | ForEachElement | SubagentElement


@dataclass(frozen=True, slots=True)
class Edge:
    """``source`` → ``target``; taken when the source completed (on_success) or failed (on_error)."""

    source: str
    target: str
    on_success: bool = True
    on_error: bool = False


@dataclass(frozen=True, slots=True)
class FlowPlan:
    """A validated flow, by element index: what the scheduler reads."""

    elements: tuple[Element, ...]
    ids: tuple[str, ...]
    sequential: bool
    """No connections: elements run one after another in definition order."""
    preds: tuple[tuple[tuple[int, bool, bool], ...], ...]
    """Per element, its incoming edges as (source index, on_success, on_error)."""
    succs: tuple[tuple[tuple[int, bool, bool], ...], ...]
    """Per element, its outgoing edges as (target index, on_success, on_error)."""
    error_routed: tuple[bool, ...]
    """Per element, whether an on_error edge leaves it (then its failure does not fail the flow)."""


class _Composite:
    """What flows and agents share: an id, variables and ordered, uniquely named elements."""

    kind_name = "flow"

    def __init__(
        self, id: str | None = None, *, description: str | None = None, retry: RetryPolicy | None = None
    ):
        self.id = id
        self.description = description
        self.retry = _policy(retry, RetryPolicy, "retry", self._name())
        """The RetryPolicy of every node below this one that declares none (the nearest wins)."""
        self._vars: dict[str, Any] = {}
        self._elements: dict[str, Element] = {}
        self._plan: FlowPlan | None = None
        self._validated: tuple[int, frozenset[str]] | None = None

    def vars(self, variables: Mapping[str, Any] | None = None, /, **more: Any) -> _Composite:
        """Sets component variables, visible to every component inside (``$var{}``, ``$expr{}``)."""
        self._vars.update(variables or {})
        self._vars.update(more)
        _touch()
        return self

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self._vars)

    @property
    def elements(self) -> list[Element]:
        return list(self._elements.values())

    def element(self, id: str) -> Element:
        try:
            return self._elements[id]
        except KeyError:
            raise FlowDefinitionError(
                f"{self.kind_name} {self._name()} has no component {id!r} (known: {self._known()})",
                path=self._name(),
            ) from None

    def _add(self, element: Element) -> None:
        if not isinstance(element.id, str) or not _ID.match(element.id):
            raise FlowDefinitionError(
                f"bad component id {element.id!r} in {self.kind_name} {self._name()}: want letters, digits,"
                " '_' or '-', not starting with a digit (dots separate path parts)",
                path=self._name(),
            )
        if element.id in self._elements:
            raise FlowDefinitionError(
                f"duplicate component id {element.id!r} in {self.kind_name} {self._name()}",
                path=f"{self._name()}.{element.id}",
            )
        self._elements[element.id] = element
        self._plan = None
        _touch()

    def _name(self) -> str:
        return self.id or f"<{self.kind_name}>"

    def _known(self) -> str:
        return ", ".join(self._elements) or "none"

    def component_ids(self) -> Iterator[str]:
        """Every component id in this tree (for ``$hier{}`` checks)."""
        for el in self._elements.values():
            yield el.id
            yield from _child_ids(el)

    def component_paths(self, prefix: str) -> Iterator[str]:
        """Every statically known component path under ``prefix``; for_each iterations read ``*``."""
        for el in self._elements.values():
            path = f"{prefix}.{el.id}"
            yield path
            for suffix, inner in el.nested():
                if suffix:
                    yield path + suffix
                yield from inner.component_paths(path + suffix)

    async def execute(self, context: Any) -> Any:
        """Runs this definition in a context the caller made (seed 001):
        ``await flow.execute(FlowExecutionContext(component_id=..., run_context=...))``; returns
        the NodeExecutionResult. See ``danaflow.flow.execute.execute_in``.
        """
        # The scheduler imports this module, so it is reached at call time; FlowRunner is the
        # other entry point and needs no definition method.
        from .execute import execute_in

        return await execute_in(self, context)

    def validate(self, known_ids: Iterable[str] = ()) -> None:
        """Checks the whole tree; raises FlowDefinitionError for the first problem (naming its
        path) and says how many more there are. ``known_ids`` are ids outside this tree that
        ``$hier{}`` may name (the enclosing agent's components).
        """
        known = frozenset(known_ids)
        if self._validated == (_EPOCH[0], known):
            return  # nothing in any definition changed since this tree last validated
        ids = {*known, *self.component_ids()}
        if self.id:
            ids.add(self.id)
        problems: list[FlowDefinitionError] = []
        self._check(self._name(), ids, problems)
        if problems:
            first = problems[0]
            if len(problems) > 1:
                first.message += f" (and {len(problems) - 1} more problem(s))"
                first.args = (first.message,)
            raise first
        self._validated = (_EPOCH[0], known)

    def _check(self, path: str, ids: set[str], problems: list[FlowDefinitionError]) -> None:
        for el in self._elements.values():
            el_path = f"{path}.{el.id}"
            if isinstance(el, NodeElement):
                _check_templates(el.node, el_path, ids, problems)
            for suffix, inner in el.nested():
                inner._check(el_path + suffix, ids, problems)


class FlowDefinition(_Composite):
    """A flow: nodes and nested components, run in order or, with connections, as a DAG."""

    kind_name = "flow"

    def __init__(
        self, id: str | None = None, *, description: str | None = None, retry: RetryPolicy | None = None
    ):
        super().__init__(id, description=description, retry=retry)
        self._edges: list[Edge] = []

    def vars(self, variables: Mapping[str, Any] | None = None, /, **more: Any) -> FlowDefinition:
        super().vars(variables, **more)
        return self

    def node(
        self, id: str, node: Node, *, retry: RetryPolicy | None = None, cache: CachePolicy | None = None
    ) -> FlowDefinition:
        """Adds a node; ``retry`` runs it again when it fails, ``cache`` lets it reuse a result an
        earlier run stored under the same key (``danaflow.flow.policies``)."""
        self._add(_node_element(id, node, retry, cache, self))
        return self

    def subflow(
        self, id: str, flow: FlowDefinition, variables: Mapping[str, Any] | None = None
    ) -> FlowDefinition:
        self._add(SubflowElement(id, _as_flow(flow, id, self), dict(variables or {})))
        return self

    def conditional(
        self,
        id: str,
        expr: Condition,
        then: FlowDefinition | Node | None,
        else_: FlowDefinition | Node | None = None,
    ) -> FlowDefinition:
        """Runs ``then`` when ``expr`` is truthy, else ``else_``; the branch's components become
        children of the conditional (``$hier{cond.node}``). A bare node branch is named
        ``then`` / ``else``.
        """
        then_flow = _branch(then, "then", id, self)
        else_flow = _branch(else_, "else", id, self)
        self._add(ConditionalElement(id, expr, then_flow, else_flow))
        return self

    def for_each(
        self,
        id: str,
        items_expr: Any,
        body: FlowDefinition | Node,
        *,
        parallel: bool = False,
        max_concurrency: int | None = None,
        item_var: str = "item",
        index_var: str = "index",
    ) -> FlowDefinition:
        """Runs ``body`` once per item, as iterations ``id.0``, ``id.1``, ... with the item and its
        index as the variables ``item_var`` and ``index_var``. A bare node body is named ``body``.
        """
        if max_concurrency is not None and max_concurrency < 1:
            raise FlowDefinitionError(
                f"for_each {id!r}: got max_concurrency={max_concurrency}, want >= 1",
                path=f"{self._name()}.{id}",
            )
        body_flow = _branch(body, "body", id, self)
        assert body_flow is not None
        self._add(ForEachElement(id, items_expr, body_flow, parallel, max_concurrency, item_var, index_var))
        return self

    def connect(
        self, source: str, target: str, *, on_success: bool | None = None, on_error: bool = False
    ) -> FlowDefinition:
        """Runs ``target`` after ``source``: when it completed (on_success, the default), failed
        (``on_error=True`` alone makes an error route), or either (both true).
        """
        if on_success is None:
            on_success = not on_error
        if not (on_success or on_error):
            raise FlowDefinitionError(
                f"connect({source!r}, {target!r}): want on_success=True and/or on_error=True",
                path=f"{self._name()}.{target}",
            )
        self._edges.append(Edge(source, target, bool(on_success), bool(on_error)))
        self._plan = None
        _touch()
        return self

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    def compile(self) -> FlowPlan:
        """The validated, index-based plan of this flow and of every flow nested in it (subflows,
        branches, for_each bodies, subagents' flows), each cached until that flow changes.

        The whole tree compiles before anything runs, so a bad ``connect`` deep inside fails the
        run up front, not after the components before it have executed.
        """
        if self._plan is None:
            plan = self._build_plan(self._name())
            for nested in _nested_flows(self):
                nested.compile()
            self._plan = plan
        return self._plan

    def _build_plan(self, path: str) -> FlowPlan:
        elements = tuple(self._elements.values())
        ids = tuple(self._elements)
        index = {id_: i for i, id_ in enumerate(ids)}
        preds: list[list[tuple[int, bool, bool]]] = [[] for _ in ids]
        succs: list[list[tuple[int, bool, bool]]] = [[] for _ in ids]
        seen: set[tuple[str, str]] = set()
        for e in self._edges:
            for end in (e.source, e.target):
                if end not in index:
                    raise FlowDefinitionError(
                        f"connect({e.source!r}, {e.target!r}) in flow {path}: no component {end!r} "
                        f"(known: {self._known()})",
                        path=f"{path}.{end}",
                    )
            if e.source == e.target:
                raise FlowDefinitionError(
                    f"connect({e.source!r}, {e.target!r}) in flow {path}: a component cannot follow itself",
                    path=f"{path}.{e.source}",
                )
            if (e.source, e.target) in seen:
                raise FlowDefinitionError(
                    f"connect({e.source!r}, {e.target!r}) appears twice in flow {path}",
                    path=f"{path}.{e.target}",
                )
            seen.add((e.source, e.target))
            s, t = index[e.source], index[e.target]
            preds[t].append((s, e.on_success, e.on_error))
            succs[s].append((t, e.on_success, e.on_error))
        cycle = _find_cycle(succs)
        if cycle:
            names = " -> ".join(ids[i] for i in cycle)
            raise FlowDefinitionError(f"cycle in flow {path}: {names}", path=f"{path}.{ids[cycle[0]]}")
        return FlowPlan(
            elements=elements,
            ids=ids,
            sequential=not self._edges,
            preds=tuple(tuple(p) for p in preds),
            succs=tuple(tuple(s) for s in succs),
            error_routed=tuple(any(on_err for _, _, on_err in s) for s in succs),
        )

    def _check(self, path: str, ids: set[str], problems: list[FlowDefinitionError]) -> None:
        try:
            self._plan = self._build_plan(path)
        except FlowDefinitionError as exc:
            problems.append(exc)
        super()._check(path, ids, problems)


class AgentDefinition(_Composite):
    """An agent: flows, subagents and nodes run in order, with a ``private:`` scope of its own."""

    kind_name = "agent"

    def compile(self) -> None:
        """Compiles every flow of the agent (and of its subagents) before anything runs."""
        for nested in _nested_flows(self):
            nested.compile()

    def vars(self, variables: Mapping[str, Any] | None = None, /, **more: Any) -> AgentDefinition:
        super().vars(variables, **more)
        return self

    def flow(
        self, id: str, flow: FlowDefinition, variables: Mapping[str, Any] | None = None
    ) -> AgentDefinition:
        self._add(SubflowElement(id, _as_flow(flow, id, self), dict(variables or {})))
        return self

    def subagent(self, id: str, agent: AgentDefinition) -> AgentDefinition:
        if not isinstance(agent, AgentDefinition):
            raise FlowDefinitionError(
                f"subagent {id!r}: got {type(agent).__name__}, want an AgentDefinition",
                path=f"{self._name()}.{id}",
            )
        self._add(SubagentElement(id, agent))
        return self

    def node(
        self, id: str, node: Node, *, retry: RetryPolicy | None = None, cache: CachePolicy | None = None
    ) -> AgentDefinition:
        self._add(_node_element(id, node, retry, cache, self))
        return self


# ---- helpers ----------------------------------------------------------------------------------
def _nested_flows(composite: _Composite) -> Iterator[FlowDefinition]:
    """The flows one level below ``composite`` (an agent's are walked through to its flows)."""
    for el in composite._elements.values():
        for _, inner in el.nested():
            if isinstance(inner, FlowDefinition):
                yield inner
            else:
                yield from _nested_flows(inner)


_EPOCH = [0]
"""Bumped by every change to any definition, so a cached validation of a tree (which may contain
definitions changed through other references) is trusted only while nothing changed anywhere."""


def _touch() -> None:
    _EPOCH[0] += 1


def _node_element(id: str, node: Any, retry: Any, cache: Any, owner: _Composite) -> NodeElement:
    path = f"{owner._name()}.{id}"
    if not isinstance(node, Node):
        raise FlowDefinitionError(
            f"node {id!r}: got {type(node).__name__}, want a Node (AIModelNode, CommandNode, ...)", path=path
        )
    return NodeElement(
        id, node, _policy(retry, RetryPolicy, "retry", path), _policy(cache, CachePolicy, "cache", path)
    )


def _policy(value: Any, cls: type, name: str, path: str) -> Any:
    if value is None or isinstance(value, cls):
        return value
    raise FlowDefinitionError(
        f"{name}=: got {type(value).__name__}, want a {cls.__name__} or None", path=path
    )


def _as_flow(flow: Any, id: str, owner: _Composite) -> FlowDefinition:
    if not isinstance(flow, FlowDefinition):
        raise FlowDefinitionError(
            f"{id!r}: got {type(flow).__name__}, want a FlowDefinition", path=f"{owner._name()}.{id}"
        )
    return flow


def _branch(value: Any, name: str, id: str, owner: _Composite) -> FlowDefinition | None:
    if value is None or isinstance(value, FlowDefinition):
        return value
    if isinstance(value, Node):
        return FlowDefinition().node(name, value)
    raise FlowDefinitionError(
        f"{id!r} {name}: got {type(value).__name__}, want a FlowDefinition or a Node",
        path=f"{owner._name()}.{id}",
    )


def _child_ids(el: Element) -> Iterator[str]:
    for _, inner in el.nested():
        yield from inner.component_ids()


def _check_templates(node: Node, path: str, ids: set[str], problems: list[FlowDefinitionError]) -> None:
    for field_name, text in node.templates():
        try:
            refs = hier_refs(text)
        except ScanError as exc:
            problems.append(FlowDefinitionError(f"{field_name}: bad template: {exc.message}", path=path))
            continue
        for ref in refs:
            head, _ = ref.path()
            if head and head[0] not in ids:
                problems.append(
                    FlowDefinitionError(
                        f"{path}: {field_name} references {ref.source}, but no component "
                        f"{head[0]!r} exists (known: {', '.join(sorted(ids)) or 'none'})",
                        path=path,
                    )
                )


def _find_cycle(succs: list[list[tuple[int, bool, bool]]]) -> list[int]:
    """A cycle as a list of indices (first repeated at the end), or [] when the graph is a DAG."""
    white, grey, black = 0, 1, 2
    color = [white] * len(succs)
    parent = [-1] * len(succs)
    for root in range(len(succs)):
        if color[root] != white:
            continue
        stack = [(root, 0)]
        color[root] = grey
        while stack:
            v, k = stack[-1]
            if k < len(succs[v]):
                stack[-1] = (v, k + 1)
                w = succs[v][k][0]
                if color[w] == grey:
                    cycle = [w]
                    u = v
                    while u != w:
                        cycle.append(u)
                        u = parent[u]
                    cycle.append(w)
                    cycle[1:-1] = reversed(cycle[1:-1])
                    return cycle
                if color[w] == white:
                    color[w] = grey
                    parent[w] = v
                    stack.append((w, 0))
            else:
                color[v] = black
                stack.pop()
    return []
