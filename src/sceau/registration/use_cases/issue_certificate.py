"""Issue a certificate: validate the CSR, prepare and lint, **record**, then sign.

The certificate row is committed with status ``prepared`` and the linted TBS before the CA
key is touched. A process that dies after that leaves an intent that
``resume_pending_issuance`` completes (RSA PKCS#1 v1.5 is deterministic: the same TBS gives
the same certificate), so no certificate ever exists without a record and no serial is reused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.csr import ValidatedCsr, public_key_fingerprint, validate_csr
from sceau.pki.errors import CsrError, ErrorKind, SceauError
from sceau.pki.issuance import (
    IssuanceRequest,
    lint_certificate,
    new_serial,
    prepare_certificate,
    sign_tbs,
)
from sceau.pki.names import OrganisationSubject
from sceau.pki.profiles import Usage
from sceau.registration.ports import Services, UnitOfWork
from sceau.registration.use_cases.certificate_authorities import issuer_context

COMPROMISED = "keyCompromise"


@dataclass(frozen=True)
class IssueCommand:
    structure: str  # IDNST or FINESS géographique
    usage: Usage
    service_applicatif: str
    csr: bytes | None = None  # PEM or DER; or give public_key (online generation)
    public_key: rsa.RSAPublicKey | None = None
    dns_names: tuple[str, ...] = ()
    insi: bool = False
    replaces_serial: str | None = None
    actor: str = "operator"
    environment: str = "test"


@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CA, then root

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def structure_state(structure: Any) -> str:
    from sceau.registration.departments import state_value

    return state_value(structure.department_code)


def check_key_reuse(uow: UnitOfWork, fingerprint: str, structure_id: int) -> None:
    """Refuse a key already certified for another structure, or one known compromised."""
    for existing in uow.certificates.by_key_fingerprint(fingerprint):
        if existing.revocation_reason == COMPROMISED:
            raise CsrError(
                "csr_key_compromised",
                "clé refusée: un certificat portant cette clé a été révoqué pour compromission "
                f"de clé (numéro de série {existing.serial})",
            )
        if existing.structure_id is not None and existing.structure_id != structure_id:
            raise CsrError(
                "csr_key_other_structure",
                "clé refusée: cette clé publique est déjà certifiée pour une autre structure; "
                "chaque structure doit avoir ses propres clés",
            )


def _validated_key(command: IssueCommand) -> tuple[rsa.RSAPublicKey, str]:
    if (command.csr is None) == (command.public_key is None):
        raise SceauError("key_source", "fournir soit une CSR, soit une clé générée en ligne")
    if command.csr is not None:
        validated: ValidatedCsr = validate_csr(command.csr)
        return validated.public_key, validated.key_fingerprint
    assert command.public_key is not None
    return command.public_key, public_key_fingerprint(command.public_key)


_CHAINS: dict[bytes, tuple[x509.Certificate, ...]] = {}


def chain_of(uow: UnitOfWork, authority: Any) -> tuple[x509.Certificate, ...]:
    """The CA's certificate and its ancestors up to the root (cached: CA rows never change)."""
    cached = _CHAINS.get(authority.certificate_der)
    if cached is None:
        cached = _CHAINS.setdefault(authority.certificate_der, _load_chain(uow, authority))
    return cached


def _load_chain(uow: UnitOfWork, authority: Any) -> tuple[x509.Certificate, ...]:
    chain = []
    current = authority
    while current is not None:
        chain.append(x509.load_der_x509_certificate(current.certificate_der))
        current = uow.authorities.by_id(current.parent_id) if current.parent_id else None
    return tuple(chain)


