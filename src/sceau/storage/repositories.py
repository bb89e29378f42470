"""Queries of the PKI aggregates: authorities, structures, certificates, CRLs, OCSP, audit.

The registry's are in ``registry_repositories``, the orders' in ``order_repositories``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, exists, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sceau.storage.audit_repository import AuditChainRepository
from sceau.storage.tables import (
    Certificate,
    CertificateAuthority,
    Habilitation,
    LegalRepresentative,
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
        return self.session.scalar(
            select(CertificateAuthority).where(CertificateAuthority.slug == slug)
        )

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
        return self.session.scalars(
            select(CertificateAuthority).order_by(CertificateAuthority.id)
        ).all()

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

    def search(
        self,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        visible_to_person: int | None = None,
        only_ids: frozenset[int] | None = None,
        include_closed: bool = True,
    ) -> Sequence[Structure]:
        """Structures by text; ``visible_to_person`` keeps those the person is habilitated for
        (active habilitation) or legally represents; ``only_ids`` keeps the given ids."""
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
        if visible_to_person is not None:
            query = query.where(_visible_to_person(visible_to_person))
        if only_ids is not None:
            query = query.where(Structure.id.in_(sorted(only_ids)) if only_ids else false())
        if not include_closed:
            query = query.where(Structure.is_open.is_(True))
        return self.session.scalars(query.limit(limit).offset(offset)).all()

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Structure)) or 0)

    def by_idnsts(self, idnsts: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Rows (as dicts of columns) for many IDNSTs in one query, keyed by IDNST."""
        if not idnsts:
            return {}
        table = Structure.__table__
        rows = self.session.execute(select(table).where(table.c.idnst.in_(list(idnsts))))
        return {row.idnst: dict(row._mapping) for row in rows}

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(Structure), list(rows))

    def update_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk UPDATE by primary key: each dict holds ``id`` and the changed columns."""
        if rows:
            self.session.execute(update(Structure), list(rows))

    def update(self, structure: Structure, **fields: Any) -> Structure:
        for name, value in fields.items():
            setattr(structure, name, value)
        self.session.flush()
        return structure


def _visible_to_person(person_id: int) -> Any:
    habilitated = exists().where(
        and_(
            Habilitation.structure_id == Structure.id,
            Habilitation.person_id == person_id,
            Habilitation.revoked_at.is_(None),
        )
    )
    represented = exists().where(
        and_(
            LegalRepresentative.structure_id == Structure.id,
            LegalRepresentative.person_id == person_id,
            LegalRepresentative.until.is_(None),
        )
    )
    return or_(habilitated, represented)


KeyUse = tuple[str, int | None, str | None]  # serial, structure id, revocation reason


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

    def create_many(self, rows: Sequence[dict[str, Any]]) -> list[Certificate]:
        """Several certificate rows with one flush (one multi-row INSERT … RETURNING)."""
        certificates = [Certificate(**fields) for fields in rows]
        self.session.add_all(certificates)
        self.session.flush()
        return certificates

    def by_id(self, certificate_id: int) -> Certificate | None:
        return self.session.get(Certificate, certificate_id)

    def serial_exists(self, serial: str) -> bool:
        return self.session.scalar(select(func.count()).where(Certificate.serial == serial)) != 0

    def by_serial(self, serial: str, *, for_update: bool = False) -> Certificate | None:
        query = select(Certificate).where(Certificate.serial == serial.lower())
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def existing_serials(self, serials: Sequence[str]) -> set[str]:
        """Which of ``serials`` are taken (one query for a batch)."""
        if not serials:
            return set()
        return set(
            self.session.scalars(select(Certificate.serial).where(Certificate.serial.in_(serials)))
        )

    def key_uses(
        self, fingerprints: Sequence[str]
    ) -> dict[str, list[tuple[str, int | None, str | None]]]:
        """(serial, structure id, revocation reason) of the certificates of each public key."""
        found: dict[str, list[tuple[str, int | None, str | None]]] = {f: [] for f in fingerprints}
        if not fingerprints:
            return found
        rows = self.session.execute(
            select(
                Certificate.key_fingerprint,
                Certificate.serial,
                Certificate.structure_id,
                Certificate.revocation_reason,
            ).where(Certificate.key_fingerprint.in_(set(fingerprints)))
        )
        for fingerprint, serial, structure_id, reason in rows:
            found[fingerprint].append((serial, structure_id, reason))
        return found

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

    def ocsp_due(
        self, authority_id: int, now: dt.datetime, horizon: dt.datetime
    ) -> list[tuple[int, str, dt.datetime | None, str | None]]:
        """(id, serial, revoked_at, reason) of the CA's valid issued certificates whose stored
        OCSP response is missing, says another status, or ends before ``horizon``: one query,
        however many certificates and responses the store holds."""
        current = case((Certificate.revoked_at.is_not(None), "revoked"), else_="good")
        rows = self.session.execute(
            select(
                Certificate.id,
                Certificate.serial,
                Certificate.revoked_at,
                Certificate.revocation_reason,
            )
            .outerjoin(OcspResponse, OcspResponse.certificate_id == Certificate.id)
            .where(
                Certificate.authority_id == authority_id,
                Certificate.status == "issued",
                Certificate.not_after > now,
                or_(
                    OcspResponse.certificate_id.is_(None),
                    OcspResponse.status != current,
                    OcspResponse.next_update <= horizon,
                ),
            )
            .order_by(Certificate.id)
        )
        return [(row.id, row.serial, row.revoked_at, row.revocation_reason) for row in rows]

    def mark_many_issued(self, signed: Sequence[tuple[int, bytes]], at: dt.datetime) -> None:
        """``mark_issued`` for several (id, DER) pairs in one executemany (rows still
        ``prepared`` only: a row a recovery already completed is left as it is)."""
        if not signed:
            return
        from sqlalchemy import bindparam

        self.session.connection().execute(
            update(Certificate.__table__)  # type: ignore[arg-type]
            .where(
                Certificate.__table__.c.id == bindparam("certificate_id"),
                Certificate.__table__.c.status == "prepared",
            )
            .values(status="issued", certificate_der=bindparam("der"), issued_at=at),
            [{"certificate_id": certificate_id, "der": der} for certificate_id, der in signed],
        )
        for certificate_id, _ in signed:  # rows loaded in this session show the new state
            loaded = self.session.identity_map.get(
                self.session.identity_key(Certificate, certificate_id)
            )
            if loaded is not None:
                self.session.expire(loaded)

    def revoked_for(self, authority_id: int) -> list[tuple[str, dt.datetime, str | None]]:
        """(serial, revocation time, reason) of every revoked, unexpired-or-not certificate."""
        rows = self.session.execute(
            select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason)
            .where(Certificate.authority_id == authority_id, Certificate.revoked_at.is_not(None))
            .order_by(Certificate.revoked_at, Certificate.serial)
        ).all()
        return [(serial, revoked_at, reason) for serial, revoked_at, reason in rows if revoked_at]

    def revoked_since(
        self, authority_id: int, since: dt.datetime
    ) -> list[tuple[str, dt.datetime, str | None]]:
        rows = self.session.execute(
            select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason)
            .where(Certificate.authority_id == authority_id, Certificate.revoked_at > since)
            .order_by(Certificate.revoked_at, Certificate.serial)
        ).all()
        return [(serial, revoked_at, reason) for serial, revoked_at, reason in rows if revoked_at]

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

    def create(self, **fields: Any) -> RevocationList:
        crl = RevocationList(**fields)
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

    def create_responder(self, **fields: Any) -> OcspResponder:
        responder = OcspResponder(**fields)
        self.session.add(responder)
        self.session.flush()
        return responder

    def response(self, serial: str) -> OcspResponse | None:
        return self.session.scalar(select(OcspResponse).where(OcspResponse.serial == serial))

    def save_response(self, **fields: Any) -> None:
        """Insert or replace the certificate's response in one statement.

        Several processes (a server after a revocation, the workers on their schedule) may
        save the response of the same certificate at once: a read-then-insert would let two
        of them insert and one fail on the primary key. The newer ``this_update`` wins.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        columns = ("certificate_id", "authority_id", "serial", "status", "this_update")
        values = {column: fields[column] for column in (*columns, "next_update", "der")}
        statement = upsert(OcspResponse).values(**values)
        excluded = statement.excluded
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["certificate_id"],
                set_={
                    column: getattr(excluded, column)
                    for column in values
                    if column != "certificate_id"
                },
                where=OcspResponse.this_update <= excluded.this_update,
            )
        )

    def responses_since(self, since: dt.datetime | None) -> Sequence[Any]:
        query = select(OcspResponse.serial, OcspResponse.der, OcspResponse.this_update)
        if since is not None:
            query = query.where(OcspResponse.this_update >= since)
        return self.session.execute(query).all()


class AuditRepository(AuditChainRepository):
    """The audit log: chained, tamper-evident appends (see ``sceau.storage.audit_repository``)."""
