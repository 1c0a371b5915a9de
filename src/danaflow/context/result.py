"""NodeExecutionResult: the record one component execution leaves behind, and the named parts of
it (seed 004's NodeInput, NodeOutput and NodeOutcome).

It is a pydantic model because the runs layer stores it as JSON (``model_dump(mode="json")``) and
reads it back for resume (``model_validate``). It lives in context/ because an ExecutionContext holds
the results of its children; flow/ re-exports it. Type-specific outcome fields (a command's
``results``, a Dana node's ``value``) ride on ``NodeOutcome`` as extra fields, so after a JSON round
trip they come back as plain lists and dicts — templates read those like objects (DESIGN §5).
``Usage`` is the LLM layer's one token-count type (llm/usage.py), re-exported here under its name.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SerializeAsAny

from danaflow.errors import ComponentError, DanaflowError
from danaflow.llm.usage import Usage

from .status import ExecutableTypeEnum, ExecutionStatusEnum

__all__ = ["ErrorInfo", "NodeExecutionResult", "NodeInput", "NodeOutcome", "NodeOutput", "Usage"]


class NodeInput(BaseModel):
    """What a ``node_input_required`` handler (or a resume) hands a node that asked for input.

    ``variables`` feed the node's templates (``$var{name}``); node types subclass it for their
    own fields (``AIModelNodeInput(prompt_variables=...)``). Extra fields are kept, so a handler
    can pass anything a custom node reads from ``ctx.node_input``.
    """

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    variables: dict[str, Any] = Field(default_factory=dict)
    """Template variables for the node's templates; they win over component variables."""

    def template_variables(self) -> dict[str, Any]:
        """The variables the node's templates see."""
        return dict(self.variables)


class NodeOutput(BaseModel):
    """A node's raw output by name (an LLM answer's ``text`` and ``model``, ...), kept beside the
    outcome for inspection. Fields are the node type's; ``get`` reads them like a mapping, which
    is also how the output reads back after a JSON round trip (resume), as a plain dict.
    """

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def get(self, key: str, default: Any = None) -> Any:
        """Reads a field by name, like ``dict.get``."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.model_extra or {}).get(key, default)

    def __getitem__(self, key: str) -> Any:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value


class NodeOutcome(BaseModel):
    """What a component produced, in the two shapes every consumer can rely on, plus extras.

    Node types add their own fields (``value``, ``results``, ``files``) as extra attributes.
    """

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    text: str | None = None
    """A textual rendering of the outcome (an LLM answer, a command's stdout, a Dana print)."""
    structured: Any = None
    """A structured value (a pydantic model from structured output, a dict, a list), or None."""

    def get(self, key: str, default: Any = None) -> Any:
        """Reads a field or extra field by name, like ``dict.get``."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.model_extra or {}).get(key, default)


class ErrorInfo(BaseModel):
    """A failure in a form that survives JSON: the error's type, message and where it happened."""

    type: str
    message: str
    path: str | None = None
    """The component path of the component that failed."""
    location: str | None = None
    """A ``file:line:col`` for Dana and template errors."""
    traceback: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException, path: str | None = None) -> ErrorInfo:
        location = None
        if isinstance(exc, DanaflowError) and exc.location is not None:
            location = str(exc.location)
        err_type = getattr(exc, "error_type", None) or type(exc).__name__
        tb = "".join(traceback.format_exception(exc, limit=8)) if exc.__traceback__ else None
        return cls(type=err_type, message=str(exc), path=path, location=location, traceback=tb)


class NodeExecutionResult(BaseModel):
    """The result of one component execution (node, flow, subflow, agent, conditional, for_each).

    ``get_result(child_id)`` reads the results of the component's children when the record came
    from a runner (they are kept outside the JSON form, since the runs layer stores each component
    on its own: a checkpoint is one component's result, never the whole tree).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    component_id: str = ""
    path: str = ""
    """The dotted component path, root first (``agent.flow.node``)."""
    executable_type: ExecutableTypeEnum = ExecutableTypeEnum.node
    node_type: str | None = None
    """For nodes, the node type (``ai_model``, ``command``, ...)."""
    execution_status: ExecutionStatusEnum = ExecutionStatusEnum.pending
    input: Any = None
    """The input the node ran with: a NodeInput (or mapping) from a ``node_input_required``
    handler or a resume, or what the node type records (an AIModelNode's rendered prompt)."""
    output: Any = None
    """The raw output of the node: a NodeOutput, or the node type's own value (the list of
    command results, ...)."""
    outcome: SerializeAsAny[NodeOutcome] | None = None
    error: ErrorInfo | None = None
    usage: Usage | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reused: bool = False
    """True when a resumed run took this result from a previous run instead of executing."""
    cached: bool = False
    """True when the node's CachePolicy key matched and the result came from the result cache."""
    cached_from: str | None = None
    """For a cached result, the id of the run that produced it."""

    _children: dict[str, NodeExecutionResult] = PrivateAttr(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.execution_status is ExecutionStatusEnum.completed

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def results(self) -> dict[str, NodeExecutionResult]:
        """The children's results by component id (empty for a node, or after a JSON round trip)."""
        return self._children

    def get_result(self, component_id: str) -> NodeExecutionResult | None:
        """A child's result by id, or by a dotted path into nested children (``sub.node``).

        A first part that is no child names a descendant anywhere below, when exactly one has
        that id (``result.get_result("node")`` for a node inside a subflow); several are a
        ComponentError listing their paths. None when nothing matches.
        """
        parts = component_id.split(".")
        start: NodeExecutionResult | None = self
        if parts[0] not in self._children:
            found = list(self._descendants(parts[0], ""))
            if len(found) > 1:
                names = ", ".join(path for path, _ in found)
                raise ComponentError(
                    f"{parts[0]!r} names {len(found)} components under {self.path or self.component_id} "
                    f"({names}): want a dotted path that names one",
                    path=self.path or None,
                )
            if not found:
                return None
            start, parts = found[0][1], parts[1:]
        current = start
        for part in parts:
            if current is None:
                return None
            current = current._children.get(part)
        return current

    def _descendants(self, component_id: str, prefix: str) -> Iterator[tuple[str, NodeExecutionResult]]:
        for cid, child in self._children.items():
            path = f"{prefix}{cid}"
            if cid == component_id:
                yield path, child
            yield from child._descendants(component_id, f"{path}.")

    def has_result(self, component_id: str) -> bool:
        return self.get_result(component_id) is not None
