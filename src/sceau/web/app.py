"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from sceau import __version__
from sceau.bootstrap import Container


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="sceau", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.container = container

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    try:
        from sceau.web.public import router as public_router
    except ImportError:  # the public PKI endpoints module is added with CRL/OCSP
        pass
    else:
        app.include_router(public_router)
    from sceau.web.portal import install_portal

    install_portal(app, container)
    from sceau.web.api import install as install_api

    install_api(app)
    return app
