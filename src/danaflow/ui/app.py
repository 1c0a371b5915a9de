"""The viewer's HTTP side: routes, templates, forms, downloads and the event stream.

Pages are plain GETs that render HTML on the server (htmx only re-fetches fragments when an event
says something changed); actions are POSTs checked for CSRF here and guarded by ``Guard``.
Templates autoescape, and every value that reaches them from a run is rendered by ``values.py``
or the SVG module, which escape too. Static files are served from a fixed in-memory table read
at start-up, so no URL maps onto the filesystem except through ``RunReader``'s checks.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from danaflow.errors import DanaflowError
from danaflow.runs.store import RunStore

from . import pages
from .actions import Actions
from .definitions import Definitions
from .forms import FormError, parse_submission
from .live import Hub, sse_stream
from .reader import NotFound, RunReader
from .security import CSRF_FIELD, Guard, csrf_ok
from .values import FULL_LIMIT, PointerError, json_text, resolve_pointer, text_block, value_tree

__all__ = ["UIConfig", "create_app"]

_MAX_FORM_BYTES = 1024 * 1024
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class UIConfig:
    """What one viewer serves and how."""

    run_root: Path
    open_store: Callable[[], RunStore]
    """Opens the store the pages read (called once)."""
    store_spec: str | None = None
    """What resumes pass to ``danaflow resume``'s ``store`` (None: the run root's configured store)."""
    loopback_only: bool = True
    token: str | None = None
    load_targets: bool = True
    poll_interval: float = 0.15


class _Viewer:
    """The app's state: reader, hub, actions, templates. One per ``create_app``."""

    def __init__(self, config: UIConfig):
        self.config = config
        self.store = config.open_store()
        self.reader = RunReader(self.store, config.run_root)
        self.definitions = Definitions(enabled=config.load_targets)
        self.hub = Hub(self.reader, interval=config.poll_interval)
        self.actions = Actions(config.run_root, self.store, config.store_spec)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("danaflow.ui", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            urls=pages.Urls,
            fmt_time=pages.fmt_time,
            fmt_duration=pages.fmt_duration,
            statuses=pages.STATUSES,
            csrf_field=CSRF_FIELD,
            json_text=json_text,
        )
        self.static = _load_static()

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        state = request.scope.get("state", {})
        html = self.templates.get_template(name).render(
            csrf=state.get("csrf", ""), request_path=request.url.path, **context
        )
        return HTMLResponse(html, status_code=status)


def _load_static() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("danaflow.ui").joinpath("static").iterdir():
        suffix = Path(entry.name).suffix
        if entry.is_file() and suffix in _STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), _STATIC_TYPES[suffix])
    return files


