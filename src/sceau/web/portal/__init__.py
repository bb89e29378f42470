"""The portal: server-rendered French pages (DEMANDER, RETIRER, SUIVRE, RÉVOQUER), card and
e-CPS login, server-side sessions. :func:`install_portal` wires it into the application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from sceau.auth.sessions import SessionStore
from sceau.auth.settings import AuthSettings
from sceau.bootstrap import Container
from sceau.web.portal.core import (
    HERE,
    LoginRequired,
    Portal,
    PortalError,
    get_page,
    html_error,
    login_redirect,
)


def install_portal(
    app: FastAPI, container: Container, settings: AuthSettings | None = None
) -> Portal:
    from sceau.web.portal import (
        auth_pages,
        home_pages,
        request_pages,
        retrieve_pages,
        revoke_pages,
        track_pages,
    )

    auth_settings = settings or AuthSettings()
    services: Any = container  # structurally a registration.ports.Services
    portal = Portal(container, auth_settings, SessionStore(services, auth_settings))
    app.state.portal = portal
    app.mount("/static/portail", StaticFiles(directory=str(HERE / "static")), name="portal-static")
    for module in (
        auth_pages,
        home_pages,
        request_pages,
        retrieve_pages,
        revoke_pages,
        track_pages,
    ):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(exc.next_url)

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        return html_error(get_page(request), exc.error)

    return portal
