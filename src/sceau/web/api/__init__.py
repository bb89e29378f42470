"""The REST API ``/api/v1``: the portal's use cases for software (vendors, fleets, agents).

``install(app)`` adds the routers, the RFC 9457 problem handlers and the per-token rate
limiter to the application.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from sceau import __version__
from sceau.web.api import routes_orders, routes_registry
from sceau.web.api.problems import API_PREFIX, install_problem_handlers
from sceau.web.api.ratelimit import FailureThrottle, TokenBucketLimiter
from sceau.web.api.settings import ApiSettings

router = APIRouter(prefix=API_PREFIX)
router.include_router(routes_registry.router)
router.include_router(routes_orders.router)


def install(app: FastAPI, settings: ApiSettings | None = None) -> None:
    api_settings = settings or ApiSettings()
    app.state.api_settings = api_settings
    app.state.api_limiter = TokenBucketLimiter(
        api_settings.rate_per_second, api_settings.rate_burst
    )
    app.state.auth_failures = FailureThrottle()  # shared with the portal's card login
    app.include_router(router)
    install_problem_handlers(app)

    @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
    def api_document() -> dict[str, Any]:
        return openapi_document(app)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``/api/v1`` alone (kept in ``docs/openapi.json``)."""
    cached: dict[str, Any] | None = getattr(app.state, "api_openapi", None)
    if cached is None:
        # A throw-away application holding only this router gives exactly its document.
        document_app = FastAPI(
            title="sceau API",
            version=__version__,
            summary="Commande, retrait, suivi, révocation et renouvellement de certificats ORG",
            description=DESCRIPTION,
            servers=[{"url": "/"}],
        )
        document_app.include_router(router)
        cached = document_app.openapi()
        app.state.api_openapi = cached
    return cached


DESCRIPTION = (
    "Les cas d'usage du portail pour les logiciels (éditeurs, flottes, agents de "
    "renouvellement). Authentification par jeton personnel (`Authorization: Bearer sceau_…`, "
    "portées read / order / revoke) ou par carte CPx (certificat client TLS). Erreurs au "
    "format RFC 9457 (`application/problem+json`) avec un `code` stable. Voir docs/api.md."
)
