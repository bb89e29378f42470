"""RÉVOQUER: revocation is final; CRLs and OCSP reflect it within a minute (worker)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.ports import Services

# RFC 5280 reasons a certificate of ours may be revoked for (no hold, no removeFromCRL).
REASONS: dict[str, x509.ReasonFlags] = {
    flag.value: flag
    for flag in (
        x509.ReasonFlags.unspecified,
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.privilege_withdrawn,
    )
}
_ALIASES = {
    "key_compromise": "keyCompromise",
    "affiliation_changed": "affiliationChanged",
    "cessation_of_operation": "cessationOfOperation",
    "privilege_withdrawn": "privilegeWithdrawn",
}


def parse_reason(value: str) -> x509.ReasonFlags:
    name = value.strip()
    name = _ALIASES.get(name.lower().replace("-", "_"), name)
    for key, flag in REASONS.items():
        if key.lower() == name.lower():
            return flag
    raise SceauError(
        "revocation_reason",
        f"motif de révocation {value!r} inconnu; motifs acceptés: {', '.join(REASONS)}",
    )


@dataclass(frozen=True)
class RevokeCommand:
    serial: str
    reason: x509.ReasonFlags
    actor: str = "operator"
    source: str | None = None


def normalise_serial(serial: str) -> str:
    cleaned = serial.strip().lower().replace(":", "").removeprefix("0x")
    if not cleaned or len(cleaned) > 40 or any(c not in "0123456789abcdef" for c in cleaned):
        raise SceauError(
            "serial_invalid", f"numéro de série {serial!r} invalide (hexadécimal attendu)"
        )
    return cleaned.rjust(32, "0")


def revoke_certificate(services: Services, command: RevokeCommand) -> str:
    """Mark the certificate revoked; returns the authority slug whose status must be republished."""
    serial = normalise_serial(command.serial)
    now = services.clock.now()
    with services.unit_of_work() as uow:
        certificate = uow.certificates.by_serial(serial, for_update=True)
        if certificate is None or certificate.status != "issued":
            uow.audit.record(
                at=now,
                actor=command.actor,
                action="certificate.revoke",
                outcome="refused",
                target=serial,
                details={"why": "not_found"},
                source=command.source,
            )
            uow.commit()
            raise SceauError(
                "certificate_not_found",
                f"aucun certificat émis de numéro {serial}",
                ErrorKind.NOT_FOUND,
            )
        if certificate.revoked_at is not None:
            raise SceauError(
                "already_revoked",
                f"le certificat {serial} est déjà révoqué depuis le "
                f"{certificate.revoked_at:%d/%m/%Y %H:%M} UTC "
                "(la révocation est définitive)",
                ErrorKind.CONFLICT,
            )
        if certificate.not_after <= now:
            raise SceauError(
                "certificate_expired", f"le certificat {serial} a expiré", ErrorKind.CONFLICT
            )
        certificate.revoked_at = now
        certificate.revocation_reason = command.reason.value
        uow.audit.record(
            at=now,
            actor=command.actor,
            action="certificate.revoke",
            outcome="success",
            target=serial,
            details={"reason": command.reason.value},
            source=command.source,
        )
        slug = certificate.authority.slug
        uow.commit()
    return str(slug)
