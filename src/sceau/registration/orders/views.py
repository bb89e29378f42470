"""What the adapters show of orders and products (plain frozen values, no rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sceau.registration.orders.states import ProductState, effective_state


@dataclass(frozen=True)
class ProductView:
    id: int
    order_id: int
    structure_idnst: str
    raison_sociale: str
    usage: str
    service_applicatif: str
    insi: bool
    dns_names: tuple[str, ...]
    key_source: str  # csr | online
    state: ProductState  # effective state (expiry and revocation derived)
    serial: str | None
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    requested_at: dt.datetime
    issued_at: dt.datetime | None
    retrieved_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    renewal_of_id: int | None
    installation_confirmed_at: dt.datetime | None
    rejection_reason: str | None
    cgu_version: str | None
    pc_version: str | None
    awaiting_pkcs12: bool  # an online-generated key waits, protected, for its retrieval

    @property
    def state_label(self) -> str:
        return self.state.label

    @classmethod
    def of(
        cls, product: Any, certificate: Any | None, structure: Any, now: dt.datetime
    ) -> ProductView:
        return cls(
            id=product.id,
            order_id=product.order_id,
            structure_idnst=structure.idnst,
            raison_sociale=structure.raison_sociale,
            usage=product.usage,
            service_applicatif=product.service_applicatif,
            insi=bool(product.insi),
            dns_names=tuple(product.dns_names or ()),
            key_source=product.key_source,
            state=effective_state(
                product.state,
                not_after=certificate.not_after if certificate is not None else None,
                revoked_at=certificate.revoked_at if certificate is not None else None,
                now=now,
            ),
            serial=certificate.serial if certificate is not None else None,
            not_before=certificate.not_before if certificate is not None else None,
            not_after=certificate.not_after if certificate is not None else None,
            requested_at=product.requested_at,
            issued_at=product.issued_at,
            retrieved_at=product.retrieved_at,
            revoked_at=certificate.revoked_at if certificate is not None else None,
            revocation_reason=certificate.revocation_reason if certificate is not None else None,
            renewal_of_id=product.renewal_of_id,
            installation_confirmed_at=product.installation_confirmed_at,
            rejection_reason=product.rejection_reason,
            cgu_version=product.cgu_version,
            pc_version=product.pc_version,
            awaiting_pkcs12=product.pkcs12_blob is not None,
        )


@dataclass(frozen=True)
class OrderView:
    id: int
    structure_idnst: str
    raison_sociale: str
    offer: str
    bundle: str | None
    kind: str  # new | renewal
    actor_email: str
    cc_email: str | None
    requested_by: str
    created_at: dt.datetime
    products: tuple[ProductView, ...]


def order_view(uow: Any, order: Any, now: dt.datetime) -> OrderView:
    structure = uow.structures.by_id(order.structure_id)
    products = tuple(
        ProductView.of(
            product,
            uow.certificates.by_id(product.certificate_id) if product.certificate_id else None,
            structure,
            now,
        )
        for product in uow.orders.products_of(order.id)
    )
    return OrderView(
        id=order.id,
        structure_idnst=structure.idnst,
        raison_sociale=structure.raison_sociale,
        offer=order.offer,
        bundle=order.bundle,
        kind=order.kind,
        actor_email=order.actor_email,
        cc_email=order.cc_email,
        requested_by=order.requested_by,
        created_at=order.created_at,
        products=products,
    )
