"""Every route of the viewer through Starlette's TestClient, over runs made by real flows."""

from __future__ import annotations

import json
import re
from pathlib import Path

from danaflow.runs.store import SQLiteRunStore

from .conftest import csrf_of, make_client


def graph_of(html: str) -> str:
    start = html.index('<svg class="graph"')
    return html[start : html.index("</svg>", start)]


def test_runs_page_lists_every_run_with_its_whole_id(client, run_flow) -> None:
    ids = [run_flow("steps").run_id, run_flow("demo").run_id]
    page = client.get("/")
    assert page.status_code == 200
    for run_id in ids:
        assert f'data-run-id="{run_id}"' in page.text
        assert f"<code>{run_id}</code>" in page.text  # never cut
    assert page.text.index(ids[1]) < page.text.index(ids[0])  # newest first
    table = client.get("/runs-table")
    assert table.status_code == 200 and "<html" not in table.text and ids[0] in table.text


def test_runs_page_filters_by_status_and_text_and_pages(client, run_flow) -> None:
    steps = run_flow("steps").run_id
    asks = run_flow("asks").run_id
    waiting = client.get("/", params={"status": "waiting_input"}).text
    assert asks in waiting and steps not in waiting
    by_text = client.get("/", params={"q": "STEPS"}).text
    assert steps in by_text and asks not in by_text
    assert "No runs match" in client.get("/", params={"q": "no-such-thing"}).text
    assert client.get("/", params={"page": "nonsense"}).status_code == 200


def test_runs_page_paginates(client, run_root: Path) -> None:
    with SQLiteRunStore(run_root / "danaflow.db") as store:
        from danaflow.runs.store import RunRecord

        for i in range(60):
            store.create_run(RunRecord(f"bulk_{i:03d}", "bulk", "completed", 1000.0 + i, 1001.0 + i))
    first = client.get("/").text
    assert "bulk_059" in first and "bulk_009" not in first and "older →" in first
    second = client.get("/", params={"page": "2"}).text
    assert "bulk_009" in second and "bulk_059" not in second and "← newer" in second


def test_run_page_draws_graph_tree_and_timeline(client, run_flow) -> None:
    run_id = run_flow("demo").run_id
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    html = page.text
    svg = graph_of(html)
    for path, status in [("demo.prep", "completed"), ("demo.calc", "failed"), ("demo.fix", "completed")]:
        assert f'data-path="{path}" data-status="{status}"' in svg
    assert "edge-error" in svg and "edge-success" in svg  # connect and on_error edges
    assert '<svg class="waterfall"' in html and "wk-llm" in html  # the model call's span
    assert f'href="/runs/{run_id}/c/demo.ask"' in html  # the tree links to components
    live = client.get(f"/runs/{run_id}/live")
    assert live.status_code == 200 and "<html" not in live.text and 'class="graph"' in live.text


def test_run_page_toggles_collapse_a_composite(client, run_flow) -> None:
    run_id = run_flow("loop").run_id
    open_page = graph_of(client.get(f"/runs/{run_id}").text)
    assert 'data-path="loop.each.0.body"' in open_page
    assert f'href="/runs/{run_id}?toggle=loop.each"' in open_page
    closed = graph_of(client.get(f"/runs/{run_id}", params={"toggle": "loop.each"}).text)
    assert 'data-path="loop.each.0.body"' not in closed
    assert "3 iteration(s) · 3 completed" in closed


def test_run_page_without_a_target_draws_from_the_store(client, run_root: Path) -> None:
    from danaflow.runs.store import ComponentRecord, RunRecord

    with SQLiteRunStore(run_root / "danaflow.db") as store:
        store.create_run(RunRecord("py_run", "root", "completed", 1.0, 2.0))
        store.put_components(
            [ComponentRecord("py_run", "root", "completed", 0, "flow"),
             ComponentRecord("py_run", "root.x", "completed", 1, "node"),
             ComponentRecord("py_run", "root.y", "failed", 2, "node", error="boom")]
        )  # fmt: skip
    html = client.get("/runs/py_run").text
    assert "drawn from the stored components" in html and "edge-order" in html
    assert 'data-path="root.y" data-status="failed"' in html
    assert "resume unavailable" in client.get("/runs/py_run/c/root.y").text


def test_component_page_shows_prompt_output_llm_call_events(client, run_flow, fake_llm) -> None:
    fake_llm.add_rule(match="capital", reply="Paris")
    run_id = run_flow("demo").run_id
    page = client.get(f"/runs/{run_id}/c/demo.ask")
    assert page.status_code == 200
    html = page.text
    assert "Name the capital of France." in html and '"city": "Paris"' in html.replace("&#34;", '"')
    assert "fake-model" in html and "openai-compatible" in html
    assert "node_completed" in html
    assert client.get(f"/runs/{run_id}/c/demo.ask", params={"fragment": "1"}).text.count("<html") == 0


