"""``sceau serve --tls``: uvicorn terminates TLS and asks for a card (client certificate).

Two pieces:

* :class:`ClientCertificateProtocol` — uvicorn's h11 protocol, which does not expose the peer
  certificate to the application, extended to read it from the connection's SSL object
  after the handshake and to put it in the request scope as the ASGI TLS extension
  (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM strings). The TLS layer only
  checks that the card chains to the persons CA (``ssl_cert_reqs=CERT_OPTIONAL``: a browser
  without a card still reaches the public pages); ``sceau.auth.cards`` verifies everything
  again (issuer, clientAuth, validity, revocation, registry). See docs/adr/0003-card-login.md.
* :func:`ensure_server_certificate` — at first start, a SERV SSL certificate for the
  portal's host name issued by our organisations CA (recorded, then signed, like every
  certificate), with its key in ``$SCEAU_HOME/tls/`` (0600); reused while valid.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

from sceau.bootstrap import Container
from sceau.pki.csr import public_key_fingerprint
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.issuance import (
    IssuanceRequest,
    lint_certificate,
    new_serial,
    prepare_certificate,
    sign_tbs,
)
from sceau.pki.names import OrganisationSubject
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.certificate_authorities import issuer_context
from sceau.registration.use_cases.issue_certificate import chain_of

OPERATOR_STATE = "Paris (75)"  # the CA operator's seat (the ANS is in Paris)
RENEW_BEFORE = dt.timedelta(days=30)

ASGIApp = Any


class TlsClientCertificate:
    """ASGI wrapper adding the connection's client certificate as the TLS extension."""

    def __init__(self, app: ASGIApp, pem: str | None, tls_version: int | None = None):
        self.app = app
        self.pem = pem
        self.tls_version = tls_version

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = {
                "client_cert_chain": [self.pem] if self.pem else [],
                "client_cert_name": None,
                "client_cert_error": None,
                "tls_version": self.tls_version,
                "cipher_suite": None,
                "server_cert": None,
            }
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)


_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class ClientCertificateProtocol(H11Protocol):
    """uvicorn's h11 protocol, giving the application the peer certificate of the connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        pem = ssl.DER_cert_to_PEM_cert(der) if der else None
        version = _TLS_VERSIONS.get(ssl_object.version() or "")
        self.app = TlsClientCertificate(self.config.loaded_app, pem, version)


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path  # server certificate then the organisations CA and the root (PEM)
    key: Path
    client_ca: Path  # the persons CA and the root: what a card must chain to
    hostname: str
    serial: str


def _tls_dir(container: Container) -> Path:
    path = container.settings.home / "tls"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _still_good(path: Path, hostname: str, now: dt.datetime) -> str | None:
    if not path.exists():
        return None
    try:
        cert = x509.load_pem_x509_certificates(path.read_bytes())[0]
    except ValueError:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != hostname or cert.not_valid_after_utc - now < RENEW_BEFORE:
        return None
    return format(cert.serial_number, "032x")


def _pem(certs: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def ensure_server_certificate(
    container: Container, hostname: str, environment: str = "test"
) -> TlsFiles:
    """The portal's TLS files, issuing the SERV SSL server certificate when needed."""
    directory = _tls_dir(container)
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    client_ca_path = directory / "client-ca.pem"
    now = container.clock.now()
    uow: Any
    with container.unit_of_work() as uow:
        persons = uow.authorities.by_role(environment, "persons")
        authority = uow.authorities.by_role(environment, "organisations")
        if persons is None or authority is None:
            raise SceauError(
                "no_hierarchy",
                f"pas de hiérarchie {environment.upper()}: lancer `sceau init`",
                ErrorKind.CONFLICT,
            )
        client_ca_path.write_bytes(_pem(chain_of(uow, persons)))
        issuer = issuer_context(authority)
        chain = chain_of(uow, authority)
        key_reference = authority.key_reference
        authority_id = authority.id
    serial = _still_good(cert_path, hostname, now)
    if serial is not None and key_path.exists():
        return TlsFiles(cert_path, key_path, client_ca_path, hostname, serial)
    ca_subject = issuer.certificate.subject
    organisation = str(ca_subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)
    identifier = str(ca_subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    request = IssuanceRequest(
        usage=Usage.SERV_SSL,
        subject=OrganisationSubject(OPERATOR_STATE, organisation, identifier, hostname),
        public_key=key.public_key(),
    )
    number = new_serial()
    prepared = lint_certificate(
        prepare_certificate(request, issuer, number, container.clock), issuer
    )
    with container.unit_of_work() as uow:  # record, then sign (ADR 0001)
        row = uow.certificates.create(
            serial=prepared.serial_hex,
            authority_id=authority_id,
            structure_id=None,
            usage=Usage.SERV_SSL.value,
            insi=False,
            status="prepared",
            subject=prepared.lint_copy.subject.rfc4514_string(),
            common_name=hostname,
            dns_names=list(request.dns_names),
            key_fingerprint=public_key_fingerprint(key.public_key()),
            tbs_der=prepared.tbs,
            not_before=prepared.not_before,
            not_after=prepared.not_after,
            prepared_at=now,
            lint_warnings=list(prepared.warnings) or None,
        )
        uow.audit.record(
            at=now, actor="operator:serve", action="certificate.prepare", outcome="success",
            target=prepared.serial_hex, details={"usage": "SERV_SSL", "portal": hostname},
        )  # fmt: skip
        uow.commit()
        certificate_id = row.id
    certificate = sign_tbs(prepared.tbs, container.keyring.load(key_reference), issuer.certificate)
    with container.unit_of_work() as uow:
        uow.certificates.mark_issued(
            certificate_id, certificate.public_bytes(serialization.Encoding.DER), now
        )
        uow.audit.record(
            at=now, actor="operator:serve", action="certificate.issue", outcome="success",
            target=prepared.serial_hex, details={"usage": "SERV_SSL", "portal": hostname},
        )  # fmt: skip
        uow.commit()
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_path.write_bytes(_pem([certificate, *chain]))
    return TlsFiles(cert_path, key_path, client_ca_path, hostname, prepared.serial_hex)


def uvicorn_tls_options(files: TlsFiles) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for card login over TLS."""
    return {
        "ssl_certfile": str(files.certificate),
        "ssl_keyfile": str(files.key),
        "ssl_ca_certs": str(files.client_ca),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "http": ClientCertificateProtocol,
    }
