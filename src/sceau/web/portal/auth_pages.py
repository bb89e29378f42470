"""Login (card, e-CPS) and logout pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from sceau.auth.cards import login_with_card, presented_certificate
from sceau.auth.oidc import PendingLogin
from sceau.auth.sessions import METHOD_ECPS
from sceau.pki.errors import SceauError
from sceau.registration.use_cases.persons import actor_from_oidc_claims
from sceau.web.api.ratelimit import LoginLocked, failure_throttle
from sceau.web.portal.core import Page, get_page

router = APIRouter(include_in_schema=False)
PageDep = Annotated[Page, Depends(get_page)]


def safe_next(value: object) -> str:
    """Only local paths: a login never redirects to another site."""
    text = value if isinstance(value, str) else ""
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    return text


@router.get("/connexion")
def login_page(page: PageDep, suite: str = "/", deconnecte: str | None = None) -> Response:
    if page.actor.kind != "anonymous":
        return page.redirect(safe_next(suite))
    if deconnecte:
        page.flashes.append(("info", "Vous êtes déconnecté."))
    return page.render("login.html", next_url=safe_next(suite), errors=[])


@router.post("/connexion/carte")
async def card_login(page: PageDep) -> Response:
    form = await page.form()
    next_url = safe_next(form.get("suite"))
    request = page.request
    peer = request.client.host if request.client else None
    presented = presented_certificate(request.scope, peer, request.headers, page.portal.settings)
    throttle = failure_throttle(request.app.state)  # per-source lockout after repeated failures
    try:
        throttle.check(page.source)
    except LoginLocked as locked:
        return page.render(
            "login.html", status_code=429, next_url=next_url, errors=[locked.message]
        )
    try:
        login = login_with_card(page.services, presented, page.portal.settings, source=page.source)
    except SceauError as error:
        throttle.failed(page.source)
        return page.render("login.html", status_code=401, next_url=next_url, errors=[error.message])
    throttle.succeeded(page.source)
    token, session = page.portal.sessions.login(
        page.token,
        login.actor,
        method=login.method,
        card_number=login.identity.card_number,
        source=page.source,
    )
    page.logged_in_as(token, session, login.actor)
    return page.redirect(next_url)


@router.post("/connexion/ecps")
async def ecps_start(page: PageDep) -> Response:
    form = await page.form()
    try:
        client = page.portal.oidc_client()
        redirect_uri = page.portal.settings.oidc_redirect_url or str(
            page.request.url_for("ecps_return")
        )
        url, pending = client.start(redirect_uri)
    except SceauError as error:
        return page.render("login.html", status_code=503, next_url="/", errors=[error.message])
    data = page.data()
    data["oidc"] = pending.to_dict()
    data["oidc_next"] = safe_next(form.get("suite"))
    page.save(data)
    return page.finish(RedirectResponse(url, status_code=303))


@router.get("/connexion/ecps/retour", name="ecps_return")
def ecps_return(
    page: PageDep, code: str | None = None, state: str | None = None, error: str | None = None
) -> Response:
    data = page.data()
    pending_data = data.pop("oidc", None)
    next_url = safe_next(data.pop("oidc_next", "/"))
    try:
        if error:
            raise SceauError(
                "oidc_provider_error", f"connexion e-CPS refusée par le fournisseur ({error[:80]})"
            )
        if not pending_data:
            raise SceauError(
                "oidc_no_pending",
                "connexion e-CPS refusée: aucune demande en cours dans cette session",
            )
        page.save(data)  # the pending login is single use
        claims = page.portal.oidc_client().finish(
            PendingLogin.from_dict(pending_data),
            code=code,
            state=state,
            now=page.services.clock.now(),
        )
        actor = actor_from_oidc_claims(page.services, claims)
    except SceauError as failure:
        return page.render(
            "login.html", status_code=401, next_url=next_url, errors=[failure.message]
        )
    token, session = page.portal.sessions.login(
        page.token, actor, method=METHOD_ECPS, source=page.source
    )
    page.logged_in_as(token, session, actor)
    return page.redirect(next_url)


@router.post("/deconnexion")
async def logout(page: PageDep) -> Response:
    await page.form()
    page.logged_out()
    return page.redirect("/connexion?deconnecte=1")
