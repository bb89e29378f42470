"""Hostile OCSP requests: the parser answers only ``OcspRequestError``; the HTTP responder
answers malformed, oversized and odd requests with a 4xx (never a 5xx) and keeps answering
real requests afterwards."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_csr
from sceau.pki.ocsp import MAX_REQUEST_BYTES, CertificateId, OcspRequestError, parse_request
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.revocation_status import publish_revocation_status
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure
from sceau.web.public import router

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OCSP_REQUEST = {"Content-Type": "application/ocsp-request"}


@functools.cache
def sample_request() -> bytes:
    """A well-formed OCSP request (SHA-1 CertID, a nonce) for a throw-away certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, certificate, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"\x01" * 16), critical=False)
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER)


def parse_outcome(data: bytes) -> str:
    try:
        parsed = parse_request(data)
    except OcspRequestError as exc:
        assert exc.code.startswith("ocsp_request") and exc.message
        return exc.code
    assert isinstance(parsed, CertificateId)
    return "parsed"


# --------------------------------------------------------------------------------- parser


def test_the_sample_request_parses():
    assert parse_outcome(sample_request()) == "parsed"


@PROPERTY
@given(st.binary(max_size=2048))
def test_random_bytes_are_an_ocsp_request_error(data):
    parse_outcome(data)


@PROPERTY
@given(st.data())
def test_mutated_and_truncated_requests_are_parsed_or_refused(data):
    der = bytearray(sample_request())
    if data.draw(st.booleans()):
        der = der[: data.draw(st.integers(min_value=0, max_value=len(der) - 1))]
    for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
        if not der:
            break
        position = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
        operation = data.draw(st.sampled_from(["flip", "insert", "delete", "length"]))
        if operation == "flip":
            der[position] ^= data.draw(st.integers(min_value=1, max_value=255))
        elif operation == "insert":
            der[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del der[position]
        else:
            der[position : position + 1] = b"\x84\x7f\xff\xff\xff"
    parse_outcome(bytes(der))


def test_oversized_and_odd_requests_are_refused():
    assert parse_outcome(b"") == "ocsp_request_empty"
    assert parse_outcome(b"\x30" * (MAX_REQUEST_BYTES + 1)) == "ocsp_request_too_large"
    assert parse_outcome(sample_request() + b"\x00" * 16) != "parsed"
    assert parse_outcome(b"\x30\x80" * 4000 + b"\x00\x00" * 4000) != "parsed"


# ----------------------------------------------------------------------------------- HTTP


class Client:
    """In-process HTTP through httpx's ASGI transport (Starlette's TestClient warns about
    httpx, and warnings are errors here); the lifespan is not run."""

    def __init__(self, app: FastAPI):
        self.app = app

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def responder(services, leaf_keys):
    """The public router alone (no lifespan, no worker) over a CA that has issued once."""
    add_structure(
        services,
        AddStructureCommand(
            finess="010002301", raison_sociale="PHARMACIE DU PORT", department="01"
        ),
    )
    issued = issue_certificate(
        services,
        IssueCommand(
            structure="010002301",
            usage=Usage.AUTH_CLI,
            service_applicatif="LGO-OCSP",
            csr=make_csr(leaf_keys[0]),
        ),
        use_pkilint=False,
    )
    publish_revocation_status(services)
    app = FastAPI()
    app.state.container = services
    app.include_router(router)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(issued.certificate, issued.chain[0], hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    return Client(app), request, issued


def assert_still_answers(client, request: bytes, issued) -> None:
    answer = client.post("/ocsp", content=request, headers=OCSP_REQUEST)
    assert answer.status_code == 200, answer.text
    response = ocsp.load_der_ocsp_response(answer.content)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == issued.certificate.serial_number
    encoded = base64.b64encode(request).decode()
    assert client.get(f"/ocsp/{encoded}").status_code == 200


def assert_refused(response, *codes: int) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.status_code in codes, (response.status_code, response.text)


def test_malformed_requests_get_4xx_and_the_responder_keeps_answering(responder):
    client, request, issued = responder
    assert_still_answers(client, request, issued)
    bodies = [b"", b"\x00", b"garbage", request[:-5], request + b"\x00", b"\x30\x80" * 2000]
    for body in bodies:
        answer = client.post("/ocsp", content=body, headers=OCSP_REQUEST)
        assert_refused(answer, 400)
        if answer.headers["content-type"] == "application/ocsp-response":
            status = ocsp.load_der_ocsp_response(answer.content).response_status
            assert status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert_refused(client.post("/ocsp", content=request, headers={"Content-Type": "text/xml"}), 415)
    for path in ["/ocsp/!!!!", "/ocsp/" + "A" * 3, "/ocsp/%00%ff", "/ocsp/" + "/" * 50]:
        assert_refused(client.get(path), 400, 404)
    assert_still_answers(client, request, issued)
    oversized(client, request, issued)


def oversized(client, request, issued) -> None:
    big = b"\x30\x82" + b"\x00" * (MAX_REQUEST_BYTES + 10)
    assert_refused(client.post("/ocsp", content=big, headers=OCSP_REQUEST), 413)

    async def chunks():  # no Content-Length: the body is streamed and cut at the limit
        for _ in range(64):
            yield b"\x00" * 4096

    assert_refused(client.post("/ocsp", content=chunks(), headers=OCSP_REQUEST), 413)
    lying = {**OCSP_REQUEST, "Content-Length": "99999999999"}
    assert_refused(client.post("/ocsp", content=request, headers=lying), 400, 413)
    long_get = "/ocsp/" + "A" * (MAX_REQUEST_BYTES * 2)
    assert_refused(client.get(long_get), 413, 414)
    assert_still_answers(client, request, issued)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=600), as_get=st.booleans())
def test_random_requests_never_get_5xx(responder, body, as_get):
    client, _request, _issued = responder
    if as_get:
        answer = client.get("/ocsp/" + base64.urlsafe_b64encode(body).decode())
    else:
        answer = client.post("/ocsp", content=body, headers=OCSP_REQUEST)
    assert answer.status_code < 500, (answer.status_code, answer.text)
