"""The event bus in a run: order, sync/async handlers, raising handlers, input requests."""

from __future__ import annotations

import pytest

from danaflow.context import ExecutionStatusEnum as S
from danaflow.context import NodeInput
from danaflow.errors import ComponentError
from danaflow.flow import (
    CommandNode,
    CommandNodeSettings,
    FlowDefinition,
    FlowRunner,
    InMemoryRun,
    PythonNode,
)
from danaflow.flow.events import ALL_EVENTS, Event, EventBus, EventHandlerError, EventType


def _flow() -> FlowDefinition:
    return FlowDefinition("f").node("a", PythonNode(lambda ctx: 1)).node("b", PythonNode(lambda ctx: 2))


async def test_events_in_order_to_sync_and_async_handlers():
    run = InMemoryRun()
    seen: list[tuple[str, str]] = []

    def sync_handler(event: Event) -> None:
        seen.append((event.type.value, event.path))

    async def async_handler(event: Event) -> None:
        seen.append(("async " + event.type.value, event.path))

    run.event_bus.on(ALL_EVENTS, sync_handler)
    run.event_bus.on(EventType.node_completed, async_handler)
    result = await FlowRunner(_flow(), run).run()
    assert result.execution_status is S.completed
    assert seen == [
        ("component_started", "f"),
        ("node_started", "f.a"),
        ("component_started", "f.a"),
        ("async node_completed", "f.a"),
        ("node_completed", "f.a"),
        ("component_completed", "f.a"),
        ("node_started", "f.b"),
        ("component_started", "f.b"),
        ("async node_completed", "f.b"),
        ("node_completed", "f.b"),
        ("component_completed", "f.b"),
        ("component_completed", "f"),
        ("run_completed", "f"),
    ]


async def test_failed_node_emits_node_failed_with_result():
    run = InMemoryRun()
    failures: list[Event] = []
    run.event_bus.on("node_failed", failures.append)
    flow = FlowDefinition("f").node("bad", PythonNode(lambda ctx: 1 / 0))
    await FlowRunner(flow, run).run()
    (event,) = failures
    assert event.node_id == "bad" and event.result.error.type == "ZeroDivisionError"
    assert event.to_dict()["status"] == "failed"


async def test_a_raising_handler_fails_its_component_visibly():
    run = InMemoryRun()

    def angry(event: Event) -> None:
        if event.path == "f.a":
            raise RuntimeError("handler exploded")

    run.event_bus.on(EventType.node_completed, angry)
    result = await FlowRunner(_flow(), run).run()
    a = result.get_result("a")
    assert a.execution_status is S.failed  # never recorded as completed
    assert "angry" in a.error.message and "handler exploded" in a.error.message
    assert result.execution_status is S.failed
    assert result.get_result("b").execution_status is S.skipped


async def test_a_raising_start_handler_fails_before_the_node_runs():
    run = InMemoryRun()
    ran: list[str] = []
    run.event_bus.on(EventType.node_started, lambda e: (_ for _ in ()).throw(ValueError("no")))
    flow = FlowDefinition("f").node("a", PythonNode(lambda ctx: ran.append("a")))
    result = await FlowRunner(flow, run).run()
    assert ran == [] and result.get_result("a").execution_status is S.failed


async def test_a_raising_run_completed_handler_fails_the_run():
    run = InMemoryRun()

    async def bad(event: Event) -> None:
        raise KeyError("x")

    run.event_bus.on(EventType.run_completed, bad)
    result = await FlowRunner(_flow(), run).run()
    assert result.execution_status is S.failed and "run_completed handler" in result.error.message


async def test_node_input_handler_supplies_input():
    run = InMemoryRun()

    async def answer(event: Event) -> None:
        if event.node_id == "ask":
            event.input = {"query": "user input"}
            event.handled = True

    run.register_node_input_handler(answer)
    flow = FlowDefinition("f").node(
        "ask", PythonNode(lambda ctx: ctx.node_input["query"], input_required=True)
    )
    result = await FlowRunner(flow, run).run()
    ask = result.get_result("ask")
    assert ask.outcome.value == "user input" and ask.input == {"query": "user input"}


async def test_unanswered_input_request_waits_and_resumes_with_input():
    ran: list[str] = []
    flow = FlowDefinition("f")
    flow.node("before", PythonNode(lambda ctx: ran.append("before")))
    flow.node("ask", PythonNode(lambda ctx: ctx.node_input, input_required=True))
    flow.node("after", PythonNode(lambda ctx: ran.append("after")))
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.waiting_input
    assert result.get_result("ask").execution_status is S.waiting_input
    assert not result.has_result("after") and ran == ["before"]

    resumed = await FlowRunner(flow, InMemoryRun(inputs={"f.ask": "42"})).run()
    assert resumed.execution_status is S.completed
    assert resumed.get_result("ask").outcome.value == "42"


async def test_waiting_input_in_a_dag_leaves_dependents_pending():
    flow = FlowDefinition("f")
    flow.node("ask", PythonNode(lambda ctx: 1, input_required=True)).node("next", PythonNode(lambda ctx: 2))
    flow.node("other", PythonNode(lambda ctx: 3)).connect("ask", "next")
    result = await FlowRunner(flow).run()
    assert result.execution_status is S.waiting_input
    assert result.get_result("other").execution_status is S.completed
    assert not result.has_result("next")


async def test_emit_wraps_handler_errors_with_the_path():
    bus = EventBus()

    def handler(event: Event) -> None:
        raise ValueError("bad")

    bus.on("component_started", handler)
    with pytest.raises(EventHandlerError) as exc:
        await bus.emit(Event(EventType.component_started, "a.b", "b"))
    assert exc.value.path == "a.b" and isinstance(exc.value.__cause__, ValueError)
    bus.off("component_started", handler)
    assert not bus.has_handlers(EventType.component_started)


def test_unknown_event_type_is_refused():
    with pytest.raises(ComponentError, match="unknown event type 'node_done'"):
        EventBus().on("node_done", print)


async def test_a_node_input_answer_feeds_any_node_type_templates():
    run = InMemoryRun()

    def answer(event: Event) -> None:
        event.input, event.handled = NodeInput(variables={"who": "world"}), True

    run.register_node_input_handler(answer)
    node = CommandNode(settings=CommandNodeSettings(commands=["echo hello $var{who}"]), input_required=True)
    result = await FlowRunner(FlowDefinition("f").node("greet", node), run).run()
    greet = result.get_result("greet")
    assert greet.ok, greet.error
    assert greet.outcome.results[0].stdout == "hello world\n"
    assert isinstance(greet.input, NodeInput)  # the record keeps the input it ran with
