"""Publish revocation status: full and delta CRLs, the delegated OCSP responder, pre-signed
OCSP responses (RFC 5280 §5, RFC 6960, RFC 5019).

``publish_revocation_status`` is idempotent and cheap when nothing changed: the CLI runs it
after a revocation and the worker every few seconds, so a revocation shows in the CRLs and in
OCSP within a minute. CRL numbers come from the CA row (``take_crl_number``, row-locked on
PostgreSQL), shared by full and delta CRLs, so they strictly increase per CA.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sceau.pki.crl import RevokedEntry, build_crl, parse_reason
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.hierarchy import create_ocsp_responder_certificate
from sceau.pki.ocsp import (
    GOOD,
    UNKNOWN,
    CertificateStatus,
    OcspSigner,
    Status,
    sign_response,
)
from sceau.registration.ports import Services, UnitOfWork

# A revocation is stamped when its transaction starts and seen by others when it commits; a
# CRL built in between misses it. Revocations this close before a CRL's thisUpdate are
# checked against its content, and delta CRLs reach back this far before their base.
COMMIT_SKEW = dt.timedelta(minutes=5)
RESPONDER_KEY_SIZE = 2048
OCSP_BATCH = 200  # responses signed and committed per transaction
log = logging.getLogger(__name__)


class StatusSettings(Protocol):
    crl_validity_hours: int
    crl_refresh_hours: int
    delta_crl_validity_hours: int
    ocsp_validity_hours: int
    ocsp_refresh_ahead_hours: int
    ocsp_responder_validity_days: int


class StatusServices(Services, Protocol):
    @property
    def settings(self) -> StatusSettings: ...


def _hours(value: int | float) -> dt.timedelta:
    return dt.timedelta(hours=value)


def has_delta_crl(authority: Any) -> bool:
    """Issuing CAs publish delta CRLs (their leaves point at them); the root does not."""
    return bool(authority.issuer_policy and authority.issuer_policy.get("delta_crl_urls"))


def serves_ocsp(authority: Any) -> bool:
    """OCSP for the issuing CAs; the root's status (of the issuing CAs) is given by its CRL."""
    return authority.role != "root" and authority.issuer_policy is not None


# --------------------------------------------------------------------------- OCSP responder


def ensure_ocsp_responder(services: StatusServices, authority: Any) -> OcspSigner:
    """The CA's delegated OCSP responder, created or renewed when a third of its life remains."""
    return _ensure_responder(services, authority)[0]


def _ensure_responder(services: StatusServices, authority: Any) -> tuple[OcspSigner, str | None]:
    now = services.clock.now()
    issuer = x509.load_der_x509_certificate(authority.certificate_der)
    with services.unit_of_work() as uow:
        row = uow.ocsp.responder(authority.id, now)
    if row is not None:
        certificate = x509.load_der_x509_certificate(row.certificate_der)
        lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        if certificate.not_valid_after_utc - now > lifetime / 3:
            return OcspSigner(issuer, certificate, services.keyring.load(row.key_reference)), None
    validity = dt.timedelta(days=services.settings.ocsp_responder_validity_days)
    label = f"{authority.slug}-ocsp-{now:%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    key = services.keyring.generate(label, RESPONDER_KEY_SIZE, backend="file")
    certificate = create_ocsp_responder_certificate(
        key.public_key(), issuer, services.keyring.load(authority.key_reference), now, validity
    )
    with services.unit_of_work() as uow:
        uow.ocsp.create_responder(
            authority_id=authority.id,
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            key_reference=key.reference,
            not_after=certificate.not_valid_after_utc,
            created_at=now,
        )
        uow.audit.record(
            at=now,
            actor="system",
            action="ocsp.responder",
            outcome="success",
            target=authority.slug,
            details={"serial": format(certificate.serial_number, "x"), "key": key.reference},
        )
        uow.commit()
    verb = "renouvelé" if row is not None else "créé"
    line = f"répondeur OCSP {verb} (valide jusqu'au {certificate.not_valid_after_utc:%Y-%m-%d})"
    return OcspSigner(issuer, certificate, key), line


def load_ocsp_signers(services: StatusServices) -> dict[int, OcspSigner]:
    """The current responder of every CA that serves OCSP, by authority id (none is created)."""
    now = services.clock.now()
    found: list[tuple[int, bytes, bytes, str]] = []
    with services.unit_of_work() as uow:
        for authority in uow.authorities.all():
            if not serves_ocsp(authority):
                continue
            row = uow.ocsp.responder(authority.id, now)
            if row is not None:
                found.append(
                    (
                        authority.id,
                        authority.certificate_der,
                        row.certificate_der,
                        row.key_reference,
                    )
                )
    return {
        authority_id: OcspSigner(
            x509.load_der_x509_certificate(issuer_der),
            x509.load_der_x509_certificate(responder_der),
            services.keyring.load(reference),
        )
        for authority_id, issuer_der, responder_der, reference in found
    }


