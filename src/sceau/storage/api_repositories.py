"""Queries of the REST API: personal tokens and order idempotency keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sceau.storage.tables import ApiIdempotencyKey, ApiToken


class ApiTokenRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> ApiToken:
        row = ApiToken(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def by_id(self, token_id: int) -> ApiToken | None:
        return self.session.get(ApiToken, token_id)

    def by_hash(self, token_hash: str) -> ApiToken | None:
        return self.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))

    def list(
        self, *, person_id: int | None = None, include_revoked: bool = False
    ) -> Sequence[ApiToken]:
        query = select(ApiToken).order_by(ApiToken.id)
        if person_id is not None:
            query = query.where(ApiToken.person_id == person_id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        return self.session.scalars(query).all()

    def touch(self, token_id: int, at: dt.datetime) -> None:
        self.session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at)
        )


class IdempotencyRepository:
    def __init__(self, session: Session):
        self.session = session

    def get(self, principal: str, key: str) -> ApiIdempotencyKey | None:
        return self.session.scalar(
            select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.principal == principal, ApiIdempotencyKey.key == key
            )
        )

    def claim(self, principal: str, key: str, request_hash: str, at: dt.datetime) -> bool:
        """Insert the key (committing is the caller's); False if it already exists."""
        try:
            with self.session.begin_nested():
                self.session.add(
                    ApiIdempotencyKey(
                        principal=principal, key=key, request_hash=request_hash, created_at=at
                    )
                )
        except IntegrityError:
            return False
        return True

    def complete(self, principal: str, key: str, order_id: int) -> None:
        self.session.execute(
            update(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.principal == principal, ApiIdempotencyKey.key == key)
            .values(order_id=order_id)
        )

    def release(self, principal: str, key: str) -> None:
        self.session.execute(
            delete(ApiIdempotencyKey).where(
                ApiIdempotencyKey.principal == principal,
                ApiIdempotencyKey.key == key,
                ApiIdempotencyKey.order_id.is_(None),
            )
        )

    def restart(self, principal: str, key: str, at: dt.datetime) -> None:
        self.session.execute(
            update(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.principal == principal, ApiIdempotencyKey.key == key)
            .values(created_at=at)
        )
