"""Who is calling the API: a bearer token or a card (TLS client certificate), then a scope
check and the per-principal rate limit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sceau.auth.cards import login_with_card, presented_certificate
from sceau.auth.proxy import client_address
from sceau.auth.settings import AuthSettings
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Actor
from sceau.web.api.ratelimit import TokenBucketLimiter, failure_throttle
from sceau.web.api.tokens import SCOPES, authenticate_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="Jeton personnel `sceau_…` (créé par `sceau token create`)",
)


@dataclass(frozen=True)
class Principal:
    actor: Actor
    scopes: frozenset[str]
    method: str  # token | card
    key: str  # rate-limit bucket

    @property
    def idempotency_principal(self) -> str:
        return self.actor.label


def services_of(request: Request) -> Any:
    return request.app.state.container


def _auth_settings(request: Request) -> AuthSettings:
    settings = getattr(request.app.state, "api_auth_settings", None)
    if settings is None:
        settings = request.app.state.api_auth_settings = AuthSettings()
    return settings


def _card_principal(request: Request) -> Principal | None:
    settings = _auth_settings(request)
    peer = request.client.host if request.client else None
    presented = presented_certificate(request.scope, peer, request.headers, settings)
    if not presented:
        return None
    login = login_with_card(services_of(request), presented, settings, source=peer)
    label = login.actor.label
    return Principal(login.actor, frozenset(SCOPES), "card", f"card:{label}")


def _source(request: Request) -> str | None:
    """The client address (X-Real-IP from a trusted proxy, else the TCP peer)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers, _auth_settings(request))


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The principal of the request; failures are counted per source address and too many of
    them lock the source out for a while (``FailureThrottle``, 429)."""
    throttle = failure_throttle(request.app.state)
    source = _source(request)
    throttle.check(source)
    try:
        principal = _authenticate(request, credentials)
    except SceauError as error:
        if error.kind is ErrorKind.UNAUTHENTICATED and error.code != "unauthenticated":
            # refused credentials count; a request carrying none is no guess
            throttle.failed(source)
        raise
    throttle.succeeded(source)
    return principal


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is not None and credentials.credentials:
        token = authenticate_token(services_of(request), credentials.credentials)
        return Principal(token.actor, token.scopes, "token", token.key)
    card = _card_principal(request)
    if card is not None:
        return card
    raise SceauError(
        "unauthenticated",
        "authentification requise: en-tête « Authorization: Bearer <jeton> » ou carte CPx "
        "(certificat client TLS)",
        ErrorKind.UNAUTHENTICATED,
    )


def require(scope: str) -> Callable[..., Principal]:
    """A dependency: an authenticated principal holding ``scope``, within its rate limit."""

    def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> Principal:
        principal = authenticate(request, credentials)
        limiter: TokenBucketLimiter = request.app.state.api_limiter
        limiter.take(principal.key)
        if scope not in principal.scopes:
            raise SceauError(
                "token_scope_missing",
                f"ce jeton n'a pas la portée « {scope} » nécessaire à cette action",
                ErrorKind.FORBIDDEN,
            )
        return principal

    return dependency