def test_component_page_shows_the_dana_error_with_location_and_source(client, run_flow) -> None:
    run_id = run_flow("demo").run_id
    html = client.get(f"/runs/{run_id}/c/demo.calc").text
    assert "ZeroDivisionError" in html and '<code class="loc">&lt;demo.calc&gt;:1:' in html
    assert '<pre class="text source">' in html and "x = 1 / 0" in html
    assert "dividing" in html  # its log record


def test_show_more_serves_the_rest_of_a_huge_string(client, run_flow, fake_llm) -> None:
    huge = "word " * 5000
    fake_llm.add_rule(match="capital", reply=huge)
    run_id = run_flow("demo").run_id
    html = client.get(f"/runs/{run_id}/c/demo.ask").text
    assert huge not in html and "show more" in html
    more = re.search(r'hx-get="(/runs/[^"]+/value\?ptr=%2Foutcome%2Ftext)"', html)
    assert more is not None, "no show-more link for the outcome text"
    full = client.get(more.group(1).replace("&amp;", "&"))
    assert full.status_code == 200 and huge.strip() in full.text
    raw = client.get(f"/runs/{run_id}/c/demo.ask/value", params={"ptr": "/outcome/text", "raw": "1"})
    assert raw.text == huge and raw.headers["content-disposition"].startswith("attachment")
    missing = client.get(f"/runs/{run_id}/c/demo.ask/value", params={"ptr": "/no/such"})
    assert missing.status_code == 404


def test_artifacts_are_listed_viewed_escaped_and_downloaded(client, run_flow, run_root: Path) -> None:
    run_id = run_flow("steps").run_id
    folder = run_root / run_id / "steps.a"
    folder.mkdir(exist_ok=True)
    (folder / "notes.html").write_text("<script>alert('x')</script> hello")
    (folder / "blob.bin").write_bytes(b"\x00\x01\x02")
    html = client.get(f"/runs/{run_id}/c/steps.a").text
    assert "notes.html" in html and "blob.bin" in html and "<script>alert" not in html
    view = client.get(f"/runs/{run_id}/c/steps.a/artifacts/notes.html", params={"view": "1"})
    assert "&lt;script&gt;alert(" in view.text and "<script>alert" not in view.text
    download = client.get(f"/runs/{run_id}/c/steps.a/artifacts/notes.html")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in download.headers.get_list("content-security-policy")
    assert client.get(f"/runs/{run_id}/c/steps.a/artifacts/blob.bin").content == b"\x00\x01\x02"
    assert client.get(f"/runs/{run_id}/c/steps.a/artifacts/result.json").status_code == 404


def test_compare_shows_what_changed_between_two_runs(client, run_flow, fake_llm) -> None:
    fake_llm.add_rule(match="capital", reply="Paris")
    a = run_flow("demo").run_id
    fake_llm.reset()
    fake_llm.add_rule(match="capital", reply="Lyon")
    b = run_flow("demo").run_id
    html = client.get("/compare", params={"a": a, "b": b}).text
    row = html[html.index('data-path="demo.ask"') :].split("</tr>", 1)[0]
    assert 'class="diff">changed' in row
    same = html[html.index('data-path="demo.prep"') :].split("</tr>", 1)[0]
    assert ">same<" in same
    chooser = client.get("/compare", params={"a": a}).text
    assert f'<option value="{b}"' in chooser
    other = run_flow("steps").run_id
    assert "runs of different roots" in client.get("/compare", params={"a": a, "b": other}).text


def test_resume_from_a_component_starts_a_new_run(client, run_flow) -> None:
    run_id = run_flow("steps").run_id
    html = client.get(f"/runs/{run_id}/c/steps.b").text
    response = client.post(
        f"/runs/{run_id}/resume", data={"csrf": csrf_of(html), "from": "steps.b"}, follow_redirects=False
    )
    assert response.status_code == 303
    new_id = response.headers["location"].rsplit("/", 1)[1]
    client.app.state.viewer.actions.join(30)
    with SQLiteRunStore(client.app.state.viewer.reader.run_root / "danaflow.db") as store:
        record = store.get_run(new_id)
        assert record is not None and record.previous_run_id == run_id and record.start_path == "steps.b"
        assert record.status == "completed"
        reused = {c.path: c.reused for c in store.list_components(new_id)}
    assert reused["steps.a"] is True and reused["steps.b"] is False and reused["steps.c"] is False


def test_resume_from_an_unknown_path_is_a_404(client, run_flow) -> None:
    run_id = run_flow("steps").run_id
    html = client.get(f"/runs/{run_id}").text
    response = client.post(f"/runs/{run_id}/resume", data={"csrf": csrf_of(html), "from": "steps.zzz"})
    assert response.status_code == 404 and "no component &#39;steps.zzz&#39;" in response.text


