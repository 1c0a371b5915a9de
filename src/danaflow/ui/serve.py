"""``danaflow ui``: opens the store, picks the guard's rules for the address, and serves.

The socket is bound here, before uvicorn starts, so ``--port 0`` works (tests ask for a free
port and read the URL from the first line printed) and a port already in use is an error
naming it. A non-loopback address gets a token, printed once in the URL to open.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from danaflow.runs.store import RunStore, configured_store, open_store
from danaflow.runs.store_base import redact_url

from .security import is_loopback

__all__ = ["missing_extra", "serve", "store_opener"]

TOKEN_ENV = "DANAFLOW_UI_TOKEN"


def missing_extra() -> str | None:
    """What to install when the ``ui`` extra is missing, else None."""
    missing = []
    for module in ("starlette", "jinja2", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if not missing:
        return None
    return f"danaflow ui needs {', '.join(missing)}: want `pip install 'danaflow[ui]'`"


def store_opener(run_root: Path, store: str | None) -> Callable[[], RunStore]:
    """Opens the run store as the CLI does: ``store`` (a URL), else ``$DANAFLOW_STORE``, else the
    SQLite file in ``run_root``. ``open_store`` decides what a URL means."""
    spec = store or configured_store(run_root)
    if isinstance(spec, Path):
        spec.parent.mkdir(parents=True, exist_ok=True)
    return lambda: open_store(spec)


def serve(
    *,
    run_root: Path | None = None,
    store: str | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    open_browser: bool = False,
    load_targets: bool = True,
    out: TextIO | None = None,
) -> int:
    """Serves the viewer until interrupted; returns the exit code."""
    out = out or sys.stdout
    problem = missing_extra()
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        return 2
    import uvicorn

    from .app import UIConfig, create_app

    root = Path(run_root if run_root is not None else os.environ.get("DANAFLOW_RUN_ROOT", "runs"))
    loopback = is_loopback(host)
    token = None if loopback else os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        sys.stderr.write(
            f"error: cannot listen on {host}:{port}: {exc.strerror}; want a free port (--port)\n"
        )
        return 2
    sock.listen(128)
    sock.set_inheritable(True)
    bound = sock.getsockname()[1]
    config = UIConfig(
        run_root=root, open_store=store_opener(root, store), store_spec=store, loopback_only=loopback,
        token=token, load_targets=load_targets,
    )  # fmt: skip
    app = create_app(config)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    out.write(f"danaflow ui: {url}\n")
    if token:
        out.write(f"  bound to {host} (not loopback): the token above is required; keep it private\n")
    where = redact_url(store) if store else str(root.resolve())
    out.write(f"  runs from {where}; Ctrl-C stops\n")
    out.flush()
    if open_browser:
        webbrowser.open(url)
    hub = app.state.viewer.hub

    class _Server(uvicorn.Server):
        """Ends the event streams first: uvicorn waits for open responses before it stops, and an
        event stream never ends by itself."""

        async def shutdown(self, sockets: Any = None) -> None:
            await hub.close()
            await super().shutdown(sockets)

    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, lifespan="on")
    _Server(config).run(sockets=[sock])
    return 0
