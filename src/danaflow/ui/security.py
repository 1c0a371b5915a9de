"""The viewer's guard: who may talk to it, and which requests may change anything.

- Bound to a loopback address (the default), only requests whose Host is a loopback name are
  served, so a web page on another origin cannot reach the viewer through DNS rebinding.
- Bound anywhere else, every request needs the token printed at start (``?token=`` once, then an
  HttpOnly cookie; or ``Authorization: Bearer``).
- Every action is a POST carrying a CSRF token (an HMAC of the browser's session cookie under a
  per-process secret) and, when the browser sends them, a same-origin Origin and Sec-Fetch-Site.
- Every response says ``nosniff``, no framing, no referrer to other sites, and a Content-Security-Policy that
  allows only our own scripts and styles: an escaping bug elsewhere still runs no injected script.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "Guard", "csrf_ok", "is_loopback"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "danaflow_ui_session"
TOKEN_COOKIE = "danaflow_ui_token"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make form posts say Origin: null
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """The host part of a Host header (``127.0.0.1:7860`` → ``127.0.0.1``, ``[::1]:80`` → ``::1``)."""
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware implementing the rules in the module docstring.

    ``token`` None means no token is needed (loopback binding). The CSRF secret lives only in this
    process: restarting the viewer invalidates old forms, which is what a local tool wants.
    """

    def __init__(self, app: ASGIApp, *, loopback_only: bool, token: str | None):
        self.app = app
        self.loopback_only = loopback_only
        self.token = token
        self.secret = secrets.token_bytes(32)

    def csrf_for(self, session: str) -> str:
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()[:40]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.loopback_only and not is_loopback(_host_name(host)):
            await _plain(
                send, 403, f"refused: Host {host!r} is not a loopback name; want 127.0.0.1 or localhost"
            )
            return
        cookies = _cookies(headers.get("cookie", ""))
        set_cookies: list[str] = []
        if self.token is not None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = query.get("token")
            if (
                given is not None
                and hmac.compare_digest(given, self.token)
                and scope["method"] in _SAFE_METHODS
            ):
                rest = urlencode(
                    [(k, v) for k, v in parse_qsl(scope["query_string"].decode()) if k != "token"]
                )
                # Our own path only: "//host" would be a protocol-relative redirect elsewhere.
                location = "/" + quote(scope["path"].lstrip("/")) + (f"?{rest}" if rest else "")
                await _redirect(send, location, [_cookie(TOKEN_COOKIE, self.token)])
                return
            bearer = headers.get("authorization", "")
            presented = cookies.get(TOKEN_COOKIE) or (
                bearer[7:] if bearer.lower().startswith("bearer ") else ""
            )
            if not presented or not hmac.compare_digest(presented, self.token):
                await _plain(
                    send,
                    401,
                    "this viewer needs its token: open the URL with ?token=… that `danaflow ui` printed",
                )
                return
        session = cookies.get(SESSION_COOKIE, "")
        if len(session) < 16:
            session = secrets.token_urlsafe(24)
            set_cookies.append(_cookie(SESSION_COOKIE, session))
        if scope["method"] not in _SAFE_METHODS:
            problem = _cross_origin(headers, host)
            if problem:
                await _plain(send, 403, f"refused: {problem}")
                return
        state = scope.setdefault("state", {})
        state["session"] = session
        state["csrf"] = self.csrf_for(session)
        state["csrf_header_ok"] = hmac.compare_digest(headers.get(CSRF_HEADER, ""), state["csrf"])

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = list(_HEADERS) + [(b"set-cookie", c.encode()) for c in set_cookies]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_ok(state: Mapping[str, Any], form: Mapping[str, str]) -> bool:
    """Whether a POST carried this session's CSRF token (form field or header)."""
    expected = state.get("csrf", "")
    if state.get("csrf_header_ok"):
        return True
    return bool(expected) and hmac.compare_digest(form.get(CSRF_FIELD, ""), expected)


def _cross_origin(headers: Mapping[str, str], host: str) -> str | None:
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"a {site} request; want same-origin"
    origin = headers.get("origin")
    if origin is not None and origin != "null" and urlsplit(origin).netloc != host:
        return f"Origin {origin!r} is not this viewer; want same-origin"
    if origin == "null":
        return "Origin null; want same-origin"
    return None


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def _cookie(name: str, value: str) -> str:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict"


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str, cookies: list[str]) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0"), *_HEADERS]
    headers += [(b"set-cookie", c.encode()) for c in cookies]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
