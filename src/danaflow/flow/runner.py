"""FlowRunner and AgentRunner: schedule a definition's components on asyncio and record results.

The runner only schedules, awaits and emits: nodes do the work (blocking work in threads), the
pure functions in ``_algo.py`` decide what is ready, and everything durable goes through the
run's Checkpointer (flow/seam.py; ``InMemoryRun`` records nothing). A flow without connections runs
its components in order; with connections it is a DAG whose independent components run
concurrently. A failure with no on_error route fails the flow and skips its dependents; the
flow's status is the truth. A chain runs inline without spawning tasks, which keeps the
in-memory path lean.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from danaflow.context.context import ExecutionContext
from danaflow.context.result import ErrorInfo, NodeExecutionResult, NodeOutcome, Usage
from danaflow.context.status import ExecutableTypeEnum, ExecutionStatusEnum
from danaflow.errors import ComponentError, InputRequired
from danaflow.template.engine import TemplateEngine

from ._algo import DagState, flow_failed, initial_ready, settle
from ._cachekey import NodeKey, memo_for, node_key
from .definition import (
    AgentDefinition,
    ConditionalElement,
    Element,
    FlowDefinition,
    FlowPlan,
    ForEachElement,
    NodeElement,
    SubagentElement,
    SubflowElement,
)
from .events import Event, EventBus, EventHandlerError, EventType
from .executors import LOCAL, Executor
from .nodes.base import Node, NodeFailedError
from .policies import CachePolicy, RetryPolicy, error_line, make_entry, restore_hit, run_attempts
from .seam import InMemoryRun, RunEnvironment, check_environment
from .streaming import RunStream

__all__ = ["AgentRunner", "FlowRunner"]

_S = ExecutionStatusEnum
_T = ExecutableTypeEnum
_COMPLETED, _FAILED, _SKIPPED, _WAITING = _S.completed, _S.failed, _S.skipped, _S.waiting_input
_NODE_DONE = {_COMPLETED: EventType.node_completed, _FAILED: EventType.node_failed}
_COMPONENT_DONE = {_COMPLETED: EventType.component_completed, _FAILED: EventType.component_failed}


def _now() -> datetime:
    return datetime.now(UTC)


class _Execution:
    """The state of one run of a root definition: its environment and checkpointer, the bus, and
    the node concurrency limit."""

    __slots__ = ("bus", "cache", "checkpoints", "env", "executor", "results", "semaphore", "tokens")

    def __init__(self, env: RunEnvironment, executor: Executor = LOCAL):
        self.env = env
        self.checkpoints = env.checkpointer
        self.tokens: Any = None
        """While a stream listens for tokens (flow/streaming.py): what routes a node's model text."""
        self.results: Any = None
        """While a stream wants node results: called with each node's context and final record."""
        self.executor = executor
        """Where node work runs (flow/executors.py); the runner itself always stays here."""
        self.bus: EventBus = env.event_bus
        self.semaphore = asyncio.Semaphore(max(1, int(env.max_concurrency)))
        self.cache = env.result_cache
        """The run's ResultCache (None: CachePolicy nodes run uncached, and keys are never made)."""

    async def run(self, ctx: ExecutionContext, definition: Any) -> NodeExecutionResult:
        """Runs ``definition`` as the run's root in ``ctx``: the checkpointer hears the run start
        and finish (or its interruption), and ``run_completed`` is emitted. FlowRunner.run and
        ``definition.execute(context)`` (flow/execute.py) both end here."""
        checkpoints, root = self.checkpoints, ctx.path
        checkpoints.run_started(root, [root, *definition.component_paths(root)])
        try:
            result = await self.execute(ctx, definition)
        except asyncio.CancelledError:
            # Cancelled (Ctrl-C, a stream's reader left): the run records what was cut
            # short, so a resume runs it again.
            checkpoints.run_interrupted()
            raise
        bus = self.bus
        if bus.has_handlers(EventType.run_completed):
            try:
                await bus.emit(
                    Event(EventType.run_completed, root, ctx.component_id, ctx.executable_type, ctx, result)
                )
            except EventHandlerError as exc:
                result.execution_status = _FAILED
                result.error = ErrorInfo.from_exception(exc, root)
                ctx.execution_status = _FAILED
        checkpoints.run_finished(result)
        return result

    # ---- one component ---------------------------------------------------------------------
    async def component(
        self,
        parent: ExecutionContext,
        element: Element,
        kind: ExecutableTypeEnum | None = None,
        variables: dict[str, Any] | None = None,
    ) -> NodeExecutionResult:
        """Executes one component under ``parent`` and records its result there."""
        kind = kind or element.kind
        if isinstance(element, NodeElement):
            definition: Any = element.node
        elif isinstance(element, SubflowElement):
            definition = element.flow
            variables = {**element.flow.variables, **element.variables, **(variables or {})}
        elif isinstance(element, SubagentElement):
            definition = element.agent
            variables = {**element.agent.variables, **(variables or {})}
        else:
            definition = element
        ctx = parent.create_child(kind, element.id, definition, variables=variables)
        return await self.execute(ctx, element)

    async def execute(self, ctx: ExecutionContext, element: Any) -> NodeExecutionResult:
        checkpoints, bus, path = self.checkpoints, self.bus, ctx.path
        kind = ctx.executable_type
        parent = ctx.parent
        reused = checkpoints.reuse(path)
        if reused is not None:
            return self.restore(ctx, element, reused)
        is_node = kind is _T.node
        ctx.execution_status = _S.running
        checkpoints.component_started(path, ctx)
        started = _now()
        result: NodeExecutionResult
        # The span covers the finished-events too: a handler that raises there fails the
        # component, and the span must say so.
        with checkpoints.span(kind.value, path) as span:
            try:
                if is_node and bus.has_handlers(EventType.node_started):
                    await bus.emit(Event(EventType.node_started, path, ctx.component_id, kind, ctx))
                if bus.has_handlers(EventType.component_started):
                    await bus.emit(Event(EventType.component_started, path, ctx.component_id, kind, ctx))
                if is_node:
                    if self.tokens is None:
                        result = await self.node_body(ctx, element)
                    else:
                        result = await self.streamed(ctx, element)
                    result.execution_status = _COMPLETED
                else:
                    result = await self.composite_body(ctx, element)
            except InputRequired:
                result = NodeExecutionResult(execution_status=_WAITING, input=ctx.node_input)
            except NodeFailedError as exc:
                result = NodeExecutionResult(
                    execution_status=_FAILED,
                    outcome=exc.outcome,
                    output=exc.output,
                    error=ErrorInfo.from_exception(exc, exc.path or path),
                )
            except Exception as exc:
                error = ErrorInfo.from_exception(exc, getattr(exc, "path", None) or path)
                result = NodeExecutionResult(execution_status=_FAILED, error=error)
            stamp = {
                "component_id": ctx.component_id,
                "path": path,
                "executable_type": kind,
                "started_at": started,
                "finished_at": _now(),
            }
            if is_node:
                stamp["node_type"] = element.node.node_type
                if result.input is None and ctx.node_input is not None:
                    stamp["input"] = ctx.node_input
            _stamp(result, stamp)
            ctx.result = result
            if self.cache is not None:
                memo_for(ctx).finished(path, result)
            ctx.execution_status = result.execution_status
            if parent is not None:
                parent.set_result(ctx.component_id, result)
            await self.emit_finished(ctx, result, is_node)
            if is_node and self.results is not None:
                self.results(ctx, result)
            _span_status(span, result)
        checkpoints.component_finished(path, ctx, result)
        return result

    def restore(
        self, ctx: ExecutionContext, element: Any, stored: NodeExecutionResult
    ) -> NodeExecutionResult:
        """Installs a stored result (resume) and, for a composite, its children's stored results,
        so ``$hier{flow1.node}`` still resolves after ``flow1`` was reused as a whole.
        """
        result = stored.model_copy(update={"reused": True})
        ctx.result = result
        if self.cache is not None:
            memo_for(ctx).finished(ctx.path, result)
        ctx.execution_status = result.execution_status
        if ctx.parent is not None:
            ctx.parent.set_result(ctx.component_id, result)
        children: list[tuple[str, Any, ExecutableTypeEnum]] = []
        if isinstance(element, ForEachElement):  # iterations are known from the store only
            i = 0
            while self.checkpoints.reuse(f"{ctx.path}.{i}") is not None:
                children.append((str(i), element.body, _T.iteration))
                i += 1
        else:
            root = isinstance(element, FlowDefinition | AgentDefinition)
            inners = [element] if root else [inner for _, inner in element.nested()]
            children = [(el.id, el, el.kind) for inner in inners for el in inner.elements]
        for child_id, child_element, kind in children:
            child_stored = self.checkpoints.reuse(f"{ctx.path}.{child_id}")
            if child_stored is not None:
                child = ctx.create_child(kind, child_id, child_element)
                self.restore(child, child_element, child_stored)
        result._children = ctx.execution_results
        return result

    async def emit_finished(self, ctx: ExecutionContext, result: NodeExecutionResult, is_node: bool) -> None:
        bus = self.bus
        status = result.execution_status
        types = []
        if is_node and status in _NODE_DONE:
            types.append(_NODE_DONE[status])
        if status in _COMPONENT_DONE:
            types.append(_COMPONENT_DONE[status])
        for event_type in types:
            if not bus.has_handlers(event_type):
                continue
            try:
                await bus.emit(
                    Event(event_type, ctx.path, ctx.component_id, ctx.executable_type, ctx, result)
                )
            except EventHandlerError as exc:
                # A handler that raises fails the component, visibly (never recorded as completed).
                result.execution_status = _FAILED
                result.error = ErrorInfo.from_exception(exc, ctx.path)
                ctx.execution_status = _FAILED
                return

    async def node_body(self, ctx: ExecutionContext, element: NodeElement) -> NodeExecutionResult:
        node = element.node
        if node.input_required:
            inputs = self.env.inputs
            if ctx.path in inputs:
                ctx.node_input = inputs[ctx.path]
            else:
                event = Event(EventType.node_input_required, ctx.path, ctx.component_id, _T.node, ctx)
                if self.bus.has_handlers(EventType.node_input_required):
                    await self.bus.emit(event)
                if not event.handled:
                    raise InputRequired(ctx.path, getattr(node, "description", None))
                ctx.node_input = event.input
        key: NodeKey | None = None
        if element.cache is not None and self.cache is not None:
            key = node_key(element.cache, node, ctx, memo_for(ctx))
            if key is not None and (hit := await self.cached(ctx, element.cache, key)) is not None:
                return hit
        retry = element.retry or _inherited_retry(ctx)
        if retry is None:
            async with self.semaphore:
                result = await self.executor.run_node(ctx, node)
        else:
            result = await self.attempts(ctx, node, retry)
        if not isinstance(result, NodeExecutionResult):
            raise ComponentError(
                f"{type(node).__name__}.execute returned {type(result).__name__}, want NodeExecutionResult",
                path=ctx.path,
            )
        if key is not None and element.cache is not None and self.cache is not None:
            entry = make_entry(element.cache, key, ctx, self.env.run_id, result)
            if entry is not None:
                self.cache.save(entry)
        return result

    async def streamed(self, ctx: ExecutionContext, element: NodeElement) -> NodeExecutionResult:
        """``node_body`` with the node's model calls streaming their text to the run's stream."""
        tokens = self.tokens
        listening = tokens.listen(ctx.path)
        try:
            return await self.node_body(ctx, element)
        finally:
            tokens.unlisten(listening)

    async def attempts(self, ctx: ExecutionContext, node: Node, policy: RetryPolicy) -> NodeExecutionResult:
        """Executes ``node`` as ``policy`` allows: each attempt in a span of its own, each retry an
        event and a new start in the run's record (the store's ``attempt``)."""
        checkpoints, path = self.checkpoints, ctx.path

        async def attempt(n: int) -> NodeExecutionResult:
            if n > 1:
                checkpoints.component_started(path, ctx)
            with checkpoints.span("attempt", path, name=f"attempt {n} {path}", **{"danaflow.attempt": n}):
                async with self.semaphore:
                    return await self.executor.run_node(ctx, node)

        async def on_retry(n: int, exc: BaseException, wait: float) -> None:
            if self.bus.has_handlers(EventType.node_retrying):
                payload = {
                    "attempt": n,
                    "max_attempts": policy.max_attempts,
                    "error_type": getattr(exc, "error_type", None) or type(exc).__name__,
                    "error": error_line(exc),
                    "delay_s": round(wait, 6),
                }
                await self.bus.emit(
                    Event(EventType.node_retrying, path, ctx.component_id, _T.node, ctx, payload=payload)
                )

        return await run_attempts(policy, attempt, on_retry, path)

    async def cached(
        self, ctx: ExecutionContext, policy: CachePolicy, key: NodeKey
    ) -> NodeExecutionResult | None:
        """The result stored under ``key`` when it is fresh (announced by ``node_cached``), else None."""
        assert self.cache is not None
        entry = self.cache.lookup(key.digest)
        if entry is None or not policy.fresh(entry.created_at):
            return None
        result = restore_hit(entry, ctx)
        if result is not None and self.bus.has_handlers(EventType.node_cached):
            payload = {
                "cached_from": entry.run_id,
                "cached_path": entry.path,
                "cached_at": entry.created_at,
                "key": entry.key,
            }
            await self.bus.emit(
                Event(EventType.node_cached, ctx.path, ctx.component_id, _T.node, ctx, payload=payload)
            )
        return result

    async def composite_body(self, ctx: ExecutionContext, element: Any) -> NodeExecutionResult:
        if isinstance(element, SubflowElement | FlowDefinition):
            flow = element.flow if isinstance(element, SubflowElement) else element
            return await self.flow_body(ctx, flow.compile())
        if isinstance(element, SubagentElement | AgentDefinition):
            agent = element.agent if isinstance(element, SubagentElement) else element
            return await self.sequence(ctx, agent.elements)
        if isinstance(element, ConditionalElement):
            return await self.conditional(ctx, element)
        if isinstance(element, ForEachElement):
            return await self.for_each(ctx, element)
        raise ComponentError(f"cannot execute {type(element).__name__}", path=ctx.path)

    # ---- composites --------------------------------------------------------------------------
    async def flow_body(self, ctx: ExecutionContext, plan: FlowPlan) -> NodeExecutionResult:
        if plan.sequential:
            return await self.sequence(ctx, plan.elements)
        return await self.dag(ctx, plan)

    async def sequence(self, ctx: ExecutionContext, elements: Any) -> NodeExecutionResult:
        elements = list(elements)
        for i, element in enumerate(elements):
            result = await self.component(ctx, element)
            status = result.execution_status
            if status is _COMPLETED or status is _SKIPPED:
                continue
            if status is _FAILED:
                for later in elements[i + 1 :]:
                    self.skip(ctx, later, f"{element.id} failed")
            failed = [element.id] if status is _FAILED else []
            return self.summary(ctx, _WAITING if status is _WAITING else _FAILED, failed)
        return self.summary(ctx, _COMPLETED, [])

    async def dag(self, ctx: ExecutionContext, plan: FlowPlan) -> NodeExecutionResult:
        state = DagState.start(plan)
        ready = deque(initial_ready(plan))
        finished: deque[tuple[int, NodeExecutionResult]] = deque()
        failed: list[int] = []
        waiting = False
        tasks: set[asyncio.Task[None]] = set()
        outstanding = 0
        wakeup: list[asyncio.Future[None] | None] = [None]
        loop = asyncio.get_running_loop()
        elements = plan.elements

        async def run_one(i: int) -> None:
            nonlocal outstanding
            try:
                result = await self.component(ctx, elements[i])
            finally:
                outstanding -= 1
            finished.append((i, result))
            fut = wakeup[0]
            if fut is not None and not fut.done():
                fut.set_result(None)

        try:
            while True:
                if len(ready) == 1 and not outstanding:
                    # A chain: run inline, without the cost of a task.
                    i = ready.popleft()
                    finished.append((i, await self.component(ctx, elements[i])))
                else:
                    while ready:
                        outstanding += 1
                        task = loop.create_task(run_one(ready.popleft()))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                if not finished:
                    if not outstanding:
                        break
                    fut = wakeup[0] = loop.create_future()
                    await fut
                    wakeup[0] = None
                    continue
                while finished:
                    i, result = finished.popleft()
                    status = result.execution_status
                    if status is _WAITING:
                        waiting = True
                        continue
                    if status is _FAILED:
                        failed.append(i)
                    newly_ready, skipped = settle(plan, state, i, status is _COMPLETED)
                    for j in skipped:
                        self.skip(ctx, elements[j], f"an edge into {elements[j].id} was not taken")
                    ready.extend(newly_ready)
        finally:
            for task in list(tasks):
                task.cancel()
            if tasks:  # a cancelled run stops here only once its components stopped
                await asyncio.wait(list(tasks))
        unrouted = flow_failed(plan, failed)
        status = _WAITING if waiting else _FAILED if unrouted else _COMPLETED
        return self.summary(ctx, status, [plan.ids[i] for i in unrouted])

    async def conditional(self, ctx: ExecutionContext, element: ConditionalElement) -> NodeExecutionResult:
        value = bool(evaluate_in(ctx, element.condition, f"{ctx.path} condition"))
        branch, name = (element.then, "then") if value else (element.else_, "else")
        if branch is None:
            result = NodeExecutionResult(execution_status=_COMPLETED)
        else:
            ctx.variables.update(branch.variables)
            result = await self.flow_body(ctx, branch.compile())
        outcome = result.outcome or NodeOutcome()
        result.outcome = NodeOutcome(
            text=outcome.text,
            structured=outcome.structured,
            branch=name if branch is not None else None,
            condition=value,
        )
        return result

    async def for_each(self, ctx: ExecutionContext, element: ForEachElement) -> NodeExecutionResult:
        items = evaluate_in(ctx, element.items, f"{ctx.path} items")
        try:
            items = list(items)
        except TypeError:
            raise ComponentError(
                f"for_each items: got {type(items).__name__}, want a list or another iterable", path=ctx.path
            ) from None
        body = element.body

        def iteration(i: int, item: Any) -> Any:
            variables = {**body.variables, element.item_var: item, element.index_var: i}
            child = ctx.create_child(_T.iteration, str(i), body, variables=variables)
            return self.execute(child, body)

        results: list[NodeExecutionResult] = []
        if element.parallel and items:
            limit = asyncio.Semaphore(element.max_concurrency or len(items))

            async def limited(i: int, item: Any) -> NodeExecutionResult:
                async with limit:
                    return await iteration(i, item)

            results = list(await asyncio.gather(*(limited(i, it) for i, it in enumerate(items))))
        else:
            for i, item in enumerate(items):
                r = await iteration(i, item)
                results.append(r)
                if r.execution_status is not _COMPLETED:
                    break
        bad = [r for r in results if r.execution_status is not _COMPLETED]
        status = _COMPLETED
        if bad:
            status = _WAITING if any(r.execution_status is _WAITING for r in bad) else _FAILED
        summary = NodeExecutionResult(execution_status=status, usage=_total_usage(results))
        summary._children = ctx.execution_results
        outcomes = [r.outcome or NodeOutcome() for r in results]
        summary.outcome = NodeOutcome(structured=[o.structured for o in outcomes], items=outcomes)
        if status is _FAILED:
            first = bad[0]
            summary.error = _child_error(first, ctx.path)
        return summary

    # ---- bookkeeping -------------------------------------------------------------------------
    def skip(self, ctx: ExecutionContext, element: Element, reason: str) -> None:
        child = ctx.create_child(element.kind, element.id, None)
        child.execution_status = _SKIPPED
        result = NodeExecutionResult(
            component_id=element.id,
            path=child.path,
            executable_type=element.kind,
            execution_status=_SKIPPED,
            outcome=NodeOutcome(text=None, reason=reason),
        )
        child.result = result
        if self.cache is not None:
            memo_for(child).finished(child.path, result)
        ctx.set_result(element.id, result)
        self.checkpoints.component_finished(child.path, child, result)

    def summary(
        self, ctx: ExecutionContext, status: ExecutionStatusEnum, failed: list[str]
    ) -> NodeExecutionResult:
        """The record of a composite: its status, the last completed child's outcome, usage."""
        children = ctx.execution_results
        result = NodeExecutionResult(execution_status=status)
        result._children = children
        last = None
        for r in reversed(children.values()):
            if r.execution_status is _COMPLETED:
                last = r
                break
        if last is not None and last.outcome is not None:
            result.outcome = NodeOutcome(text=last.outcome.text, structured=last.outcome.structured)
        result.usage = _total_usage(children.values())
        if status is _FAILED and failed:
            result.error = _child_error(children[failed[0]], ctx.path)
        return result


