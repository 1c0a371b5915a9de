"""RunReader: names from URLs are checked against the store and the folder listing first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from danaflow.runs.store import ComponentRecord, RunRecord, SQLiteRunStore
from danaflow.ui.reader import NotFound, RunReader


@pytest.fixture
def reader(tmp_path: Path):
    root = tmp_path / "runs"
    store = SQLiteRunStore(root / "danaflow.db")
    store.create_run(RunRecord("r1", "f", "completed", 1.0, 3.5))
    store.put_components(
        [ComponentRecord("r1", "f", "completed", 0, "flow", prompt_tokens=3, completion_tokens=4)]
    )
    (root / "r1" / "f").mkdir(parents=True)
    yield RunReader(store, root)
    store.close()


@pytest.mark.parametrize("run_id", ["../etc", "a/b", "..", "", "x" * 300, "nope"])
def test_only_stored_well_formed_run_ids_are_found(reader: RunReader, run_id: str) -> None:
    with pytest.raises(NotFound):
        reader.run(run_id)


def test_summaries_carry_status_tokens_and_duration(reader: RunReader) -> None:
    [summary] = reader.summaries([reader.run("r1")])
    assert (summary.status, summary.tokens, summary.duration_s) == ("completed", 7, 2.5)


def test_a_running_run_whose_process_is_gone_reads_interrupted(reader: RunReader) -> None:
    import socket
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    record = RunRecord("r2", "f", "running", 1.0, 1.0, pid=int(dead.stdout), host=socket.gethostname())
    reader.store.create_run(record)
    assert reader.summaries([record])[0].status == "interrupted"


def test_artifacts_are_plain_files_inside_the_run_root(reader: RunReader, tmp_path: Path) -> None:
    folder = reader.run_root / "r1" / "f"
    (folder / "result.json").write_text("{}")
    (folder / "a.txt").write_text("héllo")
    (folder / "b.bin").write_bytes(b"\x00\xff")
    (folder / ".a.txt.1.2.tmp").write_text("torn")
    (folder / "sub").mkdir()
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", folder / "link")
    listed = {a.name: a.text for a in reader.artifacts("r1", "f")}
    assert listed == {"a.txt": True, "b.bin": False}
    assert reader.artifact_path("r1", "f", "a.txt").read_text() == "héllo"
    for name in ("link", "../f/a.txt", "result.json", "sub"):
        with pytest.raises(NotFound):
            reader.artifact_path("r1", "f", name)


def test_jsonl_files_skip_torn_lines_and_are_cached(reader: RunReader) -> None:
    events = reader.run_root / "r1" / "events.jsonl"
    events.write_text('{"type": "a", "path": "f"}\n[1]\n{"type": "b"')
    first = reader.events("r1")
    assert [e["type"] for e in first.rows] == ["a"] and first.skipped == 2
    assert reader.events("r1") is first
    events.write_text('{"type": "a"}\n{"type": "b"}\n')
    assert len(reader.events("r1").rows) == 2
    assert reader.logs("r1").rows == () and reader.spans("r1") == []


def test_spans_read_from_otlp_json_lines_and_the_older_form(reader: RunReader) -> None:
    pytest.importorskip(
        "danaflow.observability.otlp_json", reason="the OTLP JSON trace format is not here yet"
    )
    import json

    otlp = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "ab", "spanId": "01", "name": "node f.x", "startTimeUnixNano": "5", "endTimeUnixNano": "9",
        "status": {"code": 1},
        "attributes": [{"key": "danaflow.kind", "value": {"stringValue": "node"}},
                       {"key": "danaflow.path", "value": {"stringValue": "f.x"}}],
    }]}]}]}  # fmt: skip
    old = {"name": "flow f", "kind": "flow", "path": "f", "trace_id": "ab", "span_id": "00",
           "parent_id": None, "start_ns": 1, "end_ns": 10, "status": "ok"}  # fmt: skip
    (reader.run_root / "r1" / "trace.jsonl").write_text(json.dumps(otlp) + "\n" + json.dumps(old) + "\n{torn")
    assert [(s.kind, s.path, s.status) for s in reader.spans("r1")] == [
        ("flow", "f", "ok"),
        ("node", "f.x", "ok"),
    ]
