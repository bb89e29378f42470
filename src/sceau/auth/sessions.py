"""Server-side portal sessions: a random token in a cookie, the state in the database.

* the cookie is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` whenever the portal is served
  over TLS; the table keeps only the token's SHA-256;
* the token (and the CSRF token) change at login — a session fixed before login is useless;
* logout deletes the row; a session idle for longer than the timeout, or older than the
  absolute limit, is deleted when next seen;
* every POST carries the session's CSRF token (synchroniser token), compared in constant time.

Time comes from the services' clock, so idle timeouts are tested without sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from sceau.auth.settings import AuthSettings
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Actor, actor_for_person
from sceau.registration.ports import Services

METHOD_CARD = "card"
METHOD_ECPS = "ecps"
METHOD_OPERATOR = "operator"


class CsrfError(SceauError):
    def __init__(self) -> None:
        super().__init__(
            "csrf_invalid",
            "formulaire refusé: jeton de sécurité absent ou périmé (rechargez la page et "
            "recommencez)",
            ErrorKind.FORBIDDEN,
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PortalSession:
    token_hash: str
    csrf_token: str
    person_id: int | None
    actor_label: str | None
    auth_method: str | None
    card_number: str | None
    created_at: dt.datetime
    last_seen_at: dt.datetime
    authenticated_at: dt.datetime | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return self.auth_method is not None

    @classmethod
    def of(cls, row: Any) -> PortalSession:
        return cls(
            row.token_hash,
            row.csrf_token,
            row.person_id,
            row.actor_label,
            row.auth_method,
            row.card_number,
            row.created_at,
            row.last_seen_at,
            row.authenticated_at,
            dict(row.data or {}),
        )


class SessionStore:
    """Create, load, rotate and end sessions (one short unit of work each)."""

    def __init__(self, services: Services, settings: AuthSettings):
        self.services = services
        self.idle = dt.timedelta(minutes=settings.session_idle_minutes)
        self.absolute = dt.timedelta(hours=settings.session_absolute_hours)

    def _uow(self) -> Any:
        return self.services.unit_of_work()

    def _create(
        self, uow: Any, now: dt.datetime, source: str | None, **fields: Any
    ) -> tuple[str, PortalSession]:
        token = secrets.token_urlsafe(32)
        row = uow.web_sessions.create(
            token_hash=hash_token(token),
            csrf_token=secrets.token_urlsafe(32),
            source=(source or "")[:64] or None,
            created_at=now,
            last_seen_at=now,
            **fields,
        )
        return token, PortalSession.of(row)

    def load(self, token: str | None) -> PortalSession | None:
        """The live session of ``token`` (touched), or None; a stale one is deleted."""
        if not token:
            return None
        now = self.services.clock.now()
        with self._uow() as uow:
            row = uow.web_sessions.by_token_hash(hash_token(token))
            if row is None:
                return None
            if now - row.last_seen_at > self.idle or now - row.created_at > self.absolute:
                uow.web_sessions.delete(row.token_hash)
                if row.auth_method is not None:
                    uow.audit.record(
                        at=now,
                        actor=row.actor_label or "?",
                        action="auth.session_expired",
                        outcome="success",
                        target=None,
                        details=None,
                    )
                uow.commit()
                return None
            row.last_seen_at = now
            session = PortalSession.of(row)
            uow.commit()
            return session

    def start(self, *, source: str | None = None) -> tuple[str, PortalSession]:
        """A new anonymous session (it carries the CSRF token of the login forms)."""
        now = self.services.clock.now()
        with self._uow() as uow:
            uow.web_sessions.delete_idle(now - self.idle)  # dead sessions go (indexed delete)
            token, session = self._create(uow, now, source)
            uow.commit()
            return token, session

    def login(
        self,
        previous_token: str | None,
        actor: Actor,
        *,
        method: str,
        card_number: str | None = None,
        source: str | None = None,
    ) -> tuple[str, PortalSession]:
        """End the pre-login session and open a new one (new token, new CSRF token)."""
        now = self.services.clock.now()
        with self._uow() as uow:
            if previous_token:
                uow.web_sessions.delete(hash_token(previous_token))
            token, session = self._create(
                uow,
                now,
                source,
                person_id=actor.person_id,
                actor_label=actor.label,
                auth_method=method,
                card_number=card_number,
                authenticated_at=now,
            )
            uow.audit.record(
                at=now,
                actor=actor.label,
                action="auth.session_start",
                outcome="success",
                target=card_number,
                details={"method": method},
                source=source,
            )
            uow.commit()
            return token, session

    def logout(self, token: str | None, *, source: str | None = None) -> None:
        if not token:
            return
        now = self.services.clock.now()
        with self._uow() as uow:
            row = uow.web_sessions.by_token_hash(hash_token(token))
            if row is None:
                return
            if row.auth_method is not None:
                uow.audit.record(
                    at=now,
                    actor=row.actor_label or "?",
                    action="auth.logout",
                    outcome="success",
                    target=None,
                    details=None,
                    source=source,
                )
            uow.web_sessions.delete(row.token_hash)
            uow.commit()

    def save_data(self, session: PortalSession, data: dict[str, Any]) -> PortalSession:
        """Replace the session's data (wizard state, OIDC state)."""
        with self._uow() as uow:
            row = uow.web_sessions.by_token_hash(session.token_hash)
            if row is None:
                raise SceauError(
                    "session_expired",
                    "session expirée: reconnectez-vous",
                    ErrorKind.UNAUTHENTICATED,
                )
            row.data = dict(data)
            updated = PortalSession.of(row)
            uow.commit()
            return updated

    @staticmethod
    def check_csrf(session: PortalSession | None, submitted: str | None) -> None:
        if (
            session is None
            or not submitted
            or not hmac.compare_digest(session.csrf_token.encode(), submitted.encode())
        ):
            raise CsrfError()

    def display_name(self, session: PortalSession | None) -> str | None:
        """The logged-in person's name, for the page header."""
        if session is None or session.person_id is None:
            return None
        with self._uow() as uow:
            person = uow.persons.by_id(session.person_id)
            return f"{person.given_name.title()} {person.family_name}" if person else None

    def actor_of(self, session: PortalSession | None) -> Actor:
        """The session's actor with grants read afresh (a withdrawn habilitation bites at once)."""
        if session is None or session.auth_method is None:
            return Actor.anonymous()
        if session.auth_method == METHOD_OPERATOR:
            return Actor.operator(session.actor_label or "operator:portail")
        if session.person_id is None:
            return Actor.anonymous()
        with self._uow() as uow:
            person = uow.persons.by_id(session.person_id)
            if person is None:
                return Actor.anonymous()
            return actor_for_person(uow, person)