def create_app(config: UIConfig) -> Starlette:
    """The Starlette app for ``config`` (``danaflow ui`` serves it with uvicorn)."""
    viewer = _Viewer(config)

    # ---- pages ------------------------------------------------------------------------------
    def runs_page(request: Request) -> Response:
        listing = _listing(viewer, request)
        return viewer.render(request, "runs.html", listing=listing, events="runs")

    def runs_table(request: Request) -> Response:
        return viewer.render(request, "_runs_table.html", listing=_listing(viewer, request))

    def run_view(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        page = pages.run_page(
            viewer.reader, viewer.definitions, run_id, request.query_params.getlist("toggle")
        )
        return viewer.render(request, "run.html", page=page, events=f"run:{run_id}", problem=None)

    def run_live(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        page = pages.run_page(
            viewer.reader, viewer.definitions, run_id, request.query_params.getlist("toggle")
        )
        return viewer.render(request, "_run_live.html", page=page)

    def component_view(request: Request) -> Response:
        run_id, path = request.path_params["run_id"], request.path_params["path"]
        page = pages.component_page(viewer.reader, viewer.definitions, run_id, path)
        name = "_component_live.html" if request.query_params.get("fragment") else "component.html"
        return viewer.render(request, name, page=page, events=f"run:{run_id}", problem=None)

    def value_view(request: Request) -> Response:
        run_id, path = request.path_params["run_id"], request.path_params["path"]
        doc = pages.result_document(viewer.reader, run_id, path)
        pointer = request.query_params.get("ptr", "")
        try:
            value = resolve_pointer(doc, pointer)
        except PointerError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        if request.query_params.get("raw"):
            text = value if isinstance(value, str) else json_text(value)
            return _download(text.encode("utf-8"), f"{path}{pointer.replace('/', '_')}.txt")

        def more(p: str) -> str:
            return pages.Urls.value(run_id, path, p)

        if isinstance(value, str):
            html = text_block(value, None, None, limit=FULL_LIMIT)
        else:
            html = value_tree(value, pointer, more, limit=FULL_LIMIT, items=100_000)
        if (isinstance(value, str) and len(value) > FULL_LIMIT) or not isinstance(value, str | dict | list):
            link = pages.Urls.value(run_id, path, pointer, raw=True)
            html = Markup('{}<p><a href="{}">download the whole value</a></p>').format(html, link)
        return HTMLResponse(str(Markup('<div class="value">{}</div>').format(html)))

    def artifact_view(request: Request) -> Response:
        run_id, path, name = (request.path_params[k] for k in ("run_id", "path", "name"))
        viewer.reader.run(run_id)
        viewer.reader.component(run_id, path)
        file = viewer.reader.artifact_path(run_id, path, name)
        if request.query_params.get("view"):
            artifact = next(a for a in viewer.reader.artifacts(run_id, path) if a.name == name)
            if artifact.text:
                with open(file, "rb") as fh:
                    text = fh.read(FULL_LIMIT * 4).decode("utf-8", errors="replace")
                return viewer.render(
                    request, "artifact.html", run_id=run_id, path=path, artifact=artifact,
                    body=text_block(text, None, None, limit=FULL_LIMIT), events=None,
                )  # fmt: skip
        return FileResponse(
            file,
            media_type="application/octet-stream",
            headers={"content-disposition": _disposition(name), "content-security-policy": "sandbox"},
        )

    def compare_view(request: Request) -> Response:
        a = request.query_params.get("a", "")
        b = request.query_params.get("b") or None
        page = pages.compare_page(viewer.reader, a, b)
        return viewer.render(request, "compare.html", page=page, events=None)

    # ---- actions ----------------------------------------------------------------------------
    async def resume_action(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        form = await _form(request)
        if isinstance(form, Response):
            return form
        if not csrf_ok(request.scope.get("state", {}), form):
            return PlainTextResponse("refused: missing or wrong CSRF token; reload the page", status_code=403)
        from_path = form.get("from") or None

        def start() -> str:
            viewer.reader.run(run_id)
            if from_path is not None:
                viewer.reader.component(run_id, from_path)
            return viewer.actions.resume(run_id, from_path=from_path)

        return await _start(request, viewer, run_id, start)

    async def input_action(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        form = await _form(request)
        if isinstance(form, Response):
            return form
        if not csrf_ok(request.scope.get("state", {}), form):
            return PlainTextResponse("refused: missing or wrong CSRF token; reload the page", status_code=403)
        path = form.get("path", "")

        def start() -> str:
            page = pages.component_page(viewer.reader, viewer.definitions, run_id, path)
            if page.waiting is None:
                raise FormError("path", f"got {path!r}, want a component waiting for input")
            value = parse_submission(page.waiting.fields, form, path, page.waiting.validator)
            return viewer.actions.resume(run_id, inputs={path: value})

        return await _start(request, viewer, run_id, start, component=path)

    # ---- live -------------------------------------------------------------------------------
    async def events(request: Request) -> Response:
        topic = request.query_params.get("topic", "")
        if not Hub.valid_topic(topic):
            return PlainTextResponse(f"bad topic {topic!r}: want 'runs' or 'run:<run id>'", status_code=400)
        return StreamingResponse(
            sse_stream(viewer.hub, topic),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    def static(request: Request) -> Response:
        entry = viewer.static.get(request.path_params["name"])
        if entry is None:
            return PlainTextResponse("no such file", status_code=404)
        body, media_type = entry
        return Response(body, media_type=media_type, headers={"cache-control": "max-age=3600"})

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotFound)
        return viewer.render(
            request, "error.html", status=404, title="Not found", message=str(exc), events=None
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await viewer.hub.close()
        viewer.store.close()

    routes = [
        Route("/", runs_page),
        Route("/runs-table", runs_table),
        Route("/compare", compare_view),
        Route("/events", events),
        Route("/static/{name}", static),
        Route("/runs/{run_id}", run_view),
        Route("/runs/{run_id}/live", run_live),
        Route("/runs/{run_id}/resume", resume_action, methods=["POST"]),
        Route("/runs/{run_id}/input", input_action, methods=["POST"]),
        Route("/runs/{run_id}/c/{path}", component_view),
        Route("/runs/{run_id}/c/{path}/value", value_view),
        Route("/runs/{run_id}/c/{path}/artifacts/{name}", artifact_view),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, loopback_only=config.loopback_only, token=config.token)],
        exception_handlers={NotFound: not_found},
        lifespan=lifespan,
    )
    app.state.viewer = viewer
    return app


def _listing(viewer: _Viewer, request: Request) -> pages.RunsListing:
    q = request.query_params
    try:
        page = int(q.get("page", "1"))
    except ValueError:
        page = 1
    return pages.runs_listing(viewer.reader, status=q.get("status", ""), query=q.get("q", ""), page=page)


async def _form(request: Request) -> dict[str, str] | Response:
    """The urlencoded body (the only kind our forms and htmx send), at most 1 MiB."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        return PlainTextResponse(
            f"got content type {kind!r}, want application/x-www-form-urlencoded", status_code=415
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return PlainTextResponse("form too large: want at most 1 MiB", status_code=413)
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def _start(
    request: Request, viewer: _Viewer, run_id: str, start: Callable[[], str], *, component: str | None = None
) -> Response:
    """Runs an action's start on a worker thread; redirects to the new run, or shows why not."""
    try:
        new_id = await run_in_threadpool(start)
    except (DanaflowError, FormError) as exc:
        problem = str(exc)
        if component:
            try:
                page = pages.component_page(viewer.reader, viewer.definitions, run_id, component)
                return viewer.render(
                    request, "component.html", 400, page=page, events=f"run:{run_id}", problem=problem
                )
            except NotFound:
                pass
        page = pages.run_page(viewer.reader, viewer.definitions, run_id)
        return viewer.render(request, "run.html", 400, page=page, events=f"run:{run_id}", problem=problem)
    target = pages.Urls.run(new_id)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"hx-redirect": target})
    return Response(status_code=303, headers={"location": target})


def _download(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"content-disposition": _disposition(name), "content-security-policy": "sandbox"},
    )


def _disposition(name: str) -> str:
    ascii_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
