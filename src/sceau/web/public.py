"""Public PKI endpoints: CRLs, CA certificates (AIA caIssuers) and the OCSP responder.

OCSP is answered from memory: the pre-signed responses of the database are loaded at first
use and the newly signed ones are picked up at most every ``OCSP_POLL_SECONDS``. A request
that has no fresh pre-signed answer (a serial we never issued, a certificate issued since the
last pre-signing run, a CertID hashed with SHA-2) gets a response signed on the spot, kept a
few seconds per serial. HTTP caching headers follow RFC 5019 §6.2. Garbage gets a 4xx with a
clear message, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Any

from cryptography.x509 import ocsp as x509_ocsp
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sceau.pki.ocsp import (
    MAX_REQUEST_BYTES,
    PRESIGNED_HASH,
    CertificateId,
    OcspRequestError,
    OcspSigner,
    Status,
    error_response,
    find_signer,
    parse_request,
    sign_response,
)
from sceau.registration.use_cases.revocation_status import (
    ca_certificate,
    certificate_status,
    latest_crl,
    load_ocsp_signers,
    presigned_responses,
)

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

OCSP_POLL_SECONDS = 2.0  # how often the database is asked for newly signed responses
OCSP_POLL_OVERLAP = dt.timedelta(seconds=30)  # re-read window: commits land out of order
SIGNERS_RELOAD_SECONDS = 60.0
LIVE_CACHE_SECONDS = 30.0  # responses signed on request, kept per serial
UNKNOWN_VALIDITY = dt.timedelta(hours=1)
# HTTP caches may keep a response until its nextUpdate (RFC 5019); we let them keep it a few
# minutes only, so that a revocation reaches clients behind a cache quickly.
MAX_AGE_CAP = 300
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_OCSP_REQUEST = "application/ocsp-request"
_OCSP_RESPONSE = "application/ocsp-response"


def _problem(status: int, detail: str) -> JSONResponse:
    """An RFC 9457 problem document."""
    return JSONResponse(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
        },
        status_code=status,
        media_type="application/problem+json",
        headers={"Cache-Control": "no-store"},
    )


def _http_date(instant: dt.datetime) -> str:
    return format_datetime(instant.astimezone(dt.UTC), usegmt=True)


def _caching_headers(
    etag: str, this_update: dt.datetime, next_update: dt.datetime | None, now: dt.datetime
) -> dict[str, str]:
    headers = {"ETag": etag, "Last-Modified": _http_date(this_update)}
    if next_update is None:
        headers["Cache-Control"] = "no-cache"
        return headers
    max_age = max(0, min(int((next_update - now).total_seconds()), MAX_AGE_CAP))
    headers["Expires"] = _http_date(next_update)
    headers["Cache-Control"] = f"max-age={max_age}, public, no-transform, must-revalidate"
    return headers


def _not_modified(request: Request, etag: str, this_update: dt.datetime) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in (m.strip() for m in match.split(",")) or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return this_update <= parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False
    return False


def _guarded(request: Request, what: str, handler: Callable[[], Response]) -> Response:
    """Run ``handler``; an unexpected failure (database down…) is a 503, never a 500."""
    try:
        return handler()
    except Exception:
        log.exception("public endpoint failed: %s %s", request.method, request.url.path)
        return _problem(503, f"{what} temporarily unavailable; retry later")


# ------------------------------------------------------------- CRLs and CA certificates


@router.api_route("/CRL/{name}.crl", methods=["GET", "HEAD"])
def get_crl(name: str, request: Request) -> Response:
    """The latest full CRL of the CA whose file stem is ``name``; ``<stem>-delta`` for its delta."""
    if not _NAME.match(name):
        return _problem(404, "no such CRL: invalid file name")
    delta = name.endswith("-delta")
    stem = name.removesuffix("-delta")

    def handler() -> Response:
        container = request.app.state.container
        published = latest_crl(container, stem, delta=delta)
        if published is None:
            kind = "delta CRL" if delta else "CRL"
            return _problem(404, f"no {kind} published for {stem!r}")
        etag = f'"{name}-{published.number}"'
        headers = _caching_headers(
            etag, published.this_update, published.next_update, container.clock.now()
        )
        if _not_modified(request, etag, published.this_update):
            return Response(status_code=304, headers=headers)
        return Response(published.der, media_type="application/pkix-crl", headers=headers)

    return _guarded(request, "CRL", handler)


def _ca_certificate(request: Request, stem: str, environment: str) -> Response:
    if not _NAME.match(stem):
        return _problem(404, "no such CA certificate: invalid file name")

    def handler() -> Response:
        der = ca_certificate(request.app.state.container, stem, environment)
        if der is None:
            return _problem(404, f"no CA certificate {stem!r}")
        etag = '"' + hashlib.sha256(der).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "max-age=86400, public"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(der, media_type="application/pkix-cert", headers=headers)

    return _guarded(request, "CA certificate", handler)


@router.api_route("/AC TEST/{stem}.cer", methods=["GET", "HEAD"])
def get_test_ca_certificate(stem: str, request: Request) -> Response:
    return _ca_certificate(request, stem, "test")


@router.api_route("/AC/{stem}.cer", methods=["GET", "HEAD"])
def get_ca_certificate(stem: str, request: Request) -> Response:
    return _ca_certificate(request, stem, "prod")


# --------------------------------------------------------------------------- OCSP


@dataclass(frozen=True)
class _Answer:
    der: bytes
    this_update: dt.datetime
    next_update: dt.datetime | None
    etag: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes

    @classmethod
    def of(cls, der: bytes) -> _Answer:
        response = x509_ocsp.load_der_ocsp_response(der)
        return cls(
            der=der,
            this_update=response.this_update_utc,
            next_update=response.next_update_utc,
            etag='"' + hashlib.sha1(der, usedforsecurity=False).hexdigest() + '"',
            issuer_name_hash=response.issuer_name_hash,
            issuer_key_hash=response.issuer_key_hash,
        )


class OcspCache:
    """Pre-signed responses by serial, polled from the database, plus short-lived live ones."""

    def __init__(self, container: Any):
        self._container = container
        self._lock = threading.Lock()
        self._responses: dict[int, _Answer] = {}
        self._latest: dt.datetime | None = None
        self._polled_at: float | None = None
        self._signers: dict[int, OcspSigner] = {}
        self._signers_at: float | None = None
        self._live: dict[tuple[int, int, str], tuple[_Answer, float]] = {}

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._polled_at is not None and now - self._polled_at < OCSP_POLL_SECONDS:
            return
        with self._lock:
            if self._polled_at is not None and now - self._polled_at < OCSP_POLL_SECONDS:
                return
            since = None if self._latest is None else self._latest - OCSP_POLL_OVERLAP
            for serial, der, this_update in presigned_responses(self._container, since):
                key = int(serial, 16)
                current = self._responses.get(key)
                if current is None or current.der != der:
                    self._responses[key] = _Answer.of(der)
                if self._latest is None or this_update > self._latest:
                    self._latest = this_update
            if self._signers_at is None or now - self._signers_at >= SIGNERS_RELOAD_SECONDS:
                self._signers = load_ocsp_signers(self._container)
                self._signers_at = now
            cutoff = now - LIVE_CACHE_SECONDS
            self._live = {k: v for k, v in self._live.items() if v[1] > cutoff}
            self._polled_at = now

    def _signer_for(self, certificate_id: CertificateId) -> tuple[int, OcspSigner] | None:
        signers = list(self._signers.items())
        signer = find_signer([s for _, s in signers], certificate_id)
        stale = self._signers_at is None or time.monotonic() - self._signers_at >= OCSP_POLL_SECONDS
        if signer is None and stale:
            # A responder created since the last load (first start, renewal): look again.
            with self._lock:
                self._signers = load_ocsp_signers(self._container)
                self._signers_at = time.monotonic()
                signers = list(self._signers.items())
            signer = find_signer([s for _, s in signers], certificate_id)
        if signer is None:
            return None
        return next((aid, s) for aid, s in signers if s is signer)

    def fast_answer(self, certificate_id: CertificateId) -> _Answer | None:
        """A fresh pre-signed answer from memory, or None when the slow path must decide.

        Never touches the database nor waits on a lock, so the event loop may call it: when a
        poll is due, the signers are not loaded yet, or no fresh pre-signed response exists,
        it returns None and :meth:`answer` runs in the thread pool.
        """
        polled_at = self._polled_at
        if polled_at is None or time.monotonic() - polled_at >= OCSP_POLL_SECONDS:
            return None
        if certificate_id.algorithm.name != PRESIGNED_HASH.name:
            return None
        cached = self._responses.get(certificate_id.serial)
        if (
            cached is None
            or cached.issuer_key_hash != certificate_id.issuer_key_hash
            or cached.issuer_name_hash != certificate_id.issuer_name_hash
            or cached.next_update is None
            or cached.next_update <= self._container.clock.now()
        ):
            return None
        return cached

    def answer(self, certificate_id: CertificateId) -> _Answer | None:
        """The answer about ``certificate_id``, or None for a CA we do not serve."""
        self._refresh()
        found = self._signer_for(certificate_id)
        if found is None:
            return None
        authority_id, signer = found
        now = self._container.clock.now()
        if certificate_id.algorithm.name == PRESIGNED_HASH.name:
            cached = self._responses.get(certificate_id.serial)
            if (
                cached is not None
                and cached.issuer_key_hash == certificate_id.issuer_key_hash
                and cached.issuer_name_hash == certificate_id.issuer_name_hash
                and cached.next_update is not None
                and cached.next_update > now
            ):
                return cached
        live_key = (authority_id, certificate_id.serial, certificate_id.algorithm.name)
        with self._lock:
            live = self._live.get(live_key)
        if live is not None and live[1] > time.monotonic() - LIVE_CACHE_SECONDS:
            return live[0]
        status = certificate_status(self._container, authority_id, certificate_id.serial)
        validity = (
            UNKNOWN_VALIDITY
            if status.status is Status.UNKNOWN
            else dt.timedelta(hours=self._container.settings.ocsp_validity_hours)
        )
        answer = _Answer.of(
            sign_response(
                signer, certificate_id.serial, status, now, now + validity, certificate_id.algorithm
            )
        )
        with self._lock:
            self._live[live_key] = (answer, time.monotonic())
        return answer


_CACHE_LOCK = threading.Lock()


def _cache(request: Request) -> OcspCache:
    state = request.app.state
    cache: OcspCache | None = getattr(state, "ocsp_cache", None)
    if cache is None:
        with _CACHE_LOCK:
            cache = getattr(state, "ocsp_cache", None)
            if cache is None:
                cache = OcspCache(state.container)
                state.ocsp_cache = cache
    return cache


def _ocsp_error(http_status: int, status: x509_ocsp.OCSPResponseStatus, message: str) -> Response:
    """An OCSP error response; the reason in words is in the ``X-OCSP-Error`` header."""
    return Response(
        error_response(status),
        status_code=http_status,
        media_type=_OCSP_RESPONSE,
        headers={"Cache-Control": "no-store", "X-OCSP-Error": message},
    )


def _malformed(exc: OcspRequestError) -> Response:
    http_status = 413 if exc.code == "ocsp_request_too_large" else 400
    return _ocsp_error(http_status, x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST, exc.message)


def _answer_ocsp(request: Request, data: bytes) -> Response:
    try:
        certificate_id = parse_request(data)
    except OcspRequestError as exc:
        return _malformed(exc)
    try:
        answer = _cache(request).answer(certificate_id)
    except Exception:
        log.exception("OCSP answer failed")
        return _ocsp_error(
            503, x509_ocsp.OCSPResponseStatus.TRY_LATER, "the responder cannot answer now"
        )
    if answer is None:
        return _ocsp_error(
            200,
            x509_ocsp.OCSPResponseStatus.UNAUTHORIZED,
            "this responder does not serve the CA that issued this certificate",
        )
    headers = _caching_headers(
        answer.etag, answer.this_update, answer.next_update, request.app.state.container.clock.now()
    )
    if request.method == "GET" and _not_modified(request, answer.etag, answer.this_update):
        return Response(status_code=304, headers=headers)
    return Response(answer.der, media_type=_OCSP_RESPONSE, headers=headers)


class OcspFastPath:
    """ASGI middleware answering ``POST /ocsp`` straight from memory when it can.

    A pre-signed response is a dictionary lookup; going through routing, dependency
    injection and a worker thread for it would cost ten times the work. Anything else —
    a poll due, a live signature, an error — goes on to the regular route with the body
    replayed.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/ocsp":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_REQUEST_BYTES:
                break
        data = bytes(body)
        state = scope["app"].state if "app" in scope else None
        cache: OcspCache | None = getattr(state, "ocsp_cache", None) if state else None
        answer = None
        if cache is not None and not more and _plain_ocsp_post(scope):
            try:
                answer = cache.fast_answer(parse_request(data))
            except OcspRequestError:
                answer = None  # the regular route words the error
        if answer is None:
            replayed = False

            async def replay() -> Any:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": data, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        assert state is not None  # an answer comes only from the app's cache
        headers = _caching_headers(
            answer.etag, answer.this_update, answer.next_update, state.container.clock.now()
        )
        raw = [
            (b"content-type", _OCSP_RESPONSE.encode()),
            (b"content-length", str(len(answer.der)).encode()),
        ]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": answer.der})


