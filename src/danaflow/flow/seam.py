"""The seam between the runner and a run: two small protocols, and the in-memory run.

flow/ sits below runs/ and must not import it, so the runner sees a run only through these:

- ``RunEnvironment``: what components read — the shared scopes, the LLM, resources, inputs, the
  limits, the event bus and the result cache — and the run's ``checkpointer``;
- ``Checkpointer``: what the runner reports — run started/finished/interrupted, reuse of a stored
  result (resume), component started/finished (one component per call), spans and artifact dirs.

Every member is required, so the runner never probes with ``getattr``. ``InMemoryRun`` is the
environment used when no run is given; its checkpointer (``NO_CHECKPOINTS``) records nothing and
its spans do nothing, which keeps the in-memory path lean. ``RunContext`` (runs/) is the durable
environment, with a ``RunCheckpointer`` that writes the store.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from danaflow.context.state import ExecutionState, WorldState
from danaflow.lang.sandbox import ScopeDict

from .events import EventBus

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.context.result import NodeExecutionResult

    from .policies import ResultCache

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "NO_CHECKPOINTS",
    "Checkpointer",
    "InMemoryRun",
    "RunEnvironment",
    "check_environment",
]

DEFAULT_MAX_CONCURRENCY = 16
_NULL_SPAN = contextlib.nullcontext()


@runtime_checkable
class Checkpointer(Protocol):
    """What the runner reports as a run progresses; ``RunCheckpointer`` (runs/) makes it durable.

    Component paths are dotted, root first (``agent.flow.node``); for_each iterations are
    ``loop.0``, ``loop.1``, ... All methods are called on the event loop thread and must not block
    for long.
    """

    def run_started(self, root_path: str, component_paths: Sequence[str]) -> None:
        """Called once before anything executes, with every statically known component path.

        A durable run checks a resume path here (raising RunError that lists the valid paths).
        """

    def reuse(self, path: str) -> NodeExecutionResult | None:
        """A stored result to reuse instead of executing the component at ``path`` (resume).

        The runner marks it ``reused`` and does not execute the component or its children.
        """

    def component_started(self, path: str, ctx: ExecutionContext) -> None:
        """The component at ``path`` is about to execute (again, for each retry attempt)."""

    def component_finished(self, path: str, ctx: ExecutionContext, result: NodeExecutionResult) -> None:
        """The component at ``path`` reached a final (or waiting_input) state: checkpoint it."""

    def run_finished(self, result: NodeExecutionResult) -> None:
        """The root component finished; ``result`` is its record."""

    def run_interrupted(self) -> None:
        """The run was cancelled; the components that started and never finished were cut short."""

    def span(self, kind: str, path: str, **attrs: Any) -> AbstractContextManager[Any]:
        """A tracing span around one component execution (``kind`` is its executable type)."""

    def artifact_dir(self, path: str) -> Path | None:
        """Where the component at ``path`` may write artifacts, or None when nothing is kept."""


@runtime_checkable
class RunEnvironment(Protocol):
    """What a FlowRunner / AgentRunner and its components read from a run.

    ``RunContext`` (runs/) and ``InMemoryRun`` implement it; an ExecutionContext's ``run_context``
    is one.
    """

    run_id: str
    root_component_id: str | None
    """The id of the root component; None lets the runner use the definition's id."""
    event_bus: EventBus
    public_state: ScopeDict
    """``public:`` for the whole run (the world state)."""
    system_state: ScopeDict
    """``system:`` for the whole run (the execution state)."""
    llm: Any
    """The run's default LLM (an ``LLMResource`` or any Reasoner); None: the configured default
    model. Components read it through ``ExecutionContext.llm``, which prefers their own."""
    resources: Mapping[str, Any]
    """Named resources (tools, databases, LLMs) visible to every component of the run."""
    inputs: Mapping[str, Any]
    """Node inputs by component path, e.g. given when resuming a run paused in waiting_input."""
    max_concurrency: int
    """The limit on leaf nodes executing at once across the run."""
    allow_python_templates: bool
    """Whether ``$expr{py: ...}`` may evaluate Python in this run."""
    result_cache: ResultCache | None
    """Where CachePolicy nodes keep results (flow/policies.py); None: nothing is cached."""
    checkpointer: Checkpointer
    """What records this run's progress."""


