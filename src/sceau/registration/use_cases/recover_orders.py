"""Finish or cleanly abandon order products left ``requested`` by a process that died.

Runs after ``resume_pending_issuance`` (which signs recorded certificate intents), from the
worker, ``sceau cert recover`` and ``sceau init``:

- the product's certificate exists (issued from its key, for its structure, usage and CN, and
  linked to no other product): the product becomes ``issued`` and the "certificate available"
  mail is queued — unless the key was generated online: that private key lived only in the
  dead process, so the certificate is revoked (cessationOfOperation) and the product rejected;
- the certificate intent is still being signed (``prepared``): left for the next run;
- nothing was recorded: the product is rejected with the reason, a new request is needed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509

from sceau.registration.orders import notices
from sceau.registration.orders.states import ProductState, transition
from sceau.registration.ports import Services

ACTOR = "system:recovery"
LOST_KEY = (
    "demande interrompue: la clé générée en ligne n'a pas pu être conservée; le certificat a "
    "été révoqué, une nouvelle demande est nécessaire"
)
NOTHING_RECORDED = "demande interrompue avant l'émission du certificat: refaire la demande"


def _certificate_of(uow: Any, product: Any) -> Any | None:
    for certificate in uow.certificates.by_key_fingerprint(product.key_fingerprint):
        if (
            certificate.structure_id == product.structure_id
            and certificate.usage == product.usage
            and certificate.common_name == product.service_applicatif
            and certificate.status in ("issued", "prepared")
            and uow.orders.product_by_certificate(certificate.id) is None
        ):
            return certificate
    return None


def resume_interrupted_orders(
    services: Services, *, older_than: dt.timedelta = dt.timedelta(minutes=2)
) -> list[str]:
    """Returns one line per product settled."""
    lines: list[str] = []
    now = services.clock.now()
    with services.unit_of_work() as uow:
        for product in uow.orders.stale_requested(now - older_than, limit=500):
            certificate = _certificate_of(uow, product)
            if certificate is not None and certificate.status == "prepared":
                continue  # resume_pending_issuance signs it first
            order = uow.orders.order_by_id(product.order_id)
            structure = uow.structures.by_id(product.structure_id)
            if certificate is not None and product.key_source == "csr":
                product.state = transition(product.state, ProductState.ISSUED).value
                product.certificate_id = certificate.id
                product.issued_at = now
                product.state_changed_at = now
                notices.record_product_event(
                    uow,
                    services,
                    notices.CERTIFICATE_AVAILABLE,
                    at=now,
                    order=order,
                    product=product,
                    structure=structure,
                    certificate=certificate,
                    actor_label=ACTOR,
                )
                outcome, line = (
                    "success",
                    f"produit {product.id}: certificat {certificate.serial} rattaché",
                )
            else:
                if certificate is not None:  # online key lost with the process
                    certificate.revoked_at = now
                    certificate.revocation_reason = x509.ReasonFlags.cessation_of_operation.value
                    product.certificate_id = certificate.id
                reason = LOST_KEY if certificate is not None else NOTHING_RECORDED
                product.state = transition(product.state, ProductState.REJECTED).value
                product.rejection_reason = reason
                product.state_changed_at = now
                outcome, line = "failed", f"produit {product.id}: abandonné ({reason})"
            uow.audit.record(
                at=now,
                actor=ACTOR,
                action="order.resume",
                outcome=outcome,
                target=f"order:{product.order_id}",
                details={
                    "product": product.id,
                    "certificate": certificate.serial if certificate else None,
                },
            )
            lines.append(line)
        uow.commit()
    return lines