def _stamp(result: NodeExecutionResult, fields: dict[str, Any]) -> None:
    """Sets already-valid fields in one go (pydantic's per-attribute ``__setattr__`` costs ~1 us
    each, a fifth of a trivial node's budget)."""
    result.__dict__.update(fields)
    result.__pydantic_fields_set__.update(fields)


def _inherited_retry(ctx: ExecutionContext) -> RetryPolicy | None:
    """The RetryPolicy default of the nearest enclosing definition that has one (a conditional's
    branch counts as the flow it is), or None."""
    child, parent = ctx.component_id, ctx.parent
    while parent is not None:
        definition = parent.component_definition
        if isinstance(definition, ConditionalElement):
            then = definition.then
            definition = then if then is not None and child in then._elements else definition.else_
        policy = getattr(definition, "retry", None)
        if isinstance(policy, RetryPolicy):
            return policy
        child, parent = parent.component_id, parent.parent
    return None


def evaluate_in(ctx: ExecutionContext, spec: Any, name: str) -> Any:
    """Evaluates a condition or items spec: a callable of the context, a Dana expression or a
    template string (anything with ``$``), or a literal value.
    """
    if callable(spec):
        return spec(ctx)
    if isinstance(spec, str):
        template = spec if "$" in spec else f"$expr{{{spec}}}"
        return TemplateEngine.evaluate(template, None, ctx, name=name)
    return spec


