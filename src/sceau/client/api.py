"""An httpx client for a sceau server's ``/api/v1`` (personal token or card certificate).

Problem documents (RFC 9457) come back as ``ApiError`` carrying the server's stable code.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from sceau.pki.errors import ErrorKind, SceauError

KINDS = {
    400: ErrorKind.INVALID_INPUT,
    401: ErrorKind.UNAUTHENTICATED,
    403: ErrorKind.FORBIDDEN,
    404: ErrorKind.NOT_FOUND,
    409: ErrorKind.CONFLICT,
    422: ErrorKind.INVALID_INPUT,
    429: ErrorKind.RATE_LIMITED,
}


class ApiError(SceauError):
    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(code, message, KINDS.get(status, ErrorKind.INTERNAL))
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    client_cert: tuple[str, str] | None = None  # (certificate PEM path, key PEM path)
    verify: bool | str = True  # CA bundle path for an https:// server


class SceauApi:
    """Thin, typed-enough wrapper; every method returns the decoded JSON."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = 60.0,
        retries: int = 8,
    ):
        headers = {"User-Agent": "sceau-client"}
        if credentials.token:
            headers["Authorization"] = f"Bearer {credentials.token}"
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self._terms: dict[str, str] | None = None
        self._terms_lock = threading.Lock()  # the fleet's HTTP threads share the client
        self.http = httpx.Client(
            base_url=self.base_url + "/api/v1",
            headers=headers,
            timeout=timeout,
            cert=credentials.client_cert,
            verify=credentials.verify,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SceauApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send, retrying on rate limits, 'request in progress' and connection errors."""
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise SceauError(
                        "server_unreachable", f"serveur {self.base_url} injoignable ({exc})"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if response.status_code < 400:
                return response
            error = _error(response)
            retryable = error.status == 429 or error.code == "idempotency_in_progress"
            if not retryable or attempt == self.retries:
                raise error
            time.sleep(error.retry_after or delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    # -- endpoints -----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        return dict(self._json("GET", "/me"))

    def bundles(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/bundles"))

    def terms(self) -> dict[str, str]:
        """The CGU and PC versions in force (asked once per client: they change rarely)."""
        with self._terms_lock:
            if self._terms is None:
                self._terms = dict(self._json("GET", "/terms"))
            return dict(self._terms)

    def structures(self, search: str | None = None, limit: int = 50) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if search:
            params["search"] = search
        return dict(self._json("GET", "/structures", params=params))

    def order(
        self,
        *,
        structure: str,
        service_applicatif: str,
        actor_email: str,
        csrs: Sequence[bytes],
        bundle: str | None = None,
        usage: str | None = None,
        insi: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "structure": structure,
            "service_applicatif": service_applicatif,
            "actor_email": actor_email,
            "csrs": [c.decode() for c in csrs],
            "insi": insi,
        }
        if bundle:
            body["bundle"] = bundle
        if usage:
            body["usage"] = usage
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return dict(self._json("POST", "/orders", json=body, headers=headers))

    def get_order(self, order_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/orders/{order_id}"))

    def products(self, **filters: Any) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v is not None}
        return dict(self._json("GET", "/orders", params=params))

    def certificate(self, serial: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/certificates/{serial}"))

    def retrieve(self, serial: str, revocation_code: str) -> dict[str, Any]:
        terms = self.terms()
        return dict(
            self._json(
                "POST",
                f"/certificates/{serial}/retrieve",
                json={
                    "revocation_code": revocation_code,
                    "revocation_code_confirmation": revocation_code,
                    "accept_terms": True,
                    "cgu_version": terms["cgu_version"],
                    "pc_version": terms["pc_version"],
                },
            )
        )

    def retrieve_order(self, order_id: int, revocation_code: str | None = None) -> dict[str, Any]:
        """RETIRER every certificate of an order in one call; without ``revocation_code`` the
        server draws one and returns it (this once) as ``revocation_code``."""
        terms = self.terms()
        body: dict[str, Any] = {
            "accept_terms": True,
            "cgu_version": terms["cgu_version"],
            "pc_version": terms["pc_version"],
        }
        if revocation_code is None:
            body["generate_revocation_code"] = True
        else:
            body["revocation_code"] = body["revocation_code_confirmation"] = revocation_code
        return dict(self._json("POST", f"/orders/{order_id}/retrieve", json=body))

    def download(self, serial: str, fmt: str = "pem") -> bytes:
        return self._send("GET", f"/certificates/{serial}/download", params={"format": fmt}).content

    def revoke(self, serial: str, reason: str = "unspecified") -> dict[str, Any]:
        return dict(self._json("POST", f"/certificates/{serial}/revoke", json={"reason": reason}))

    def renew(
        self, serial: str, csr: bytes, actor_email: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return dict(
            self._json(
                "POST",
                f"/certificates/{serial}/renew",
                json={"actor_email": actor_email, "csr": csr.decode()},
                headers=headers,
            )
        )

    def wait_issued(self, order_id: int, *, timeout: float = 300.0) -> dict[str, Any]:
        """Poll the order until no product is still ``requested``."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        while True:
            order = self.get_order(order_id)
            states = {p["state"] for p in order["products"]}
            if "requested" not in states:
                return order
            if time.monotonic() > deadline:
                raise SceauError(
                    "fetch_timeout",
                    f"demande {order_id} toujours en attente après {timeout:.0f} s",
                    ErrorKind.CONFLICT,
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)


def _error(response: httpx.Response) -> ApiError:
    retry = response.headers.get("Retry-After")
    retry_after = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
    try:
        body = response.json()
        return ApiError(
            response.status_code,
            str(body.get("code", f"http_{response.status_code}")),
            str(body.get("detail", response.text[:300])),
            retry_after,
        )
    except ValueError:
        return ApiError(
            response.status_code, f"http_{response.status_code}", response.text[:300], retry_after
        )


def decode_file(item: dict[str, Any]) -> bytes:
    return base64.b64decode(item["content_base64"])
