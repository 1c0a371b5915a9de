"""The hub turns store changes into events, once per change, only for topics with listeners."""

from __future__ import annotations

import asyncio
from pathlib import Path

from danaflow.runs.store import ComponentRecord, RunRecord, SQLiteRunStore
from danaflow.ui.live import Hub, sse_stream
from danaflow.ui.reader import RunReader


async def test_the_runs_topic_hears_a_new_run_and_its_status(tmp_path: Path) -> None:
    with SQLiteRunStore(tmp_path / "danaflow.db") as store:
        hub = Hub(RunReader(store, tmp_path), interval=3600)
        queue = hub.subscribe("runs")
        await hub.poll_once()  # the baseline: nothing to report
        assert queue.empty()
        store.create_run(RunRecord("r1", "root", "running", 1.0, 1.0))
        await hub.poll_once()
        assert (await asyncio.wait_for(queue.get(), 1))["topic"] == "runs"
        await hub.poll_once()
        assert queue.empty()  # no change, no event
        store.update_run("r1", status="completed")
        await hub.poll_once()
        assert queue.get_nowait()["topic"] == "runs"
        await hub.close()


async def test_a_run_topic_reports_components_and_stops_when_final(tmp_path: Path) -> None:
    with SQLiteRunStore(tmp_path / "danaflow.db") as store:
        store.create_run(RunRecord("r1", "root", "running", 1.0, 1.0))
        hub = Hub(RunReader(store, tmp_path), interval=3600)
        queue = hub.subscribe("run:r1")
        await hub.poll_once()
        store.start_component("r1", "root.a", seq=0)
        await hub.poll_once()
        assert queue.get_nowait() == {
            "topic": "run:r1",
            "status": "running",
            "running": ["root.a"],
            "final": False,
        }
        store.finish_component(
            ComponentRecord("r1", "root.a", "completed", 0, started_at=1.0, finished_at=2.0)
        )
        store.update_run("r1", status="completed")
        await hub.poll_once()
        assert queue.get_nowait()["final"] is True
        store.update_run("r1", status="completed", updated_at=99.0)
        await hub.poll_once()
        assert queue.empty()  # a final run is not polled again
        hub.unsubscribe("run:r1", queue)
        assert not Hub.valid_topic("run:../x") and Hub.valid_topic("run:r1") and not Hub.valid_topic("x")
        await hub.close()


async def test_the_stream_says_ready_then_sends_updates_and_ends_on_close(tmp_path: Path) -> None:
    with SQLiteRunStore(tmp_path / "danaflow.db") as store:
        hub = Hub(RunReader(store, tmp_path), interval=3600)
        stream = sse_stream(hub, "runs")
        assert (await anext(stream)).startswith(b"retry: 2000\nevent: ready\n")
        pending = asyncio.ensure_future(anext(stream))
        await hub.poll_once()  # the baseline (the hub's own task may take it too: either way one event)
        store.create_run(RunRecord("r1", "root", "running", 1.0, 1.0))
        await hub.poll_once()
        chunk = await asyncio.wait_for(pending, 5)
        assert chunk.startswith(b"event: update\ndata: ") and b'"topic": "runs"' in chunk
        await hub.close()
        remaining = [c async for c in stream]
        assert remaining == []
