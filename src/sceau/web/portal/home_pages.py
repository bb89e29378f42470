"""Home page per role, and the legal representative's and operator's decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from sceau.pki.errors import SceauError
from sceau.registration.authorization import ActorKind
from sceau.registration.use_cases.habilitations import (
    approve_habilitation,
    reject_habilitation,
    withdraw_habilitation,
)
from sceau.web.portal.charts import expiry_timeline_svg
from sceau.web.portal.core import Page, get_page
from sceau.web.portal.dashboards import (
    administrator_home,
    legal_representative_home,
    managers_of,
    operator_home,
)

router = APIRouter(include_in_schema=False)
PageDep = Annotated[Page, Depends(get_page)]


@router.get("/")
def home(page: PageDep) -> Response:
    actor = page.require_login()
    if actor.kind is ActorKind.OPERATOR:
        return page.render("home_operator.html", home=operator_home(page.services, actor))
    if actor.kind is ActorKind.LEGAL_REPRESENTATIVE:
        structures = legal_representative_home(page.services, actor)
        return page.render("home_legal.html", structures=structures, managers_of=managers_of)
    home_data = administrator_home(page.services, actor)
    chart = expiry_timeline_svg(
        home_data.timeline, title="Expirations des certificats valides, mois par mois (3 ans)"
    )
    represented = (
        legal_representative_home(page.services, actor) if actor.represented_structure_ids else []
    )
    return page.render(
        "home_admin.html",
        home=home_data,
        chart=chart,
        represented=represented,
        managers_of=managers_of,
    )


@router.post("/representant/retrait-delegation")
async def withdraw_delegation(page: PageDep) -> Response:
    actor = page.require_login()
    form = await page.form()
    try:
        view = withdraw_habilitation(
            page.services,
            str(form.get("structure", "")),
            str(form.get("administrateur", "")),
            str(form.get("motif", "")) or "délégation retirée par le représentant légal",
            actor=actor,
        )
    except SceauError as error:
        page.flash(error.message, "erreur")
        return page.redirect("/")
    page.flash(
        f"Délégation retirée: {view.administrator_name} n'est plus administrateur technique de "
        f"{view.structure_idnst}.",
        "succes",
    )
    return page.redirect("/")


@router.post("/operateur/habilitations/{request_id}")
async def decide_habilitation(page: PageDep, request_id: int) -> Response:
    actor = page.require_login()
    form = await page.form()
    try:
        if form.get("decision") == "approuver":
            view = approve_habilitation(page.services, request_id, actor=actor)
            page.flash(
                f"Habilitation accordée: {view.administrator_name} sur {view.structure_idnst}.",
                "succes",
            )
        else:
            rejected = reject_habilitation(
                page.services, request_id, str(form.get("motif", "")), actor=actor
            )
            page.flash(f"Demande {rejected.id} rejetée.", "succes")
    except SceauError as error:
        page.flash(error.message, "erreur")
    return page.redirect("/")
