"""The portal's request plumbing: session cookie, actor, CSRF, French rendering, redirects.

Every page handler takes a :class:`Page` (FastAPI dependency): it holds the server-side
session (created on demand, so anonymous forms carry a CSRF token too), the actor with fresh
grants, and renders templates with the session's CSRF token and flash messages. Responses go
through :meth:`Page.finish`, which sets or clears the cookie (HttpOnly, SameSite=Lax, Secure
when the browser reached us over TLS, directly or through a trusted proxy).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from sceau.auth.proxy import client_address, peer_is_trusted
from sceau.auth.sessions import PortalSession, SessionStore
from sceau.auth.settings import AuthSettings
from sceau.bootstrap import Container
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Actor, ActorKind

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def french_date(value: dt.datetime | dt.date | None, with_time: bool = False) -> str:
    if value is None:
        return "—"
    text = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    if with_time and isinstance(value, dt.datetime):
        text += f" à {value:%H:%M} UTC"
    return text


def short_date(value: dt.datetime | dt.date | None) -> str:
    return "—" if value is None else f"{value:%d/%m/%Y}"


TEMPLATES.env.filters["date_fr"] = french_date
TEMPLATES.env.filters["date_court"] = short_date
TEMPLATES.env.globals["ROLE_LABELS"] = {
    ActorKind.OPERATOR: "opérateur de l'AC",
    ActorKind.ADMINISTRATOR: "administrateur technique",
    ActorKind.LEGAL_REPRESENTATIVE: "représentant légal",
    ActorKind.ANONYMOUS: "non connecté",
}


class PortalError(Exception):
    """A use-case refusal to show as an error page (raised by portal guards)."""

    def __init__(self, error: SceauError):
        super().__init__(error.message)
        self.error = error


class LoginRequired(Exception):
    """Raised by :meth:`Page.require_login`; the portal redirects to the login page."""

    def __init__(self, next_url: str):
        self.next_url = next_url


@dataclass
class Portal:
    """What the portal pages share in one process."""

    services: Container
    settings: AuthSettings
    sessions: SessionStore
    oidc: Any = None  # an OidcClient, made on first use (or injected by tests)

    def oidc_client(self) -> Any:
        if self.oidc is None:
            from sceau.auth.oidc import OidcClient

            self.oidc = OidcClient(self.settings)
        return self.oidc


@dataclass
class Page:
    request: Request
    portal: Portal
    token: str | None
    session: PortalSession | None
    actor: Actor
    new_token: str | None = None
    clear_cookie: bool = False
    flashes: list[tuple[str, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ identity, session

    @property
    def services(self) -> Any:
        """The container; typed loosely because ``Container`` meets ``registration.ports
        .Services`` only structurally (its ``keyring`` is a cached property)."""
        return self.portal.services

    @property
    def source(self) -> str | None:
        peer = self.request.client.host if self.request.client else None
        return client_address(peer, self.request.headers, self.portal.settings)

    @property
    def over_tls(self) -> bool:
        if self.request.url.scheme == "https":
            return True
        peer = self.request.client.host if self.request.client else None
        forwarded = self.request.headers.get("x-forwarded-proto", "")
        return forwarded == "https" and peer_is_trusted(peer, self.portal.settings.proxy_networks)

    def ensure_session(self) -> PortalSession:
        if self.session is None:
            self.new_token, self.session = self.portal.sessions.start(source=self.source)
            self.token = self.new_token
        return self.session

    def require_login(self) -> Actor:
        if self.actor.kind is ActorKind.ANONYMOUS:
            raise LoginRequired(self.request.url.path)
        return self.actor

    def logged_in_as(self, token: str, session: PortalSession, actor: Actor) -> None:
        self.token, self.new_token, self.session, self.actor = token, token, session, actor

    def logged_out(self) -> None:
        self.portal.sessions.logout(self.token, source=self.source)
        self.token = self.session = None
        self.actor = Actor.anonymous()
        self.clear_cookie = True

    def data(self) -> dict[str, Any]:
        return dict(self.session.data) if self.session else {}

    def save(self, data: dict[str, Any]) -> None:
        session = self.ensure_session()
        self.session = self.portal.sessions.save_data(session, data)

    def flash(self, message: str, level: str = "info") -> None:
        """A message shown on the next page rendered (kept in the session across redirects)."""
        data = self.data()
        data.setdefault("flash", []).append([level, message])
        self.save(data)

    # ------------------------------------------------------------------------------ forms

    async def form(self) -> FormData:
        """The submitted form, after the CSRF check (every POST of the portal comes here)."""
        form = await self.request.form()
        token = form.get("csrf_token")
        try:
            self.portal.sessions.check_csrf(self.session, token if isinstance(token, str) else None)
        except SceauError as error:
            await form.close()
            self.audit_refusal("csrf", error.message)
            raise PortalError(error) from None
        return form

    def audit_refusal(self, what: str, message: str) -> None:
        with self.services.unit_of_work() as uow:
            uow.audit.record(
                at=self.services.clock.now(), actor=self.actor.label, action=f"portal.{what}",
                outcome="refused", target=self.request.url.path[:256],
                details={"reason": message[:200]}, source=self.source,
            )  # fmt: skip
            uow.commit()

    # -------------------------------------------------------------------------- responses

    def finish(self, response: Response) -> Response:
        name = self.portal.settings.session_cookie
        if self.clear_cookie and not self.new_token:
            response.delete_cookie(name, path="/", secure=self.over_tls, httponly=True)
        if self.new_token:
            response.set_cookie(
                name,
                self.new_token,
                path="/",
                httponly=True,
                secure=self.over_tls,
                samesite="lax",
            )
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'",
        )
        return response

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        session = self.ensure_session()
        flashes = [tuple(item) for item in session.data.get("flash", [])]
        if flashes:
            data = dict(session.data)
            data.pop("flash", None)
            self.save(data)
        context.update(
            page=self,
            actor=self.actor,
            csrf_token=self.session.csrf_token if self.session else session.csrf_token,
            flashes=flashes + self.flashes,
            now=self.services.clock.now(),
            oidc_enabled=self.portal.settings.oidc_enabled,
            display_name=self.portal.sessions.display_name(self.session),
        )
        response = TEMPLATES.TemplateResponse(
            self.request, template, context, status_code=status_code
        )
        return self.finish(response)

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))


def error_status(error: SceauError) -> int:
    return {
        ErrorKind.INVALID_INPUT: 422,
        ErrorKind.NOT_FOUND: 404,
        ErrorKind.CONFLICT: 409,
        ErrorKind.FORBIDDEN: 403,
        ErrorKind.UNAUTHENTICATED: 401,
        ErrorKind.RATE_LIMITED: 429,
    }.get(error.kind, 500)


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def get_page(request: Request) -> Page:
    """FastAPI dependency: the page context of this request."""
    portal = portal_of(request)
    token = request.cookies.get(portal.settings.session_cookie)
    session = portal.sessions.load(token)
    page = Page(request, portal, token if session else None, session, Actor.anonymous())
    if token and session is None:
        page.clear_cookie = True
    page.actor = portal.sessions.actor_of(session)
    return page


def login_redirect(next_url: str) -> Response:
    return RedirectResponse(f"/connexion?suite={quote(next_url)}", status_code=303)


def html_error(page: Page, error: SceauError) -> Response:
    return page.render("error.html", status_code=error_status(error), error=error)
