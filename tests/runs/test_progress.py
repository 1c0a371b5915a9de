"""The progress display with streamed model text: plain lines for pipes, a live table with the
text under it on terminals; a model's control characters are shown escaped, never sent."""

from __future__ import annotations

import io

from danaflow.flow import AIModelNode, AIModelNodeSettings, FlowDefinition, FlowRunner, PythonNode
from danaflow.flow.events import Event, EventType
from danaflow.flow.seam import InMemoryRun
from danaflow.runs.progress import ProgressDisplay
from danaflow.testing.fake_llm import Reply

HOSTILE = "Once upon a time \x1b[2J\x1b[31mthere was a fox\x07.\nThe end."


def story() -> FlowDefinition:
    return (
        FlowDefinition("f")
        .node("first", PythonNode(lambda ctx: "ready", in_thread=False))
        .node("ask", AIModelNode(settings=AIModelNodeSettings(prompt="Tell a story")))
    )


async def show(run: InMemoryRun, flow: FlowDefinition, **kw) -> str:
    out = io.StringIO()
    with ProgressDisplay(run, out=out, **kw) as display:
        async for delta in FlowRunner(flow, run).stream(mode="tokens"):
            display.token(delta.path, delta.text)
    return out.getvalue()


async def test_plain_text_comes_after_its_path_between_the_component_lines(fake_llm) -> None:
    fake_llm.reply(HOSTILE)
    text = await show(InMemoryRun(llm=fake_llm.resource()), story(), live=False)
    lines = text.splitlines()
    assert lines[0].startswith("✓ f.first (")
    assert lines[1] == r"f.ask: Once upon a time \x1b[2J\x1b[31mthere was a fox\x07."
    assert lines[2] == "The end."
    assert lines[3].startswith("✓ f.ask (") and lines[4].startswith("✓ f (")
    assert "\x1b" not in text and "\x07" not in text


async def test_no_progress_leaves_only_the_text(fake_llm) -> None:
    fake_llm.reply("Paris, of course.")
    text = await show(InMemoryRun(llm=fake_llm.resource()), story(), live=False, components=False)
    assert text == "f.ask: Paris, of course.\n"


async def test_interleaved_nodes_each_get_their_own_lines(fake_llm) -> None:
    fake_llm.add_rule("north", Reply("cold up north", chunk_delay=0.05))
    fake_llm.add_rule("south", Reply("warm down south", chunk_delay=0.05))
    flow = (
        FlowDefinition("f")
        .node("start", PythonNode(lambda ctx: None, in_thread=False))
        .node("north", AIModelNode(settings=AIModelNodeSettings(prompt="north?")))
        .node("south", AIModelNode(settings=AIModelNodeSettings(prompt="south?")))
        .connect("start", "north")
        .connect("start", "south")
    )
    text = await show(InMemoryRun(llm=fake_llm.resource()), flow, live=False, components=False)
    said: dict[str, str] = {}
    for line in text.splitlines():
        path, _, piece = line.partition(": ")
        said[path] = said.get(path, "") + piece
    assert said == {"f.north": "cold up north", "f.south": "warm down south"}
    assert len(text.splitlines()) > 2  # the two answers took turns on the screen


def test_the_live_display_shows_a_running_nodes_text_under_the_table() -> None:
    run = InMemoryRun(run_id="r1")
    out = io.StringIO()
    with ProgressDisplay(run, out=out, live=True) as display:
        display._started(Event(EventType.component_started, "f.ask", "ask"))
        for piece in ("line one\n", "line two\n", HOSTILE):
            display.token("f.ask", piece)
    text = out.getvalue()
    assert "run r1" in text and "f.ask" in text and "running" in text
    assert "line two" in text and r"\x1b[2J\x1b[31mthere was a fox\x07." in text
    assert "\x1b[2J" not in text and "\x07" not in text
