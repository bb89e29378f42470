"""CRLs and OCSP through the use case, on every selected database engine.

pkilint's CRL and OCSP linters play the outside validator; the web endpoints are exercised
with FastAPI's test client (no background worker: the lifespan is not entered).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from conftest import make_csr
from sceau.pki.ocsp import MAX_REQUEST_BYTES, UNKNOWN, respond
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.revocation_status import (
    certificate_status,
    ensure_ocsp_responder,
    latest_crl,
    load_ocsp_signers,
    publish_revocation_status,
)
from sceau.registration.use_cases.revoke_certificate import RevokeCommand, revoke_certificate
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure
from sceau.web.app import create_app

ORG = "ACI-EL-ORG-TEST"
ROOT = "ACR-EL-TEST"


@pytest.fixture
def issued(services, leaf_keys):
    """Three AUTH_CLI certificates of one pharmacy, and the first publication."""
    add_structure(
        services,
        AddStructureCommand(
            finess="010002301", raison_sociale="PHARMACIE DU PONT", department="01"
        ),
    )
    certificates = [
        issue_certificate(
            services,
            IssueCommand(
                structure="010002301",
                usage=Usage.AUTH_CLI,
                service_applicatif=f"LGO-{i}",
                csr=make_csr(leaf_keys[i]),
            ),
            use_pkilint=False,
        )
        for i in range(3)
    ]
    publish_revocation_status(services)
    return certificates


def crl_of(services, stem: str = ORG, *, delta: bool = False) -> x509.CertificateRevocationList:
    published = latest_crl(services, stem, delta=delta)
    assert published is not None
    return x509.load_der_x509_crl(published.der)


def number_of(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def serials(crl: x509.CertificateRevocationList) -> set[int]:
    return {entry.serial_number for entry in crl}


def revoke(services, issued_certificate, reason: x509.ReasonFlags) -> None:
    revoke_certificate(services, RevokeCommand(serial=issued_certificate.serial, reason=reason))


# ------------------------------------------------------------------------------------- CRLs


def test_crl_numbers_increase_and_delta_lists_only_what_follows_its_base(services, issued, clock):
    first_full, first_delta = crl_of(services), crl_of(services, delta=True)
    assert len(first_full) == 0 and len(first_delta) == 0
    assert number_of(first_delta) == number_of(first_full) + 1
    assert first_delta.extensions.get_extension_for_class(
        x509.DeltaCRLIndicator
    ).value.crl_number == number_of(first_full)

    revoke(services, issued[0], x509.ReasonFlags.key_compromise)
    lines = publish_revocation_status(services)
    assert any(line.startswith(f"{ORG}: CRL n°") and "(1 entrée)" in line for line in lines), lines
    full, delta = crl_of(services), crl_of(services, delta=True)
    assert number_of(full) > number_of(first_delta)
    assert serials(full) == {issued[0].certificate.serial_number}

    clock.advance(dt.timedelta(hours=1))
    revoke(services, issued[1], x509.ReasonFlags.unspecified)
    publish_revocation_status(services)
    newer_full, newer_delta = crl_of(services), crl_of(services, delta=True)
    assert number_of(delta) < number_of(newer_full) < number_of(newer_delta)
    assert serials(newer_full) == {c.certificate.serial_number for c in issued[:2]}
    # The delta completes its base: it lists the revocation made since, not the older one.
    assert serials(newer_delta) == {issued[1].certificate.serial_number}
    base = newer_delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert base.critical and base.value.crl_number == number_of(newer_full)

    # Nothing changed: nothing is published again.
    assert publish_revocation_status(services) == []
    assert number_of(crl_of(services)) == number_of(newer_full)


def test_reason_codes_extensions_and_signature(services, issued):
    revoke(services, issued[0], x509.ReasonFlags.key_compromise)
    revoke(services, issued[1], x509.ReasonFlags.unspecified)
    revoke(services, issued[2], x509.ReasonFlags.superseded)
    publish_revocation_status(services)
    org_certificate = issued[0].chain[0]
    full = crl_of(services)
    assert full.is_signature_valid(org_certificate.public_key())
    assert full.issuer == org_certificate.subject
    assert full.next_update_utc - full.last_update_utc == dt.timedelta(
        hours=services.settings.crl_validity_hours
    )

    def reason(certificate):
        entry = full.get_revoked_certificate_by_serial_number(certificate.certificate.serial_number)
        try:
            return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            return None

    assert reason(issued[0]) is x509.ReasonFlags.key_compromise
    assert reason(issued[1]) is None  # unspecified: the reason code is omitted
    assert reason(issued[2]) is x509.ReasonFlags.superseded
    aki = full.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = org_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    freshest = full.extensions.get_extension_for_class(x509.FreshestCRL).value
    assert freshest[0].full_name[0].value.endswith(f"/CRL/{ORG}-delta.crl")
    delta = crl_of(services, delta=True)
    assert delta.is_signature_valid(org_certificate.public_key())
    with pytest.raises(x509.ExtensionNotFound):
        delta.extensions.get_extension_for_class(x509.FreshestCRL)
    # The root publishes a full CRL only.
    root = crl_of(services, ROOT)
    assert root.is_signature_valid(issued[0].chain[1].public_key()) and len(root) == 0
    assert latest_crl(services, ROOT, delta=True) is None


def test_revocation_in_the_same_second_as_the_crl_is_not_missed(services, issued):
    before = number_of(crl_of(services))
    # The fixed clock has not moved: the revocation is stamped with the CRL's thisUpdate.
    revoke(services, issued[2], x509.ReasonFlags.affiliation_changed)
    publish_revocation_status(services)
    full = crl_of(services)
    assert number_of(full) > before
    assert serials(full) == {issued[2].certificate.serial_number}


def test_stale_or_forced_crls_are_renewed(services, issued, clock):
    start = number_of(crl_of(services))
    assert publish_revocation_status(services) == []
    forced = publish_revocation_status(services, force=True)
    assert len([line for line in forced if "CRL n°" in line]) == 3  # root, organisations, persons
    after_force = number_of(crl_of(services))
    assert after_force > start
    root = number_of(crl_of(services, ROOT))
    clock.advance(dt.timedelta(hours=services.settings.crl_refresh_hours))
    publish_revocation_status(services, slug="test-organisations")
    assert number_of(crl_of(services)) > after_force
    assert number_of(crl_of(services, ROOT)) == root  # only the CA asked for


def _pkilint_findings(results) -> list[str]:
    from pkilint.validation import ValidationFindingSeverity

    return [
        f"{d.finding.severity.name} {d.finding.code} at {r.node.path}: {d.message}"
        for r in results
        for d in r.finding_descriptions
        if d.finding.severity <= ValidationFindingSeverity.ERROR
    ]


@functools.cache
def _crl_validator():
    from pkilint import pkix
    from pkilint.pkix import crl, extension, name

    return crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([]),
            crl.create_extensions_validator_container([]),
        ],
    )


def lint_crl(der: bytes) -> list[str]:
    from pkilint import loader

    document = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    return _pkilint_findings(_crl_validator().validate(document.root))


def test_pkilint_finds_no_error_in_full_and_delta_crls(services, issued):
    revoke(services, issued[0], x509.ReasonFlags.key_compromise)
    revoke(services, issued[1], x509.ReasonFlags.unspecified)
    publish_revocation_status(services)
    for stem, delta in ((ORG, False), (ORG, True), (ROOT, False)):
        published = latest_crl(services, stem, delta=delta)
        assert lint_crl(published.der) == [], (stem, delta)


# ------------------------------------------------------------------------------------- OCSP


def ocsp_request(certificate, issuer, algorithm=None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        certificate, issuer, algorithm or hashes.SHA1()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


def lint_ocsp(der: bytes) -> list[str]:
    from pkilint import loader, pkix
    from pkilint.pkix import extension, name
    from pkilint.pkix import ocsp as pkilint_ocsp

    validator = pkilint_ocsp.create_pkix_ocsp_response_validator_container(
        [
            pkilint_ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )
    document = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "ocsp")
    return _pkilint_findings(validator.validate(document.root))


class Client:
    """Requests to the app in-process (httpx's ASGI transport; the lifespan is not run)."""

    def __init__(self, app):
        self.app = app

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def client(services):
    return Client(create_app(services))


def post_ocsp(client, body: bytes):
    return client.post("/ocsp", content=body, headers={"Content-Type": "application/ocsp-request"})


def test_ocsp_good_revoked_unknown_over_http_and_linted(services, issued, client):
    org = issued[0].chain[0]
    good = post_ocsp(client, ocsp_request(issued[1].certificate, org))
    assert good.status_code == 200 and good.headers["content-type"] == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(good.content)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == issued[1].certificate.serial_number
    assert "max-age=" in good.headers["cache-control"] and good.headers["etag"]
    assert lint_ocsp(good.content) == []
    responder = response.certificates[0]
    responder.verify_directly_issued_by(org)
    assert (
        response.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    )

    revoke(services, issued[0], x509.ReasonFlags.key_compromise)
    lines = publish_revocation_status(services)
    assert any("1 réponse OCSP signée" in line for line in lines), lines
    client.app.state.ocsp_cache._polled_at = None  # do not wait for the next poll
    revoked = post_ocsp(client, ocsp_request(issued[0].certificate, org))
    response = ocsp.load_der_ocsp_response(revoked.content)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.key_compromise
    assert lint_ocsp(revoked.content) == []

    # GET, with a SHA-256 CertID: signed on the spot with the same status.
    encoded = base64.b64encode(ocsp_request(issued[0].certificate, org, hashes.SHA256())).decode()
    by_get = client.get(f"/ocsp/{encoded}")
    response = ocsp.load_der_ocsp_response(by_get.content)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert isinstance(response.hash_algorithm, hashes.SHA256)


def test_ocsp_answers_unknown_for_a_serial_never_issued(services, issued, client):
    org = issued[0].chain[0]
    signers = load_ocsp_signers(services)
    body = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            *_issuer_hashes(org), 0x1234567890ABCDEF1234567890ABCDEF, hashes.SHA1()
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    answer = post_ocsp(client, body)
    response = ocsp.load_der_ocsp_response(answer.content)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert lint_ocsp(answer.content) == []
    # The same through the pure responder and the use case's lookup.
    direct = respond(
        body,
        list(signers.values()),
        lambda signer, serial: certificate_status(
            services, next(a for a, s in signers.items() if s is signer), serial
        ),
        now=services.clock.now(),
        validity=dt.timedelta(hours=1),
    )
    assert ocsp.load_der_ocsp_response(direct).certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    # A certificate of ours asked about under the wrong CA is unknown there too.
    org_id = next(a for a, s in signers.items() if s.issuer == org)
    persons_id = next(a for a in signers if a != org_id)
    assert certificate_status(services, persons_id, issued[0].certificate.serial_number) == UNKNOWN


def _issuer_hashes(issuer):
    from sceau.pki.ocsp import issuer_hashes

    return issuer_hashes(issuer, hashes.SHA1())


def test_ocsp_refuses_garbage_and_foreign_cas(services, issued, client, leaf_keys):
    assert post_ocsp(client, b"not DER").status_code == 400
    malformed = post_ocsp(client, b"\x30\x03\x02\x01\x01")
    assert malformed.status_code == 400 and "OCSP request" in malformed.headers["x-ocsp-error"]
    assert (
        ocsp.load_der_ocsp_response(malformed.content).response_status
        is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )
    assert post_ocsp(client, b"\x30" * (MAX_REQUEST_BYTES + 1)).status_code == 413
    assert client.get("/ocsp/%%%not-base64!!").status_code == 400
    wrong_type = client.post("/ocsp", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.json()["detail"].startswith("an OCSP request is sent as")
    # A certificate issued by a CA we do not run: unauthorized.
    foreign = issued[0].chain[1]  # the root: we do not answer for it
    answer = post_ocsp(client, ocsp_request(issued[0].chain[0], foreign))
    assert answer.status_code == 200
    assert (
        ocsp.load_der_ocsp_response(answer.content).response_status
        is ocsp.OCSPResponseStatus.UNAUTHORIZED
    )


def test_public_crl_and_ca_certificate_endpoints(services, issued, client):
    crl = client.get(f"/CRL/{ORG}.crl")
    assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
    assert x509.load_der_x509_crl(crl.content) == crl_of(services)
    assert crl.headers["last-modified"] and crl.headers["etag"]
    again = client.get(f"/CRL/{ORG}.crl", headers={"If-None-Match": crl.headers["etag"]})
    assert again.status_code == 304
    delta = client.get(f"/CRL/{ORG}-delta.crl")
    assert x509.load_der_x509_crl(delta.content).extensions.get_extension_for_class(
        x509.DeltaCRLIndicator
    )
    assert client.get("/CRL/NOPE.crl").status_code == 404
    assert client.get(f"/CRL/{ROOT}-delta.crl").status_code == 404
    assert client.get("/CRL/..%2f..%2fetc.crl").status_code == 404
    certificate = client.get(f"/AC%20TEST/{ORG}.cer")
    assert certificate.status_code == 200
    assert certificate.headers["content-type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(certificate.content) == issued[0].chain[0]
    assert client.get(f"/AC/{ORG}.cer").status_code == 404  # a TEST CA is under "AC TEST"


def test_ocsp_responder_is_renewed_when_a_third_of_its_life_remains(services, issued, clock):
    with services.unit_of_work() as uow:
        authority = uow.authorities.by_slug("test-organisations")
    first = ensure_ocsp_responder(services, authority)
    assert ensure_ocsp_responder(services, authority).certificate == first.certificate
    lifetime = first.certificate.not_valid_after_utc - first.certificate.not_valid_before_utc
    clock.advance(lifetime * 2 / 3 + dt.timedelta(hours=1))
    lines = publish_revocation_status(services, slug="test-organisations")
    assert any("répondeur OCSP renouvelé" in line for line in lines), lines
    renewed = ensure_ocsp_responder(services, authority)
    assert renewed.certificate != first.certificate
    assert renewed.key.reference != first.key.reference


def test_two_processes_saving_the_same_response_at_once_both_succeed(services, issued):
    """A server publishing after a revocation and a worker on its schedule may sign the same
    certificate's response at once: the second save replaces the first (newer wins) instead
    of failing on the primary key, and an older response never overwrites a newer one."""
    import threading

    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(issued[0].serial)
        stored = uow.ocsp.response(issued[0].serial)
        assert stored is not None
        base = {
            "certificate_id": row.id,
            "authority_id": row.authority_id,
            "serial": row.serial,
            "status": "good",
        }
        at = stored.this_update

    def save(when: dt.datetime, der: bytes) -> None:
        with services.unit_of_work() as uow:
            uow.ocsp.save_response(**base, this_update=when, next_update=when, der=der)
            uow.commit()

    later = at + dt.timedelta(minutes=1)
    errors: list[BaseException] = []
    first = services.unit_of_work()
    uow = first.__enter__()
    try:
        uow.ocsp.save_response(**base, this_update=later, next_update=later, der=b"A")
        if services.settings.database_url and "postgresql" in services.settings.database_url:
            # The other transaction blocks on the row until this one commits, then updates it.
            other = threading.Thread(
                target=lambda: _capture(errors, save, later + dt.timedelta(seconds=1), b"B")
            )
            other.start()
            other.join(0.5)
            uow.commit()
            other.join(10)
        else:  # SQLite has one writer: the second save follows the first
            uow.commit()
            save(later + dt.timedelta(seconds=1), b"B")
    finally:
        first.__exit__(None, None, None)
    assert errors == []
    save(at, b"older")  # an older response does not replace a newer one
    with services.unit_of_work() as uow:
        assert bytes(uow.ocsp.response(issued[0].serial).der) == b"B"


def _capture(errors: list[BaseException], function, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        function(*args)
    except BaseException as error:
        errors.append(error)


def test_presigning_signs_only_what_is_due(services, issued, clock):
    """Each publication signs the responses that are missing, whose status changed or that
    end within the refresh horizon — and nothing for certificates whose response is fresh."""

    def signed() -> int:
        lines = publish_revocation_status(services, "test-organisations")
        found = [int(part.split()[0]) for line in lines for part in line.split(", ")
                 if "OCSP sign" in part]  # fmt: skip
        return found[0] if found else 0

    assert signed() == 0  # the fixture published already: all fresh
    revoke(services, issued[2], x509.ReasonFlags.superseded)
    assert signed() == 1
    assert signed() == 0
    clock.advance(dt.timedelta(hours=services.settings.ocsp_validity_hours / 2 + 1))
    assert signed() == 3  # all within the refresh horizon now
    with services.unit_of_work() as uow:
        statuses = {
            serial: uow.ocsp.response(serial).status for serial in (i.serial for i in issued)
        }
    assert statuses == {issued[0].serial: "good", issued[1].serial: "good",
                        issued[2].serial: "revoked"}  # fmt: skip
