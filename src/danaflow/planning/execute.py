"""execute_plan: a plan becomes a flow, and the flow runs through a FlowRunner and a RunContext.

Running plans on the flow runtime (rather than a loop of its own) is what gives a plan a run dir,
a trace, events, store rows and resume by step path. The plan's ExecutionContext stays the one
that matters: the run sees its scopes (``private:`` is its agent state, ``public:`` and
``system:`` its world and execution state), its resources, its reasoning LLM and its
``global_context`` as flow variables, so a Dana program step reads and writes the same state the
caller sees. A program step is a DanaNode; the other kinds are a StepNode that calls the
reasoning LLM, a tool, or a reasoning strategy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danaflow.context.context import ExecutionContext
from danaflow.context.result import NodeExecutionResult, NodeOutcome
from danaflow.context.status import ExecutableTypeEnum, ExecutionStatusEnum
from danaflow.errors import FlowDefinitionError
from danaflow.flow.definition import FlowDefinition
from danaflow.flow.execute import execute_in
from danaflow.flow.nodes.base import Node
from danaflow.flow.nodes.dana import DanaNode
from danaflow.runs.context import RunContext
from danaflow.template.engine import TemplateEngine, to_text

from ._sync import run_sync
from .result import PlanResult, StepResult
from .strategies import DirectStrategy, reasoning_llm

if TYPE_CHECKING:
    from .plan import Plan, PlanStep

__all__ = ["StepNode", "aexecute_plan", "build_flow", "execute_plan"]

_S = ExecutionStatusEnum
_CLIP = 1500


def execute_plan(plan: Plan, context: ExecutionContext, **options: Any) -> PlanResult:
    """Runs ``plan`` in ``context`` and waits for it; see ``aexecute_plan`` for the options.

    Works from plain scripts and from notebooks (where an event loop already runs).
    """
    return run_sync(aexecute_plan(plan, context, **options))


async def aexecute_plan(
    plan: Plan,
    context: ExecutionContext,
    *,
    strategy: Any = None,
    run_context: Any = None,
    project_root: Path | str = ".",
    run_root: Path | str | None = None,
    previous_run_id: str | None = None,
    start_hierarchy_path: str | None = None,
    run_id_prefix: str = "plan",
    store: Any = None,
) -> PlanResult:
    """Runs ``plan`` as a flow and summarizes it; a failing step fails the plan, naming the step.

    ``strategy`` is the default for description-only steps (a registered name or a strategy);
    without it, the context's ``chain_of_thought``, else its ``direct``, else a DirectStrategy.
    Without ``run_context`` a RunContext is made (``run_root`` defaults to ``project_root/runs``)
    and closed at the end; ``previous_run_id`` with ``start_hierarchy_path`` (``plan.step``)
    resumes an earlier run. Definition and resume-path problems raise; step failures do not —
    they are in the result (``status``, ``failed_step``, ``error``; ``raise_for_status()``).
    """
    if len(plan) == 0:
        raise FlowDefinitionError(
            f"plan {plan.name!r} has no steps: want add_step(PlanStep(...))", path=plan.name
        )
    flow = build_flow(plan, context, strategy)
    owned = run_context is None
    if owned:
        run_context = RunContext(
            root_component_id=plan.name,
            project_root=project_root,
            run_root=run_root,
            previous_run_id=previous_run_id,
            start_hierarchy_path=start_hierarchy_path,
            store=store,
            meta={"plan": plan.name, "objective": plan.objective},
        )
    try:
        if isinstance(run_context, RunContext):
            run_context.setup_run(run_id_prefix=run_id_prefix)
        root = plan_root(flow, plan.name, run_context, context)
        flow_result = await execute_in(flow, root)
        run_dir = getattr(getattr(run_context, "run_dir", None), "root", None)
        return summarize(plan, flow_result, run_id=run_context.run_id, run_dir=run_dir)
    finally:
        if owned:
            run_context.close()


def plan_root(flow: FlowDefinition, name: str, run: Any, context: ExecutionContext) -> ExecutionContext:
    """The root context of a plan's flow: the run's environment and checkpointer, the plan
    context's scopes (``private:`` its agent state, ``public:``/``system:`` its world and
    execution state), its LLM and its resources. Steps are children of this root, so every step
    shares those scopes."""
    dict.__setitem__(context.execution_state, "__run_id", run.run_id)
    root = ExecutionContext(
        ExecutableTypeEnum.flow,
        name,
        flow,
        None,
        run,
        reasoning_llm=context.configured_llm,
        agent_state=context.agent_state,
        world_state=context.world_state,
        execution_state=context.execution_state,
    )
    run_resources = getattr(run, "resources", None) or {}
    for resource in context.resource_names() - set(run_resources):
        root.register_resource(resource, context.get_resource(resource))
    return root


def build_flow(plan: Plan, context: ExecutionContext, strategy: Any = None) -> FlowDefinition:
    """The FlowDefinition of a plan: one node per step, in order, or a DAG from ``depends_on``."""
    flow = FlowDefinition(plan.name, description=plan.description or None)
    flow.vars({k: v for k, v in context.visible_variables().items() if isinstance(k, str)})
    for step in plan.steps:
        node: Node
        if step.program is not None:
            node = DanaNode(program=step.program, description=step.description or None)
        else:
            node = StepNode(step, plan, context, strategy)
        flow.node(step.name, node)
    if any(step.depends_on for step in plan.steps):
        for step in plan.steps:
            for dep in step.depends_on:
                flow.connect(dep, step.name)
    return flow


class StepNode(Node):
    """A prompt, tool or description-only plan step as a flow node.

    It keeps the plan's context (for strategies and the reasoning LLM) while it executes in the
    node's own context (for paths, templates and results), so errors name ``plan.step``.
    """

    node_type = "plan_step"

    def __init__(self, step: PlanStep, plan: Plan, plan_context: ExecutionContext, strategy: Any = None):
        super().__init__(description=step.description or None)
        self.step = step
        self.plan = plan
        self.plan_context = plan_context
        self.default_strategy = strategy

    def templates(self) -> list[tuple[str, str]]:
        found = [("prompt", self.step.prompt)] if self.step.prompt else []
        found += [(f"tool_args.{k}", v) for k, v in self.step.tool_args.items() if isinstance(v, str)]
        return found

    async def execute(self, ctx: ExecutionContext) -> NodeExecutionResult:
        step = self.step
        kind = step.kind
        if kind == "tool":
            value = await self._call_tool(ctx)
            return self.make_result(
                NodeOutcome(text=to_text(value), structured=value, value=value, kind=kind)
            )
        llm = reasoning_llm(self.plan_context)
        if kind == "prompt":
            prompt = _render(step.prompt or "", ctx, "prompt")
            answer = await llm.agenerate(prompt, step.output_type if step.output_type is not None else str)
            return self.make_result(
                NodeOutcome(text=to_text(answer), structured=answer, value=answer, kind=kind), input=prompt
            )
        strategy = self._strategy(ctx)
        task = self.task_text(ctx)
        result = await strategy.arun(task, ctx, llm=llm, output_type=step.output_type)
        answer = result.answer
        outcome = NodeOutcome(
            text=to_text(answer),
            structured=answer,
            value=answer,
            kind=kind,
            reasoning=result.reasoning,
            strategy=getattr(strategy, "name", type(strategy).__name__),
            trace=result.trace,
        )
        return self.make_result(outcome, input=task)

    def task_text(self, ctx: ExecutionContext) -> str:
        """What a strategy is asked: the objective, earlier steps' results, then this step."""
        plan, step = self.plan, self.step
        lines = []
        if plan.objective:
            lines.append(f"Objective: {plan.objective}")
        lines.append(f"Plan: {plan.name}" + (f" ({plan.description})" if plan.description else ""))
        earlier = [
            (name, r)
            for name, r in (ctx.parent.execution_results.items() if ctx.parent is not None else ())
            if name != step.name and r.execution_status is _S.completed and r.outcome is not None
        ]
        if earlier:
            lines.append("Results of earlier steps:")
            for name, r in earlier:
                text = (r.outcome.text or "") if r.outcome is not None else ""
                text = text if len(text) <= _CLIP else text[:_CLIP] + "..."
                lines.append(f"- {name}: {text}")
        duration = f" (expected duration: {step.expected_duration})" if step.expected_duration else ""
        lines.append(f"Current step: {step.name}: {step.description or step.name}{duration}")
        return "\n".join(lines)

    def _strategy(self, ctx: ExecutionContext) -> Any:
        chosen = self.step.strategy or self.default_strategy
        if chosen is not None and not isinstance(chosen, str):
            return chosen
        if isinstance(chosen, str):
            return self.plan_context.get_reasoning_strategy(chosen)
        for name in ("chain_of_thought", "direct"):
            found = self.plan_context.get_reasoning_strategy(name, None)
            if found is not None:
                return found
        return DirectStrategy()

    async def _call_tool(self, ctx: ExecutionContext) -> Any:
        step = self.step
        assert step.tool is not None
        tool = ctx.get_resource(step.tool)
        args = {
            k: _render(v, ctx, f"tool_args.{k}", keep_type=True) if isinstance(v, str) else v
            for k, v in step.tool_args.items()
        }
        if hasattr(tool, "acall"):
            return await tool.acall(**args)
        return await asyncio.to_thread(tool, **args)

    def __repr__(self) -> str:
        return f"StepNode({self.step.name!r}, kind={self.step.kind!r})"