# --------------------------------------------------------------------------- status lookups


def _status_of(revoked_at: dt.datetime | None, reason_text: str | None) -> CertificateStatus:
    if revoked_at is None:
        return GOOD
    reason = parse_reason(reason_text)
    if reason is x509.ReasonFlags.unspecified:
        reason = None  # as in the CRL: no reason code for "unspecified"
    return CertificateStatus(Status.REVOKED, revoked_at, reason)


def certificate_status(services: Services, authority_id: int, serial: int) -> CertificateStatus:
    """What OCSP says about ``serial`` under the CA ``authority_id``: good or revoked for a
    certificate we issued (and signed), unknown for anything else."""
    if serial <= 0 or serial.bit_length() > 160:
        return UNKNOWN
    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(format(serial, "032x"))
        if row is None or row.authority_id != authority_id or row.status != "issued":
            return UNKNOWN
        return _status_of(row.revoked_at, row.revocation_reason)


def presigned_responses(
    services: Services, since: dt.datetime | None
) -> list[tuple[str, bytes, dt.datetime]]:
    """(serial hex, DER, thisUpdate) of the stored responses signed at or after ``since``."""
    with services.unit_of_work() as uow:
        return [(serial, der, at) for serial, der, at in uow.ocsp.responses_since(since)]


@dataclass(frozen=True)
class PublishedCrl:
    der: bytes
    number: int
    this_update: dt.datetime
    next_update: dt.datetime


def latest_crl(services: Services, file_stem: str, *, delta: bool) -> PublishedCrl | None:
    """The latest full (or delta) CRL of the CA whose file stem is ``file_stem``."""
    with services.unit_of_work() as uow:
        authority = uow.authorities.by_file_stem(file_stem)
        if authority is None:
            return None
        row = uow.crls.latest(authority.id, delta=delta)
        if row is None:
            return None
        return PublishedCrl(row.der, row.number, row.this_update, row.next_update)


def ca_certificate(services: Services, file_stem: str, environment: str) -> bytes | None:
    """The DER certificate of the CA ``file_stem`` of ``environment`` (AIA caIssuers)."""
    with services.unit_of_work() as uow:
        authority = uow.authorities.by_file_stem(file_stem)
        if authority is None or authority.environment != environment:
            return None
        return bytes(authority.certificate_der)


# --------------------------------------------------------------------------- CRLs


def _entries(rows: Sequence[tuple[str, dt.datetime, str | None]]) -> list[RevokedEntry]:
    return [RevokedEntry(int(serial, 16), at, parse_reason(reason)) for serial, at, reason in rows]


def _is_stale(row: Any, now: dt.datetime, refresh: dt.timedelta) -> bool:
    return bool(now >= row.this_update + refresh or now >= row.next_update)


