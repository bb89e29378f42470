"""Personal API tokens: bound to an administrator (or the operator), scoped, expiring,
revocable, stored as a SHA-256 hash and shown once.

A token is ``sceau_`` + 43 URL-safe characters (256 random bits), so a plain SHA-256 is
enough to store it: there is nothing to brute-force. Scopes: ``read`` (lists, downloads),
``order`` (order, retrieve, renew; implies read) and ``revoke`` (implies read).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Actor, actor_for_person

PREFIX = "sceau_"
SCOPES = ("read", "order", "revoke")
IMPLIED = {"read": {"read"}, "order": {"order", "read"}, "revoke": {"revoke", "read"}}


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    prefix: str
    holder: str  # person idNat or "operator"
    scopes: tuple[str, ...]
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, row: Any, holder: str) -> TokenView:
        return cls(
            row.id,
            row.name,
            row.prefix,
            holder,
            tuple(row.scopes),
            row.created_at,
            row.expires_at,
            row.revoked_at,
            row.last_used_at,
        )


@dataclass(frozen=True)
class TokenPrincipal:
    actor: Actor
    scopes: frozenset[str]
    token_id: int

    @property
    def key(self) -> str:
        return f"token:{self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(values: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = values.split(",") if isinstance(values, str) else list(values)
    cleaned = tuple(dict.fromkeys(v.strip().lower() for v in items if v.strip()))
    unknown = [v for v in cleaned if v not in SCOPES]
    if unknown or not cleaned:
        raise SceauError(
            "token_scope",
            f"portée(s) {', '.join(unknown) or '(aucune)'} invalide(s): read, order, revoke",
        )
    return cleaned


def _holder(uow: Any, row: Any) -> str:
    if row.operator:
        return "operator"
    person = uow.persons.by_id(row.person_id)
    return str(person.idnat) if person is not None else "?"


def create_token(
    services: Any,
    *,
    name: str,
    scopes: tuple[str, ...],
    days: int,
    person_idnat: str | None = None,
    operator: bool = False,
    created_by: str = "operator:cli",
    max_days: int = 366,
) -> tuple[str, TokenView]:
    """Make a token; returns it in clear (this is the only time) and its stored view."""
    if operator == (person_idnat is not None):
        raise SceauError(
            "token_holder",
            "un jeton appartient soit à un administrateur (idNat), soit à l'opérateur",
        )
    if not 1 <= days <= max_days:
        raise SceauError("token_lifetime", f"durée de validité entre 1 et {max_days} jours")
    if not name.strip() or len(name) > 128:
        raise SceauError("token_name", "nom du jeton: 1 à 128 caractères")
    scopes = parse_scopes(scopes)
    token = PREFIX + secrets.token_urlsafe(32)
    now = services.clock.now()
    with services.unit_of_work() as uow:
        person_id = None
        if person_idnat is not None:
            person = uow.persons.by_idnat(person_idnat)
            if person is None:
                raise SceauError(
                    "person_not_found", f"personne {person_idnat!r} inconnue", ErrorKind.NOT_FOUND
                )
            person_id = person.id
        row = uow.api_tokens.create(
            token_hash=hash_token(token),
            prefix=token[: len(PREFIX) + 6],
            name=name.strip(),
            person_id=person_id,
            operator=operator,
            scopes=list(scopes),
            created_by=created_by,
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        uow.audit.record(
            at=now,
            actor=created_by,
            action="api_token.create",
            outcome="success",
            target=person_idnat or "operator",
            details={"token": row.id, "scopes": list(scopes)},
        )
        view = TokenView.of(row, person_idnat or "operator")
        uow.commit()
    return token, view


def list_tokens(
    services: Any, *, person_idnat: str | None = None, include_revoked: bool = False
) -> list[TokenView]:
    with services.unit_of_work() as uow:
        person_id = None
        if person_idnat is not None:
            person = uow.persons.by_idnat(person_idnat)
            if person is None:
                raise SceauError(
                    "person_not_found", f"personne {person_idnat!r} inconnue", ErrorKind.NOT_FOUND
                )
            person_id = person.id
        rows = uow.api_tokens.list(person_id=person_id, include_revoked=include_revoked)
        return [TokenView.of(r, _holder(uow, r)) for r in rows]


def revoke_token(services: Any, token_id: int, *, actor: str = "operator:cli") -> TokenView:
    now = services.clock.now()
    with services.unit_of_work() as uow:
        row = uow.api_tokens.by_id(token_id)
        if row is None:
            raise SceauError(
                "token_not_found", f"aucun jeton numéro {token_id}", ErrorKind.NOT_FOUND
            )
        if row.revoked_at is None:
            row.revoked_at = now
            uow.audit.record(
                at=now,
                actor=actor,
                action="api_token.revoke",
                outcome="success",
                target=f"token:{token_id}",
            )
        view = TokenView.of(row, _holder(uow, row))
        uow.commit()
    return view


def _unauthenticated(code: str, message: str) -> SceauError:
    return SceauError(code, message, ErrorKind.UNAUTHENTICATED)


def authenticate_token(services: Any, token: str) -> TokenPrincipal:
    """The actor a bearer token stands for, with its grants read afresh."""
    if not token.startswith(PREFIX) or len(token) > 128:
        raise _unauthenticated("token_invalid", "jeton d'API invalide")
    digest = hash_token(token)
    now = services.clock.now()
    with services.unit_of_work() as uow:
        row = uow.api_tokens.by_hash(digest)
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise _unauthenticated("token_invalid", "jeton d'API inconnu")
        if row.revoked_at is not None:
            raise _unauthenticated(
                "token_revoked", f"jeton {row.prefix}… révoqué le {row.revoked_at:%d/%m/%Y}"
            )
        if row.expires_at <= now:
            raise _unauthenticated(
                "token_expired", f"jeton {row.prefix}… expiré le {row.expires_at:%d/%m/%Y}"
            )
        if row.operator:
            actor = Actor.operator(f"operator:token:{row.id}")
        else:
            person = uow.persons.by_id(row.person_id)
            if person is None:
                raise _unauthenticated("token_invalid", "jeton d'API sans titulaire")
            actor = actor_for_person(uow, person)
        if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
            uow.api_tokens.touch(row.id, now)
            uow.commit()
        scopes = frozenset().union(*(IMPLIED[s] for s in row.scopes if s in IMPLIED))
        return TokenPrincipal(actor, scopes, row.id)