def _total_usage(results: Any) -> Usage | None:
    total: Usage | None = None
    for r in results:
        if r.usage is not None:
            total = r.usage if total is None else total + r.usage
    return total


def _child_error(child: NodeExecutionResult, path: str) -> ErrorInfo:
    message = child.error.message if child.error is not None else "failed"
    return ErrorInfo(
        type="ComponentError",
        message=f"{child.path or child.component_id} failed: {message}",
        path=child.error.path if child.error is not None and child.error.path else child.path,
        location=child.error.location if child.error is not None else None,
    )


# ---- public runners -----------------------------------------------------------------------------
class _Runner:
    def __init__(
        self,
        definition: FlowDefinition | AgentDefinition,
        run_context: RunEnvironment | None = None,
        *,
        component_id: str | None = None,
        variables: dict[str, Any] | None = None,
        executor: Executor | None = None,
    ):
        self.definition = definition
        self.run_context: RunEnvironment = (
            InMemoryRun() if run_context is None else check_environment(run_context, type(self).__name__)
        )
        self.executor: Executor = executor if executor is not None else LOCAL
        """Where node work runs: ``LocalExecutor`` (the default) or ``DaskExecutor(client)``."""
        self.component_id = (
            component_id or self.run_context.root_component_id or definition.id or self._default_id
        )
        self.variables = dict(variables or {})
        self.context: ExecutionContext | None = None
        """The root ExecutionContext of the last run (for inspection after ``run()``)."""
        self.result: NodeExecutionResult | None = None
        """The root's record of the last run that finished (what ``run()`` returned)."""
        self._tokens: Any = None
        self._results: Any = None

    _default_id = "flow"
    _kind = _T.flow

    def register_node_input_handler(self, handler: Any) -> Any:
        return self.run_context.event_bus.register_node_input_handler(handler)

    async def run(self) -> NodeExecutionResult:
        """Validates the definition, runs it, emits ``run_completed`` and returns the root's record.

        Definition problems raise FlowDefinitionError before anything executes; component failures
        are in the returned record (``execution_status``, ``error``, ``get_result(id)``).
        """
        definition, env = self.definition, self.run_context
        definition.validate()
        definition.compile()  # the whole tree, before anything runs
        ctx = ExecutionContext(
            self._kind,
            self.component_id,
            definition,
            None,
            env,
            variables={**definition.variables, **self.variables},
        )
        self.context = ctx
        execution = _Execution(env, self.executor)
        execution.tokens, execution.results = self._tokens, self._results
        self.result = result = await execution.run(ctx, definition)
        return result

    def stream(self, mode: str | Sequence[str] = "results") -> RunStream:
        """Runs the definition as ``run()`` does, streaming what ``mode`` asks for as it happens:
        ``"events"`` (ComponentEvent), ``"results"`` (NodeResult, each node as it finishes),
        ``"tokens"`` (TokenDelta, model text as it is generated), or several of them.

        ``async for item in runner.stream(mode=("results", "tokens")): ...``; afterwards
        ``runner.result`` is the root's record. Leaving the loop early cancels the run (see
        flow/streaming.py); ``async with runner.stream(...) as items:`` also waits until it stopped.
        """
        return RunStream(self, mode)

    def run_sync(self) -> NodeExecutionResult:
        """``run()`` for scripts and notebooks, blocking until the root's record is ready.

        Outside an event loop it is ``asyncio.run(self.run())``. Inside one (a Jupyter cell, an
        async caller) ``asyncio.run`` is refused and the loop cannot be re-entered, so the run gets
        a loop of its own on a worker thread, with a copy of the caller's context variables; the
        caller's loop waits for it. Exceptions come back as ``run()`` raises them.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run())
        import contextvars
        import threading

        context = contextvars.copy_context()
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = context.run(lambda: asyncio.run(self.run()))
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=target, name="danaflow-run-sync")
        worker.start()
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]


class FlowRunner(_Runner):
    """Runs a FlowDefinition: ``await FlowRunner(flow, run_context).run()``."""

    _default_id = "flow"
    _kind = _T.flow

    def __init__(self, flow: FlowDefinition, run_context: RunEnvironment | None = None, **kw: Any):
        if not isinstance(flow, FlowDefinition):
            raise ComponentError(f"FlowRunner: got {type(flow).__name__}, want a FlowDefinition")
        super().__init__(flow, run_context, **kw)


class AgentRunner(_Runner):
    """Runs an AgentDefinition (its flows and subagents in order)."""

    _default_id = "agent"
    _kind = _T.agent

    def __init__(self, agent: AgentDefinition, run_context: RunEnvironment | None = None, **kw: Any):
        if not isinstance(agent, AgentDefinition):
            raise ComponentError(f"AgentRunner: got {type(agent).__name__}, want an AgentDefinition")
        super().__init__(agent, run_context, **kw)


def _span_status(span: Any, result: NodeExecutionResult) -> None:
    """Marks a component's span with its final status (no-op for in-memory runs)."""
    set_status = getattr(span, "set_status", None)
    if set_status is None:
        return
    if result.cached:
        span.set_attribute("danaflow.cached_from", result.cached_from)
    status = result.execution_status
    if status is _FAILED:
        set_status("error", result.error.message if result.error is not None else None)
    elif status is _WAITING:
        set_status("waiting_input")