def _plain_ocsp_post(scope: Any) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == _OCSP_REQUEST.encode())
    return True


@router.get("/ocsp/{encoded:path}")
def ocsp_get(encoded: str, request: Request) -> Response:
    """RFC 6960 §A.1 GET: the base64 DER request in the path (URL-safe alphabet accepted)."""
    if len(encoded) > (MAX_REQUEST_BYTES * 4) // 3 + 8:
        return _malformed(
            OcspRequestError("ocsp_request_too_large", "the OCSP request in the URL is too long")
        )
    text = encoded.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return _malformed(
            OcspRequestError("ocsp_request_base64", "the OCSP request in the URL is not base64")
        )
    return _answer_ocsp(request, data)


@router.post("/ocsp")
async def ocsp_post(request: Request) -> Response:
    """RFC 6960 §A.1 POST: a DER request with Content-Type ``application/ocsp-request``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != _OCSP_REQUEST:
        return _problem(415, f"an OCSP request is sent as {_OCSP_REQUEST}, not {content_type}")
    too_large = OcspRequestError(
        "ocsp_request_too_large", f"the OCSP request exceeds {MAX_REQUEST_BYTES} bytes"
    )
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_REQUEST_BYTES):
        return _malformed(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            return _malformed(too_large)
    return await run_in_threadpool(_answer_ocsp, request, bytes(body))
