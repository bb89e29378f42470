"""``Idempotency-Key``: a retried order request returns the first order instead of a new one.

The key is claimed (committed) before the order is placed, keyed by (actor, key), together
with a hash of the request body. A replay with the same body gets the order back (200,
``Idempotent-Replayed: true``); with another body, a 422; while the first request is still
running, a 409 the client retries. A claim whose request died is taken over after
``idempotency_stale_seconds``: the order placed by that request, if any, carries the claim's
reference (written in the order's own transaction), so the takeover returns it instead of
placing a second one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.orders.views import OrderView
from sceau.registration.use_cases.track_certificates import show_order

_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def request_hash(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def run_once(
    services: Any,
    actor: Any,
    key: str | None,
    payload: Any,
    place: Callable[[str | None], OrderView],
    *,
    stale_after: dt.timedelta,
) -> tuple[OrderView, bool]:
    """(order, replayed): place the order once per (actor, key)."""
    if key is None:
        return place(None), False
    if not _KEY.match(key):
        raise SceauError(
            "idempotency_key_invalid", "Idempotency-Key: 1 à 128 caractères ASCII visibles"
        )
    principal = actor.label
    digest = request_hash(payload)
    reference = hashlib.sha256(f"{principal}\x00{key}".encode()).hexdigest()
    now = services.clock.now()
    with services.unit_of_work() as uow:
        if not uow.idempotency.claim(principal, key, digest, now):
            existing = uow.idempotency.get(principal, key)
            if existing is None:  # released in between: let the client try again
                raise _in_progress()
            if existing.request_hash != digest:
                raise SceauError(
                    "idempotency_key_reused",
                    "Idempotency-Key déjà utilisée pour une autre demande",
                )
            if existing.order_id is not None:
                order_id = existing.order_id
                uow.commit()
                return show_order(services, order_id, actor), True
            if now - existing.created_at < stale_after:
                raise _in_progress()
            uow.idempotency.restart(principal, key, now)
        # A request that died (or failed) after placing its order left the reference on it.
        placed = uow.orders.order_by_idempotency_ref(reference)
        if placed is not None:
            uow.idempotency.complete(principal, key, placed.id)
            uow.commit()
            return show_order(services, placed.id, actor), True
        uow.commit()
    try:
        view = place(reference)
    except BaseException:
        with services.unit_of_work() as uow:
            uow.idempotency.release(principal, key)
            uow.commit()
        raise
    with services.unit_of_work() as uow:
        uow.idempotency.complete(principal, key, view.id)
        uow.commit()
    return view, False


def _in_progress() -> SceauError:
    return SceauError(
        "idempotency_in_progress",
        "une demande avec cette Idempotency-Key est en cours: réessayer dans un instant",
        ErrorKind.CONFLICT,
    )
