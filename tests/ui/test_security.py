"""The guard and the escaping: hostile hosts, tokens, CSRF, path traversal, and LLM output."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import csrf_of, make_client

ATTACK = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    '<a href="javascript:alert(1)">x</a>'
)


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script[^>]*>", html)


def test_every_response_carries_the_security_headers(client) -> None:
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert (
        "HttpOnly" in response.headers["set-cookie"] and "SameSite=Strict" in response.headers["set-cookie"]
    )


def test_a_non_loopback_host_header_is_refused(client) -> None:
    response = client.get("/", headers={"host": "attacker.example:7860"})
    assert response.status_code == 403 and "not a loopback name" in response.text
    assert client.get("/", headers={"host": "localhost:7860"}).status_code == 200
    assert client.get("/", headers={"host": "[::1]:7860"}).status_code == 200


def test_a_post_without_csrf_is_refused(client, run_flow) -> None:
    run_id = run_flow("steps").run_id
    client.get("/")  # the session cookie
    response = client.post(f"/runs/{run_id}/resume", data={"from": "steps.b"})
    assert response.status_code == 403 and "CSRF" in response.text
    wrong = client.post(f"/runs/{run_id}/resume", data={"from": "steps.b", "csrf": "0" * 40})
    assert wrong.status_code == 403
    header = client.post(f"/runs/{run_id}/resume", data={"from": "steps.b"}, headers={"X-CSRF-Token": "x"})
    assert header.status_code == 403


def test_a_csrf_token_only_works_with_its_own_session(client, run_flow, run_root: Path) -> None:
    run_id = run_flow("steps").run_id
    token = csrf_of(client.get("/").text)
    with make_client(run_root) as other:
        other.get("/")
        response = other.post(f"/runs/{run_id}/resume", data={"from": "steps.b", "csrf": token})
    assert response.status_code == 403


def test_cross_origin_posts_are_refused_before_anything_runs(client, run_flow) -> None:
    run_id = run_flow("steps").run_id
    token = csrf_of(client.get("/").text)
    evil = client.post(
        f"/runs/{run_id}/resume",
        data={"from": "steps.b", "csrf": token},
        headers={"origin": "http://evil.example"},
    )
    assert evil.status_code == 403 and "Origin" in evil.text
    site = client.post(
        f"/runs/{run_id}/resume",
        data={"from": "steps.b", "csrf": token},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert site.status_code == 403
    json_body = client.post(f"/runs/{run_id}/resume", json={"from": "steps.b", "csrf": token})
    assert json_body.status_code == 415


def test_off_loopback_every_request_needs_the_token(run_root: Path) -> None:
    with make_client(run_root, loopback_only=False, token="s3cret-token") as c:
        refused = c.get("/", headers={"host": "203.0.113.5:7860"})
        assert refused.status_code == 401 and "token" in refused.text
        assert c.get("/", headers={"authorization": "Bearer nope"}).status_code == 401
        assert c.get("/", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
        entry = c.get("/?token=s3cret-token&status=failed", follow_redirects=False)
        assert entry.status_code == 303 and entry.headers["location"] == "/?status=failed"
        assert "danaflow_ui_token=s3cret-token" in entry.headers["set-cookie"]
        assert c.get("/").status_code == 200  # the cookie now carries it


async def test_the_token_redirect_never_leaves_the_viewer() -> None:
    from danaflow.ui.security import Guard

    async def never(scope, receive, send) -> None:
        raise AssertionError("the token request must be answered by the guard")

    sent: list[dict] = []

    async def send(message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": "//evil.example/x", "query_string": b"token=t0k3n",
        "headers": [(b"host", b"203.0.113.5:7860")],
    }  # fmt: skip
    await Guard(never, loopback_only=False, token="t0k3n")(scope, None, send)
    headers = dict(sent[0]["headers"])
    assert sent[0]["status"] == 303
    assert headers[b"location"] == b"/evil.example/x"  # a path here, never //host (protocol-relative)


@pytest.mark.parametrize(
    "url",
    [
        "/runs/..%2F..%2F..%2Fetc%2Fpasswd",
        "/runs/%2E%2E",
        "/runs/{run}/c/..%2F..%2Fdanaflow.db",
        "/runs/{run}/c/steps.a/artifacts/..%2F..%2Frun.json",
        "/runs/{run}/c/steps.a/artifacts/..%2Fsteps%2Fresult.json",
        "/runs/{run}/c/steps.a/artifacts/outside",
        "/static/..%2Fapp.py",
        "/static/../app.py",
        "/runs/{run}/c/steps.a/value?ptr=/../../etc/passwd",
    ],
)
def test_path_traversal_is_refused(client, run_flow, run_root: Path, tmp_path: Path, url: str) -> None:
    run_id = run_flow("steps").run_id
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    folder = run_root / run_id / "steps.a"
    folder.mkdir(exist_ok=True)
    os.symlink(secret, folder / "outside")  # a symlink out of the run root is never served
    response = client.get(url.replace("{run}", run_id))
    assert response.status_code in (400, 404), (url, response.status_code)
    assert "TOP-SECRET" not in response.text and "root:" not in response.text
    assert "outside" not in client.get(f"/runs/{run_id}/c/steps.a").text


def test_an_llm_answer_with_markup_renders_as_text(client, run_flow, fake_llm) -> None:
    fake_llm.add_rule(match="capital", reply=ATTACK)
    run_id = run_flow("demo").run_id
    for url in (f"/runs/{run_id}/c/demo.ask", f"/runs/{run_id}"):
        html = client.get(url).text
        assert len(_scripts(html)) == 2, _scripts(html)  # htmx and ui.js, nothing else
        assert "<img src=x" not in html and 'href="javascript:' not in html
    html = client.get(f"/runs/{run_id}/c/demo.ask").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


def test_hostile_keys_and_errors_are_escaped(client, run_flow, run_root: Path) -> None:
    from danaflow.runs.store import ComponentRecord, RunRecord, SQLiteRunStore

    result = (
        '{"execution_status": "failed", "outcome": {"structured": {"<img src=x onerror=alert(1)>": '
        '"</pre><script>alert(1)</script>"}}, "error": {"type": "<b>T</b>", "message": "<script>e</script>",'
        ' "location": "<i>x</i>:1:1"}}'
    )
    with SQLiteRunStore(run_root / "danaflow.db") as store:
        store.create_run(RunRecord("hostile", "<svg onload=alert(1)>", "failed", 1.0, 2.0))
        store.put_components(
            [
                ComponentRecord(
                    "hostile", "<svg onload=alert(1)>", "failed", 0, "flow", result=result, error="<script>"
                )
            ]
        )
    for url in ("/", "/runs/hostile", "/runs/hostile/c/%3Csvg%20onload%3Dalert(1)%3E"):
        html = client.get(url).text
        assert len(_scripts(html)) == 2, (url, _scripts(html))
        assert "<img src=x" not in html and "<svg onload" not in html and "<b>T</b>" not in html
