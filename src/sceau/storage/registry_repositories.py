"""Queries of the registry: vendors, contracts, persons, cards, legal representatives,
habilitations, and the domain events they raise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.orm import Session

from sceau.storage.tables import (
    Card,
    Contract,
    DomainEvent,
    Habilitation,
    HabilitationRequest,
    LegalRepresentative,
    Person,
    Vendor,
)


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
