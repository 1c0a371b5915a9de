"""trace.jsonl's OTLP JSON: equal to the OpenTelemetry exporter's own protobuf encoding of the same
spans (read through protobuf's JSON mapping, ids in hex as OTLP/JSON writes them), and read back."""

from __future__ import annotations

import base64
import json

from google.protobuf import json_format  # with the OTLP exporter, a dev dependency
from opentelemetry.exporter.otlp.proto.common import trace_encoder

from danaflow.observability import SpanRecord, Telemetry, read_trace, records_from_json
from danaflow.observability.otlp_json import encode_line, encode_spans, encode_value


def _hex_ids(node: object) -> object:
    """protobuf's JSON mapping writes bytes in base64; OTLP/JSON writes trace and span ids in hex."""
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else _hex_ids(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def _finished_spans(service: str = "t"):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

    memory = InMemorySpanExporter()
    resource = Resource.create({"service.name": service, "n": 3})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("danaflow", "1.2")
    root = tracer.start_span("root", attributes={"danaflow.kind": "run"})
    child = tracer.start_span(
        "chat m",
        context=set_span_in_context(root),
        kind=SpanKind.CLIENT,
        attributes={
            "danaflow.kind": "llm",
            "danaflow.path": "f.n",
            "s": "x",
            "empty": "",
            "b": False,
            "i": 0,
            "big": 2**62,
            "d": 0.25,
            "ints": [1, 2],
            "strs": ["stop"],
        },
    )
    child.add_event("retry", {"attempt": 2})
    child.set_status(Status(StatusCode.ERROR, "LLMError: 500"))
    child.end()
    root.set_status(Status(StatusCode.OK))
    root.end()
    provider.shutdown()
    return memory.get_finished_spans()


def test_encoding_equals_the_sdk_protobuf_encoding():
    spans = _finished_spans()
    ours = encode_spans(spans)
    theirs = json_format.MessageToDict(trace_encoder.encode_spans(spans), use_integers_for_enums=True)
    assert ours == _hex_ids(theirs)
    assert json.loads(json.dumps(ours)) == ours  # plain JSON


def test_a_jsonl_line_is_the_same_object_on_one_line():
    spans, cache = _finished_spans(), {}
    for _ in range(2):  # the second line reuses the text made around the spans
        line = encode_line(spans, cache)
        assert line.endswith("}\n") and "\n" not in line[:-1]
        assert json.loads(line) == encode_spans(spans)
    assert len(cache) == 1
    mixed = [*spans, *_finished_spans("other")]  # two resources: the general path
    assert json.loads(encode_line(mixed, cache)) == encode_spans(mixed)
    assert len(encode_spans(mixed)["resourceSpans"]) == 2


def test_decoding_gives_span_records():
    child, root = records_from_json(json.loads(json.dumps(encode_spans(_finished_spans()))))
    assert (root.kind, root.path, root.parent_id, root.status, root.error) == ("run", None, None, "ok", None)
    assert (child.kind, child.path, child.parent_id) == ("llm", "f.n", root.span_id)
    assert child.status == "error" and child.error == "LLMError: 500"
    assert child.trace_id == root.trace_id and len(child.trace_id) == 32
    assert child.attributes == {
        "s": "x", "empty": "", "b": False, "i": 0, "big": 2**62, "d": 0.25, "ints": [1, 2], "strs": ["stop"],
    }  # fmt: skip
    assert child.end_ns >= child.start_ns > 0


def test_values_json_cannot_hold_are_encoded_as_protobuf_writes_them():
    assert encode_value(float("nan")) == {"doubleValue": "NaN"}
    assert encode_value(float("-inf")) == {"doubleValue": "-Infinity"}
    assert encode_value(b"\x00\xff") == {"bytesValue": "AP8="}
    assert encode_value({"k": 1}) == {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": "1"}}]}}


def test_read_trace_skips_torn_and_foreign_lines_and_reads_the_older_form(tmp_path):
    telemetry = Telemetry("r", tmp_path).start()
    with telemetry.activate(), telemetry.span("node", "a"):
        pass
    telemetry.shutdown()
    good = (tmp_path / "trace.jsonl").read_text().splitlines()
    old = SpanRecord("node b", "node", "b", "0" * 32, "1" * 16, None, 1, 2, "ok", {"x": 1})
    lines = [
        *good,
        json.dumps(old.to_json()),
        "",
        "[1, 2]",
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]}',
        '{"resourceSpans": "nonsense"}',
        good[0][: len(good[0]) // 2],  # a line cut by a crash
    ]
    spans = read_trace(lines)
    assert [(s.path, s.name) for s in spans] == [("a", "node a"), ("b", "node b")]
    assert spans[1] == old
