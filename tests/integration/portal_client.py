"""A tiny synchronous browser for the portal's ASGI app: cookies, forms, a chosen peer
address, and optionally a TLS client certificate put in the scope the way
``sceau serve --tls`` does it (``sceau.web.tls.TlsClientCertificate``)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from sceau.web.tls import TlsClientCertificate

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class PortalClient:
    def __init__(
        self,
        app: Any,
        *,
        card_pem: bytes | None = None,
        peer: str = "192.0.2.10",
        base_url: str = "https://sceau.localhost",
    ):
        self.app = TlsClientCertificate(app, card_pem.decode()) if card_pem else app
        self.peer = peer
        self.base_url = base_url
        self.cookies = httpx.Cookies()
        self.last: httpx.Response | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(self.peer, 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url=self.base_url, cookies=self.cookies
            ) as client:
                response = await client.request(method, url, **kwargs)
                self.cookies = client.cookies
                return response

        self.last = asyncio.run(send())
        return self.last

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def csrf(self, url: str = "/connexion") -> str:
        match = CSRF.search(self.get(url).text)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def post(self, url: str, data: dict[str, Any] | None = None, *, csrf_from: str | None = None,
             **kwargs: Any) -> httpx.Response:  # fmt: skip
        fields = dict(data or {})
        if csrf_from is not None:
            fields["csrf_token"] = self.csrf(csrf_from)
        return self.request("POST", url, data=fields, **kwargs)

    def login_with_card(self) -> httpx.Response:
        return self.post("/connexion/carte", {"suite": "/"}, csrf_from="/connexion")
