"""RÉVOQUER: by the administrator (logged in, or holding the revocation code), by the
structure's legal representative, or by the operator. Final; RFC 5280 reason.

The revocation itself is ``revoke_certificate``'s; this adds who may ask, the revocation
code path with its brute-force guard, the product's state and the notification. Adapters
then call ``publish_revocation_status`` so that CRL and OCSP reflect it within a minute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor
from sceau.registration.orders import notices
from sceau.registration.orders.access import load_certificate
from sceau.registration.orders.revocation_codes import (
    KIND_REVOCATION_CODE,
    ThrottlePolicy,
    ensure_not_locked,
    record_attempt,
    verify_secret,
)
from sceau.registration.orders.states import ProductState, can_transition
from sceau.registration.ports import Services
from sceau.registration.use_cases.registry_common import as_actor, open_uow
from sceau.registration.use_cases.revoke_certificate import (
    RevokeCommand,
    normalise_serial,
    parse_reason,
    revoke_certificate,
)

CODE_HOLDER = "revocation-code"


@dataclass(frozen=True)
class RevokeProductCommand:
    serial: str
    reason: x509.ReasonFlags | str = x509.ReasonFlags.unspecified
    actor: Actor | str = "operator"
    source: str | None = None


@dataclass(frozen=True)
class RevocationOutcome:
    serial: str
    reason: str
    authority_slug: str  # whose CRL/OCSP the adapter republishes
    revoked_at: dt.datetime


def _reason(value: x509.ReasonFlags | str) -> x509.ReasonFlags:
    return value if isinstance(value, x509.ReasonFlags) else parse_reason(value)


def _refuse_if_final(certificate: Any, now: dt.datetime) -> None:
    if certificate.revoked_at is not None:
        raise SceauError(
            "already_revoked",
            f"le certificat {certificate.serial} est déjà révoqué depuis le "
            f"{certificate.revoked_at:%d/%m/%Y %H:%M} UTC (la révocation est définitive)",
            ErrorKind.CONFLICT,
        )
    if certificate.not_after <= now:
        raise SceauError(
            "certificate_expired",
            f"le certificat {certificate.serial} a expiré: il n'y a plus rien à révoquer",
            ErrorKind.CONFLICT,
        )


def _after_revocation(
    services: Services, serial: str, reason: x509.ReasonFlags, actor_label: str, slug: str
) -> RevocationOutcome:
    """Bring the product to ``revoked``, destroy a waiting PKCS#12, notify."""
    now = services.clock.now()
    with open_uow(services) as uow:
        certificate = uow.certificates.by_serial(serial)
        product = uow.orders.product_by_certificate(certificate.id, for_update=True)
        if product is not None:
            if can_transition(ProductState(product.state), ProductState.REVOKED):
                product.state = ProductState.REVOKED.value
                product.state_changed_at = now
            uow.orders.wipe_pkcs12(product)
            order = uow.orders.order_by_id(product.order_id)
            notices.record_product_event(
                uow,
                services,
                notices.CERTIFICATE_REVOKED,
                at=now,
                order=order,
                product=product,
                structure=uow.structures.by_id(product.structure_id),
                certificate=certificate,
                actor_label=actor_label,
                extra={"reason": reason.value},
            )
        uow.commit()
        return RevocationOutcome(serial, reason.value, slug, certificate.revoked_at)


def revoke_product(services: Services, command: RevokeProductCommand) -> RevocationOutcome:
    """Revoke as a logged-in actor: operator, habilitated administrator, legal representative."""
    actor = as_actor(command.actor)
    reason = _reason(command.reason)
    now = services.clock.now()
    with open_uow(services) as uow:
        certificate, _, fresh = load_certificate(
            uow, actor, Action.CERTIFICATE_REVOKE, command.serial, at=now
        )
        _refuse_if_final(certificate, now)
        serial = certificate.serial
    slug = revoke_certificate(
        services,
        RevokeCommand(serial=serial, reason=reason, actor=fresh.label, source=command.source),
    )
    return _after_revocation(services, serial, reason, fresh.label, slug)


def revoke_with_code(
    services: Services,
    serial: str,
    code: str,
    reason: x509.ReasonFlags | str = x509.ReasonFlags.unspecified,
    *,
    source: str | None = None,
    policy: ThrottlePolicy | None = None,
) -> RevocationOutcome:
    """Revoke without logging in, with the code chosen at retrieval.

    A wrong code (or an unknown serial: the answer is the same) is refused, audited and
    counted; too many within the window lock the certificate, and the source, for a while.
    """
    flag = _reason(reason)
    normalised = normalise_serial(serial)
    now = services.clock.now()
    limits = policy or ThrottlePolicy()
    with open_uow(services) as uow:
        certificate = uow.certificates.by_serial(normalised)
        product = (
            uow.orders.product_by_certificate(certificate.id) if certificate is not None else None
        )
        certificate_id = certificate.id if certificate is not None else None
        ensure_not_locked(
            uow,
            kind=KIND_REVOCATION_CODE,
            certificate_id=certificate_id,
            source=source,
            now=now,
            actor=CODE_HOLDER,
            target=normalised,
            policy=limits,
        )
        stored = product.revocation_code_hash if product is not None else None
        right = verify_secret(stored, code)
        record_attempt(
            uow,
            kind=KIND_REVOCATION_CODE,
            success=right,
            certificate_id=certificate_id,
            source=source,
            now=now,
            actor=CODE_HOLDER,
            target=normalised,
        )
        uow.commit()
        if not right:
            raise SceauError(
                "revocation_code_wrong",
                "code de révocation incorrect, ou certificat inconnu ou pas encore retiré; "
                "l'essai est journalisé et les essais répétés sont bloqués",
                ErrorKind.FORBIDDEN,
            )
        assert certificate is not None
        _refuse_if_final(certificate, now)
    slug = revoke_certificate(
        services,
        RevokeCommand(serial=normalised, reason=flag, actor=CODE_HOLDER, source=source),
    )
    return _after_revocation(services, normalised, flag, CODE_HOLDER, slug)
