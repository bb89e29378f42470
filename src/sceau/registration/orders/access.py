"""Finding a certificate or an order *for an actor*: authorised, audited, existence hidden.

Someone who is not the operator gets the same refusal for a serial or order that does not
exist as for one of a structure they hold no right on, so that no path reveals what exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor, authorize, refresh
from sceau.registration.use_cases.revoke_certificate import normalise_serial

NO_STRUCTURE = -1  # only the operator may act on what belongs to no structure


def _hidden(uow: Any, actor: Actor, action: Action, target: str, at: dt.datetime) -> None:
    fresh = refresh(uow, actor)
    if not fresh.is_operator:
        authorize(uow, fresh, action, NO_STRUCTURE, at=at, target=target)


def load_certificate(
    uow: Any,
    actor: Actor,
    action: Action,
    serial: str,
    *,
    at: dt.datetime,
    for_update: bool = False,
) -> tuple[Any, Any | None, Actor]:
    """(certificate, its order product or None, refreshed actor) if ``actor`` may ``action``."""
    normalised = normalise_serial(serial)
    certificate = uow.certificates.by_serial(normalised, for_update=for_update)
    if certificate is None or certificate.status != "issued":
        _hidden(uow, actor, action, normalised, at)
        raise SceauError(
            "certificate_not_found",
            f"aucun certificat émis de numéro {normalised}",
            ErrorKind.NOT_FOUND,
        )
    structure_id = certificate.structure_id if certificate.structure_id is not None else None
    fresh = authorize(
        uow,
        actor,
        action,
        structure_id if structure_id is not None else NO_STRUCTURE,
        at=at,
        target=normalised,
    )
    product = uow.orders.product_by_certificate(certificate.id, for_update=for_update)
    return certificate, product, fresh


def load_order(uow: Any, actor: Actor, action: Action, order_id: int, *, at: dt.datetime) -> Any:
    order = uow.orders.order_by_id(order_id)
    if order is None:
        _hidden(uow, actor, action, f"order:{order_id}", at)
        raise SceauError(
            "order_not_found", f"aucune demande numéro {order_id}", ErrorKind.NOT_FOUND
        )
    authorize(uow, actor, action, order.structure_id, at=at, target=f"order:{order_id}")
    return order
