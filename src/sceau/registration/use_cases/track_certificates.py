"""SUIVRE: requests and products of one structure, or of all an administrator's structures.

Search by structure name, FINESS/IDNST, CN or serial; filter by state or "expires within
N days"; dashboard counts. Pages are keyset-paginated (newest first, ``before_id``) on
indexes, so a page costs the same with 100,000 certificates as with ten.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor, authorize, visible_structure_ids
from sceau.registration.orders.access import load_certificate, load_order
from sceau.registration.orders.states import ProductState
from sceau.registration.orders.views import OrderView, ProductView, order_view
from sceau.registration.ports import Services
from sceau.registration.text import search_text
from sceau.registration.use_cases.registry_common import as_actor, load_structure, open_uow

MAX_PAGE = 200
EXPIRY_HORIZONS = (30, 60, 90)


@dataclass(frozen=True)
class TrackQuery:
    structure: str | None = None  # one structure (IDNST/FINESS), else all visible ones
    text: str | None = None  # structure name, FINESS/IDNST, CN or serial
    state: ProductState | str | None = None
    expires_within_days: int | None = None  # 30, 60, 90…
    before_id: int | None = None  # keyset: the last product id of the previous page
    limit: int = 50


@dataclass(frozen=True)
class TrackPage:
    items: tuple[ProductView, ...]
    next_before_id: int | None  # None: this was the last page


@dataclass(frozen=True)
class Dashboard:
    by_state: dict[str, int]
    expiring: dict[int, int]  # horizon in days → valid certificates expiring by then
    total: int = field(default=0)


def _scope(
    uow: object, actor: Actor, structure: str | None, now: dt.datetime
) -> tuple[frozenset[int] | None, int | None]:
    """(visible structure ids or None for all, the one structure asked for or None)."""
    if structure:
        row, _ = load_structure(uow, actor, Action.CERTIFICATE_LIST, structure, at=now)
        return None, int(row.id)
    authorize(uow, actor, Action.CERTIFICATE_LIST, None, at=now)
    return visible_structure_ids(uow, actor), None


def track_products(
    services: Services, query: TrackQuery, actor: Actor | str = "operator"
) -> TrackPage:
    who = as_actor(actor)
    now = services.clock.now()
    if not 1 <= query.limit <= MAX_PAGE:
        raise SceauError("page_size", f"taille de page entre 1 et {MAX_PAGE}")
    state = ProductState.parse(query.state) if isinstance(query.state, str) else query.state
    expires_before = None
    if query.expires_within_days is not None:
        if not 1 <= query.expires_within_days <= 3 * 366:
            raise SceauError("expiry_horizon", "échéance: un nombre de jours entre 1 et 1098")
        expires_before = now + dt.timedelta(days=query.expires_within_days)
    with open_uow(services) as uow:
        visible, structure_id = _scope(uow, who, query.structure, now)
        rows = uow.orders.search(
            now=now,
            structure_ids=visible,
            structure_id=structure_id,
            text=search_text(query.text),
            state=state.value if state else None,
            expires_before=expires_before,
            before_id=query.before_id,
            limit=query.limit + 1,
        )
        items = tuple(ProductView.of(p, c, s, now) for p, c, s, _ in rows[: query.limit])
    more = len(rows) > query.limit
    return TrackPage(items, items[-1].id if more and items else None)


def dashboard(
    services: Services, actor: Actor | str = "operator", structure: str | None = None
) -> Dashboard:
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        visible, structure_id = _scope(uow, who, structure, now)
        by_state = uow.orders.count_by_state(
            now=now, structure_ids=visible, structure_id=structure_id
        )
        expiring = {
            days: uow.orders.count_expiring(
                now=now,
                before=now + dt.timedelta(days=days),
                structure_ids=visible,
                structure_id=structure_id,
            )
            for days in EXPIRY_HORIZONS
        }
    return Dashboard(by_state, expiring, sum(by_state.values()))


def show_order(services: Services, order_id: int, actor: Actor | str = "operator") -> OrderView:
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        order = load_order(uow, who, Action.CERTIFICATE_READ, order_id, at=now)
        return order_view(uow, order, now)


def show_product(services: Services, serial: str, actor: Actor | str = "operator") -> ProductView:
    """The product of an ordered certificate, as the actor may see it."""
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        certificate, product, _ = load_certificate(
            uow, who, Action.CERTIFICATE_READ, serial, at=now
        )
        if product is None:
            raise SceauError(
                "not_ordered",
                f"le certificat {certificate.serial} n'a pas été commandé sur la plateforme",
                ErrorKind.NOT_FOUND,
            )
        return ProductView.of(product, certificate, uow.structures.by_id(product.structure_id), now)
