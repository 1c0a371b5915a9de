"""The viewer in a real browser: Debian's Chromium driven by Playwright, against ``danaflow ui``
running as its own process over runs made by real flows in real subprocesses.

Screenshots land in the test's tmp dir; with ``DANAFLOW_UI_SCREENSHOTS=docs/ui`` they are also
copied there, which is how the pictures in docs/ui.md are made.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from danaflow.runs.store import open_store

from .conftest import FLOWS, Server

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")
expect = sync_api.expect
expect.set_options(timeout=20_000)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, ui_server: Server):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=ui_server.url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def run_in_subprocess(
    name: str, server: Server, fake_llm, *args: str, env: dict[str, str] | None = None
) -> str:
    """Runs ``sample_flows.py:<name>`` with ``python -m danaflow.runs run``; returns the run id."""
    full_env = {**os.environ, "DANAFLOW_LLM": fake_llm.spec, **(env or {})}
    command = [
        sys.executable,
        "-m",
        "danaflow.runs",
        "run",
        f"{FLOWS}:{name}",
        "--run-root",
        str(server.run_root),
    ]
    subprocess.run([*command, "--no-progress", *args], env=full_env, capture_output=True, timeout=120)
    return newest_run(server, name)


def newest_run(server: Server, root: str) -> str:
    with open_store(server.run_root) as store:
        return next(r.run_id for r in store.list_runs() if r.root_component_id == root)


def shoot(pg, name: str, tmp_path: Path) -> None:
    target = tmp_path / f"{name}.png"
    pg.screenshot(path=str(target), full_page=True)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = os.environ.get("DANAFLOW_UI_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(out) / target.name)


def test_the_runs_page_sees_a_run_appear_and_complete_live(
    page, ui_server: Server, fake_llm, tmp_path
) -> None:
    run_in_subprocess("steps", ui_server, fake_llm)
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    env = {**os.environ, "UI_TEST_GATE": str(gate), "DANAFLOW_LLM": fake_llm.spec}
    command = [
        sys.executable,
        "-m",
        "danaflow.runs",
        "run",
        f"{FLOWS}:gated",
        "--run-root",
        str(ui_server.run_root),
    ]
    proc = subprocess.Popen(
        [*command, "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        row = page.locator("tr.run-row", has_text="gated_")
        expect(row).to_have_attribute("data-status", "running")
        shoot(page, "runs-live", tmp_path)
        with open(gate, "wb") as fh:  # the flow's node is blocked opening the other end
            fh.write(b"go")
        expect(row).to_have_attribute("data-status", "completed")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert page.locator("tr.run-row").count() == 2
    shoot(page, "runs", tmp_path)


def test_open_a_run_click_a_node_and_see_its_prompt_and_output(page, ui_server, fake_llm, tmp_path) -> None:
    fake_llm.add_rule(match="capital", reply="Paris, on the Seine")
    run_id = run_in_subprocess("demo", ui_server, fake_llm)
    page.goto("/")
    page.locator("tr.run-row a", has_text=run_id).first.click()
    expect(page.locator(".runhead .status")).to_have_text("completed")
    expect(page.locator('svg.graph a.gnode[data-path="demo.calc"] rect')).to_have_class(
        re.compile("st-failed")
    )
    shoot(page, "run", tmp_path)
    page.locator('svg.graph a.gnode[data-path="demo.ask"]').click()
    expect(page.locator("#sec-prompt pre")).to_contain_text("Name the capital of France.")
    expect(page.locator("#sec-text pre")).to_have_text("Paris, on the Seine")
    expect(page.locator("section.llm")).to_contain_text("fake-model")
    shoot(page, "component", tmp_path)
    page.go_back()
    page.locator('svg.graph a.gnode[data-path="demo.calc"]').click()
    expect(page.locator("#error .etype")).to_have_text("ZeroDivisionError")
    expect(page.locator("#error pre.source")).to_contain_text("x = 1 / 0")
    shoot(page, "component-error", tmp_path)


def test_submit_a_waiting_input_and_watch_the_run_complete(page, ui_server, fake_llm, tmp_path) -> None:
    run_id = run_in_subprocess("asks", ui_server, fake_llm)
    page.goto(f"/runs/{run_id}")
    expect(page.locator(".runhead .status")).to_have_text("waiting input")
    form = page.locator('form.inputform[data-path="asks.approve"]')
    form.locator('input[name="field.reviewer"]').fill("Ada")
    form.locator('input[name="field.approved"]').check()
    shoot(page, "input-form", tmp_path)
    form.locator('button[type="submit"]').click()
    expect(page).not_to_have_url(re.compile(re.escape(run_id) + "$"))
    expect(page.locator(".runhead")).to_have_attribute("data-status", "completed")
    expect(page.locator(f'.runhead dd a[href="/runs/{run_id}"]')).to_be_visible()
    expect(page.locator('ul.tree li[data-path="asks.ship"]')).to_have_attribute("data-status", "completed")
    page.locator('ul.tree a[href$="/c/asks.approve"]').click()
    expect(page.locator("#sec-output")).to_contain_text("Ada")


def test_resume_from_a_node(page, ui_server, fake_llm, tmp_path) -> None:
    run_id = run_in_subprocess("steps", ui_server, fake_llm)
    page.goto(f"/runs/{run_id}/c/steps.b")
    page.locator('button.resume[data-from="steps.b"]').click()
    expect(page.locator(".runhead")).to_have_attribute("data-status", "completed")
    resumes = page.locator(".runhead dd", has=page.locator(f'a[href="/runs/{run_id}"]'))
    expect(resumes).to_contain_text("from steps.b")
    expect(page.locator('ul.tree li[data-path="steps.a"] .badge.reused')).to_be_visible()
    expect(page.locator('ul.tree li[data-path="steps.b"] .badge.reused')).to_have_count(0)
    new_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.goto(f"/compare?a={run_id}&b={new_id}")
    expect(page.locator('table.compare tr[data-path="steps.a"]')).to_be_visible()
    shoot(page, "compare", tmp_path)


def test_an_llm_answer_with_script_renders_as_text(page, ui_server, fake_llm, tmp_path) -> None:
    attack = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    fake_llm.add_rule(match="capital", reply=attack)
    run_id = run_in_subprocess("demo", ui_server, fake_llm)
    page.goto(f"/runs/{run_id}/c/demo.ask")
    expect(page.locator("#sec-text pre")).to_have_text(attack)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 0


def test_a_path_traversal_url_is_refused(page, ui_server, fake_llm) -> None:
    run_id = run_in_subprocess("steps", ui_server, fake_llm)
    for url in (
        "/runs/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/runs/{run_id}/c/..%2F..%2Fdanaflow.db",
        f"/runs/{run_id}/c/steps.a/artifacts/..%2F..%2Frun.json",
        "/static/..%2Fapp.py",
    ):
        response = page.goto(url)
        assert response is not None and response.status == 404, url
        assert "root:x:" not in page.content() and "SQLite format" not in page.content()


def test_a_post_without_csrf_is_refused(page, ui_server, fake_llm) -> None:
    run_id = run_in_subprocess("steps", ui_server, fake_llm)
    page.goto(f"/runs/{run_id}")
    response = page.request.post(f"/runs/{run_id}/resume", form={"from": "steps.b"})
    assert response.status == 403 and "CSRF" in response.text()
    with open_store(ui_server.run_root) as store:
        assert [r.run_id for r in store.list_runs()] == [run_id]  # nothing was started
