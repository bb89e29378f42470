"""Issue a certificate: validate the CSR, prepare and lint, **record**, then sign.

The certificate row is committed with status ``prepared`` and the linted TBS before the CA
key is touched. A process that dies after that leaves an intent that
``resume_pending_issuance`` completes (RSA PKCS#1 v1.5 is deterministic: the same TBS gives
the same certificate), so no certificate ever exists without a record and no serial is reused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.csr import ValidatedCsr, public_key_fingerprint, validate_csr
from sceau.pki.errors import CsrError, ErrorKind, SceauError
from sceau.pki.issuance import (
    IssuanceRequest,
    IssuerContext,
    PreparedCertificate,
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


def check_key_reuse(
    uow: UnitOfWork,
    fingerprint: str,
    structure_id: int,
    uses: Sequence[tuple[str, int | None, str | None]] | None = None,
) -> None:
    """Refuse a key already certified for another structure, or one known compromised.

    ``uses`` are the key's (serial, structure id, revocation reason), when already read."""
    if uses is None:
        uses = uow.certificates.key_uses([fingerprint])[fingerprint]
    for serial, other_structure, reason in uses:
        if reason == COMPROMISED:
            raise CsrError(
                "csr_key_compromised",
                "clé refusée: un certificat portant cette clé a été révoqué pour compromission "
                f"de clé (numéro de série {serial})",
            )
        if other_structure is not None and other_structure != structure_id:
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
    return issue_certificates(services, [command], use_pkilint=use_pkilint)[0]


OnIssued = Callable[[UnitOfWork, Sequence[IssuedCertificate]], None]


def issue_certificates(
    services: Services,
    commands: Sequence[IssueCommand],
    *,
    use_pkilint: bool = True,
    on_issued: OnIssued | None = None,
) -> list[IssuedCertificate]:
    """Issue several certificates: all linted and recorded in one transaction
    (``record_issuance``), then signed and marked issued in one transaction where
    ``on_issued`` adds its own writes (``complete_issuance``)."""
    if not commands:
        return []
    return complete_issuance(
        services, record_issuance(services, commands, use_pkilint=use_pkilint), on_issued
    )


@dataclass(frozen=True)
class RecordedBatch:
    """Intents committed by ``record_issuance``, to be signed by ``complete_issuance``."""

    planned: tuple[_Planned, ...]
    certificate_ids: tuple[int, ...]
    chains: tuple[tuple[x509.Certificate, ...], ...]
    key_references: tuple[str, ...]


