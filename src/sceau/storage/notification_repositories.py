"""Queries of the notification side: outbox, expiry notices, job leases, calendar, metrics.

One module per area of the storage layer (``repositories`` for the PKI aggregates,
``registry_repositories``, ``order_repositories``, ``api_repositories``,
``session_repositories``); ``unit_of_work`` binds them all to one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, case, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from sceau.storage.tables import (
    CalendarToken,
    Certificate,
    ExpiryNotice,
    Habilitation,
    JobLease,
    OutboxMessage,
    Person,
    Structure,
)

DAY = dt.timedelta(days=1)


def _renewed(newer: Any) -> Any:
    """A newer issued certificate replaces this one."""
    return exists().where(and_(newer.replaces_id == Certificate.id, newer.status == "issued"))


class OutboxRepository:
    """Rendered e-mails and their delivery state (see ``OutboxMessage`` for the status cycle)."""

    def __init__(self, session: Session):
        self.session = session

    def add(self, **fields: Any) -> OutboxMessage:
        message = OutboxMessage(**fields)
        self.session.add(message)
        self.session.flush()
        return message

    def by_id(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    def by_dedup_key(self, key: str, *, for_update: bool = False) -> OutboxMessage | None:
        query = select(OutboxMessage).where(OutboxMessage.dedup_key == key)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def claim(
        self, *, now: dt.datetime, owner: str, lease_until: dt.datetime, limit: int
    ) -> list[OutboxMessage]:
        """Lease up to ``limit`` due pending messages to ``owner`` (SKIP LOCKED on PostgreSQL;
        SQLite's BEGIN IMMEDIATE serialises claimers). The caller commits at once."""
        rows = self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.status = "claimed"
            row.locked_by = owner
            row.locked_until = lease_until
            row.attempts = (row.attempts or 0) + 1
        self.session.flush()
        return list(rows)

    def _transition(self, message_id: int, owner: str, frm: str, **values: Any) -> bool:
        result = self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == frm,
                OutboxMessage.locked_by == owner,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult

    def mark_sending(self, message_id: int, owner: str, lease_until: dt.datetime) -> bool:
        return self._transition(
            message_id, owner, "claimed", status="sending", locked_until=lease_until
        )

    def mark_sent(self, message_id: int, owner: str, at: dt.datetime) -> bool:
        return self._transition(
            message_id, owner, "sending", status="sent", sent_at=at, locked_until=None
        )

    def mark_retry(
        self, message_id: int, owner: str, *, frm: str, next_attempt_at: dt.datetime, error: str
    ) -> bool:
        return self._transition(
            message_id,
            owner,
            frm,
            status="pending",
            next_attempt_at=next_attempt_at,
            locked_by=None,
            locked_until=None,
            last_error=error,
        )

    def mark_failed(self, message_id: int, owner: str, *, frm: str, error: str) -> bool:
        return self._transition(
            message_id, owner, frm, status="failed", locked_until=None, last_error=error
        )

    def mark_unknown(self, message_id: int, owner: str, *, error: str) -> bool:
        return self._transition(
            message_id, owner, "sending", status="unknown", locked_until=None, last_error=error
        )

    def release(self, message_id: int, owner: str) -> bool:
        """Give back a claimed message never handed to the server (the attempt is not counted)."""
        return self._transition(
            message_id,
            owner,
            "claimed",
            status="pending",
            locked_by=None,
            locked_until=None,
            attempts=OutboxMessage.attempts - 1,
        )

    def recover_expired(self, now: dt.datetime) -> tuple[int, int]:
        """Expired leases: ``claimed`` goes back to ``pending`` (nothing was handed over);
        ``sending`` becomes ``unknown`` (the server may have accepted it: never resent)."""
        back = self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "claimed", OutboxMessage.locked_until < now)
            .values(status="pending", locked_by=None, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        unknown = self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.locked_until < now)
            .values(
                status="unknown",
                locked_until=None,
                last_error="the worker stopped while the SMTP server had the message; "
                "it may have been delivered, so it is not sent again automatically",
            )
            .execution_options(synchronize_session=False)
        )
        return int(back.rowcount), int(unknown.rowcount)  # type: ignore[attr-defined]

    def requeue(self, message_id: int, now: dt.datetime) -> bool:
        """Operator decision: send a ``failed`` or ``unknown`` message again."""
        result = self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status.in_(["failed", "unknown"]))
            .values(status="pending", next_attempt_at=now, locked_by=None, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def counts_by_status(self) -> dict[str, int]:
        rows = self.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
        return {status: int(count) for status, count in rows}

    def oldest_pending(self) -> dt.datetime | None:
        return self.session.scalar(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status.in_(["pending", "claimed", "sending"])
            )
        )

    def list(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 100
    ) -> Sequence[OutboxMessage]:
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
        if status is not None:
            query = query.where(OutboxMessage.status == status)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return self.session.scalars(query.limit(limit)).all()