def test_submitting_the_input_form_resumes_and_completes(client, run_flow) -> None:
    run_id = run_flow("asks").run_id
    html = client.get(f"/runs/{run_id}").text
    assert 'name="field.reviewer"' in html and 'type="checkbox" name="field.approved"' in html
    assert "Approve the draft before it ships" in html
    response = client.post(
        f"/runs/{run_id}/input",
        data={"csrf": csrf_of(html), "path": "asks.approve", "field.approved": "true",
              "field.reviewer": "Ada", "field.priority": "2"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text
    new_id = response.headers["location"].rsplit("/", 1)[1]
    client.app.state.viewer.actions.join(30)
    page = client.get(f"/runs/{new_id}/c/asks.approve").text
    assert "completed" in page and "Ada" in page
    assert 'data-status="completed"' in client.get(f"/runs/{new_id}").text


def test_a_bad_input_is_an_error_on_the_form(client, run_flow) -> None:
    run_id = run_flow("asks").run_id
    html = client.get(f"/runs/{run_id}/c/asks.approve").text
    response = client.post(
        f"/runs/{run_id}/input",
        data={
            "csrf": csrf_of(html),
            "path": "asks.approve",
            "field.reviewer": "Ada",
            "field.priority": "high",
        },
    )
    assert response.status_code == 400
    assert "priority: got &#39;high&#39;, want a whole number" in response.text
    not_waiting = client.post(
        f"/runs/{run_id}/input", data={"csrf": csrf_of(html), "path": "asks.draft", "field.value": "1"}
    )
    assert not_waiting.status_code == 400 and "want a component waiting for input" in not_waiting.text


def test_free_input_takes_json_or_text(client, run_flow) -> None:
    run_id = run_flow("free_input").run_id
    html = client.get(f"/runs/{run_id}").text
    assert 'name="field.value"' in html
    response = client.post(
        f"/runs/{run_id}/input",
        data={"csrf": csrf_of(html), "path": "free_input.question", "field.value": '{"answer": 42}'},
        follow_redirects=False,
    )
    assert response.status_code == 303
    new_id = response.headers["location"].rsplit("/", 1)[1]
    client.app.state.viewer.actions.join(30)
    with SQLiteRunStore(client.app.state.viewer.reader.run_root / "danaflow.db") as store:
        record = store.get_component(new_id, "free_input.question")
    assert record is not None and json.loads(record.result)["outcome"]["structured"] == {"answer": 42}


def test_htmx_actions_redirect_with_a_header(client, run_flow) -> None:
    run_id = run_flow("steps").run_id
    html = client.get(f"/runs/{run_id}").text
    response = client.post(
        f"/runs/{run_id}/resume",
        data={"from": "steps.c"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(html)},
    )
    assert response.status_code == 204 and response.headers["hx-redirect"].startswith("/runs/steps_")
    client.app.state.viewer.actions.join(30)


def test_static_files_and_unknown_ones(client) -> None:
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.text.startswith("/*! htmx 2.0.11")
    assert client.get("/static/ui.css").status_code == 200
    assert client.get("/static/nope.js").status_code == 404


def test_events_refuses_a_bad_topic(client) -> None:
    assert client.get("/events", params={"topic": "run:../../etc"}).status_code == 400
    assert client.get("/events", params={"topic": "everything"}).status_code == 400


def test_no_import_draws_without_loading_the_target(run_flow, run_root: Path) -> None:
    run_id = run_flow("demo").run_id
    with make_client(run_root, load_targets=False) as c:
        html = c.get(f"/runs/{run_id}").text
    assert "--no-import" in html and "edge-error" not in html


def test_llm_calls_show_recorded_messages_escaped(client, run_flow, run_root: Path) -> None:
    run_id = run_flow("demo").run_id
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Say <b>hi</b>"}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": "<script>alert(1)</script>"}]}]
    span = {
        "name": "chat m", "kind": "llm", "path": "demo.ask", "trace_id": "t", "span_id": "s9",
        "parent_id": None, "start_ns": 1, "end_ns": 2_000_001, "status": "ok",
        "attributes": {"gen_ai.provider.name": "prov", "gen_ai.request.model": "m-req",
                       "gen_ai.response.model": "m-1", "gen_ai.usage.input_tokens": 7,
                       "gen_ai.usage.output_tokens": 3, "danaflow.llm.attempts": 2,
                       "gen_ai.input.messages": json.dumps(messages),
                       "gen_ai.output.messages": json.dumps(answer)},
    }  # fmt: skip
    with open(run_root / run_id / "trace.jsonl", "a") as fh:
        fh.write(json.dumps(span) + "\n")
    html = client.get(f"/runs/{run_id}/c/demo.ask").text
    row = html[html.index("<td>m-1</td>") :].split("</tr>", 1)[0]
    assert "<td>prov</td>" in row and "<td>7</td>" in row and "<td>3</td>" in row and "<td>2</td>" in row
    assert "Say &lt;b&gt;hi&lt;/b&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="role">assistant</span>' in html