def _render(text: str, ctx: ExecutionContext, field: str, *, keep_type: bool = False) -> Any:
    if "$" not in text:
        return text
    name = f"{ctx.path}.{field}"
    if keep_type:
        return TemplateEngine.evaluate(text, None, ctx, name=name)
    return TemplateEngine.render_text(text, None, ctx, name=name)


def summarize(
    plan: Plan, flow_result: NodeExecutionResult, *, run_id: str | None, run_dir: Any
) -> PlanResult:
    """The PlanResult of a plan's flow result."""
    steps: dict[str, StepResult] = {}
    for step in plan.steps:
        r = flow_result.get_result(step.name)
        steps[step.name] = _step_result(step, r)
    completed = [n for n, s in steps.items() if s.status is _S.completed]
    failed = next((n for n, s in steps.items() if s.status is _S.failed), None)
    status = flow_result.execution_status
    error = None
    if failed is not None:
        error = f"step {failed!r} of plan {plan.name!r} failed: {steps[failed].error}"
    elif status is _S.failed:
        error = flow_result.error.message if flow_result.error is not None else f"plan {plan.name!r} failed"
    return PlanResult(
        plan=plan.name,
        status=status,
        completed_steps=completed,
        total_duration=flow_result.duration_s or 0.0,
        step_results=steps,
        failed_step=failed,
        error=error,
        run_id=run_id,
        run_dir=Path(run_dir) if run_dir is not None else None,
    )


def _step_result(step: PlanStep, r: NodeExecutionResult | None) -> StepResult:
    if r is None:
        return StepResult(name=step.name, kind=step.kind, status=_S.pending)
    outcome = r.outcome or NodeOutcome()
    output = outcome.get("value", outcome.structured)
    error = None
    if r.error is not None:
        error = f"{r.error.type}: {r.error.message}"
        if r.error.location and not r.error.message.startswith(r.error.location):
            error = f"{r.error.location}: {error}"
    return StepResult(
        name=step.name,
        kind=step.kind,
        status=r.execution_status,
        output=output,
        text=outcome.text,
        reasoning=outcome.get("reasoning"),
        strategy=outcome.get("strategy"),
        trace=list(outcome.get("trace") or []),
        error=error,
        duration=r.duration_s,
        reused=r.reused,
        path=r.path,
    )
