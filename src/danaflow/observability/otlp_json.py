"""The OTLP JSON encoding of spans: what ``trace.jsonl`` holds, one ``TracesData`` object a line.

Each line is ``{"resourceSpans": [...]}`` as the OpenTelemetry protocol's JSON form writes it (the
OTLP file exporter's format, which the Collector's ``otlpjsonfile`` receiver and trace viewers
load): lowerCamelCase keys, trace and span ids in hex, 64-bit integers as strings, enums as
numbers, zero values left out. Encoding reads SDK spans by their public attributes and decoding
returns plain SpanRecords, so neither imports OpenTelemetry: ``danaflow runs show`` and the UI read
traces without loading the SDK. Lines in the older one-SpanRecord-a-line form still read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .records import SpanRecord

__all__ = ["encode_line", "encode_spans", "encode_value", "read_trace", "records_from_json"]

_STATUS_NAMES = {1: "ok", 2: "error"}
_FLAGS_HAS_IS_REMOTE = 0x100
_FLAGS_IS_REMOTE = 0x200


def encode_value(value: Any) -> dict[str, Any]:
    """An attribute value as an OTLP ``AnyValue`` object (``{"stringValue": "x"}`` and so on)."""
    if type(value) is str:  # most attributes: first, and without the subclass checks
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, bytes):
        import base64

        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _encode_attributes(value)}}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [encode_value(v) for v in value]}}
    if value is None:
        return {}
    return {"stringValue": str(value)}


def _encode_attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not attributes:
        return []
    return [
        {"key": key, "value": {"stringValue": value} if type(value) is str else encode_value(value)}
        for key, value in attributes.items()
    ]


def _flags(parent: Any) -> int:
    return _FLAGS_HAS_IS_REMOTE | (_FLAGS_IS_REMOTE if parent is not None and parent.is_remote else 0)


def _encode_span(span: Any) -> dict[str, Any]:
    ctx = span.get_span_context()
    out: dict[str, Any] = {"traceId": format(ctx.trace_id, "032x"), "spanId": format(ctx.span_id, "016x")}
    if ctx.trace_state:
        out["traceState"] = ",".join(f"{k}={v}" for k, v in ctx.trace_state.items())
    parent = span.parent
    if parent is not None:
        out["parentSpanId"] = format(parent.span_id, "016x")
    out["flags"] = _flags(parent)
    out["name"] = span.name
    out["kind"] = span.kind.value + 1  # the SDK's SpanKind counts from 0, OTLP's from 1 (0 = unspecified)
    if span.start_time:
        out["startTimeUnixNano"] = str(span.start_time)
    if span.end_time:
        out["endTimeUnixNano"] = str(span.end_time)
    if span.attributes:
        out["attributes"] = _encode_attributes(span.attributes)
    if span.dropped_attributes:
        out["droppedAttributesCount"] = span.dropped_attributes
    if events_in := span.events:
        events = []
        for event in events_in:
            e: dict[str, Any] = {"timeUnixNano": str(event.timestamp), "name": event.name}
            if event.attributes:
                e["attributes"] = _encode_attributes(event.attributes)
            if event.dropped_attributes:
                e["droppedAttributesCount"] = event.dropped_attributes
            events.append(e)
        out["events"] = events
    if span.dropped_events:
        out["droppedEventsCount"] = span.dropped_events
    if links_in := span.links:
        links = []
        for link in links_in:
            lk: dict[str, Any] = {
                "traceId": format(link.context.trace_id, "032x"),
                "spanId": format(link.context.span_id, "016x"),
            }
            if link.attributes:
                lk["attributes"] = _encode_attributes(link.attributes)
            if link.dropped_attributes:
                lk["droppedAttributesCount"] = link.dropped_attributes
            lk["flags"] = _flags(link.context)
            links.append(lk)
        out["links"] = links
    if span.dropped_links:
        out["droppedLinksCount"] = span.dropped_links
    span_status, status = span.status, {}
    if span_status.description:
        status["message"] = span_status.description
    if code := span_status.status_code.value:
        status["code"] = code
    out["status"] = status
    return out


def _encode_resource(resource: Any) -> dict[str, Any]:
    return {"attributes": _encode_attributes(resource.attributes)} if resource.attributes else {}


def _encode_scope(scope: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if scope is not None:
        if scope.name:
            out["name"] = scope.name
        if scope.version:
            out["version"] = scope.version
        if scope.attributes:
            out["attributes"] = _encode_attributes(scope.attributes)
    return out


def encode_spans(spans: Iterable[Any]) -> dict[str, Any]:
    """Finished SDK spans as one OTLP ``TracesData`` object, grouped by resource then scope."""
    grouped: dict[int, tuple[Any, dict[int, tuple[Any, list[dict[str, Any]]]]]] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        scopes = grouped.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(_encode_span(span))
    resource_spans = []
    for resource, scopes in grouped.values():
        scope_spans = []
        for scope, encoded in scopes.values():
            entry: dict[str, Any] = {"scope": _encode_scope(scope), "spans": encoded}
            if scope is not None and scope.schema_url:
                entry["schemaUrl"] = scope.schema_url
            scope_spans.append(entry)
        rs: dict[str, Any] = {"resource": _encode_resource(resource), "scopeSpans": scope_spans}
        if resource.schema_url:
            rs["schemaUrl"] = resource.schema_url
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}


def encode_line(spans: Sequence[Any], cache: dict[tuple[int, int], tuple[str, str]]) -> str:
    """``encode_spans(spans)`` as one compact JSON line (with its newline), for ``trace.jsonl``.

    The spans of one run share one resource and scope, so the text around the spans is made once
    and kept in ``cache`` (by the identities of the resource and scope); only the spans are encoded
    per line. Spans from several resources or scopes take the general path.
    """
    first = spans[0]
    resource, scope = first.resource, first.instrumentation_scope
    if any(s.resource is not resource or s.instrumentation_scope is not scope for s in spans):
        return json.dumps(encode_spans(spans), separators=(",", ":")) + "\n"
    key = (id(resource), id(scope))
    around = cache.get(key)
    if around is None:
        marker = "\x00spans\x00"
        shell = {"resource": _encode_resource(resource), "scopeSpans": [{"scope": _encode_scope(scope)}]}
        if resource.schema_url:
            shell["schemaUrl"] = resource.schema_url
        shell["scopeSpans"][0]["spans"] = marker
        if scope is not None and scope.schema_url:
            shell["scopeSpans"][0]["schemaUrl"] = scope.schema_url
        text = json.dumps({"resourceSpans": [shell]}, separators=(",", ":"))
        before, _, after = text.partition(json.dumps(marker))
        around = cache[key] = (before, after + "\n")
    body = ",".join(json.dumps(_encode_span(s), separators=(",", ":")) for s in spans)
    return f"{around[0]}[{body}]{around[1]}"


# ---- decoding ---------------------------------------------------------------------------------


def _decode_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_decode_value(v) for v in (value["arrayValue"] or {}).get("values", ())]
    if "kvlistValue" in value:
        return _decode_attributes((value["kvlistValue"] or {}).get("values", ()))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _decode_attributes(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(kv["key"]): _decode_value(kv.get("value") or {}) for kv in items}


def _record(span: Mapping[str, Any]) -> SpanRecord:
    attrs = _decode_attributes(span.get("attributes", ()))
    status = span.get("status") or {}
    code = int(status.get("code", 0))
    return SpanRecord(
        name=span["name"],
        kind=str(attrs.pop("danaflow.kind", "custom")),
        path=attrs.pop("danaflow.path", None),
        trace_id=span["traceId"],
        span_id=span["spanId"],
        parent_id=span.get("parentSpanId") or None,
        start_ns=int(span.get("startTimeUnixNano", 0)),
        end_ns=int(span.get("endTimeUnixNano", 0)),
        status=_STATUS_NAMES.get(code, "unset"),
        attributes=attrs,
        error=status.get("message") if code == 2 else None,
    )


def records_from_json(data: Mapping[str, Any]) -> list[SpanRecord]:
    """The spans of one parsed ``trace.jsonl`` line: an OTLP ``TracesData`` (or
    ``ExportTraceServiceRequest``) object, or a line of the older one-SpanRecord form.

    A malformed object raises AttributeError, KeyError, TypeError or ValueError.
    """
    if "resourceSpans" not in data:
        return [SpanRecord.from_json(dict(data))]
    return [
        _record(span)
        for rs in data["resourceSpans"]
        for ss in rs.get("scopeSpans", ())
        for span in ss.get("spans", ())
    ]


def read_trace(lines: Iterable[str | bytes]) -> list[SpanRecord]:
    """Every span in the lines of a ``trace.jsonl``, in file order.

    Blank lines, a torn last line (a live run writing it, or a crash) and lines that are not
    span data are skipped: a trace is read for display, and one bad line must not hide the rest.
    """
    spans: list[SpanRecord] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                spans.extend(records_from_json(data))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return spans
