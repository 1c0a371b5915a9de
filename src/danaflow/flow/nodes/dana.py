"""DanaNode: runs a Dana program in the node's ExecutionContext.

The program sees the node's scopes: ``private:`` of the nearest agent and the run's ``public:``
and ``system:`` (so its writes there are visible to later nodes), a fresh ``local:`` that starts
with the component variables visible from the node, and the run's resources through ``use()``.
The program is untrusted (an LLM may have written it): by default it runs in a confined worker
process (lang/isolated.py) with the memory, CPU and time limits of its SandboxPolicy, and only
data crosses in and out. ``isolation="inprocess"`` runs it in a worker thread of this process,
for trusted programs. ``result("node.outcome.text")`` reads earlier results by path, as
``$hier{}`` does; its argument is a path, never template text.
Outcome: ``value`` (the last top-level expression statement's value) and ``text`` (what the
program printed, or the value as text when it printed nothing).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.errors import FlowDefinitionError, TemplateError
from danaflow.template.engine import TemplateEngine, to_text

from .base import Node, NodeFailedError

if TYPE_CHECKING:
    from danaflow.context.context import ExecutionContext
    from danaflow.lang.policy import Isolation

__all__ = ["DanaNode"]


class DanaNode(Node):
    """``DanaNode(program="...")`` or ``DanaNode(path="prog.na")``."""

    node_type = "dana"

    def __init__(
        self,
        program: str | None = None,
        *,
        path: str | Path | None = None,
        timeout: float | None = None,
        max_steps: int | None = None,
        isolation: Isolation | None = None,
        memory_limit: int | None = None,
        **kw: Any,
    ):
        super().__init__(**kw)
        if (program is None) == (path is None):
            raise FlowDefinitionError("DanaNode: want exactly one of program= or path=")
        self.program = program
        self.path = Path(path) if path is not None else None
        self.timeout = timeout
        self.max_steps = max_steps
        self.isolation = isolation
        """None: the context's policy decides (process isolation unless the run widened it)."""
        self.memory_limit = memory_limit

    def source(self) -> tuple[str, str]:
        """The program text and the file name errors should name."""
        if self.path is not None:
            return self.path.read_text(encoding="utf-8"), str(self.path)
        assert self.program is not None
        return self.program, "<dana node>"

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        from danaflow.lang.api import UNSET, run  # deferred: the compiler loads lark

        source, filename = self.source()
        if self.program is not None:
            filename = f"<{ctx.path}>"
        sandbox = ctx.sandbox
        # `result("path")` reads a component result the way `$hier{path}` does (siblings first,
        # then up the hierarchy; the rest of the path is an attribute path into the result).
        sandbox.registry = sandbox.registry.copy()
        sandbox.registry.register("result", _result_lookup(ctx), description="A component result by path.")
        # reason() is answered on a host thread that inherits no context: a stream listening for
        # this node's tokens (flow/streaming.py) travels with the reasoner instead.
        from danaflow.llm.streaming import bind_tokens

        sandbox.reasoner = bind_tokens(sandbox.reasoner)
        for name, value in ctx.visible_variables().items():
            if name.isidentifier() and not name.startswith("_"):
                sandbox.local.setdefault(name, value)
        printed: list[str] = []
        outcome_ = await asyncio.to_thread(
            run,
            source,
            sandbox,
            filename=filename,
            timeout=self.timeout,
            max_steps=self.max_steps,
            print_sink=printed.append,
            isolation=self.isolation,
            memory_limit=self.memory_limit if self.memory_limit is not None else UNSET,
        )
        output = outcome_.output or "".join(printed)
        value = outcome_.value
        text = output if output else ("" if value is None else to_text(value))
        outcome = NodeOutcome(text=text, structured=value, value=value, output=output)
        if outcome_.error is not None:
            err = outcome_.error
            error_type = getattr(err, "error_type", type(err).__name__)
            raise NodeFailedError(
                f"{error_type}: {getattr(err, 'message', str(err))}",
                path=ctx.path,
                outcome=outcome,
                output=output,
                location=getattr(err, "location", None),
                error_type=error_type,
            )
        return self.make_result(outcome, output=output)

    def __repr__(self) -> str:
        return f"DanaNode(path={str(self.path)!r})" if self.path else "DanaNode(program=...)"


def _result_lookup(ctx: ExecutionContext) -> Any:
    def result(path: str) -> Any:
        if not isinstance(path, str):
            raise TypeError(
                f"result() got {type(path).__name__}, want a component path like 'node.outcome.text'"
            )
        try:
            return TemplateEngine.resolve_path(path, ctx, kind="hier", name=f"result({path[:80]!r})")
        except TemplateError as err:
            # Reported at the Dana line that called result(), not at the generated template.
            raise LookupError(f"result({path!r}): {err.message.split(': ', 1)[-1]}") from None

    return result