def _misses_revocations(uow: UnitOfWork, authority_id: int, row: Any) -> bool:
    """Whether a revocation recorded after (or just before) ``row`` was built is absent from it."""
    recent = uow.certificates.revoked_since(authority_id, row.this_update - COMMIT_SKEW)
    if not recent:
        return False
    crl = x509.load_der_x509_crl(row.der)
    return any(
        crl.get_revoked_certificate_by_serial_number(int(s, 16)) is None for s, _, _ in recent
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


def _publish_crls(services: StatusServices, authority: Any, force: bool) -> list[str]:
    settings = services.settings
    now = services.clock.now()
    full_validity = _hours(settings.crl_validity_hours)
    delta_validity = _hours(settings.delta_crl_validity_hours)
    full_refresh = min(_hours(settings.crl_refresh_hours), full_validity / 2)
    delta_refresh = min(_hours(settings.crl_refresh_hours), delta_validity / 2)
    with_delta = has_delta_crl(authority)
    lines: list[str] = []
    with services.unit_of_work() as uow:
        full = uow.crls.latest(authority.id, delta=False)
        need_full = (
            force
            or full is None
            or _is_stale(full, now, full_refresh)
            or _misses_revocations(uow, authority.id, full)
        )
        need_delta = False
        if with_delta:
            delta = uow.crls.latest(authority.id, delta=True)
            need_delta = (
                need_full
                or delta is None
                or delta.delta_base != full.number
                or _is_stale(delta, now, delta_refresh)
                or _misses_revocations(uow, authority.id, delta)
            )
        if not (need_full or need_delta):
            return []
        issuer = x509.load_der_x509_certificate(authority.certificate_der)
        key = services.keyring.load(authority.key_reference)
        if need_full:
            number = uow.authorities.take_crl_number(authority.id)  # locks the CA row
            entries = _entries(uow.certificates.revoked_for(authority.id))
            crl = build_crl(
                issuer,
                key,
                entries,
                number=number,
                this_update=now,
                next_update=now + full_validity,
                freshest_crl_urls=tuple(authority.issuer_policy["delta_crl_urls"])
                if with_delta
                else (),
            )
            uow.crls.create(
                authority_id=authority.id,
                number=number,
                delta_base=None,
                this_update=now,
                next_update=now + full_validity,
                entries=len(entries),
                der=crl.public_bytes(serialization.Encoding.DER),
            )
            base_number, base_time = number, now
            lines.append(f"CRL n°{number} ({_plural(len(entries), 'entrée')})")
        else:
            base_number, base_time = full.number, full.this_update
        if need_delta:
            number = uow.authorities.take_crl_number(authority.id)
            # Everything revoked since the base (and a little before): listing a certificate
            # that the base also lists is harmless, missing one is not.
            entries = _entries(
                uow.certificates.revoked_since(authority.id, base_time - COMMIT_SKEW)
            )
            crl = build_crl(
                issuer,
                key,
                entries,
                number=number,
                this_update=now,
                next_update=now + delta_validity,
                delta_base=base_number,
            )
            uow.crls.create(
                authority_id=authority.id,
                number=number,
                delta_base=base_number,
                this_update=now,
                next_update=now + delta_validity,
                entries=len(entries),
                der=crl.public_bytes(serialization.Encoding.DER),
            )
            lines.append(
                f"delta CRL n°{number} (base n°{base_number}, {_plural(len(entries), 'entrée')})"
            )
        uow.commit()
    return lines


# --------------------------------------------------------------------------- OCSP pre-signing


def _presign(services: StatusServices, authority: Any, signer: OcspSigner) -> int:
    """Sign responses for the CA's valid certificates that have none, whose status changed,
    or whose nextUpdate comes within ``ocsp_refresh_ahead_hours`` (found by one query)."""
    settings = services.settings
    now = services.clock.now()
    horizon = now + _hours(settings.ocsp_refresh_ahead_hours)
    validity = _hours(settings.ocsp_validity_hours)
    with services.unit_of_work() as uow:
        due = [
            (certificate_id, serial, _status_of(revoked_at, reason))
            for certificate_id, serial, revoked_at, reason in uow.certificates.ocsp_due(
                authority.id, now, horizon
            )
        ]
    for start in range(0, len(due), OCSP_BATCH):
        with services.unit_of_work() as uow:
            this_update = services.clock.now()
            next_update = this_update + validity
            for certificate_id, serial, status in due[start : start + OCSP_BATCH]:
                der = sign_response(signer, int(serial, 16), status, this_update, next_update)
                uow.ocsp.save_response(
                    certificate_id=certificate_id,
                    authority_id=authority.id,
                    serial=serial,
                    status=status.status.value,
                    this_update=this_update,
                    next_update=next_update,
                    der=der,
                )
            uow.commit()
    return len(due)


# --------------------------------------------------------------------------- the use case


def publish_revocation_status(
    services: StatusServices, slug: str | None = None, force: bool = False
) -> list[str]:
    """Bring CRLs and OCSP responses of every CA (or of ``slug``) up to date.

    A new full CRL when ``force``, when there is none, when a revocation is missing from the
    latest, or when it is older than ``crl_refresh_hours``; a delta CRL (issuing CAs) likewise
    and whenever a new full CRL becomes its base. Then the OCSP responder is created or renewed
    and due responses are pre-signed. Returns one human-readable line per CA that changed.
    """
    with services.unit_of_work() as uow:
        authorities = [a for a in uow.authorities.all() if slug is None or a.slug == slug]
    if slug is not None and not authorities:
        raise SceauError("authority_not_found", f"aucune AC {slug!r}", ErrorKind.NOT_FOUND)
    lines: list[str] = []
    for authority in authorities:
        parts = _publish_crls(services, authority, force)
        if serves_ocsp(authority):
            signer, responder_line = _ensure_responder(services, authority)
            if responder_line:
                parts.append(responder_line)
            signed = _presign(services, authority, signer)
            if signed:
                parts.append(f"{_plural(signed, 'réponse')} OCSP signée{'s' if signed > 1 else ''}")
        if parts:
            lines.append(f"{authority.file_stem}: " + ", ".join(parts))
    return lines


def publish_after_revocation(services: StatusServices, slug: str) -> bool:
    """Publish at once after a committed revocation; a failure here does not undo it.

    The revocation stands whatever happens next, and the worker republishes on its schedule:
    the caller must answer "revoked", not an error that invites a retry (which would then be
    refused as already revoked). Returns whether the publication went through.
    """
    try:
        publish_revocation_status(services, slug)
    except Exception:  # logged; the worker's next run publishes
        log.exception("publication after revocation failed for %s; left to the worker", slug)
        return False
    return True
