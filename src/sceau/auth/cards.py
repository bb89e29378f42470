"""Card login: a TLS client certificate (verified here, whoever terminated TLS) → an Actor.

The certificate comes either from the ASGI TLS extension (``sceau serve --tls``: the
uvicorn protocol of ``sceau.web.tls`` puts the peer certificate in
``scope["extensions"]["tls"]["client_cert_chain"]``) or from a trusted proxy's header
(:mod:`sceau.auth.proxy`). Either way the registry's ``authenticate_card`` checks the chain to
the persons CA, clientAuth, validity, revocation and that the card is known and active, and
audits the attempt; the holder is then resolved with ``actor_for_person``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sceau.auth.proxy import forwarded_certificate
from sceau.auth.sessions import METHOD_CARD, METHOD_OPERATOR
from sceau.auth.settings import AuthSettings
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Actor
from sceau.registration.card_authentication import CardIdentity
from sceau.registration.ports import Services
from sceau.registration.use_cases.cards import authenticate_card


@dataclass(frozen=True)
class CardLogin:
    actor: Actor
    identity: CardIdentity
    method: str  # card, or operator for the persons named in SCEAU_OPERATOR_IDNATS


def tls_client_certificate(scope: Mapping[str, Any]) -> bytes | None:
    """The leaf certificate (PEM) the TLS layer received, per the ASGI TLS extension."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    first = chain[0]
    return first.encode("ascii") if isinstance(first, str) else bytes(first)


def presented_certificate(
    scope: Mapping[str, Any], peer: str | None, headers: Mapping[str, str], settings: AuthSettings
) -> bytes | None:
    """The card certificate of this request: from our own TLS, else from a trusted proxy."""
    return tls_client_certificate(scope) or forwarded_certificate(peer, headers, settings)


def login_with_card(
    services: Services, presented: bytes | None, settings: AuthSettings, *, source: str | None
) -> CardLogin:
    """Authenticate the presented card; raise ``UNAUTHENTICATED`` with the reason otherwise."""
    if not presented:
        raise SceauError(
            "card_absent",
            "aucune carte présentée: insérez votre carte CPS/CPx (ou importez un certificat de "
            "démonstration dans le navigateur) puis réessayez",
            ErrorKind.UNAUTHENTICATED,
        )
    actor, identity = authenticate_card(services, presented, source=source)
    if identity.idnat in settings.operators:
        return CardLogin(Actor.operator(f"operator:{identity.idnat}"), identity, METHOD_OPERATOR)
    return CardLogin(actor, identity, METHOD_CARD)
