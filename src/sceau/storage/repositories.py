"""Every query of the application lives here, grouped by aggregate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from sceau.storage.tables import (
    AuditEvent,
    Certificate,
    CertificateAuthority,
    OcspResponder,
    OcspResponse,
    RevocationList,
    Structure,
)


class AuthorityRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, *, certificate: Any, **fields: Any) -> CertificateAuthority:
        from cryptography.hazmat.primitives import serialization

        authority = CertificateAuthority(
            subject=certificate.subject.rfc4514_string(),
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            next_crl_number=1,
            **fields,
        )
        self.session.add(authority)
        self.session.flush()
        return authority

    def by_slug(self, slug: str) -> CertificateAuthority | None:
        return self.session.scalar(select(CertificateAuthority).where(CertificateAuthority.slug == slug))

    def by_id(self, authority_id: int) -> CertificateAuthority | None:
        return self.session.get(CertificateAuthority, authority_id)

    def by_file_stem(self, stem: str) -> CertificateAuthority | None:
        return self.session.scalar(
            select(CertificateAuthority).where(CertificateAuthority.file_stem == stem)
        )

    def by_role(self, environment: str, role: str) -> CertificateAuthority | None:
        return self.session.scalar(
            select(CertificateAuthority).where(
                CertificateAuthority.environment == environment,
                CertificateAuthority.role == role,
            )
        )

    def all(self) -> Sequence[CertificateAuthority]:
        return self.session.scalars(select(CertificateAuthority).order_by(CertificateAuthority.id)).all()

    def take_crl_number(self, authority_id: int) -> int:
        """Atomically reserve the next CRL number (row lock on PostgreSQL)."""
        authority = self.session.scalar(
            select(CertificateAuthority)
            .where(CertificateAuthority.id == authority_id)
            .with_for_update()
        )
        assert authority is not None
        number = authority.next_crl_number
        authority.next_crl_number = number + 1
        self.session.flush()
        return number


class StructureRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> Structure:
        structure = Structure(**fields)
        self.session.add(structure)
        self.session.flush()
        return structure

    def add(self, structure: Structure) -> Structure:
        self.session.add(structure)
        self.session.flush()
        return structure

    def by_id(self, structure_id: int) -> Structure | None:
        return self.session.get(Structure, structure_id)

    def by_idnst(self, idnst: str) -> Structure | None:
        return self.session.scalar(select(Structure).where(Structure.idnst == idnst))

    def by_reference(self, reference: str) -> Structure | None:
        """An IDNST, or a FINESS géographique (then IDNST ``1`` + FINESS)."""
        reference = reference.strip().upper()
        found = self.by_idnst(reference)
        if found is None and len(reference) == 9:
            found = self.by_idnst("1" + reference)
        return found

    def search(self, text: str | None = None, limit: int = 50, offset: int = 0) -> Sequence[Structure]:
        query = select(Structure).order_by(Structure.raison_sociale, Structure.id)
        if text:
            pattern = f"%{text.strip().upper()}%"
            query = query.where(
                or_(
                    func.upper(Structure.raison_sociale).like(pattern),
                    Structure.idnst.like(pattern),
                    Structure.finess_et.like(pattern),
                )
            )
        return self.session.scalars(query.limit(limit).offset(offset)).all()


class CertificateRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> Certificate:
        certificate = Certificate(**fields)
        self.session.add(certificate)
        self.session.flush()
        return certificate

    def add(self, certificate: Certificate) -> Certificate:
        self.session.add(certificate)
        self.session.flush()
        return certificate

    def serial_exists(self, serial: str) -> bool:
        return self.session.scalar(select(func.count()).where(Certificate.serial == serial)) != 0

    def by_serial(self, serial: str, *, for_update: bool = False) -> Certificate | None:
        query = select(Certificate).where(Certificate.serial == serial.lower())
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def by_key_fingerprint(self, fingerprint: str) -> Sequence[Certificate]:
        return self.session.scalars(
            select(Certificate).where(Certificate.key_fingerprint == fingerprint)
        ).all()

    def pending(self, prepared_before: dt.datetime, limit: int = 100) -> Sequence[Certificate]:
        """Recorded intents not yet signed; locked so two processes never take the same one."""
        return self.session.scalars(
            select(Certificate)
            .where(Certificate.status == "prepared", Certificate.prepared_at <= prepared_before)
            .order_by(Certificate.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()

    def mark_issued(self, certificate_id: int, der: bytes, at: dt.datetime) -> bool:
        result = self.session.execute(
            update(Certificate)
            .where(Certificate.id == certificate_id, Certificate.status == "prepared")
            .values(status="issued", certificate_der=der, issued_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult

    def revoked_for(self, authority_id: int) -> list[tuple[str, dt.datetime, str | None]]:
        """(serial, revocation time, reason) of every revoked, unexpired-or-not certificate."""
        rows = self.session.execute(
            select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason)
            .where(Certificate.authority_id == authority_id, Certificate.revoked_at.is_not(None))
            .order_by(Certificate.revoked_at, Certificate.serial)
        ).all()
        return [(serial, revoked_at, reason) for serial, revoked_at, reason in rows]

    def revoked_since(self, authority_id: int, since: dt.datetime) -> list[tuple[str, dt.datetime, str | None]]:
        rows = self.session.execute(
            select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason)
            .where(Certificate.authority_id == authority_id, Certificate.revoked_at > since)
            .order_by(Certificate.revoked_at, Certificate.serial)
        ).all()
        return [(serial, revoked_at, reason) for serial, revoked_at, reason in rows]

    def latest_revocation(self, authority_id: int) -> dt.datetime | None:
        return self.session.scalar(
            select(func.max(Certificate.revoked_at)).where(Certificate.authority_id == authority_id)
        )

    def list(
        self,
        *,
        structure_id: int | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Certificate]:
        query = select(Certificate).order_by(Certificate.id.desc())
        if structure_id is not None:
            query = query.where(Certificate.structure_id == structure_id)
        if status is not None:
            query = query.where(Certificate.status == status)
        return self.session.scalars(query.limit(limit).offset(offset)).all()


class RevocationListRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, crl: RevocationList) -> RevocationList:
        self.session.add(crl)
        self.session.flush()
        return crl

    def latest(self, authority_id: int, *, delta: bool) -> RevocationList | None:
        query = select(RevocationList).where(RevocationList.authority_id == authority_id)
        query = query.where(
            RevocationList.delta_base.is_not(None) if delta else RevocationList.delta_base.is_(None)
        )
        return self.session.scalar(query.order_by(RevocationList.number.desc()).limit(1))


class OcspRepository:
    def __init__(self, session: Session):
        self.session = session

    def responder(self, authority_id: int, valid_at: dt.datetime) -> OcspResponder | None:
        return self.session.scalar(
            select(OcspResponder)
            .where(OcspResponder.authority_id == authority_id, OcspResponder.not_after > valid_at)
            .order_by(OcspResponder.not_after.desc())
            .limit(1)
        )

    def add_responder(self, responder: OcspResponder) -> OcspResponder:
        self.session.add(responder)
        self.session.flush()
        return responder

    def response(self, serial: str) -> OcspResponse | None:
        return self.session.scalar(select(OcspResponse).where(OcspResponse.serial == serial))

    def save_response(self, response: OcspResponse) -> None:
        self.session.merge(response)

    def responses_since(self, since: dt.datetime | None) -> Sequence[Any]:
        query = select(OcspResponse.serial, OcspResponse.der, OcspResponse.this_update)
        if since is not None:
            query = query.where(OcspResponse.this_update >= since)
        return self.session.execute(query).all()


class AuditRepository:
    def __init__(self, session: Session):
        self.session = session

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
        event = AuditEvent(
            at=at, actor=actor, action=action, outcome=outcome, target=target, details=details, source=source
        )
        self.session.add(event)
        self.session.flush()
        return event

    def list(self, *, action: str | None = None, limit: int = 100) -> Sequence[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.id.desc())
        if action:
            query = query.where(AuditEvent.action == action)
        return self.session.scalars(query.limit(limit)).all()