class ExpiryRepository:
    """Certificates due for an expiry reminder, and the reminders already given."""

    def __init__(self, session: Session):
        self.session = session

    def last_certificate_id(self) -> int:
        return int(self.session.scalar(select(func.max(Certificate.id))) or 0)

    def due_in_band(
        self,
        offset_days: int,
        *,
        after: dt.datetime,
        until: dt.datetime,
        limit: int,
        id_above: int | None = None,
    ) -> list[dict[str, Any]]:
        """Issued, unrevoked, unrenewed certificates with ``after < not_after <= until`` and no
        notice yet at ``offset_days`` (and ``id > id_above`` when given). Range scan on
        ``not_after`` (or on the primary key with ``id_above``); both NOT EXISTS are index
        lookups (``ix_certificates_replaces_id``, the notice's unique constraint)."""
        newer = aliased(Certificate)
        query = (
            select(
                Certificate.id,
                Certificate.serial,
                Certificate.common_name,
                Certificate.usage,
                Certificate.not_after,
                Certificate.structure_id,
            )
            .where(
                Certificate.not_after > after,
                Certificate.not_after <= until,
                Certificate.status == "issued",
                Certificate.revoked_at.is_(None),
                ~_renewed(newer),
                ~exists().where(
                    and_(
                        ExpiryNotice.certificate_id == Certificate.id,
                        ExpiryNotice.offset_days == offset_days,
                    )
                ),
            )
            .limit(limit)
        )
        if id_above is not None:  # new rows only: walk the primary key
            query = query.where(Certificate.id > id_above).order_by(Certificate.id)
        else:
            query = query.order_by(Certificate.not_after, Certificate.id)
        return [dict(row._mapping) for row in self.session.execute(query)]

    def record(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert notices (``certificate_id``, ``offset_days``, ``noticed_at``, ``outcome``)."""
        batch = list(rows)
        if batch:
            self.session.execute(insert(ExpiryNotice), batch)

    def notices(self, certificate_id: int) -> Sequence[ExpiryNotice]:
        return self.session.scalars(
            select(ExpiryNotice)
            .where(ExpiryNotice.certificate_id == certificate_id)
            .order_by(ExpiryNotice.offset_days.desc())
        ).all()

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(ExpiryNotice)) or 0)

    def administrators(self, structure_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """Active technical administrators per structure: person id, name and e-mail (the
        habilitation's e-mail first, else the person's)."""
        ids = sorted(set(structure_ids))
        found: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.session.execute(
                select(
                    Habilitation.structure_id,
                    Person.id,
                    Person.given_name,
                    Person.family_name,
                    func.coalesce(Habilitation.email, Person.email),
                )
                .join(Person, Person.id == Habilitation.person_id)
                .where(Habilitation.structure_id.in_(chunk), Habilitation.revoked_at.is_(None))
                .order_by(Habilitation.id)
            ).all()
            for structure_id, person_id, given, family, email in rows:
                if email:
                    found.setdefault(structure_id, []).append(
                        {"person_id": person_id, "name": f"{given} {family}", "email": email}
                    )
        return found

    def order_contacts(self, certificate_ids: Iterable[int]) -> dict[int, list[str]]:
        """The order's "e-mail de l'acteur" and CC per certificate ordered through DEMANDER."""
        from sceau.storage.tables import CertificateOrder, OrderProduct

        ids = sorted(set(certificate_ids))
        found: dict[int, list[str]] = {}
        for start in range(0, len(ids), 500):
            rows = self.session.execute(
                select(
                    OrderProduct.certificate_id,
                    CertificateOrder.actor_email,
                    CertificateOrder.cc_email,
                )
                .join(CertificateOrder, CertificateOrder.id == OrderProduct.order_id)
                .where(OrderProduct.certificate_id.in_(ids[start : start + 500]))
            ).all()
            for certificate_id, actor_email, cc_email in rows:
                if certificate_id is not None:
                    found[certificate_id] = [e for e in (actor_email, cc_email) if e]
        return found

    def structures(self, structure_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = sorted(set(structure_ids))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            rows = self.session.execute(
                select(
                    Structure.id, Structure.idnst, Structure.finess_et, Structure.raison_sociale
                ).where(Structure.id.in_(ids[start : start + 500]))
            ).all()
            for row in rows:
                found[row.id] = dict(row._mapping)
        return found

    def upcoming_for_person(
        self, person_id: int, *, now: dt.datetime, horizon: dt.datetime
    ) -> list[dict[str, Any]]:
        """Certificates of the structures the person administers that expire before
        ``horizon`` (issued, unrevoked, not renewed), soonest first."""
        newer = aliased(Certificate)
        rows = self.session.execute(
            select(
                Certificate.id,
                Certificate.serial,
                Certificate.common_name,
                Certificate.usage,
                Certificate.not_after,
                Structure.idnst,
                Structure.raison_sociale,
            )
            .join(Structure, Structure.id == Certificate.structure_id)
            .join(
                Habilitation,
                and_(
                    Habilitation.structure_id == Certificate.structure_id,
                    Habilitation.person_id == person_id,
                    Habilitation.revoked_at.is_(None),
                ),
            )
            .where(
                Certificate.status == "issued",
                Certificate.revoked_at.is_(None),
                Certificate.not_after > now,
                Certificate.not_after <= horizon,
                ~_renewed(newer),
            )
            .order_by(Certificate.not_after, Certificate.id)
        ).all()
        return [dict(row._mapping) for row in rows]


class JobLeaseRepository:
    """Cluster-wide leases on jobs, and their run figures (for /metrics)."""

    def __init__(self, session: Session):
        self.session = session

    def _ensure(self, name: str) -> None:
        if self.session.get(JobLease, name) is not None:
            return
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        try:
            with self.session.begin_nested():
                self.session.add(
                    JobLease(
                        name=name,
                        owner=None,
                        expires_at=epoch,
                        runs=0,
                        failures=0,
                        total_duration_seconds=0.0,
                    )
                )
        except IntegrityError:  # another process made it first
            pass

    def acquire(self, name: str, owner: str, *, now: dt.datetime, until: dt.datetime) -> bool:
        """Take (or extend) the lease if it is free, expired, or already ours."""
        self._ensure(name)
        result = self.session.execute(
            update(JobLease)
            .where(JobLease.name == name)
            .where((JobLease.expires_at <= now) | (JobLease.owner == owner))
            .values(owner=owner, expires_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, name: str, owner: str, *, now: dt.datetime) -> None:
        self.session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.owner == owner)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )

    def record_run(
        self, name: str, *, started_at: dt.datetime, duration: float, error: str | None
    ) -> None:
        self._ensure(name)
        self.session.execute(
            update(JobLease)
            .where(JobLease.name == name)
            .values(
                runs=JobLease.runs + 1,
                failures=JobLease.failures + (1 if error else 0),
                last_started_at=started_at,
                last_duration_seconds=duration,
                total_duration_seconds=JobLease.total_duration_seconds + duration,
                last_error=error,
            )
            .execution_options(synchronize_session=False)
        )

    def watermark(self, name: str) -> tuple[dt.datetime, int] | None:
        """A job's progress mark: (time, highest row id) of its last complete pass. Kept in
        a ``job_leases`` row named ``<name>:watermark`` (``expires_at`` = time, ``runs`` = id);
        that row is never leased."""
        row = self.session.get(JobLease, f"{name}:watermark")
        if row is None or row.last_started_at is None:
            return None
        return row.expires_at, int(row.runs)

    def set_watermark(self, name: str, at: dt.datetime, last_id: int) -> None:
        key = f"{name}:watermark"
        self._ensure(key)
        self.session.execute(
            update(JobLease)
            .where(JobLease.name == key)
            .values(expires_at=at, runs=last_id, last_started_at=at)
            .execution_options(synchronize_session=False)
        )

    def by_name(self, name: str) -> JobLease | None:
        return self.session.get(JobLease, name)

    def all(self) -> Sequence[JobLease]:
        return self.session.scalars(select(JobLease).order_by(JobLease.name)).all()


class CalendarTokenRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> CalendarToken:
        token = CalendarToken(**fields)
        self.session.add(token)
        self.session.flush()
        return token

    def active_by_hash(self, token_hash: str) -> CalendarToken | None:
        return self.session.scalar(
            select(CalendarToken).where(
                CalendarToken.token_hash == token_hash, CalendarToken.revoked_at.is_(None)
            )
        )

    def for_person(self, person_id: int) -> Sequence[CalendarToken]:
        return self.session.scalars(
            select(CalendarToken)
            .where(CalendarToken.person_id == person_id)
            .order_by(CalendarToken.id)
        ).all()

    def by_id(self, token_id: int) -> CalendarToken | None:
        return self.session.get(CalendarToken, token_id)


class MetricsRepository:
    """Aggregates for the Prometheus exposition."""

    def __init__(self, session: Session):
        self.session = session

    def certificates_by_state(self, now: dt.datetime) -> dict[str, int]:
        state = case(
            (Certificate.status != "issued", Certificate.status),
            (Certificate.revoked_at.is_not(None), "revoked"),
            (Certificate.not_after <= now, "expired"),
            else_="valid",
        )
        rows = self.session.execute(select(state, func.count()).group_by(state)).all()
        return {str(name): int(count) for name, count in rows}

    def expiring_within(self, now: dt.datetime, days: Sequence[int]) -> dict[int, int]:
        """Valid certificates (issued, unrevoked, unexpired) expiring within each horizon."""
        columns = [
            func.sum(case((Certificate.not_after <= now + d * DAY, 1), else_=0)) for d in days
        ]
        row = self.session.execute(
            select(*columns).where(
                Certificate.status == "issued",
                Certificate.revoked_at.is_(None),
                Certificate.not_after > now,
                Certificate.not_after <= now + max(days) * DAY,
            )
        ).one()
        return {d: int(value or 0) for d, value in zip(days, row, strict=True)}
