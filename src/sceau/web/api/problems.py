"""RFC 9457 problem documents: every API error has a stable ``type`` and ``code``.

``code`` is the ``SceauError.code`` of the rule that was broken; the HTTP status comes from
its ``ErrorKind`` only here, at the web edge.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sceau.pki.errors import ErrorKind, SceauError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://sceau.invalid/problems/"
API_PREFIX = "/api/v1"

STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID_INPUT: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
}
TITLES = {
    400: "Requête mal formée",
    401: "Authentification requise",
    403: "Action non autorisée",
    404: "Ressource introuvable",
    405: "Méthode non autorisée",
    406: "Format non disponible",
    409: "Conflit avec l'état actuel",
    413: "Requête trop volumineuse",
    415: "Type de contenu non pris en charge",
    422: "Données refusées",
    429: "Trop de requêtes",
    500: "Erreur interne",
}


class InvalidParam(BaseModel):
    name: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="URI identifying the problem type (stable)")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine code, e.g. insi_common_name")
    instance: str | None = None
    invalid_params: list[InvalidParam] | None = Field(default=None, alias="invalid-params")

    model_config = {"populate_by_name": True}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    invalid: list[InvalidParam] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": TITLES.get(status, "Erreur"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if invalid:
        body["invalid-params"] = [p.model_dump() for p in invalid]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem statuses a route may answer."""
    return {
        status: {
            "model": Problem,
            "description": TITLES.get(status, "Erreur"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    """API errors become problem documents; other paths keep FastAPI's default answers."""
    default_http = app.exception_handlers.get(StarletteHTTPException)
    default_validation = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(SceauError)
    async def sceau_error(request: Request, exc: SceauError) -> JSONResponse:
        status = STATUS.get(exc.kind, 500)
        if status == 500:
            log.error("internal error on %s: %s", request.url.path, exc.message)
            return problem_response(500, "internal", "erreur interne", instance=request.url.path)
        headers = {"WWW-Authenticate": 'Bearer realm="sceau"'} if status == 401 else None
        retry = getattr(exc, "retry_after", None)
        if status == 429 and retry is not None:
            headers = {"Retry-After": str(int(retry) + 1)}
        return problem_response(
            status, exc.code, exc.message, instance=request.url.path, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Any:
        if not _is_api(request) and default_validation is not None:
            return await default_validation(request, exc)  # type: ignore[misc]
        invalid = [
            InvalidParam(
                name=".".join(str(part) for part in error.get("loc", ()) if part != "body")
                or "body",
                reason=str(error.get("msg", "invalide")),
            )
            for error in exc.errors()
        ]
        detail = "; ".join(f"{p.name}: {p.reason}" for p in invalid[:5]) or "requête invalide"
        return problem_response(
            422, "request_invalid", detail, instance=request.url.path, invalid=invalid
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if not _is_api(request) and default_http is not None:
            return await default_http(request, exc)  # type: ignore[misc]
        status = exc.status_code
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
        return problem_response(
            status,
            code,
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem_response(500, "internal", "erreur interne", instance=request.url.path)