def record_issuance(
    services: Services, commands: Sequence[IssueCommand], *, use_pkilint: bool = True
) -> RecordedBatch:
    """Validate, prepare, lint and record every intent in one transaction.

    All or nothing: a refused CSR, an unknown structure or a lint error in any of them raises
    before anything is written, so the caller may retry them otherwise. Once this returns, an
    interruption leaves intents that ``resume_pending_issuance`` signs.
    """
    keys = [_validated_key(command) for command in commands]
    now = services.clock.now()
    with services.unit_of_work() as uow:
        key_uses = uow.certificates.key_uses([fingerprint for _, fingerprint in keys])
        structures: dict[str, Any] = {}
        authorities: dict[str, Any] = {}
        issuers: dict[str, IssuerContext] = {}
        fingerprints: dict[str, int] = {}
        planned: list[_Planned] = []
        serials: set[int] = set()
        for command, (public_key, fingerprint) in zip(commands, keys, strict=True):
            structure = structures.get(command.structure)
            if structure is None:
                structure = uow.structures.by_reference(command.structure)
                if structure is None:
                    raise SceauError(
                        "structure_not_found",
                        f"structure {command.structure!r} inconnue",
                        ErrorKind.NOT_FOUND,
                    )
                structures[command.structure] = structure
            if fingerprints.setdefault(fingerprint, structure.id) != structure.id:
                raise CsrError(
                    "csr_key_other_structure",
                    "clé refusée: la même clé publique est demandée pour deux structures; "
                    "chaque structure doit avoir ses propres clés",
                )
            check_key_reuse(uow, fingerprint, structure.id, key_uses[fingerprint])
            authority = authorities.get(command.environment)
            if authority is None:
                authority = uow.authorities.by_role(command.environment, "organisations")
                if authority is None:
                    raise SceauError(
                        "no_issuing_ca",
                        f"aucune AC {command.environment.upper()} pour les organisations: "
                        "lancer `sceau init`",
                        ErrorKind.CONFLICT,
                    )
                authorities[command.environment] = authority
                issuers[command.environment] = issuer_context(authority)
            issuer = issuers[command.environment]
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
            while serial in serials:
                serial = new_serial()
            serials.add(serial)
            prepared = lint_certificate(
                prepare_certificate(request, issuer, serial, services.clock),
                issuer,
                use_pkilint=use_pkilint,
            )
            planned.append(
                _Planned(command, prepared, fingerprint, structure, authority, issuer, replaced_id)
            )
        taken = uow.certificates.existing_serials([plan.prepared.serial_hex for plan in planned])
        if taken:  # 127 random bits: never seen, but a serial is never given twice
            raise SceauError(
                "serial_collision",
                f"numéro de série déjà attribué ({', '.join(sorted(taken))}): réessayer",
                ErrorKind.CONFLICT,
            )
        rows = uow.certificates.create_many(
            [
                {
                    "serial": plan.prepared.serial_hex,
                    "authority_id": plan.authority.id,
                    "structure_id": plan.structure.id,
                    "usage": plan.command.usage.value,
                    "insi": plan.command.insi,
                    "status": "prepared",
                    "subject": plan.prepared.lint_copy.subject.rfc4514_string(),
                    "common_name": plan.command.service_applicatif,
                    "dns_names": list(plan.command.dns_names) or None,
                    "key_fingerprint": plan.fingerprint,
                    "tbs_der": plan.prepared.tbs,
                    "not_before": plan.prepared.not_before,
                    "not_after": plan.prepared.not_after,
                    "prepared_at": now,
                    "replaces_id": plan.replaced_id,
                    "lint_warnings": list(plan.prepared.warnings) or None,
                }
                for plan in planned
            ]
        )
        uow.audit.record_many(
            [
                {
                    "at": now,
                    "actor": plan.command.actor,
                    "action": "certificate.prepare",
                    "outcome": "success",
                    "target": plan.prepared.serial_hex,
                    "details": {
                        "structure": plan.structure.idnst,
                        "usage": plan.command.usage.value,
                    },
                }
                for plan in planned
            ]
        )
        uow.commit()  # the intents are durable before any signature
        return RecordedBatch(
            planned=tuple(planned),
            certificate_ids=tuple(row.id for row in rows),
            chains=tuple(chain_of(uow, plan.authority) for plan in planned),
            key_references=tuple(plan.authority.key_reference for plan in planned),
        )


def complete_issuance(
    services: Services, batch: RecordedBatch, on_issued: OnIssued | None = None
) -> list[IssuedCertificate]:
    """Sign the recorded TBSs, then mark them issued (with ``on_issued``'s writes)."""
    issued: list[IssuedCertificate] = []
    for plan, chain, key_reference in zip(
        batch.planned, batch.chains, batch.key_references, strict=True
    ):
        before_sign_hook(plan.prepared.serial_hex)
        certificate = sign_tbs(
            plan.prepared.tbs, services.keyring.load(key_reference), plan.issuer.certificate
        )
        issued.append(IssuedCertificate(plan.prepared.serial_hex, certificate, chain))
    signed_at = services.clock.now()
    with services.unit_of_work() as uow:
        uow.certificates.mark_many_issued(
            [
                (certificate_id, done.certificate.public_bytes(serialization.Encoding.DER))
                for certificate_id, done in zip(batch.certificate_ids, issued, strict=True)
            ],
            signed_at,
        )
        uow.audit.record_many(
            [
                {
                    "at": signed_at,
                    "actor": plan.command.actor,
                    "action": "certificate.issue",
                    "outcome": "success",
                    "target": plan.prepared.serial_hex,
                }
                for plan in batch.planned
            ]
        )
        if on_issued is not None:
            on_issued(uow, issued)
        uow.commit()
    return issued


@dataclass(frozen=True)
class _Planned:
    command: IssueCommand
    prepared: PreparedCertificate
    fingerprint: str
    structure: Any
    authority: Any
    issuer: IssuerContext
    replaced_id: int | None


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
