"""Domain events of the order lifecycle, written in the caller's transaction.

``sceau.registration`` may not import ``sceau.notifications`` (import-linter), so this writes
the same ``domain_events`` row as ``sceau.notifications.events.record_event`` would, with the
payload keys its templates read (see that module's docstring).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

ORDER_RECEIVED = "order.received"
CERTIFICATE_AVAILABLE = "certificate.available"
CERTIFICATE_RETRIEVED = "certificate.retrieved"
CERTIFICATE_REVOKED = "certificate.revoked"
CERTIFICATE_RENEWED = "certificate.renewed"


def portal_base(services: Any) -> str:
    """Absolute portal base when the server's public URL is configured, else a relative one."""
    settings = getattr(services, "settings", None)
    public = getattr(settings, "public_url", None)
    return f"{public.rstrip('/')}/portal" if public else "/portal"


def product_payload(
    services: Any,
    *,
    order: Any,
    product: Any,
    structure: Any,
    certificate: Any | None,
    actor_label: str,
) -> dict[str, Any]:
    base = portal_base(services)
    payload: dict[str, Any] = {
        "structure": structure.idnst,
        "raison_sociale": structure.raison_sociale,
        "finess": structure.finess_et,
        "usage": product.usage,
        "service": product.service_applicatif,
        "common_name": product.service_applicatif,
        "order": order.id,
        "product": product.id,
        "actor": actor_label,
        "actor_email": order.actor_email,
        "cc_email": order.cc_email,
        "links": {
            "order": f"{base}/orders/{order.id}",
            "products": f"{base}/certificates?structure={structure.idnst}",
        },
    }
    if certificate is not None:
        payload["serial"] = certificate.serial
        payload["not_after"] = certificate.not_after.isoformat()
        payload["retrieval_url"] = f"{base}/certificates/{certificate.serial}/retrieve"
        payload["links"]["certificate"] = f"{base}/certificates/{certificate.serial}"
    return payload


def record_order_event(
    uow: Any,
    kind: str,
    *,
    at: dt.datetime,
    order: Any,
    payload: dict[str, Any],
    extra_recipients: tuple[str, ...] = (),
) -> None:
    """One event: To the actor's e-mail (plus ``extra_recipients``), CC the optional address."""
    recipients: list[str] = []
    for address in (order.actor_email, *extra_recipients):
        if address and address.lower() not in {r.lower() for r in recipients}:
            recipients.append(address)
    cc = [order.cc_email] if order.cc_email else []
    uow.events.record(
        at=at,
        kind=kind,
        subject=payload.get("serial") or payload.get("structure"),
        recipient=recipients[0] if recipients else None,
        payload={**payload, "recipients": recipients, "cc": cc},
    )


def record_product_event(
    uow: Any,
    services: Any,
    kind: str,
    *,
    at: dt.datetime,
    order: Any,
    product: Any,
    structure: Any,
    certificate: Any | None,
    actor_label: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``record_order_event`` of one product's ``product_payload`` (plus ``extra``); returns
    the payload, for a second event about the same product."""
    payload = product_payload(
        services,
        order=order,
        product=product,
        structure=structure,
        certificate=certificate,
        actor_label=actor_label,
    )
    payload.update(extra or {})
    record_order_event(uow, kind, at=at, order=order, payload=payload)
    return payload