def issue_certificate(
    services: Services, command: IssueCommand, *, use_pkilint: bool = True
) -> IssuedCertificate:
    public_key, fingerprint = _validated_key(command)
    with services.unit_of_work() as uow:
        structure = uow.structures.by_reference(command.structure)
        if structure is None:
            raise SceauError(
                "structure_not_found",
                f"structure {command.structure!r} inconnue",
                ErrorKind.NOT_FOUND,
            )
        check_key_reuse(uow, fingerprint, structure.id)
        authority = uow.authorities.by_role(command.environment, "organisations")
        if authority is None:
            raise SceauError(
                "no_issuing_ca",
                f"aucune AC {command.environment.upper()} pour les organisations: "
                "lancer `sceau init`",
                ErrorKind.CONFLICT,
            )
        issuer = issuer_context(authority)
        replaced_id = None
        if command.replaces_serial:
            replaced = uow.certificates.by_serial(command.replaces_serial)
            if replaced is None:
                raise SceauError(
                    "certificate_not_found",
                    "certificat à renouveler introuvable",
                    ErrorKind.NOT_FOUND,
                )
            replaced_id = replaced.id
        request = IssuanceRequest(
            usage=command.usage,
            subject=OrganisationSubject(
                state=structure_state(structure),
                organisation=structure.raison_sociale,
                idnst=structure.idnst,
                common_name=command.service_applicatif,
            ),
            public_key=public_key,
            dns_names=command.dns_names,
            insi=command.insi,
        )
        serial = new_serial()
        while uow.certificates.serial_exists(format(serial, "032x")):
            serial = new_serial()
        prepared = lint_certificate(
            prepare_certificate(request, issuer, serial, services.clock),
            issuer,
            use_pkilint=use_pkilint,
        )
        row = uow.certificates.create(
            serial=prepared.serial_hex,
            authority_id=authority.id,
            structure_id=structure.id,
            usage=command.usage.value,
            insi=command.insi,
            status="prepared",
            subject=prepared.lint_copy.subject.rfc4514_string(),
            common_name=command.service_applicatif,
            dns_names=list(request.dns_names) or None,
            key_fingerprint=fingerprint,
            tbs_der=prepared.tbs,
            not_before=prepared.not_before,
            not_after=prepared.not_after,
            prepared_at=services.clock.now(),
            replaces_id=replaced_id,
            lint_warnings=list(prepared.warnings) or None,
        )
        uow.audit.record(
            at=services.clock.now(),
            actor=command.actor,
            action="certificate.prepare",
            outcome="success",
            target=prepared.serial_hex,
            details={"structure": structure.idnst, "usage": command.usage.value},
        )
        uow.commit()  # the intent is durable before any signature
        certificate_id = row.id
        chain = chain_of(uow, authority)
        key_reference = authority.key_reference
    before_sign_hook(prepared.serial_hex)
    certificate = sign_tbs(prepared.tbs, services.keyring.load(key_reference), issuer.certificate)
    with services.unit_of_work() as uow:
        uow.certificates.mark_issued(
            certificate_id,
            certificate.public_bytes(serialization.Encoding.DER),
            services.clock.now(),
        )
        uow.audit.record(
            at=services.clock.now(),
            actor=command.actor,
            action="certificate.issue",
            outcome="success",
            target=prepared.serial_hex,
        )
        uow.commit()
    return IssuedCertificate(prepared.serial_hex, certificate, chain)


def before_sign_hook(serial: str) -> None:
    """Called between record and sign; fault-injection tests replace it to kill the process."""


def resume_pending_issuance(
    services: Services, *, older_than: dt.timedelta = dt.timedelta(seconds=30)
) -> list[str]:
    """Sign every recorded intent whose process died; returns the serials completed."""
    completed: list[str] = []
    cutoff = services.clock.now() - older_than
    while True:
        with services.unit_of_work() as uow:
            pending = uow.certificates.pending(cutoff, limit=50)
            if not pending:
                return completed
            for row in pending:
                authority = uow.authorities.by_id(row.authority_id)
                issuer = x509.load_der_x509_certificate(authority.certificate_der)
                certificate = sign_tbs(
                    row.tbs_der, services.keyring.load(authority.key_reference), issuer
                )
                uow.certificates.mark_issued(
                    row.id,
                    certificate.public_bytes(serialization.Encoding.DER),
                    services.clock.now(),
                )
                uow.audit.record(
                    at=services.clock.now(),
                    actor="system",
                    action="certificate.resume",
                    outcome="success",
                    target=row.serial,
                )
                completed.append(row.serial)
            uow.commit()
