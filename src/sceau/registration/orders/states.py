"""The life of an ordered product (one certificate), in one place.

``requested`` → ``issued`` (awaiting retrieval) → ``retrieved`` → ``expired`` | ``revoked``;
a request may end ``rejected`` (issuance refused) or ``cancelled`` (withdrawn before
retrieval). ``expired`` is also *derived* at read time from notAfter, and ``revoked`` from the
certificate's revocation, so a stale stored state never hides either. An invalid transition
raises ``CONFLICT``; nothing is silently ignored.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sceau.pki.errors import ErrorKind, SceauError


class ProductState(StrEnum):
    REQUESTED = "requested"
    ISSUED = "issued"  # signed, awaiting retrieval (RETIRER)
    RETRIEVED = "retrieved"  # accepted and downloaded by the administrator
    EXPIRED = "expired"
    REVOKED = "revoked"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]

    @classmethod
    def parse(cls, value: str) -> ProductState:
        cleaned = value.strip().lower()
        for state in cls:
            if cleaned in (state.value, LABELS[state].lower()):
                return state
        raise SceauError(
            "unknown_state",
            f"état {value!r} inconnu; états possibles: {', '.join(s.value for s in cls)}",
        )


LABELS: dict[ProductState, str] = {
    ProductState.REQUESTED: "demandé",
    ProductState.ISSUED: "en attente de retrait",
    ProductState.RETRIEVED: "retiré",
    ProductState.EXPIRED: "expiré",
    ProductState.REVOKED: "révoqué",
    ProductState.REJECTED: "refusé",
    ProductState.CANCELLED: "annulé",
}

TRANSITIONS: dict[ProductState, frozenset[ProductState]] = {
    ProductState.REQUESTED: frozenset(
        {ProductState.ISSUED, ProductState.REJECTED, ProductState.CANCELLED}
    ),
    # A certificate awaiting retrieval may be retrieved, cancelled (its certificate is then
    # revoked), revoked, or reach its notAfter without ever being retrieved.
    ProductState.ISSUED: frozenset(
        {
            ProductState.RETRIEVED,
            ProductState.CANCELLED,
            ProductState.REVOKED,
            ProductState.EXPIRED,
        }
    ),
    ProductState.RETRIEVED: frozenset({ProductState.REVOKED, ProductState.EXPIRED}),
    ProductState.EXPIRED: frozenset(),  # revoking an expired certificate publishes nothing
    ProductState.REVOKED: frozenset(),  # revocation is final (domain §14)
    ProductState.REJECTED: frozenset(),
    ProductState.CANCELLED: frozenset(),
}

_WHY: dict[ProductState, str] = {
    ProductState.REQUESTED: "la demande n'a pas encore été traitée",
    ProductState.ISSUED: "le certificat n'a pas encore été retiré",
    ProductState.RETRIEVED: "le certificat a déjà été retiré",
    ProductState.EXPIRED: "le certificat a expiré; une nouvelle demande est nécessaire",
    ProductState.REVOKED: "le certificat est révoqué, ce qui est définitif",
    ProductState.REJECTED: "la demande a été refusée",
    ProductState.CANCELLED: "la demande a été annulée",
}


def can_transition(current: ProductState, target: ProductState) -> bool:
    return target in TRANSITIONS[current]


def transition(current: ProductState | str, target: ProductState | str) -> ProductState:
    """``target`` if the move from ``current`` is allowed; otherwise a CONFLICT saying why."""
    source, destination = ProductState(current), ProductState(target)
    if destination in TRANSITIONS[source]:
        return destination
    allowed = ", ".join(sorted(s.label for s in TRANSITIONS[source])) or "aucun (état final)"
    raise SceauError(
        "invalid_transition",
        f"passage de « {source.label} » à « {destination.label} » impossible: {_WHY[source]} "
        f"(états suivants possibles: {allowed})",
        ErrorKind.CONFLICT,
    )


def effective_state(
    stored: ProductState | str,
    *,
    not_after: dt.datetime | None,
    revoked_at: dt.datetime | None,
    now: dt.datetime,
) -> ProductState:
    """The state to show: revocation and expiry win over a stored state not yet updated."""
    state = ProductState(stored)
    if revoked_at is not None and state in (
        ProductState.ISSUED,
        ProductState.RETRIEVED,
        ProductState.REVOKED,
        ProductState.CANCELLED,
    ):
        # A cancelled product's certificate is revoked too; it stays shown as cancelled.
        return ProductState.CANCELLED if state is ProductState.CANCELLED else ProductState.REVOKED
    if (
        not_after is not None
        and not_after <= now
        and state in (ProductState.ISSUED, ProductState.RETRIEVED, ProductState.EXPIRED)
    ):
        return ProductState.EXPIRED
    return state
