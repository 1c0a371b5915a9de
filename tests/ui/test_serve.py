"""``danaflow ui`` as a process: it binds, prints its URL, serves, and explains what it cannot do."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx


def test_the_server_prints_its_url_and_serves(ui_server, run_flow) -> None:
    run_id = run_flow("steps").run_id
    assert ui_server.url.startswith("http://127.0.0.1:")
    page = httpx.get(ui_server.url, timeout=10)
    assert page.status_code == 200 and run_id in page.text
    with httpx.stream("GET", ui_server.url + "events?topic=runs", timeout=10) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        first = next(events.iter_lines())
        assert first == "retry: 2000"


def test_a_port_in_use_is_an_error_naming_it(run_root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "danaflow.cli", "ui", "--run-root", str(run_root), "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_off_loopback_it_prints_a_token_and_requires_it(run_root: Path) -> None:
    command = ["ui", "--run-root", str(run_root), "--host", "0.0.0.0", "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "danaflow.cli", *command], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(": ", 1)[1].strip()
        assert "?token=" in url and "the token above is required" in proc.stdout.readline()
        port = url.split(":")[2].split("/")[0]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 401
        token = url.split("?token=")[1]
        ok = httpx.get(f"http://127.0.0.1:{port}/", headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_cli_help_stays_free_of_the_server_stack() -> None:
    code = "import sys, danaflow.cli; print('starlette' in sys.modules, 'uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "False False"
