"""The enums every layer uses to talk about components: what kind a component is, and where it stands.

They live in context/ (not flow/) because an ExecutionContext carries both, and context/ sits below
flow/ in the layering; flow/ and run/ re-export them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ExecutableTypeEnum", "ExecutionStatusEnum"]


class ExecutableTypeEnum(StrEnum):
    """The kind of component an ExecutionContext executes."""

    agent = "agent"
    flow = "flow"
    subflow = "subflow"
    node = "node"
    conditional = "conditional"
    for_each = "for_each"
    iteration = "iteration"


class ExecutionStatusEnum(StrEnum):
    """Where a component execution stands: pending → running → one of the terminal states.

    ``waiting_input`` is not terminal: the run pauses there until the input arrives.
    """

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    skipped = "skipped"
    waiting_input = "waiting_input"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {ExecutionStatusEnum.completed, ExecutionStatusEnum.failed, ExecutionStatusEnum.skipped}
)
