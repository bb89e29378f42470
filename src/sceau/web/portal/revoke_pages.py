"""RÉVOQUER: logged in (administrator, legal representative, operator) or with the
revocation code chosen at retrieval. Revocation is final; CRL and OCSP are republished."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from sceau.pki.errors import SceauError
from sceau.registration.use_cases.revocation_status import publish_after_revocation
from sceau.registration.use_cases.revoke_certificate import REASONS
from sceau.registration.use_cases.revoke_product import (
    RevocationOutcome,
    RevokeProductCommand,
    revoke_product,
    revoke_with_code,
)
from sceau.registration.use_cases.track_certificates import TrackQuery, show_product, track_products
from sceau.web.portal.core import Page, get_page, html_error

router = APIRouter(include_in_schema=False)
PageDep = Annotated[Page, Depends(get_page)]

REASON_LABELS = {
    "unspecified": "non précisé",
    "keyCompromise": "compromission de la clé privée",
    "affiliationChanged": "changement d'affiliation (structure, raison sociale)",
    "superseded": "remplacé par un nouveau certificat",
    "cessationOfOperation": "cessation d'activité / service arrêté",
    "privilegeWithdrawn": "retrait du droit d'usage",
}


def _reasons() -> list[tuple[str, str]]:
    return [(value, REASON_LABELS.get(value, value)) for value in REASONS]


def _publish(page: Page, outcome: RevocationOutcome) -> None:
    """CRL and OCSP reflect the revocation now (the worker would within minutes anyway)."""
    publish_after_revocation(page.services, outcome.authority_slug)


def _list(page: Page, recherche: str) -> list[object]:
    if page.actor.kind == "anonymous":
        return []
    items: list[object] = []
    for state in ("retrieved", "issued"):
        items += track_products(
            page.services,
            TrackQuery(text=recherche or None, state=state, limit=100),
            actor=page.actor,
        ).items
    return items


@router.get("/revoquer")
def revoke_home(page: PageDep, recherche: str = "") -> Response:
    try:
        products = _list(page, recherche)
    except SceauError as error:
        return html_error(page, error)
    return page.render(
        "revoke_list.html",
        tab="revoquer",
        products=products,
        recherche=recherche,
        reasons=_reasons(),
        errors=[],
        form={},
    )


@router.post("/revoquer/code")
async def revoke_by_code(page: PageDep) -> Response:
    form = await page.form()
    serial = str(form.get("serie", "")).strip()
    try:
        outcome = revoke_with_code(
            page.services,
            serial,
            str(form.get("code", "")),
            str(form.get("motif", "unspecified")),
            source=page.source,
        )
    except SceauError as error:
        products = []
        try:
            products = _list(page, "")
        except SceauError:
            products = []
        return page.render(
            "revoke_list.html",
            status_code=403 if error.kind == "forbidden" else 422,
            tab="revoquer",
            products=products,
            recherche="",
            reasons=_reasons(),
            errors=[error.message],
            form={"serie": serial},
        )
    _publish(page, outcome)
    return page.render("revoke_done.html", tab="revoquer", outcome=outcome, labels=REASON_LABELS)


@router.get("/revoquer/{serial}")
def revoke_form(page: PageDep, serial: str) -> Response:
    actor = page.require_login()
    try:
        product = show_product(page.services, serial, actor=actor)
    except SceauError as error:
        return html_error(page, error)
    return page.render(
        "revoke_form.html", tab="revoquer", product=product, reasons=_reasons(), errors=[]
    )


@router.post("/revoquer/{serial}")
async def revoke(page: PageDep, serial: str) -> Response:
    actor = page.require_login()
    form = await page.form()
    try:
        if form.get("confirmation") != "oui":
            raise SceauError(
                "revocation_not_confirmed",
                "cochez la case de confirmation: la révocation est définitive",
            )
        outcome = revoke_product(
            page.services,
            RevokeProductCommand(
                serial=serial,
                reason=str(form.get("motif", "unspecified")),
                actor=actor,
                source=page.source,
            ),
        )
    except SceauError as error:
        try:
            product = show_product(page.services, serial, actor=actor)
        except SceauError as again:
            return html_error(page, again)
        return page.render(
            "revoke_form.html",
            status_code=422,
            tab="revoquer",
            product=product,
            reasons=_reasons(),
            errors=[error.message],
        )
    _publish(page, outcome)
    return page.render("revoke_done.html", tab="revoquer", outcome=outcome, labels=REASON_LABELS)
