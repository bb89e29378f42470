"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sceau import __version__
from sceau.bootstrap import Container


def create_app(container: Container) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Embedded mode: the mail catcher (no SMTP server configured) and, with
        ``in_process_worker``, the worker runner in a thread — outbox, expiry scan, CRL and
        OCSP refresh, interrupted issuance (``sceau.worker.runner``)."""
        from sceau.worker.runner import start_embedded, stop_embedded

        embedded = start_embedded(container)
        try:
            yield
        finally:
            stop_embedded(embedded)

    app = FastAPI(
        title="sceau",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.container = container

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    from sceau.web.public import OcspFastPath
    from sceau.web.public import router as public_router

    app.include_router(public_router)
    app.add_middleware(OcspFastPath)
    from sceau.web.feeds import router as feeds_router

    app.include_router(feeds_router)
    if container.settings.dev_pages_enabled:
        from sceau.web.dev import router as dev_router

        app.include_router(dev_router)
    from sceau.web.portal import install_portal

    install_portal(app, container)
    from sceau.web.api import install as install_api

    install_api(app)
    from sceau.web.security_headers import install_security_headers

    install_security_headers(app)  # outermost: headers and the body size limit on every response
    return app
