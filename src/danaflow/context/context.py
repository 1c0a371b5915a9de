"""ExecutionContext: one per component execution (agent, flow, subflow, node), linked to its parent.

It is the single context class of the seeds: the flow runner builds one per component, and the
planning API (seed 000) builds one directly with its LLMs and state views. It owns the component's
scopes (a SandboxContext whose ``private:`` belongs to the nearest agent and whose ``public:`` and
``system:`` are shared per run), its children's results, and the lookups templates need
(component variables and ``$hier{}`` paths). It has no event loop, writes nothing to a store and
opens no spans: the runner and the run do that.

The seed's typed contexts (``FlowExecutionContext``, ``NodeExecutionContext``, ... in kinds.py)
are this class with the kind fixed: ``ExecutionContext(kind, ...)`` builds the subclass registered
for that kind, so every context, however it was made, has the type its kind names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from danaflow.errors import ComponentError
from danaflow.lang.sandbox import SandboxContext, ScopeDict

from .result import NodeExecutionResult
from .state import AgentState, ExecutionState, StateView, WorldState
from .status import ExecutableTypeEnum, ExecutionStatusEnum

__all__ = ["ExecutionContext"]

_MISSING: Any = object()

_BY_KIND: dict[tuple[ExecutableTypeEnum, bool], type[ExecutionContext]] = {}
"""The typed context class for (kind, has a parent); filled by the subclasses in kinds.py."""


class _ContextType(type):
    """Makes ``ExecutionContext(kind, ...)`` return the typed context registered for that kind
    (an agent with a parent is a subagent). Calls on a subclass construct that subclass."""

    def __call__(cls, *args: Any, **kw: Any) -> Any:
        if cls is not ExecutionContext:
            return super().__call__(*args, **kw)
        kind = args[0] if args else kw.get("executable_type", ExecutableTypeEnum.agent)
        if type(kind) is not ExecutableTypeEnum:
            kind = ExecutableTypeEnum(kind)
        parent = args[3] if len(args) > 3 else kw.get("parent")
        target = _BY_KIND.get((kind, parent is not None), ExecutionContext)
        obj = target.__new__(target)
        ExecutionContext.__init__(obj, *args, **kw)
        return obj


class ExecutionContext(metaclass=_ContextType):
    """The state, results and scopes of one component execution.

    ``run_context`` is whatever the run hands down (a ``RunContext`` or the runner's in-memory
    hooks); the context only reads ``public_state``, ``system_state``, ``llm``, ``resources`` and
    ``allow_python_templates`` from it, each optional. A context made with a ``parent`` is one of
    that parent's ``children``.
    """

    kind: ClassVar[ExecutableTypeEnum | None] = None
    """For the typed subclasses: the kind they stand for."""
    nested: ClassVar[bool | None] = None
    """For the typed subclasses: whether they stand for the kind with a parent (True), without
    one (False) or both (None)."""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind is not None:
            for nested in (False, True) if cls.nested is None else (cls.nested,):
                _BY_KIND[(cls.kind, nested)] = cls

    __slots__ = (
        "__weakref__",
        "_context_id",
        "_resources",
        "_sandbox",
        "_strategies",
        "children",
        "component_definition",
        "component_id",
        "executable_type",
        "execution_results",
        "execution_status",
        "global_context",
        "node_input",
        "parent",
        "path",
        "planning_llm",
        "reasoning_llm",
        "result",
        "run_context",
        "variables",
    )

    def __init__(
        self,
        executable_type: ExecutableTypeEnum | str = ExecutableTypeEnum.agent,
        component_id: str = "root",
        component_definition: Any = None,
        parent: ExecutionContext | None = None,
        run_context: Any = None,
        *,
        variables: Mapping[str, Any] | None = None,
        planning_llm: Any = None,
        reasoning_llm: Any = None,
        agent_state: AgentState | Mapping[str, Any] | None = None,
        world_state: WorldState | Mapping[str, Any] | None = None,
        execution_state: ExecutionState | Mapping[str, Any] | None = None,
        global_context: Mapping[str, Any] | None = None,
        sandbox: SandboxContext | None = None,
    ):
        self.executable_type = ExecutableTypeEnum(executable_type)
        self.component_id = component_id
        self.component_definition = component_definition
        self._context_id: uuid.UUID | None = None
        self.parent = parent
        self.run_context = run_context if run_context is not None or parent is None else parent.run_context
        self.execution_status = ExecutionStatusEnum.pending
        self.execution_results: dict[str, NodeExecutionResult] = {}
        self.children: dict[str, ExecutionContext] = {}
        """Child contexts by component id, in the order they were created."""
        self.variables: dict[str, Any] = dict(variables or {})
        """Component variables (a flow's ``.vars()``, a for_each iteration's item)."""
        self.global_context: dict[str, Any] = dict(global_context or {})
        self.planning_llm = planning_llm
        self.reasoning_llm = reasoning_llm
        self.node_input: Any = None
        """The input a ``node_input_required`` handler (or a resume) supplied, if any."""
        self.result: NodeExecutionResult | None = None
        self._resources: dict[str, Any] | None = None
        self._strategies: dict[str, Any] | None = None
        self.path = f"{parent.path}.{component_id}" if parent is not None else component_id
        if parent is not None:
            parent.children[component_id] = self  # a rerun replaces the old one
        self._sandbox: SandboxContext | None = sandbox
        if parent is None or sandbox is not None or agent_state is not None:
            self._sandbox = self._make_sandbox(sandbox, agent_state, world_state, execution_state)
        if parent is None and self.global_context:
            self._expose_global_context()

    @property
    def context_id(self) -> uuid.UUID:
        """A unique id for this execution, made on first use (uuid4 costs ~2 us per node)."""
        if self._context_id is None:
            self._context_id = uuid.uuid4()
        return self._context_id

    # ---- scopes ------------------------------------------------------------------------------
    def _make_sandbox(
        self,
        sandbox: SandboxContext | None,
        agent_state: Any,
        world_state: Any,
        execution_state: Any,
    ) -> SandboxContext:
        run = self.run_context
        if sandbox is None and self.parent is not None:
            sandbox = self.parent.sandbox.child(private=_as_state(AgentState, agent_state))
        elif sandbox is None:
            sandbox = SandboxContext()
            sandbox.public = _as_state(
                WorldState, world_state if world_state is not None else getattr(run, "public_state", None)
            )
            sandbox.system = _as_state(
                ExecutionState,
                execution_state if execution_state is not None else getattr(run, "system_state", None),
            )
            sandbox.private = _as_state(AgentState, agent_state)
            sandbox.reasoner = self.llm
        if isinstance(sandbox.private, StateView):
            object.__setattr__(sandbox.private, "_lock", sandbox.lock)
        if isinstance(sandbox.system, ExecutionState):
            # The read-only keys travel with the scope: a runner's sandbox over the same
            # execution state (a plan's run) enforces them too.
            sandbox.system.reserved_keys.update(sandbox.reserved_system_keys)
            sandbox.reserved_system_keys = sandbox.system.reserved_keys
        sandbox.resources = _ResourceLookup(self)
        return sandbox

    def _expose_global_context(self) -> None:
        """Mirrors the root's ``global_context`` into ``system:`` as read-only keys (seed 000's
        ``global_context={"version": "1.0"}`` reads as ``system:version`` in Dana).

        Keys that are not Dana names (not identifiers, or starting with ``_``, the runtime's) stay
        Python-only; a key the execution state already holds is a ComponentError, since one of
        the two would silently hide the other.
        """
        system = self.sandbox.system
        clashes = sorted(k for k in self.global_context if isinstance(k, str) and k in system)
        if clashes:
            raise ComponentError(
                f"global_context keys {', '.join(clashes)} are already in execution_state (system:): "
                "want each name in one of them",
                path=self.path,
            )
        exposed = {
            k: v
            for k, v in self.global_context.items()
            if isinstance(k, str) and k.isidentifier() and not k.startswith("_")
        }
        dict.update(system, exposed)
        self.sandbox.reserved_system_keys.update(exposed)

    @property
    def sandbox(self) -> SandboxContext:
        """The component's scopes; built on first use so trivial nodes never pay for it."""
        sb = self._sandbox
        if sb is None:
            parent = self.parent
            assert parent is not None
            private = AgentState() if self.executable_type is ExecutableTypeEnum.agent else None
            sb = parent.sandbox.child(private=private)
            if private is not None:
                object.__setattr__(private, "_lock", sb.lock)
            sb.resources = _ResourceLookup(self)
            self._sandbox = sb
        return sb

    @property
    def agent_state(self) -> ScopeDict:
        """The ``private:`` scope of the nearest agent (an AgentState unless a caller swapped it)."""
        return self.sandbox.private

    @property
    def world_state(self) -> ScopeDict:
        """The run's ``public:`` scope."""
        return self.sandbox.public

    @property
    def execution_state(self) -> ScopeDict:
        """The run's ``system:`` scope."""
        return self.sandbox.system

    # ---- children and results -----------------------------------------------------------------
    def create_child(
        self,
        executable_type: ExecutableTypeEnum,
        component_id: str,
        component_definition: Any = None,
        *,
        variables: Mapping[str, Any] | None = None,
    ) -> ExecutionContext:
        """Makes (and registers) the context of a child component; a rerun replaces the old one."""
        kind = ExecutableTypeEnum(executable_type)
        cls = _BY_KIND.get((kind, True), ExecutionContext)
        child = cls.__new__(cls)  # the typed class, without the dispatch ExecutionContext(...) does
        ExecutionContext.__init__(
            child, kind, component_id, component_definition, self, self.run_context, variables=variables
        )
        return child

    def set_result(self, component_id: str, result: NodeExecutionResult) -> None:
        """Stores a child's result."""
        self.execution_results[component_id] = result

    def get_result(self, component_id: str) -> NodeExecutionResult | None:
        """A result by component id or dotted path: among this context's children, then through
        the ancestors (and their children), then anywhere in the run (see ``find_component``).

        Returns None when no such result exists (use ``has_result`` to ask first); raises
        ComponentError listing the candidates when a name outside the lexical path is ambiguous.
        """
        found = self.find_component(component_id.split("."))
        if found is None or found[1] != component_id.count(".") + 1:
            return None
        return found[0]

    def has_result(self, component_id: str) -> bool:
        return self.get_result(component_id) is not None

    def get_context_variable(self, name: str, default: Any = _MISSING) -> Any:
        """A component variable, from this context up through its ancestors (inner wins).

        The root's ``global_context`` is searched last. Raises ComponentError naming the visible
        variables when ``name`` is nowhere and no default is given.
        """
        ctx: ExecutionContext | None = self
        while ctx is not None:
            if name in ctx.variables:
                return ctx.variables[name]
            if name in ctx.global_context:
                return ctx.global_context[name]
            ctx = ctx.parent
        if default is not _MISSING:
            return default
        visible = ", ".join(sorted(self.visible_variables())) or "none"
        raise ComponentError(
            f"variable {name!r} is not defined in {self.path} or its ancestors (visible: {visible})",
            path=self.path,
        )

    def lookup_variable(self, name: str) -> Any:
        """Like ``get_context_variable`` but raises KeyError; the template engine's lookup."""
        value = self.get_context_variable(name, _MISSING_VAR)
        if value is _MISSING_VAR:
            raise KeyError(name)
        return value

    def visible_variables(self) -> dict[str, Any]:
        """Every component variable visible here, inner definitions winning."""
        out: dict[str, Any] = {}
        for ctx in reversed(list(self.ancestry())):
            out.update(ctx.global_context)
            out.update(ctx.variables)
        return out

    def ancestry(self) -> Iterator[ExecutionContext]:
        """This context, its parent, and so on up to the root."""
        ctx: ExecutionContext | None = self
        while ctx is not None:
            yield ctx
            ctx = ctx.parent

    @property
    def root(self) -> ExecutionContext:
        ctx = self
        while ctx.parent is not None:
            ctx = ctx.parent
        return ctx

    def find_component(self, segments: list[str]) -> tuple[NodeExecutionResult | None, int] | None:
        """Finds the component a ``$hier{}`` path names: first among this context's children
        (a node's siblings when called on its flow), then up through the ancestors, then — when
        its first part names one component anywhere else in the run (a node of another flow) —
        that one. A first part that names several there is a ComponentError listing them.

        Returns (its result or None if it has none yet, how many segments named components); the
        remaining segments are an attribute path into the result. None when nothing matches.
        """
        if not segments:
            return None
        first = segments[0]
        for anc in self.ancestry():
            if first in anc.children or first in anc.execution_results:
                result, used = anc._descend(segments, 0)
                return result, used
            if first == anc.component_id and anc is not self:
                if len(segments) > 1:
                    result, used = anc._descend(segments, 1)
                    if used > 1:
                        return result, used
                return anc.result, 1
        return self._find_in_run(segments)

    def _find_in_run(self, segments: list[str]) -> tuple[NodeExecutionResult | None, int] | None:
        first = segments[0]
        holders = [c for c in self.root.walk() if first in c.children or first in c.execution_results]
        if not holders:
            return None
        if len(holders) > 1:
            names = ", ".join(f"{h.path}.{first}" for h in holders)
            raise ComponentError(
                f"{first!r} names {len(holders)} components of this run ({names}): "
                f"want a dotted path that names one, from {self.path}",
                path=self.path,
            )
        return holders[0]._descend(segments, 0)

    def _descend(self, segments: list[str], start: int) -> tuple[NodeExecutionResult | None, int]:
        cur: ExecutionContext | None = self
        result: NodeExecutionResult | None = None
        i = start
        while i < len(segments) and cur is not None:
            seg = segments[i]
            child = cur.children.get(seg)
            res = cur.execution_results.get(seg)
            if child is None and res is None:
                break
            result = res if res is not None else child.result if child is not None else None
            cur = child
            i += 1
        return result, i

    def get_context_by_path(self, path: str) -> ExecutionContext:
        """The context of the component at a dotted path, relative to here and then to each
        ancestor (``flow1.node3``), or absolute from the root (``agent.flow1.node3``).

        Raises ComponentError listing the known paths when nothing matches.
        """
        segments = path.split(".")
        for anc in self.ancestry():
            start = 1 if segments[0] == anc.component_id and anc.parent is None else 0
            if start == 1 and len(segments) == 1:
                return anc
            cur: ExecutionContext | None = anc
            for seg in segments[start:]:
                cur = cur.children.get(seg) if cur is not None else None
            if cur is not None and cur is not anc:
                return cur
        known = ", ".join(c.path for c in self.root.walk()) or "none"
        raise ComponentError(
            f"no component at path {path!r} from {self.path} (known: {known})", path=self.path
        )

    def walk(self) -> Iterator[ExecutionContext]:
        """This context and every descendant, depth first."""
        yield self
        for child in list(self.children.values()):
            yield from child.walk()

    # ---- resources and LLMs ------------------------------------------------------------------
    def register_resource(self, name: Any, resource: Any = _MISSING) -> None:
        """Makes ``resource`` reachable as ``name`` here and in every descendant (and via ``use``).

        ``register_resource(resource)`` (seed 000) registers it under its own ``.name``.
        """
        if resource is _MISSING:
            resource, name = name, getattr(name, "name", None)
            if not isinstance(name, str) or not name:
                raise ComponentError(
                    f"register_resource: got {type(resource).__name__} without a .name, "
                    "want register_resource(name, resource)",
                    path=self.path,
                )
        if self._resources is None:
            self._resources = {}
        self._resources[name] = resource

    def get_resource(self, name: str, default: Any = _MISSING) -> Any:
        """A named resource from this context, its ancestors, then the run's resources."""
        for ctx in self.ancestry():
            if ctx._resources is not None and name in ctx._resources:
                return ctx._resources[name]
        run_resources = getattr(self.run_context, "resources", None) or {}
        if name in run_resources:
            return run_resources[name]
        if default is not _MISSING:
            return default
        known = ", ".join(sorted(self.resource_names())) or "none"
        raise ComponentError(f"no resource named {name!r} (registered: {known})", path=self.path)

    def resource_names(self) -> set[str]:
        names = set(getattr(self.run_context, "resources", None) or {})
        for ctx in self.ancestry():
            names.update(ctx._resources or {})
        return names

    def registered_resources(self) -> Iterator[tuple[str, Any]]:
        """The resources registered on this context itself (what the run closes at the end)."""
        yield from (self._resources or {}).items()

    def close(self) -> None:
        """Closes the resources registered on this context (those with a ``close()``), newest
        first, each once; all are attempted, then the first failure is raised."""
        first: BaseException | None = None
        for _name, resource in reversed(list((self._resources or {}).items())):
            close = getattr(resource, "close", None)
            if close is None or getattr(resource, "closed", False) is True:
                continue
            try:
                close()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

    def __enter__(self) -> ExecutionContext:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except Exception as close_exc:  # the body's error wins; the close failure rides along
            exc.add_note(f"also, closing resources of {self.path} failed: {close_exc!r}")

    async def __aenter__(self) -> ExecutionContext:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    # ---- planning (the planning layer sits above; plans are duck-typed) ----------------------
    def register_reasoning_strategy(self, name: str, strategy: Any) -> None:
        """Makes a reasoning strategy available by name here and in every descendant."""
        if self._strategies is None:
            self._strategies = {}
        self._strategies[name] = strategy

    def get_reasoning_strategy(self, name: str, default: Any = _MISSING) -> Any:
        """A strategy by name from this context or its ancestors; ComponentError lists the known."""
        for ctx in self.ancestry():
            if ctx._strategies is not None and name in ctx._strategies:
                return ctx._strategies[name]
        if default is not _MISSING:
            return default
        known = ", ".join(sorted(self.reasoning_strategies())) or "none"
        raise ComponentError(f"no reasoning strategy named {name!r} (registered: {known})", path=self.path)

    def reasoning_strategies(self) -> dict[str, Any]:
        """Every strategy visible here by name, inner registrations winning."""
        out: dict[str, Any] = {}
        for ctx in reversed(list(self.ancestry())):
            out.update(ctx._strategies or {})
        return out

    def execute_plan(self, plan: Any, **options: Any) -> Any:
        """Runs ``plan`` in this context (``plan.execute(self, **options)``) and returns its result.

        context/ sits below the planning layer, so the plan object does the work (danaflow.planning).
        """
        execute = getattr(plan, "execute", None)
        if execute is None:
            raise ComponentError(
                f"execute_plan: got {type(plan).__name__}, want a danaflow.planning.Plan", path=self.path
            )
        return execute(self, **options)

    async def aexecute_plan(self, plan: Any, **options: Any) -> Any:
        """The async twin of ``execute_plan`` (``await plan.aexecute(self, **options)``)."""
        aexecute = getattr(plan, "aexecute", None)
        if aexecute is None:
            raise ComponentError(
                f"aexecute_plan: got {type(plan).__name__}, want a danaflow.planning.Plan", path=self.path
            )
        return await aexecute(self, **options)

    @property
    def llm(self) -> Any:
        """The LLM this component reasons with — the one lookup every layer uses (nodes,
        ``reason()``, strategies, plan drafting): the nearest context's ``reasoning_llm``, else the
        run's ``llm``, else the configured default model (resolved on first call)."""
        found = self.configured_llm
        if found is not None:
            return found
        from danaflow.llm.default import DefaultReasoner  # deferred: the LLM layer loads on use

        return DefaultReasoner.shared()

    @property
    def configured_llm(self) -> Any:
        """``llm`` without the default: the nearest ``reasoning_llm``, else the run's, else None."""
        for ctx in self.ancestry():
            if ctx.reasoning_llm is not None:
                return ctx.reasoning_llm
        return getattr(self.run_context, "llm", None)

    @property
    def allow_python_templates(self) -> bool:
        return bool(getattr(self.run_context, "allow_python_templates", False))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.executable_type.value} {self.path!r}, "
            f"status={self.execution_status.value}, results={len(self.execution_results)})"
        )


_MISSING_VAR: Any = object()


def _as_state(cls: type, value: Any) -> ScopeDict:
    """The scope dict to install: a given ScopeDict (a run's shared scope) as it is, never a copy."""
    if isinstance(value, ScopeDict):
        return value
    if isinstance(value, Mapping):
        return cls(dict(value))
    return cls()


class _ResourceLookup(Mapping[str, Any]):
    """The Mapping a SandboxContext's ``use(name)`` reads: the context's resource lookup."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: ExecutionContext):
        self._ctx = ctx

    def __getitem__(self, name: str) -> Any:
        value = self._ctx.get_resource(name, _MISSING_VAR)
        if value is _MISSING_VAR:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ctx.resource_names()))

    def __len__(self) -> int:
        return len(self._ctx.resource_names())
