"""Queries of the tamper-evident audit log: chained appends, the chain head, keys, anchors.

Appends lock the one-row ``audit_chain_head`` (``SELECT … FOR UPDATE`` on PostgreSQL; on
SQLite ``BEGIN IMMEDIATE`` already serialises writers), take the next id and the previous
hash from it, and move it forward. Ids are therefore gapless in chain order, and two
concurrent transactions can never both link to the same predecessor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sceau.registration.audit_chain import (
    GENESIS_HASH,
    AnchorRecord,
    ChainedEvent,
    event_hash,
    normalise_details,
)
from sceau.storage.tables import AuditAnchor, AuditChainHead, AuditEvent, AuditKey

HEAD_ID = 1
# Column sizes of ``audit_events``: longer user text is cut (PostgreSQL would refuse it).
_SIZES = {"actor": 256, "action": 64, "target": 256, "outcome": 16, "source": 64}


def _clean(value: str | None, size: int) -> str | None:
    """Stored as data, never interpreted; NUL (refused by PostgreSQL) becomes U+FFFD."""
    if value is None:
        return None
    return str(value).replace("\x00", "\ufffd")[:size]


def _clean_details(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean_details(str(k)): _clean_details(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_details(v) for v in value]
    return value


def to_chained(event: AuditEvent) -> ChainedEvent:
    return ChainedEvent(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        outcome=event.outcome,
        details=event.details,
        source=event.source,
        prev_hash=event.prev_hash,
        event_hash=event.event_hash,
    )


class AuditChainRepository:
    def __init__(self, session: Session):
        self.session = session
        # The head locked by this transaction: later appends in the same transaction hold the
        # lock already and need not read the row again.
        self._locked: tuple[Any, AuditChainHead] | None = None

    # ------------------------------------------------------------------------- the chain head

    def _insert_head_if_missing(self) -> None:
        last = self.session.execute(
            select(AuditEvent.id, AuditEvent.event_hash).order_by(AuditEvent.id.desc()).limit(1)
        ).first()
        values = {
            "id": HEAD_ID,
            "last_event_id": last.id if last else 0,
            "last_hash": last.event_hash if last else GENESIS_HASH,
        }
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self.session.execute(
                pg_insert(AuditChainHead)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["id"])
            )
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self.session.execute(
                sqlite_insert(AuditChainHead)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["id"])
            )

    def lock_head(self) -> AuditChainHead:
        """The chain head, locked until the end of the transaction (created if missing)."""
        transaction = self.session.get_transaction()
        if self._locked is not None and transaction is not None and self._locked[0] is transaction:
            return self._locked[1]
        query = (
            select(AuditChainHead)
            .where(AuditChainHead.id == HEAD_ID)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        head = self.session.scalar(query)
        if head is None:
            self._insert_head_if_missing()
            head = self.session.scalar(query)
        assert head is not None
        if transaction is not None:
            self._locked = (transaction, head)
        return head

    def head(self) -> tuple[int, str] | None:
        row = self.session.execute(
            select(AuditChainHead.last_event_id, AuditChainHead.last_hash).where(
                AuditChainHead.id == HEAD_ID
            )
        ).first()
        return (int(row.last_event_id), row.last_hash) if row else None

    # ------------------------------------------------------------------------------- events

    def record(
        self,
        *,
        at: dt.datetime,
        actor: str,
        action: str,
        outcome: str,
        target: str | None = None,
        details: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> AuditEvent:
        """Append one event to the chain (inside the caller's transaction)."""
        event = {"at": at, "actor": actor, "action": action, "outcome": outcome}
        return self.record_many(
            [{**event, "target": target, "details": details, "source": source}]
        )[0]

    def record_many(self, events: Sequence[dict[str, Any]]) -> list[AuditEvent]:
        """Append several events (each given as ``record``'s keyword arguments) in one go:
        the same chain as as many ``record`` calls, with one lock and one flush."""
        head = self.lock_head()
        rows = [self._chain_next(head, **event) for event in events]
        self.session.add_all(rows)
        self.session.flush()
        return rows

    def _chain_next(
        self,
        head: AuditChainHead,
        *,
        at: dt.datetime,
        actor: str,
        action: str,
        outcome: str,
        target: str | None = None,
        details: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> AuditEvent:
        """The event that follows ``head``; moves ``head`` forward."""
        normalised = normalise_details(details)
        chained = ChainedEvent(
            id=head.last_event_id + 1,
            at=at.astimezone(dt.UTC),
            actor=_clean(actor, _SIZES["actor"]) or "",
            action=_clean(action, _SIZES["action"]) or "",
            target=_clean(target, _SIZES["target"]),
            outcome=_clean(outcome, _SIZES["outcome"]) or "",
            details=_clean_details(normalised) if normalised is not None else None,
            source=_clean(source, _SIZES["source"]),
            prev_hash=head.last_hash,
        )
        digest = event_hash(chained)
        event = AuditEvent(
            id=chained.id,
            at=chained.at,
            actor=chained.actor,
            action=chained.action,
            target=chained.target,
            outcome=chained.outcome,
            details=chained.details,
            source=chained.source,
            prev_hash=chained.prev_hash,
            event_hash=digest,
        )
        head.last_event_id = chained.id
        head.last_hash = digest
        return event

    def list(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        """Newest first."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc())
        if action:
            query = query.where(AuditEvent.action == action)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        if target:
            query = query.where(AuditEvent.target == target)
        return self.session.scalars(query.limit(limit)).all()

    def chain(self, batch: int = 1000) -> Iterator[ChainedEvent]:
        """Every event in id order, read in batches (keyset pagination)."""
        after: int | None = None
        while True:
            query = select(AuditEvent).order_by(AuditEvent.id).limit(batch)
            if after is not None:
                query = query.where(AuditEvent.id > after)
            rows = self.session.scalars(query).all()
            if not rows:
                return
            for row in rows:
                yield to_chained(row)
            after = rows[-1].id
            for row in rows:
                self.session.expunge(row)

    # -------------------------------------------------------------------------- keys, anchors

    def current_key(self) -> AuditKey | None:
        return self.session.scalar(select(AuditKey).order_by(AuditKey.id.desc()).limit(1))

    def audit_keys(self) -> Sequence[AuditKey]:
        return self.session.scalars(select(AuditKey).order_by(AuditKey.id)).all()

    def add_key(self, *, key_reference: str, public_key_der: bytes, at: dt.datetime) -> AuditKey:
        key = AuditKey(key_reference=key_reference, public_key_der=public_key_der, created_at=at)
        self.session.add(key)
        self.session.flush()
        return key

    def latest_anchor(self) -> AuditAnchor | None:
        return self.session.scalar(select(AuditAnchor).order_by(AuditAnchor.id.desc()).limit(1))

    def add_anchor(
        self, *, at: dt.datetime, last_event_id: int, chain_hash: str, key_id: int, signature: bytes
    ) -> AuditAnchor:
        anchor = AuditAnchor(
            at=at,
            last_event_id=last_event_id,
            chain_hash=chain_hash,
            key_id=key_id,
            signature=signature,
        )
        self.session.add(anchor)
        self.session.flush()
        return anchor

    def anchors(self) -> Sequence[AnchorRecord]:
        return [
            AnchorRecord(
                id=a.id,
                at=a.at,
                last_event_id=a.last_event_id,
                chain_hash=a.chain_hash,
                signature=a.signature,
                key_id=a.key_id,
            )
            for a in self.session.scalars(select(AuditAnchor).order_by(AuditAnchor.id))
        ]
