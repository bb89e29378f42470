"""Renewal: same subject and profile, a new key, old and new linked (domain §11, §14).

Offered only while the certificate is valid (a configurable grace after notAfter may allow
it from the validated order data). The old public key, or any key already certified, is
refused. The old certificate stays valid until the new one is retrieved; once the
administrator confirms the new one is installed, the old one is revoked as superseded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from sceau.pki.csr import validate_csr
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.profiles import Usage
from sceau.registration.authorization import Action, Actor
from sceau.registration.orders.access import load_certificate
from sceau.registration.orders.bundles import Bundle, ProductSpec
from sceau.registration.orders.states import ProductState, effective_state
from sceau.registration.orders.views import OrderView, ProductView
from sceau.registration.ports import Services
from sceau.registration.use_cases.registry_common import as_actor, load_structure, open_uow
from sceau.registration.use_cases.request_certificates import Renewal, place_order
from sceau.registration.use_cases.revoke_product import (
    RevocationOutcome,
    RevokeProductCommand,
    revoke_product,
)

_PENDING_OR_DONE = (ProductState.REQUESTED, ProductState.ISSUED, ProductState.RETRIEVED)


@dataclass(frozen=True)
class RenewalPolicy:
    grace_after_expiry: dt.timedelta = dt.timedelta(0)

    @classmethod
    def of(cls, services: Any) -> RenewalPolicy:
        days = getattr(getattr(services, "settings", None), "renewal_grace_days", 0) or 0
        return cls(dt.timedelta(days=int(days)))


@dataclass(frozen=True)
class RenewCommand:
    serial: str
    actor_email: str
    actor: Actor | str = "operator"
    cc_email: str | None = None
    csr: bytes | None = None
    generate_online: bool = False
    pkcs12_password: str | None = None
    idempotency_ref: str | None = None  # stored with the order (API Idempotency-Key)


def _check_renewable(uow: Any, certificate: Any, now: dt.datetime, policy: RenewalPolicy) -> None:
    if certificate.revoked_at is not None:
        raise SceauError(
            "renewal_revoked",
            f"renouvellement impossible: le certificat {certificate.serial} est révoqué; "
            "une nouvelle demande est nécessaire",
            ErrorKind.CONFLICT,
        )
    if certificate.not_after <= now - policy.grace_after_expiry:
        grace = policy.grace_after_expiry.days
        allowed = f" (ni dans les {grace} jours qui suivent)" if grace else ""
        raise SceauError(
            "renewal_expired",
            f"renouvellement impossible: le certificat {certificate.serial} a expiré le "
            f"{certificate.not_after:%d/%m/%Y}; le renouvellement n'est possible que pendant "
            f"la validité{allowed}: une nouvelle demande est nécessaire",
            ErrorKind.CONFLICT,
        )
    for renewal in uow.orders.renewals_of(certificate.id):
        new = uow.certificates.by_id(renewal.certificate_id) if renewal.certificate_id else None
        state = effective_state(
            renewal.state,
            not_after=new.not_after if new else None,
            revoked_at=new.revoked_at if new else None,
            now=now,
        )
        if state in _PENDING_OR_DONE:
            raise SceauError(
                "renewal_exists",
                f"le certificat {certificate.serial} est déjà renouvelé (demande "
                f"{renewal.order_id}, état « {state.label} »)",
                ErrorKind.CONFLICT,
            )


def renew_certificate(
    services: Services, command: RenewCommand, policy: RenewalPolicy | None = None
) -> OrderView:
    """Order the renewal of ``serial`` with a new key; the new certificate is issued at once."""
    actor = as_actor(command.actor)
    rules = policy or RenewalPolicy.of(services)
    now = services.clock.now()
    with open_uow(services) as uow:
        certificate, product, fresh = load_certificate(
            uow, actor, Action.CERTIFICATE_RENEW, command.serial, at=now
        )
        _check_renewable(uow, certificate, now, rules)
        usage = Usage(certificate.usage)
        cn = certificate.common_name
        dns = tuple(n for n in (certificate.dns_names or ()) if n != cn)
        structure = uow.structures.by_id(certificate.structure_id)
        old_fingerprint = certificate.key_fingerprint
        renewal = Renewal(certificate.id, certificate.serial)
        bundle_name = None
        if product is not None:
            order = uow.orders.order_by_id(product.order_id)
            bundle_name = order.bundle
    if command.csr is not None and validate_csr(command.csr).key_fingerprint == old_fingerprint:
        _refuse_old_key(services, fresh, renewal.serial, now)
    return place_order(
        services,
        fresh,
        structure=structure.idnst,
        offer=usage.offer,
        bundle=Bundle(bundle_name) if bundle_name else None,
        specs=(ProductSpec(usage, insi=bool(certificate.insi)),),
        service_applicatif=cn,
        dns_names=dns,
        actor_email=command.actor_email,
        cc_email=command.cc_email,
        csrs=(command.csr,) if command.csr is not None else (),
        generate_online=command.generate_online,
        pkcs12_password=command.pkcs12_password,
        renewal=renewal,
        refuse_known_keys=True,
        idempotency_ref=command.idempotency_ref,
    )


def _refuse_old_key(services: Services, actor: Actor, serial: str, now: dt.datetime) -> None:
    with open_uow(services) as uow:
        uow.audit.record(
            at=now,
            actor=actor.label,
            action="certificate.renew",
            outcome="refused",
            target=serial,
            details={"why": "old key reused"},
        )
        uow.commit()
    raise SceauError(
        "renewal_same_key",
        "renouvellement refusé: la CSR porte la clé publique du certificat à renouveler; "
        "générez une nouvelle clé",
    )


def confirm_installation(
    services: Services, new_serial: str, actor: Actor | str = "operator"
) -> RevocationOutcome | None:
    """The administrator confirms the renewed certificate is installed: the old one is
    revoked as superseded (if still valid). Only once the new one has been retrieved."""
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        certificate, product, fresh = load_certificate(
            uow, who, Action.CERTIFICATE_RENEW, new_serial, at=now, for_update=True
        )
        if product is None or product.renewal_of_id is None:
            raise SceauError(
                "not_a_renewal",
                f"le certificat {certificate.serial} ne renouvelle aucun certificat",
                ErrorKind.CONFLICT,
            )
        state = effective_state(
            product.state,
            not_after=certificate.not_after,
            revoked_at=certificate.revoked_at,
            now=now,
        )
        if state is not ProductState.RETRIEVED:
            raise SceauError(
                "renewal_not_retrieved",
                f"le nouveau certificat est « {state.label} »: l'ancien reste valide tant que "
                "le nouveau n'a pas été retiré et installé",
                ErrorKind.CONFLICT,
            )
        old = uow.certificates.by_id(product.renewal_of_id)
        product.installation_confirmed_at = now
        uow.audit.record(
            at=now,
            actor=fresh.label,
            action="certificate.installation_confirmed",
            outcome="success",
            target=certificate.serial,
            details={"replaces": old.serial},
        )
        uow.commit()
        old_serial, old_live = old.serial, old.revoked_at is None and old.not_after > now
    if not old_live:
        return None
    return revoke_product(
        services,
        RevokeProductCommand(old_serial, x509.ReasonFlags.superseded, actor=fresh),
    )


def renewable_certificates(
    services: Services, structure: str, actor: Actor | str = "operator"
) -> list[ProductView]:
    """The structure's products that may be renewed now (valid, not revoked)."""
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        row, _ = load_structure(uow, who, Action.CERTIFICATE_RENEW, structure, at=now)
        rows = list(uow.orders.search(now=now, structure_id=row.id, state="retrieved", limit=500))
        rows += uow.orders.search(now=now, structure_id=row.id, state="issued", limit=500)
        return [ProductView.of(p, c, s, now) for p, c, s, _ in rows]
