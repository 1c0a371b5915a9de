"""Tests for danaflow.observability: span parenting, exporters, no-op mode, logs and metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys

import pytest

from danaflow.errors import DanaflowError, InputRequired
from danaflow.observability import (
    NOOP_SPAN,
    ComponentMetric,
    ObservabilitySettings,
    SpanRecord,
    Telemetry,
    log,
    read_trace,
    span,
)

MEMORY = ObservabilitySettings(exporters=("memory",))


def by_path(spans: list[SpanRecord]) -> dict[str | None, SpanRecord]:
    return {s.path: s for s in spans if s.kind != "llm"}


def test_span_tree_follows_component_paths_even_from_detached_tasks():
    telemetry = Telemetry("r1", None, MEMORY).start()

    async def node(path: str) -> None:
        with telemetry.span("node", path):
            with span("llm", model="fake") as s:  # module-level helper, path from the node
                s.add_tokens(3, 4)

    async def main() -> None:
        with telemetry.activate(), telemetry.span("run"):
            with telemetry.span("agent", "a"):
                # Tasks created before their flow's span opened do not inherit it in their
                # context; the path still makes the flow their parent.
                go = asyncio.Event()

                async def later(path: str) -> None:
                    await go.wait()
                    await node(path)

                tasks = [asyncio.create_task(later(p)) for p in ("a.f.n1", "a.f.n2")]
                with telemetry.span("flow", "a.f"):
                    go.set()
                    await asyncio.gather(*tasks)
                with telemetry.span("flow", "a.g"):
                    pass

    asyncio.run(main())
    spans = telemetry.spans()
    tree = by_path(spans)
    run = tree[None]
    assert run.kind == "run" and run.parent_id is None
    assert tree["a"].parent_id == run.span_id
    assert tree["a.f"].parent_id == tree["a"].span_id
    assert tree["a.g"].parent_id == tree["a"].span_id
    assert tree["a.f.n1"].parent_id == tree["a.f"].span_id
    assert tree["a.f.n2"].parent_id == tree["a.f"].span_id
    llm = [s for s in spans if s.kind == "llm"]
    assert {s.path for s in llm} == {"a.f.n1", "a.f.n2"}
    for s in llm:
        assert s.parent_id == tree[s.path].span_id
        assert s.attributes["gen_ai.usage.input_tokens"] == 3
        assert s.attributes["gen_ai.usage.output_tokens"] == 4
        assert s.attributes["danaflow.model"] == "fake"  # a bare keyword lands under danaflow.
    assert {s.trace_id for s in spans} == {run.trace_id}
    assert all(s.status == "ok" for s in spans)


def test_span_records_errors_and_signals_distinctly():
    telemetry = Telemetry("r2", None, MEMORY).start()
    with pytest.raises(DanaflowError):
        with telemetry.span("node", "f.bad"):
            raise DanaflowError("boom", path="f.bad")
    with pytest.raises(InputRequired):
        with telemetry.span("node", "f.ask"):
            raise InputRequired("f.ask")
    tree = by_path(telemetry.spans())
    assert tree["f.bad"].status == "error"
    assert "boom" in (tree["f.bad"].error or "")
    assert tree["f.ask"].status == "unset"
    assert tree["f.ask"].attributes["danaflow.status"] == "waiting_input"


def test_tracing_off_is_a_shared_noop_and_never_loads_opentelemetry():
    code = (
        "import sys\n"
        "from danaflow.observability import Telemetry, ObservabilitySettings, span, NOOP_SPAN\n"
        "t = Telemetry('r', None, ObservabilitySettings(tracing=False, logs=False)).start()\n"
        "with t.activate():\n"
        "    assert span('llm') is NOOP_SPAN and t.span('node', 'a.b') is NOOP_SPAN\n"
        "    with span('node', 'a') as s: s.set_attribute('x', 1); s.add_tokens(1, 2)\n"
        "assert not any(m.startswith('opentelemetry') for m in sys.modules), 'otel loaded'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    # Outside any run, the module-level helper is the no-op too.
    assert span("node", "x") is NOOP_SPAN


def test_jsonl_exporter_writes_one_otlp_json_line_per_span(tmp_path):
    telemetry = Telemetry("r3", tmp_path, ObservabilitySettings()).start()
    with telemetry.activate(), telemetry.span("run"), telemetry.span("flow", "f"):
        with telemetry.span("node", "f.n", custom={"not": "scalar"}):
            pass
    telemetry.shutdown()
    lines = (tmp_path / "trace.jsonl").read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    (resource_spans,) = first["resourceSpans"]
    resource = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
    assert resource["service.name"] == {"stringValue": "danaflow"}
    assert resource["danaflow.run_id"] == {"stringValue": "r3"}
    (scope_spans,) = resource_spans["scopeSpans"]
    assert scope_spans["scope"]["name"] == "danaflow"
    (raw,) = scope_spans["spans"]
    assert raw["name"] == "node f.n" and raw["kind"] == 1  # SPAN_KIND_INTERNAL
    assert len(raw["traceId"]) == 32 and len(raw["spanId"]) == 16 and len(raw["parentSpanId"]) == 16
    assert int(raw["endTimeUnixNano"]) >= int(raw["startTimeUnixNano"]) > 0
    assert isinstance(raw["startTimeUnixNano"], str) and raw["status"] == {"code": 1}
    attrs = {a["key"]: a["value"] for a in raw["attributes"]}
    assert attrs["danaflow.path"] == {"stringValue": "f.n"}
    assert attrs["danaflow.custom"] == {"stringValue": "{'not': 'scalar'}"}
    records = read_trace(lines)
    assert [r.path for r in records] == ["f.n", "f", None]  # children end first
    assert records[0].parent_id == records[1].span_id
    assert records[0].attributes["danaflow.custom"] == "{'not': 'scalar'}"


def test_memory_spans_are_what_trace_jsonl_reads_back(tmp_path):
    telemetry = Telemetry("r6", tmp_path, ObservabilitySettings(exporters=("memory", "jsonl"))).start()
    with telemetry.activate(), telemetry.span("run"), telemetry.span("node", "n", attempt=2) as s:
        s.add_event("retry", why="flaky", n=1)
    telemetry.shutdown()
    from_file = read_trace((tmp_path / "trace.jsonl").read_text().splitlines())
    assert from_file == telemetry.spans()
    assert from_file[0].attributes["danaflow.attempt"] == 2


def test_otlp_without_the_exporter_package_says_what_to_install():
    # The package is a dev dependency, so its absence is made real in a child interpreter whose
    # import of it fails as it would where it is not installed.
    code = (
        "import sys\n"
        "sys.modules['opentelemetry.exporter.otlp.proto.http.trace_exporter'] = None\n"
        "from danaflow.errors import DanaflowError\n"
        "from danaflow.observability import ObservabilitySettings, Telemetry\n"
        "try:\n"
        "    Telemetry('r4', None, ObservabilitySettings(exporters=('otlp',))).start()\n"
        "except DanaflowError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "danaflow[otlp]" in out.stdout and "opentelemetry-exporter-otlp-proto-http" in out.stdout


def test_an_otlp_endpoint_turns_the_exporter_on_and_must_be_http():
    s = ObservabilitySettings(otlp_endpoint="http://127.0.0.1:4318")
    assert s.exporters == ("jsonl", "otlp")
    with pytest.raises(DanaflowError, match=r"got 'localhost:4317', want an http:// or https:// URL"):
        ObservabilitySettings(otlp_endpoint="localhost:4317")
    with pytest.raises(DanaflowError, match="OTEL_EXPORTER_OTLP_ENDPOINT='grpc://x': want an http"):
        ObservabilitySettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://x"})


def test_unknown_exporter_is_refused():
    with pytest.raises(DanaflowError, match="want one of"):
        ObservabilitySettings(exporters=("zipkin",))


def test_settings_from_env():
    s = ObservabilitySettings.from_env(
        {
            "DANAFLOW_TRACING": "off",
            "DANAFLOW_TRACE_EXPORTERS": "jsonl, console",
            "DANAFLOW_LOG_LEVEL": "debug",
        }
    )
    assert (s.tracing, s.exporters, s.log_level) == (False, ("jsonl", "console"), "DEBUG")
    assert s.capture_content is False and s.otlp_endpoint is None
    s = ObservabilitySettings.from_env(
        {"DANAFLOW_CAPTURE_CONTENT": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    )
    assert s.capture_content is True
    assert (s.otlp_endpoint, s.exporters) == ("http://127.0.0.1:4318", ("jsonl", "otlp"))
    assert ObservabilitySettings.from_env({"DANAFLOW_CAPTURE_CONTENT": ""}).capture_content is False


def test_logs_carry_run_and_path_and_stay_in_their_own_run(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ta = Telemetry("run_a", tmp_path / "a", ObservabilitySettings(tracing=True)).start()
    tb = Telemetry("run_b", tmp_path / "b", ObservabilitySettings(tracing=False)).start()

    async def work(t: Telemetry, path: str) -> None:
        with t.activate(), t.span("node", path):
            log("info", f"hello from {path}", tokens=3)
            await asyncio.sleep(0)
            logging.getLogger("danaflow.dana").warning("warned in %s", path)

    async def main() -> None:
        await asyncio.gather(work(ta, "fa.n"), work(tb, "fb.n"))

    asyncio.run(main())
    log("info", "outside any run")
    ta.shutdown()
    tb.shutdown()
    a = [json.loads(x) for x in (tmp_path / "a" / "logs.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (tmp_path / "b" / "logs.jsonl").read_text().splitlines()]
    assert [(r["run_id"], r["path"], r["message"]) for r in a] == [
        ("run_a", "fa.n", "hello from fa.n"),
        ("run_a", "fa.n", "warned in fa.n"),
    ]
    assert a[0]["tokens"] == 3 and a[0]["level"] == "info" and a[1]["logger"] == "danaflow.dana"
    # Run b has tracing off, so no span gives a path; the run id still separates the files.
    assert [(r["run_id"], r["message"]) for r in b] == [
        ("run_b", "hello from fb.n"),
        ("run_b", "warned in fb.n"),
    ]


def test_metrics_file_has_components_and_summary(tmp_path):
    telemetry = Telemetry("r5", tmp_path, ObservabilitySettings(tracing=False, logs=False)).start()
    telemetry.metrics.record_component(ComponentMetric("f.a", "node", "completed", 0.5, 10, 5))
    telemetry.metrics.record_component(ComponentMetric("f.b", "node", "failed", 0.25))
    telemetry.metrics.record_component(ComponentMetric("f.c", "node", "completed", 0.0, 7, 7, reused=True))
    telemetry.metrics.record_llm_call()
    telemetry.shutdown()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["path"] for r in rows[:-1]] == ["f.a", "f.b", "f.c"]
    summary = rows[-1]
    assert summary["by_status"] == {"completed": 2, "failed": 1}
    assert summary["total_tokens"] == 15  # reused results spent nothing in this run
    assert summary["llm_calls"] == 1


def test_noop_span_accepts_the_live_api():
    with NOOP_SPAN as s:
        s.set_attributes({"a": 1})
        s.set_status("error", "x")
        s.record_exception(ValueError())
        s.add_event("e", k=1)
        s.add_tokens(1, 1, cost=0.1)