class _NoCheckpoints:
    """A Checkpointer that records nothing: in-memory runs."""

    __slots__ = ()

    def run_started(self, root_path: str, component_paths: Sequence[str]) -> None:
        return None

    def reuse(self, path: str) -> NodeExecutionResult | None:
        return None

    def component_started(self, path: str, ctx: ExecutionContext) -> None:
        return None

    def component_finished(self, path: str, ctx: ExecutionContext, result: NodeExecutionResult) -> None:
        return None

    def run_finished(self, result: NodeExecutionResult) -> None:
        return None

    def run_interrupted(self) -> None:
        return None

    def span(self, kind: str, path: str, **attrs: Any) -> AbstractContextManager[Any]:
        return _NULL_SPAN

    def artifact_dir(self, path: str) -> Path | None:
        return None

    def __repr__(self) -> str:
        return "NO_CHECKPOINTS"


NO_CHECKPOINTS: Checkpointer = _NoCheckpoints()


class InMemoryRun:
    """A RunEnvironment that keeps everything in memory: no store, no resume, no-op spans."""

    def __init__(
        self,
        *,
        run_id: str | None = None,
        root_component_id: str | None = None,
        event_bus: EventBus | None = None,
        llm: Any = None,
        allow_python_templates: bool = False,
        resources: Mapping[str, Any] | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        inputs: Mapping[str, Any] | None = None,
        public_state: Mapping[str, Any] | None = None,
        system_state: Mapping[str, Any] | None = None,
        result_cache: ResultCache | None = None,
        checkpointer: Checkpointer = NO_CHECKPOINTS,
    ):
        self.run_id = run_id or f"mem_{uuid.uuid4().hex[:12]}"
        self.root_component_id = root_component_id
        self.event_bus = event_bus if event_bus is not None else EventBus()
        self.public_state = public_state if isinstance(public_state, ScopeDict) else WorldState(public_state)
        self.system_state = (
            system_state if isinstance(system_state, ScopeDict) else ExecutionState(system_state)
        )
        self.llm = llm
        self.allow_python_templates = allow_python_templates
        self.resources: dict[str, Any] = dict(resources or {})
        self.max_concurrency = max_concurrency
        self.inputs: dict[str, Any] = dict(inputs or {})
        self.result_cache = result_cache
        self.checkpointer = checkpointer
        """NO_CHECKPOINTS unless given: a test's recording checkpointer, say."""

    def register_node_input_handler(self, handler: Any) -> Any:
        """The seeds register input handlers on the run context; this forwards to the bus."""
        return self.event_bus.register_node_input_handler(handler)

    def __repr__(self) -> str:
        return f"InMemoryRun(run_id={self.run_id!r})"


_ENV_MEMBERS = tuple(RunEnvironment.__annotations__)
_CHECKPOINT_MEMBERS = (
    "run_started", "reuse", "component_started", "component_finished",
    "run_finished", "run_interrupted", "span", "artifact_dir",
)  # fmt: skip


def check_environment(run: Any, where: str) -> RunEnvironment:
    """``run`` when it is a RunEnvironment with a full Checkpointer, else a ComponentError naming
    what it lacks (a run_context made by hand, or one written against the older 12-member hooks)."""
    from danaflow.errors import ComponentError

    missing = [name for name in _ENV_MEMBERS if not hasattr(run, name)]
    checkpointer = getattr(run, "checkpointer", None)
    if checkpointer is not None:
        missing += [f"checkpointer.{name}" for name in _CHECKPOINT_MEMBERS if not hasattr(checkpointer, name)]
    if missing:
        raise ComponentError(
            f"{where}: run_context is a {type(run).__name__} without {', '.join(missing)}: "
            "want a RunContext, an InMemoryRun or another RunEnvironment (danaflow.flow.seam)"
        )
    return run
