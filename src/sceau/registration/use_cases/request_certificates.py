"""DEMANDER: an administrator orders one certificate, or a service's set, for a structure.

The order and its products are recorded (``requested``) before any issuance; the products are
then issued together by ``issue_certificates`` (recorded, signed, then marked issued in the
transaction that makes each product ``issued``, awaiting retrieval). With online generation
the platform makes an RSA-2048 key and keeps it only inside a PKCS#12 protected by the
password chosen now; the clear key never reaches the database, and the PKCS#12 itself is
destroyed at retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.csr import public_key_fingerprint, validate_csr
from sceau.pki.errors import ErrorKind, PolicyError, SceauError
from sceau.pki.names import INSI_COMMON_NAMES, validate_dns_name, validate_service_applicatif
from sceau.pki.pkcs12 import ans_legacy_pkcs12
from sceau.pki.profiles import Offer, Usage
from sceau.registration import text as text_rules
from sceau.registration.authorization import Action, Actor
from sceau.registration.orders import notices
from sceau.registration.orders.access import load_order
from sceau.registration.orders.bundles import (
    Bundle,
    ProductSpec,
    check_eligibility,
    offer_of,
    products_for,
)
from sceau.registration.orders.revocation_codes import check_strength
from sceau.registration.orders.states import (
    ProductState,
    can_transition,
    effective_state,
    transition,
)
from sceau.registration.orders.views import OrderView, order_view
from sceau.registration.ports import Services
from sceau.registration.use_cases.issue_certificate import (
    IssueCommand,
    IssuedCertificate,
    check_key_reuse,
    complete_issuance,
    issue_certificates,
    record_issuance,
)
from sceau.registration.use_cases.registry_common import as_actor, load_structure, open_uow

ONLINE_KEY_SIZE = 2048


@dataclass(frozen=True)
class RequestCommand:
    """The request form: offer, structure, usage or bundle, service applicatif, contacts, key."""

    structure: str  # IDNST or FINESS géographique
    service_applicatif: str  # becomes the CN (an FQDN for SERV SSL)
    actor_email: str  # "Email de l'acteur": mandatory, receives the notifications
    actor: Actor | str = "operator"
    offer: Offer | str = Offer.ORG
    usage: Usage | str | None = None
    bundle: Bundle | str | None = None
    insi: bool = False
    dns_names: tuple[str, ...] = ()  # SERV SSL: more names besides the CN
    cc_email: str | None = None  # "email d'une personne à informer": optional copy
    csrs: tuple[bytes, ...] = ()  # one per certificate of the request
    generate_online: bool = False
    pkcs12_password: str | None = None  # online generation: protects the PKCS#12
    idempotency_ref: str | None = None  # stored with the order (API Idempotency-Key)


def validate_email(value: str | None, what: str) -> str:
    return text_rules.validate_email(value, what)


def _fold(value: str) -> str:
    return re.sub(r"[\s_]+", "-", value.strip().upper())


def check_common_name(spec: ProductSpec, value: str, dns_names: tuple[str, ...]) -> ProductSpec:
    """The CN rule of one product; returns the spec, flagged INSi when its CN is an INSi name."""
    if spec.usage is Usage.SERV_SSL:
        name = validate_dns_name(value)
        if name != value:
            raise PolicyError(
                "dns_name_case", "le CN d'un certificat SERV SSL est un FQDN en minuscules"
            )
        for extra in dns_names:
            validate_dns_name(extra)
        return spec
    if dns_names:
        raise PolicyError(
            "dns_names_not_allowed",
            f"les noms DNS ne sont acceptés que pour SERV SSL, pas pour {spec.usage.value}",
        )
    if spec.insi or (value not in INSI_COMMON_NAMES and _fold(value) in INSI_COMMON_NAMES):
        # An INSi certificate, or a look-alike of an INSi name: only the exact names pass.
        validate_service_applicatif(value, insi=True)
        return spec
    validate_service_applicatif(value)
    if value in INSI_COMMON_NAMES and spec.usage is Usage.AUTH_CLI:
        return ProductSpec(spec.usage, insi=True)
    return spec


@dataclass(frozen=True)
class _Key:
    public_key: rsa.RSAPublicKey
    fingerprint: str
    csr: bytes | None = None
    private_key: rsa.RSAPrivateKey | None = None


def _keys(
    count: int, csrs: tuple[bytes, ...], generate_online: bool, password: str | None
) -> list[_Key]:
    if generate_online:
        if csrs:
            raise SceauError(
                "key_source", "fournir soit des CSR, soit la génération en ligne, pas les deux"
            )
        if password is None:
            raise SceauError(
                "pkcs12_password_required",
                "génération en ligne: un mot de passe de protection du PKCS#12 est obligatoire",
            )
        check_strength(password, "mot de passe du PKCS#12")
        keys = []
        for _ in range(count):
            private = rsa.generate_private_key(public_exponent=65537, key_size=ONLINE_KEY_SIZE)
            public = private.public_key()
            keys.append(_Key(public, public_key_fingerprint(public), private_key=private))
        return keys
    if not csrs:
        raise SceauError(
            "key_source",
            "une CSR est nécessaire (ou cocher la génération en ligne de la clé)",
        )
    if len(csrs) != count:
        raise SceauError(
            "csr_count",
            f"cette demande crée {count} certificat(s): fournir {count} CSR, une par certificat "
            f"({len(csrs)} fournie(s))",
        )
    keys = []
    for csr in csrs:
        validated = validate_csr(csr)
        keys.append(_Key(validated.public_key, validated.key_fingerprint, csr=csr))
    if len({k.fingerprint for k in keys}) != len(keys):
        raise SceauError(
            "csr_same_key",
            "chaque certificat doit avoir sa propre clé: deux CSR portent la même clé publique",
        )
    return keys


def environment_of(services: Any) -> str:
    return str(getattr(getattr(services, "settings", None), "environment", "test"))


@dataclass(frozen=True)
class Renewal:
    """The certificate a renewal order replaces."""

    certificate_id: int
    serial: str


def place_order(
    services: Services,
    actor: Actor,
    *,
    structure: str,
    offer: Offer,
    bundle: Bundle | None,
    specs: tuple[ProductSpec, ...],
    service_applicatif: str,
    dns_names: tuple[str, ...],
    actor_email: str,
    cc_email: str | None,
    csrs: tuple[bytes, ...],
    generate_online: bool,
    pkcs12_password: str | None,
    renewal: Renewal | None = None,
    refuse_known_keys: bool = False,
    idempotency_ref: str | None = None,
) -> OrderView:
    """Record the order, then issue each product. Shared by DEMANDER and renewal."""
    email = validate_email(actor_email, "e-mail de l'acteur")
    cc = validate_email(cc_email, "e-mail de la personne à informer") if cc_email else None
    specs = tuple(check_common_name(s, service_applicatif, dns_names) for s in specs)
    keys = _keys(len(specs), csrs, generate_online, pkcs12_password)
    now = services.clock.now()
    with open_uow(services) as uow:
        row, fresh = load_structure(uow, actor, Action.CERTIFICATE_REQUEST, structure, at=now)
        if not row.is_open:
            raise SceauError(
                "structure_closed",
                f"la structure {row.idnst} est fermée: aucune demande de certificat possible",
                ErrorKind.CONFLICT,
            )
        check_eligibility(row, specs)
        for key in keys:
            if refuse_known_keys and uow.certificates.by_key_fingerprint(key.fingerprint):
                raise SceauError(
                    "renewal_key_reused",
                    "renouvellement refusé: cette clé publique est déjà certifiée; un "
                    "renouvellement exige une nouvelle clé",
                )
            check_key_reuse(uow, key.fingerprint, row.id)
        order = uow.orders.create_order(
            structure_id=row.id,
            offer=offer.value,
            bundle=bundle.value if bundle else None,
            kind="renewal" if renewal else "new",
            actor_email=email,
            cc_email=cc,
            requested_by=fresh.label,
            requested_by_person_id=fresh.person_id,
            created_at=now,
            idempotency_ref=idempotency_ref,
        )
        product_ids = []
        for spec, key in zip(specs, keys, strict=True):
            product = uow.orders.create_product(
                order_id=order.id,
                structure_id=row.id,
                usage=spec.usage.value,
                service_applicatif=service_applicatif,
                insi=spec.insi,
                dns_names=list(dns_names) or None,
                key_source="online" if key.private_key is not None else "csr",
                key_fingerprint=key.fingerprint,
                state=ProductState.REQUESTED.value,
                renewal_of_id=renewal.certificate_id if renewal else None,
                requested_at=now,
                state_changed_at=now,
            )
            product_ids.append(product.id)
            notices.record_product_event(
                uow,
                services,
                notices.ORDER_RECEIVED,
                at=now,
                order=order,
                product=product,
                structure=row,
                certificate=None,
                actor_label=fresh.label,
            )
        uow.audit.record(
            at=now,
            actor=fresh.label,
            action="order.create",
            outcome="success",
            target=row.idnst,
            details={
                "order": order.id,
                "bundle": order.bundle,
                "usages": [s.usage.value for s in specs],
                "key_source": "online" if generate_online else "csr",
                "renewal_of": renewal.serial if renewal else None,
            },
        )
        order_id, idnst = order.id, row.idnst
        uow.commit()
    issuing = _Issuing(
        structure=idnst,
        service_applicatif=service_applicatif,
        dns_names=dns_names,
        actor=fresh,
        password=pkcs12_password,
        renewal=renewal,
    )
    commands = [issuing.command(services, spec, key) for spec, key in zip(specs, keys, strict=True)]

    def mark_products(uow: Any, issued: Sequence[IssuedCertificate]) -> None:
        for product_id, key, done in zip(product_ids, keys, issued, strict=True):
            _mark_issued(services, uow, product_id, key, done, issuing)

    try:  # the whole set in one batch: one record, one mark-issued transaction
        batch = record_issuance(services, commands)
    except SceauError:  # nothing recorded: one by one, so that each product gets its outcome
        for product_id, command, key in zip(product_ids, commands, keys, strict=True):
            _issue_product(services, product_id, command, key, issuing)
    else:  # recorded: a failure from here on is resumed, never issued a second time
        complete_issuance(services, batch, on_issued=mark_products)
    with open_uow(services) as uow:
        return order_view(uow, uow.orders.order_by_id(order_id), services.clock.now())


@dataclass(frozen=True)
class _Issuing:
    """What the products of one order share at issuance."""

    structure: str
    service_applicatif: str
    dns_names: tuple[str, ...]
    actor: Actor
    password: str | None
    renewal: Renewal | None

    def command(self, services: Services, spec: ProductSpec, key: _Key) -> IssueCommand:
        return IssueCommand(
            structure=self.structure,
            usage=spec.usage,
            service_applicatif=self.service_applicatif,
            public_key=key.public_key,  # a CSR was validated by ``_keys`` already
            dns_names=self.dns_names,
            insi=spec.insi,
            replaces_serial=self.renewal.serial if self.renewal else None,
            actor=self.actor.label,
            environment=environment_of(services),
        )


def _issue_product(
    services: Services, product_id: int, command: IssueCommand, key: _Key, issuing: _Issuing
) -> None:
    try:
        issue_certificates(
            services,
            [command],
            on_issued=lambda uow, issued: _mark_issued(
                services, uow, product_id, key, issued[0], issuing
            ),
        )
    except SceauError as exc:
        _reject(services, product_id, issuing.actor, exc.message)
        raise


def _mark_issued(
    services: Services,
    uow: Any,
    product_id: int,
    key: _Key,
    issued: IssuedCertificate,
    issuing: _Issuing,
) -> None:
    """The product becomes ``issued`` in the transaction that marks its certificate issued."""
    actor, password, renewal = issuing.actor, issuing.password, issuing.renewal
    now = services.clock.now()
    product = uow.orders.product_by_id(product_id, for_update=True)
    certificate = uow.certificates.by_serial(issued.serial)
    product.state = transition(product.state, ProductState.ISSUED).value
    product.certificate_id = certificate.id
    product.issued_at = now
    product.state_changed_at = now
    if key.private_key is not None:
        assert password is not None
        product.pkcs12_blob = ans_legacy_pkcs12(
            key.private_key, issued.certificate, issued.chain, password.encode()
        )
    order = uow.orders.order_by_id(product.order_id)
    structure_row = uow.structures.by_id(product.structure_id)
    payload = notices.record_product_event(
        uow,
        services,
        notices.CERTIFICATE_AVAILABLE,
        at=now,
        order=order,
        product=product,
        structure=structure_row,
        certificate=certificate,
        actor_label=actor.label,
    )
    if renewal is not None:
        notices.record_order_event(
            uow,
            notices.CERTIFICATE_RENEWED,
            at=now,
            order=order,
            payload={**payload, "replaces_serial": renewal.serial},
        )
    uow.audit.record(
        at=now,
        actor=actor.label,
        action="order.issue",
        outcome="success",
        target=issued.serial,
        details={"order": order.id, "product": product.id, "key_source": product.key_source},
    )


def _reject(services: Services, product_id: int, actor: Actor, reason: str) -> None:
    now = services.clock.now()
    with open_uow(services) as uow:
        product = uow.orders.product_by_id(product_id, for_update=True)
        product.state = transition(product.state, ProductState.REJECTED).value
        product.rejection_reason = reason[:1000]
        product.state_changed_at = now
        uow.audit.record(
            at=now,
            actor=actor.label,
            action="order.reject",
            outcome="failed",
            target=f"order:{product.order_id}",
            details={"product": product_id, "reason": reason[:300]},
        )
        uow.commit()


def request_certificates(services: Services, command: RequestCommand) -> OrderView:
    """DEMANDER a new product (renewals go through ``renew_certificate``)."""
    actor = as_actor(command.actor)
    offer = (
        Offer(command.offer.strip().upper()) if isinstance(command.offer, str) else command.offer
    )
    bundle = Bundle.parse(command.bundle) if isinstance(command.bundle, str) else command.bundle
    usage = Usage.parse(command.usage) if isinstance(command.usage, str) else command.usage
    if bundle is not None and command.offer == Offer.ORG and offer_of(bundle) is Offer.SERV:
        offer = Offer.SERV  # the operator bundle implies the SERV offer
    specs = products_for(offer=offer, bundle=bundle, usage=usage, insi=command.insi)
    return place_order(
        services,
        actor,
        structure=command.structure,
        offer=offer,
        bundle=bundle,
        specs=specs,
        service_applicatif=command.service_applicatif,
        dns_names=tuple(command.dns_names),
        actor_email=command.actor_email,
        cc_email=command.cc_email,
        csrs=tuple(command.csrs),
        generate_online=command.generate_online,
        pkcs12_password=command.pkcs12_password,
        idempotency_ref=command.idempotency_ref,
    )


def cancel_order(
    services: Services, order_id: int, actor: Actor | str = "operator"
) -> tuple[OrderView, list[str]]:
    """Withdraw what is not yet retrieved: a requested product ends ``cancelled``; an issued
    one too, its certificate revoked (cessationOfOperation) and its PKCS#12 destroyed, in one
    transaction. Returns the order and the CA slugs whose revocation status must be
    republished. A retrieved certificate is not cancelled: it is revoked (RÉVOQUER)."""
    who = as_actor(actor)
    now = services.clock.now()
    slugs: list[str] = []
    with open_uow(services) as uow:
        order = load_order(uow, who, Action.CERTIFICATE_REQUEST, order_id, at=now)
        products = uow.orders.products_of(order.id)
        cancellable = []
        for product in products:
            certificate = (
                uow.certificates.by_id(product.certificate_id) if product.certificate_id else None
            )
            state = effective_state(
                product.state,
                not_after=certificate.not_after if certificate else None,
                revoked_at=certificate.revoked_at if certificate else None,
                now=now,
            )
            if can_transition(state, ProductState.CANCELLED):
                cancellable.append((product, certificate, state))
        if not cancellable:
            states = ", ".join(sorted({ProductState(p.state).label for p in products}) or {"vide"})
            raise SceauError(
                "order_not_cancellable",
                f"demande {order.id}: rien à annuler (états: {states}); un certificat retiré "
                "se révoque",
                ErrorKind.CONFLICT,
            )
        for product, certificate, state in cancellable:
            product.state = transition(state, ProductState.CANCELLED).value
            product.state_changed_at = now
            if certificate is not None:
                certificate.revoked_at = now
                certificate.revocation_reason = "cessationOfOperation"
                slugs.append(str(certificate.authority.slug))
                uow.audit.record(
                    at=now,
                    actor=who.label,
                    action="certificate.revoke",
                    outcome="success",
                    target=certificate.serial,
                    details={"reason": "cessationOfOperation", "why": "order cancelled"},
                )
            uow.orders.wipe_pkcs12(product)
        uow.audit.record(
            at=now,
            actor=who.label,
            action="order.cancel",
            outcome="success",
            target=f"order:{order.id}",
            details={"products": [p.id for p, _, _ in cancellable]},
        )
        uow.commit()
        view = order_view(uow, order, now)
    return view, sorted(set(slugs))
