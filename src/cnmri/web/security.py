"""Token authentication, CSRF tokens and security headers of the web app (CONTRACTS.md §7).

Every request but ``GET /health`` must carry the token: ``Authorization: Bearer T``, or the session cookie,
or once ``?token=T``, which sets an HttpOnly, SameSite=Strict cookie and redirects to the same URL without
the token, so that it does not stay in the address bar, the history or a Referer. Anything else gets 401.

The cookie holds an HMAC of the token, not the token itself. Forms carry a CSRF token (an HMAC of the token
too) that POST handlers check; a SameSite=Strict cookie already keeps other sites' forms out, the CSRF token
is the second lock. The Content-Security-Policy allows only this server as a source of anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "cnmri_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
OPEN_PATHS = frozenset({"/health"})

#: Nothing from outside the machine: scripts, styles, images, fetches and workers only from this server.
#: ``blob:`` for workers and images because NiiVue creates both from in-memory data.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def new_token() -> str:
    """A fresh random access token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


class Secrets:
    """The access token and the values derived from it (cookie value, CSRF token)."""

    def __init__(self, token: str) -> None:
        if len(token) < 16:
            raise ValueError("the access token must be at least 16 characters long")
        self._token = token.encode()
        self.cookie_value = self._derive("session")
        self.csrf_token = self._derive("csrf")

    def _derive(self, purpose: str) -> str:
        return hmac.new(self._token, f"cnmri-web:{purpose}".encode(), hashlib.sha256).hexdigest()

    def token_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self._token)

    def cookie_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate, self.cookie_value)

    def csrf_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate, self.csrf_token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is simply no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class AuthMiddleware:
    """ASGI middleware: authenticate, strip ``?token=``, add the security headers to every response."""

    def __init__(self, app: ASGIApp, secrets_: Secrets) -> None:
        self.app = app
        self.secrets = secrets_

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        path = scope.get("path", "")
        if path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query_token = next((value for key, value in query if key == "token"), None)
        if query_token is not None:
            if not self.secrets.token_ok(query_token):
                await _unauthorized(send)
                return
            await self._redirect_with_cookie(path, query, send)
            return
        authorization = _header(scope, b"authorization") or ""
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        if self.secrets.token_ok(bearer):
            scope.setdefault("state", {})["auth"] = "bearer"
        elif self.secrets.cookie_ok(_cookie(scope, COOKIE_NAME)):
            scope.setdefault("state", {})["auth"] = "cookie"
        else:
            await _unauthorized(send)
            return
        await self.app(scope, receive, send)

    async def _redirect_with_cookie(self, path: str, query: list[tuple[str, str]], send: Send) -> None:
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        location = path + (f"?{rest}" if rest else "")
        cookie = f"{COOKIE_NAME}={self.secrets.cookie_value}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _unauthorized(send: Send) -> None:
    body = (
        b"401 Unauthorized: open the URL that 'cnmri serve' printed (it carries the access token once), "
        b"or send 'Authorization: Bearer <token>'.\n"
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"www-authenticate", b'Bearer realm="cnmri"'),
                (b"cache-control", b"no-store"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: list[Any] = list(message.get("headers", []))
            present = {key.lower() for key, _ in headers}
            headers.extend((key, value) for key, value in SECURITY_HEADERS if key not in present)
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "COOKIE_NAME",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "AuthMiddleware",
    "Secrets",
    "new_token",
]
