"""SUIVRE: the products an actor may see, searched, filtered (state, 30/60/90 days), paged."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from sceau.pki.errors import SceauError
from sceau.registration.orders.states import ProductState
from sceau.registration.use_cases.track_certificates import (
    EXPIRY_HORIZONS,
    TrackQuery,
    dashboard,
    track_products,
)
from sceau.web.portal.core import Page, get_page

router = APIRouter(include_in_schema=False)
PageDep = Annotated[Page, Depends(get_page)]
PAGE_SIZE = 20


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


@router.get("/suivre")
def track(
    page: PageDep,
    recherche: str = "",
    etat: str = "",
    echeance: str = "",
    avant: str = "",
) -> Response:
    actor = page.require_login()
    errors: list[str] = []
    result = None
    counts = None
    query = TrackQuery(
        text=recherche or None,
        state=etat or None,
        expires_within_days=_int(echeance),
        before_id=_int(avant),
        limit=PAGE_SIZE,
    )
    try:
        result = track_products(page.services, query, actor=actor)
        counts = dashboard(page.services, actor=actor)
    except SceauError as error:
        errors.append(error.message)
    filters = {"recherche": recherche, "etat": etat, "echeance": echeance}
    next_url = None
    if result is not None and result.next_before_id is not None:
        next_url = "/suivre?" + urlencode({**filters, "avant": result.next_before_id})
    return page.render(
        "track.html",
        tab="suivre",
        result=result,
        counts=counts,
        errors=errors,
        filters=filters,
        states=list(ProductState),
        horizons=EXPIRY_HORIZONS,
        next_url=next_url,
        first_url="/suivre?" + urlencode(filters) if avant else None,
    )
