"""Queries of the portal's server-side sessions ."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sceau.storage.tables import WebSession


class WebSessionRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> WebSession:
        row = WebSession(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def by_token_hash(self, token_hash: str) -> WebSession | None:
        return self.session.get(WebSession, token_hash)

    def delete(self, token_hash: str) -> None:
        self.session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))

    def delete_idle(self, last_seen_before: dt.datetime) -> int:
        result = self.session.execute(
            delete(WebSession).where(WebSession.last_seen_at < last_seen_before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult

    def for_person(self, person_id: int) -> list[WebSession]:
        return list(
            self.session.scalars(select(WebSession).where(WebSession.person_id == person_id))
        )
