"""RunHooks: everything the flow runner needs from a run, as a Protocol the runs layer satisfies.

flow/ sits below run/ and must not import it, so the runner talks to a run only through this
protocol: shared scopes, the event bus, the LLM, resume (``reuse``), checkpoints
(``component_started``/``component_finished``, one component's result per call), spans and
artifact folders. ``InMemoryRun`` is the implementation used when no run context is given; it
stores nothing and its spans do nothing, which keeps the in-memory path lean.
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

__all__ = ["DEFAULT_MAX_CONCURRENCY", "InMemoryRun", "RunHooks"]

DEFAULT_MAX_CONCURRENCY = 16
_NULL_SPAN = contextlib.nullcontext()


@runtime_checkable
class RunHooks(Protocol):
    """What a FlowRunner / AgentRunner needs from a run. ``RunContext`` (run/) implements it.

    Component paths are dotted, root first (``agent.flow.node``); for_each iterations are
    ``loop.0``, ``loop.1``, ... All methods are called on the event loop thread and must not block
    for long.
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
    """The run's LLM (an ``LLMResource`` or any Reasoner); None means the lazy default model."""
    allow_python_templates: bool
    """Whether ``$expr{py: ...}`` may evaluate Python in this run."""
    resources: Mapping[str, Any]
    """Named resources (tools, databases, LLMs) visible to every component of the run."""
    max_concurrency: int
    """How many leaf nodes may execute at once across the run."""
    inputs: Mapping[str, Any]
    """Node inputs by component path, e.g. given when resuming a run paused in waiting_input."""
    # Optional, read with a default so older hooks keep working: ``result_cache``, the
    # ResultCache (flow/policies.py) that CachePolicy nodes use; None or absent: nothing is cached.
    # ``run_interrupted()``, called instead of ``run_finished`` when the run is cancelled (the
    # components that started and never finished are the ones it cut short).

    def run_started(self, root_path: str, component_paths: Sequence[str]) -> None:
        """Called once before anything executes, with every statically known component path.

        The runs layer checks a resume path here (raising RunError that lists the valid paths).
        """

    def reuse(self, path: str) -> NodeExecutionResult | None:
        """A stored result to reuse instead of executing the component at ``path`` (resume).

        The runner marks it ``reused`` and does not execute the component or its children.
        """

    def component_started(self, path: str, ctx: ExecutionContext) -> None:
        """The component at ``path`` is about to execute."""

    def component_finished(self, path: str, ctx: ExecutionContext, result: NodeExecutionResult) -> None:
        """The component at ``path`` reached a final (or waiting_input) state: checkpoint it."""

    def run_finished(self, result: NodeExecutionResult) -> None:
        """The root component finished; ``result`` is its record."""

    def span(self, kind: str, path: str, **attrs: Any) -> AbstractContextManager[Any]:
        """A tracing span around one component execution (``kind`` is its executable type)."""

    def artifact_dir(self, path: str) -> Path | None:
        """Where the component at ``path`` may write artifacts, or None when nothing is kept."""


class InMemoryRun:
    """A RunHooks that keeps everything in memory: no store, no resume, no-op spans."""

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
        """Where CachePolicy nodes keep results (None: in-memory runs cache nothing)."""

    def register_node_input_handler(self, handler: Any) -> Any:
        """The seeds register input handlers on the run context; this forwards to the bus."""
        return self.event_bus.register_node_input_handler(handler)

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

    def span(self, kind: str, path: str, **attrs: Any) -> AbstractContextManager[Any]:
        return _NULL_SPAN

    def artifact_dir(self, path: str) -> Path | None:
        return None
