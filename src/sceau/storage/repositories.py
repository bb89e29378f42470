"""Every query of the application lives here, grouped by aggregate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, exists, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sceau.storage.audit_repository import AuditChainRepository
from sceau.storage.tables import (
    Card,
    Certificate,
    CertificateAuthority,
    CertificateOrder,
    Contract,
    DomainEvent,
    Habilitation,
    HabilitationRequest,
    LegalRepresentative,
    OcspResponder,
    OcspResponse,
    OrderProduct,
    Person,
    RevocationList,
    SecretAttempt,
    Structure,
    Vendor,
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


# ------------------------------------------------------------------------------------ registry


class VendorRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> Vendor:
        vendor = Vendor(**fields)
        self.session.add(vendor)
        self.session.flush()
        return vendor

    def by_id(self, vendor_id: int) -> Vendor | None:
        return self.session.get(Vendor, vendor_id)

    def by_siren(self, siren: str) -> Vendor | None:
        return self.session.scalar(select(Vendor).where(Vendor.siren == siren))

    def all(self) -> Sequence[Vendor]:
        return self.session.scalars(select(Vendor).order_by(Vendor.name, Vendor.id)).all()


class ContractRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> Contract:
        contract = Contract(**fields)
        self.session.add(contract)
        self.session.flush()
        return contract

    def by_reference(self, reference: str) -> Contract | None:
        return self.session.scalar(select(Contract).where(Contract.reference == reference))

    def for_holder(
        self, *, vendor_id: int | None = None, structure_id: int | None = None
    ) -> Sequence[Contract]:
        query = select(Contract).order_by(Contract.signed_on, Contract.id)
        if vendor_id is not None:
            query = query.where(Contract.vendor_id == vendor_id)
        if structure_id is not None:
            query = query.where(Contract.structure_id == structure_id)
        return self.session.scalars(query).all()

    def has_active(self, *, vendor_id: int | None = None, structure_id: int | None = None) -> bool:
        query = select(func.count()).select_from(Contract).where(Contract.status == "active")
        if vendor_id is not None:
            query = query.where(Contract.vendor_id == vendor_id)
        elif structure_id is not None:
            query = query.where(Contract.structure_id == structure_id)
        else:
            return False
        return bool(self.session.scalar(query))


class PersonRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> Person:
        person = Person(**fields)
        self.session.add(person)
        self.session.flush()
        return person

    def by_id(self, person_id: int) -> Person | None:
        return self.session.get(Person, person_id)

    def by_idnat(self, idnat: str) -> Person | None:
        return self.session.scalar(select(Person).where(Person.idnat == idnat))

    def search(self, text: str | None = None, limit: int = 50) -> Sequence[Person]:
        query = select(Person).order_by(Person.family_name, Person.given_name, Person.id)
        if text:
            pattern = f"%{text.strip().upper()}%"
            query = query.where(
                or_(func.upper(Person.family_name).like(pattern), Person.idnat.like(pattern))
            )
        return self.session.scalars(query.limit(limit)).all()


class CardRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> Card:
        card = Card(**fields)
        self.session.add(card)
        self.session.flush()
        return card

    def by_id(self, card_id: int) -> Card | None:
        return self.session.get(Card, card_id)

    def by_number(self, card_number: str) -> Card | None:
        return self.session.scalar(select(Card).where(Card.card_number == card_number))

    def number_exists(self, card_number: str) -> bool:
        return self.by_number(card_number) is not None

    def for_person(self, person_id: int) -> Sequence[Card]:
        return self.session.scalars(
            select(Card).where(Card.person_id == person_id).order_by(Card.id)
        ).all()

    def by_certificate_id(self, certificate_id: int) -> Card | None:
        return self.session.scalar(select(Card).where(Card.certificate_id == certificate_id))


class LegalRepresentativeRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, **fields: Any) -> LegalRepresentative:
        row = LegalRepresentative(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def structure_ids(self, person_id: int) -> frozenset[int]:
        rows = self.session.scalars(
            select(LegalRepresentative.structure_id).where(
                LegalRepresentative.person_id == person_id, LegalRepresentative.until.is_(None)
            )
        )
        return frozenset(rows)

    def for_structure(self, structure_id: int) -> Sequence[LegalRepresentative]:
        return self.session.scalars(
            select(LegalRepresentative).where(
                LegalRepresentative.structure_id == structure_id,
                LegalRepresentative.until.is_(None),
            )
        ).all()


class HabilitationRepository:
    def __init__(self, session: Session):
        self.session = session

    def create_request(self, **fields: Any) -> HabilitationRequest:
        request = HabilitationRequest(**fields)
        self.session.add(request)
        self.session.flush()
        return request

    def request_by_id(
        self, request_id: int, *, for_update: bool = False
    ) -> HabilitationRequest | None:
        query = select(HabilitationRequest).where(HabilitationRequest.id == request_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def requests(
        self,
        *,
        status: str | None = None,
        structure_ids: frozenset[int] | None = None,
        limit: int = 100,
    ) -> Sequence[HabilitationRequest]:
        query = select(HabilitationRequest).order_by(HabilitationRequest.id.desc())
        if status is not None:
            query = query.where(HabilitationRequest.status == status)
        if structure_ids is not None:
            ids = sorted(structure_ids)
            query = query.where(HabilitationRequest.structure_id.in_(ids) if ids else false())
        return self.session.scalars(query.limit(limit)).all()

    def grant(self, **fields: Any) -> Habilitation:
        habilitation = Habilitation(**fields)
        self.session.add(habilitation)
        self.session.flush()
        return habilitation

    def by_id(self, habilitation_id: int, *, for_update: bool = False) -> Habilitation | None:
        query = select(Habilitation).where(Habilitation.id == habilitation_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def active(self, person_id: int, structure_id: int) -> Habilitation | None:
        return self.session.scalar(
            select(Habilitation).where(
                Habilitation.person_id == person_id,
                Habilitation.structure_id == structure_id,
                Habilitation.revoked_at.is_(None),
            )
        )

    def active_for_structure(self, structure_id: int) -> Sequence[Habilitation]:
        return self.session.scalars(
            select(Habilitation)
            .where(Habilitation.structure_id == structure_id, Habilitation.revoked_at.is_(None))
            .order_by(Habilitation.id)
        ).all()

    def active_structure_ids(self, person_id: int) -> frozenset[int]:
        rows = self.session.scalars(
            select(Habilitation.structure_id).where(
                Habilitation.person_id == person_id, Habilitation.revoked_at.is_(None)
            )
        )
        return frozenset(rows)

    def list(
        self,
        *,
        structure_ids: frozenset[int] | None = None,
        include_revoked: bool = False,
        limit: int = 200,
    ) -> Sequence[Habilitation]:
        query = select(Habilitation).order_by(Habilitation.id.desc())
        if not include_revoked:
            query = query.where(Habilitation.revoked_at.is_(None))
        if structure_ids is not None:
            query = query.where(
                Habilitation.structure_id.in_(sorted(structure_ids)) if structure_ids else false()
            )
        return self.session.scalars(query.limit(limit)).all()

    def revoke(self, habilitation: Habilitation, *, at: dt.datetime, by: str, reason: str) -> None:
        habilitation.revoked_at = at
        habilitation.revoked_by = by
        habilitation.revocation_reason = reason
        self.session.flush()


class EventRepository:
    """Outbox of domain events (e.g. ``habilitation.granted``) for the notification worker."""

    def __init__(self, session: Session):
        self.session = session

    def record(
        self,
        *,
        at: dt.datetime,
        kind: str,
        subject: str | None = None,
        recipient: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> DomainEvent:
        event = DomainEvent(at=at, kind=kind, subject=subject, recipient=recipient, payload=payload)
        self.session.add(event)
        self.session.flush()
        return event

    def pending(self, limit: int = 100) -> Sequence[DomainEvent]:
        return self.session.scalars(
            select(DomainEvent)
            .where(DomainEvent.processed_at.is_(None))
            .order_by(DomainEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()

    def list(self, *, kind: str | None = None, limit: int = 100) -> Sequence[DomainEvent]:
        query = select(DomainEvent).order_by(DomainEvent.id.desc())
        if kind is not None:
            query = query.where(DomainEvent.kind == kind)
        return self.session.scalars(query.limit(limit)).all()

    def mark_processed(self, event_id: int, at: dt.datetime) -> None:
        self.session.execute(
            update(DomainEvent).where(DomainEvent.id == event_id).values(processed_at=at)
        )


# -------------------------------------------------------------------------------------- orders

_LIVE_STATES = ("issued", "retrieved", "expired")


def _effective_state(now: dt.datetime) -> Any:
    """SQL twin of ``registration.orders.states.effective_state``."""
    return case(
        (
            and_(
                Certificate.revoked_at.is_not(None),
                OrderProduct.state.in_(("issued", "retrieved", "revoked")),
            ),
            "revoked",
        ),
        (
            and_(OrderProduct.state.in_(_LIVE_STATES), Certificate.not_after <= now),
            "expired",
        ),
        else_=OrderProduct.state,
    )


class OrderRepository:
    """Orders (DEMANDER), their products, and the secret-attempt counters (RÉVOQUER by code)."""

    def __init__(self, session: Session):
        self.session = session

    def create_order(self, **fields: Any) -> CertificateOrder:
        order = CertificateOrder(**fields)
        self.session.add(order)
        self.session.flush()
        return order

    def create_product(self, **fields: Any) -> OrderProduct:
        product = OrderProduct(**fields)
        self.session.add(product)
        self.session.flush()
        return product

    def order_by_idempotency_ref(self, reference: str) -> CertificateOrder | None:
        return self.session.scalar(
            select(CertificateOrder).where(CertificateOrder.idempotency_ref == reference)
        )

    def order_by_id(self, order_id: int) -> CertificateOrder | None:
        return self.session.get(CertificateOrder, order_id)

    def products_of(self, order_id: int) -> Sequence[OrderProduct]:
        return self.session.scalars(
            select(OrderProduct).where(OrderProduct.order_id == order_id).order_by(OrderProduct.id)
        ).all()

    def product_by_id(self, product_id: int, *, for_update: bool = False) -> OrderProduct | None:
        query = select(OrderProduct).where(OrderProduct.id == product_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def product_by_certificate(
        self, certificate_id: int, *, for_update: bool = False
    ) -> OrderProduct | None:
        query = select(OrderProduct).where(OrderProduct.certificate_id == certificate_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def renewals_of(self, certificate_id: int) -> Sequence[OrderProduct]:
        return self.session.scalars(
            select(OrderProduct)
            .where(OrderProduct.renewal_of_id == certificate_id)
            .order_by(OrderProduct.id)
        ).all()

    def stale_requested(self, before: dt.datetime, limit: int = 100) -> Sequence[OrderProduct]:
        """Products left ``requested`` by a process that died during issuance."""
        return self.session.scalars(
            select(OrderProduct)
            .where(OrderProduct.state == "requested", OrderProduct.requested_at <= before)
            .order_by(OrderProduct.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()

    def wipe_pkcs12(self, product: OrderProduct) -> None:
        """Overwrite the stored PKCS#12 with zeros, write it, then drop it."""
        if product.pkcs12_blob is not None:
            product.pkcs12_blob = bytes(len(product.pkcs12_blob))
            self.session.flush()
        product.pkcs12_blob = None
        self.session.flush()

    def _filtered(
        self,
        query: Any,
        *,
        now: dt.datetime,
        structure_ids: frozenset[int] | None,
        structure_id: int | None = None,
        text: str | None = None,
        state: str | None = None,
        expires_before: dt.datetime | None = None,
        order_id: int | None = None,
    ) -> Any:
        if structure_ids is not None:
            ids = sorted(structure_ids)
            query = query.where(OrderProduct.structure_id.in_(ids) if ids else false())
        if structure_id is not None:
            query = query.where(OrderProduct.structure_id == structure_id)
        if order_id is not None:
            query = query.where(OrderProduct.order_id == order_id)
        if text:
            needle = text.strip()
            pattern = f"%{needle.upper()}%"
            serial = needle.lower().replace(":", "")
            if 32 <= len(serial) <= 40 and all(c in "0123456789abcdef" for c in serial):
                # A whole serial: an exact look-up on the unique index, not a scan.
                query = query.where(Certificate.serial == serial.lstrip("0").rjust(32, "0"))
            else:
                query = query.where(
                    or_(
                        func.upper(Structure.raison_sociale).like(pattern),
                        Structure.idnst.like(pattern),
                        Structure.finess_et.like(pattern),
                        func.upper(OrderProduct.service_applicatif).like(pattern),
                        Certificate.serial.like(f"%{serial}%"),
                    )
                )
        if state is not None:
            query = query.where(_effective_state(now) == state)
        if expires_before is not None:
            query = query.where(
                OrderProduct.state.in_(("issued", "retrieved")),
                Certificate.revoked_at.is_(None),
                Certificate.not_after > now,
                Certificate.not_after <= expires_before,
            )
        return query

    def search(
        self,
        *,
        now: dt.datetime,
        structure_ids: frozenset[int] | None = None,
        structure_id: int | None = None,
        text: str | None = None,
        state: str | None = None,
        expires_before: dt.datetime | None = None,
        order_id: int | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> Sequence[Any]:
        """(product, certificate or None, structure, effective state) rows, newest first.

        Keyset pagination: pass the last row's product id as ``before_id`` for the next page.
        """
        query = (
            select(OrderProduct, Certificate, Structure, _effective_state(now).label("effective"))
            .join(Structure, Structure.id == OrderProduct.structure_id)
            .outerjoin(Certificate, Certificate.id == OrderProduct.certificate_id)
        )
        query = self._filtered(
            query,
            now=now,
            structure_ids=structure_ids,
            structure_id=structure_id,
            text=text,
            state=state,
            expires_before=expires_before,
            order_id=order_id,
        )
        if before_id is not None:
            query = query.where(OrderProduct.id < before_id)
        return self.session.execute(query.order_by(OrderProduct.id.desc()).limit(limit)).all()

    def count_by_state(
        self,
        *,
        now: dt.datetime,
        structure_ids: frozenset[int] | None = None,
        structure_id: int | None = None,
    ) -> dict[str, int]:
        effective = _effective_state(now).label("effective")
        query = (
            select(effective, func.count())
            .select_from(OrderProduct)
            .outerjoin(Certificate, Certificate.id == OrderProduct.certificate_id)
        )
        query = self._filtered(
            query, now=now, structure_ids=structure_ids, structure_id=structure_id
        )
        rows = self.session.execute(query.group_by(effective)).all()
        return {str(state): int(count) for state, count in rows}

    def count_expiring(
        self,
        *,
        now: dt.datetime,
        before: dt.datetime,
        structure_ids: frozenset[int] | None = None,
        structure_id: int | None = None,
    ) -> int:
        query = (
            select(func.count())
            .select_from(OrderProduct)
            .join(Certificate, Certificate.id == OrderProduct.certificate_id)
        )
        query = self._filtered(
            query,
            now=now,
            structure_ids=structure_ids,
            structure_id=structure_id,
            expires_before=before,
        )
        return int(self.session.scalar(query) or 0)

    def record_attempt(
        self,
        *,
        kind: str,
        certificate_id: int | None,
        source: str | None,
        at: dt.datetime,
        success: bool,
    ) -> None:
        self.session.add(
            SecretAttempt(
                kind=kind, certificate_id=certificate_id, source=source, at=at, success=success
            )
        )
        self.session.flush()

    def failures_since(
        self,
        kind: str,
        since: dt.datetime,
        *,
        certificate_id: int | None = None,
        source: str | None = None,
    ) -> int:
        query = (
            select(func.count())
            .select_from(SecretAttempt)
            .where(
                SecretAttempt.kind == kind,
                SecretAttempt.at > since,
                SecretAttempt.success.is_(False),
            )
        )
        if certificate_id is not None:
            query = query.where(SecretAttempt.certificate_id == certificate_id)
        if source is not None:
            query = query.where(SecretAttempt.source == source)
        return int(self.session.scalar(query) or 0)
