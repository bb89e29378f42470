"""Security headers and a request body size limit for every HTTP response (pure ASGI).

Headers (added only when the application did not set them itself, so the portal's own
Content-Security-Policy wins): ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``,
``X-Frame-Options: DENY``, a strict ``Content-Security-Policy`` with ``frame-ancestors 'none'``
(a relaxed one for the Swagger page ``/api/docs``, which loads its script from a CDN), and
``Strict-Transport-Security`` when the request came over TLS (``scope["scheme"] == "https"``,
also behind nginx when uvicorn trusts its ``X-Forwarded-Proto``).

Body limit: a request declaring a ``Content-Length`` above ``max_body_bytes`` is answered
413 before the application runs; a chunked body is counted as it is read and the request is
answered 413 as soon as it goes past the limit. API paths get an RFC 9457 problem document
(code ``request_too_large``), other paths a short plain-text message. The OCSP responder keeps
its own, smaller limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
STRICT_CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


class BodyTooLarge(Exception):
    """Raised to the application when the body it reads goes past the limit."""


def _too_large_response(path: str, limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    message = (
        f"requête trop volumineuse: le corps dépasse la limite de {limit} octets "
        f"({limit // 1024} Kio)"
    )
    if path.startswith("/api/"):
        body = json.dumps(
            {
                "type": "https://sceau.invalid/problems/request_too_large",
                "title": "Requête trop volumineuse",
                "status": 413,
                "code": "request_too_large",
                "detail": message,
            },
            ensure_ascii=False,
        ).encode()
        media = b"application/problem+json"
    else:
        body = (message + "\n").encode()
        media = b"text/plain; charset=utf-8"
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    return 413, headers, body


class SecurityHeaders:
    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _extra_headers(self, scope: Scope, present: set[bytes]) -> list[tuple[bytes, bytes]]:
        path: str = scope.get("path", "")
        wanted = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (
                b"content-security-policy",
                (DOCS_CSP if path.startswith("/api/docs") else STRICT_CSP).encode(),
            ),
        ]
        if scope.get("scheme") == "https":
            wanted.append((b"strict-transport-security", HSTS.encode()))
        return [(name, value) for name, value in wanted if name not in present]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        state = {"received": 0, "too_large": False, "started": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if state["too_large"]:
                    await reply_too_large()
                    return
                state["started"] = True
                headers = list(message.get("headers") or [])
                present = {bytes(name).lower() for name, _ in headers}
                message["headers"] = headers + self._extra_headers(scope, present)
            elif message["type"] == "http.response.body" and state["too_large"]:
                return  # the application's own answer to the aborted read is replaced
            await send(message)

        async def reply_too_large() -> None:
            if state["started"]:
                return
            state["started"] = True
            status, headers, body = _too_large_response(scope.get("path", ""), limit)
            present = {name for name, _ in headers}
            headers += self._extra_headers(scope, present)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                state["too_large"] = True
                await reply_too_large()
                return

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["too_large"] = True
                    raise BodyTooLarge(f"request body above {limit} bytes")
            return message

        try:
            await self.app(scope, counting_receive, send_with_headers)
        except Exception:
            if not state["too_large"]:
                raise
        if state["too_large"]:
            await reply_too_large()


def install_security_headers(app: Any, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Add the middleware as the outermost user middleware of a Starlette/FastAPI app."""
    app.add_middleware(SecurityHeaders, max_body_bytes=max_body_bytes)
