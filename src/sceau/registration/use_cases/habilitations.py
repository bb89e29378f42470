"""Habilitations of technical administrators: request (SEGUR order form), approve or reject,
replace (form 503), withdraw (legal representative). Every step is audited and leaves a
domain event (``habilitation.granted`` …) for the notification worker to mail.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor, authorize, visible_structure_ids
from sceau.registration.identifiers import validate_card_number
from sceau.registration.ports import Services
from sceau.registration.use_cases.persons import validate_email, validate_phone
from sceau.registration.use_cases.registry_common import (
    as_actor,
    audit,
    load_structure,
    open_uow,
    require_operator,
)

EDITEUR = "editeur"
PHARMACIEN = "pharmacien"
PHARMACIST_PROFESSION = 21
_STATUSES = {"editeur": EDITEUR, "éditeur": EDITEUR, "pharmacien": PHARMACIEN}


def administrator_status(value: str) -> str:
    status = _STATUSES.get(value.strip().lower())
    if status is None:
        raise SceauError(
            "administrator_status",
            f"statut d'administrateur {value!r} inconnu: « éditeur » ou « pharmacien » attendu",
        )
    return status


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


@dataclass(frozen=True)
class HabilitationView:
    id: int
    structure_id: int
    structure_idnst: str
    person_idnat: str
    administrator_name: str
    administrator_status: str
    email: str | None
    granted_at: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str | None

    @classmethod
    def of(cls, uow: Any, row: Any) -> HabilitationView:
        structure = uow.structures.by_id(row.structure_id)
        person = uow.persons.by_id(row.person_id)
        return cls(
            row.id,
            row.structure_id,
            structure.idnst,
            person.idnat,
            f"{person.given_name} {person.family_name}",
            row.administrator_status,
            row.email,
            row.granted_at,
            row.revoked_at,
            row.revocation_reason,
        )


@dataclass(frozen=True)
class HabilitationRequestView:
    id: int
    structure_idnst: str
    administrator_status: str
    administrator_name: str
    card_number: str
    email: str
    form: str
    status: str
    reason: str | None

    @classmethod
    def of(cls, uow: Any, row: Any) -> HabilitationRequestView:
        structure = uow.structures.by_id(row.structure_id)
        return cls(
            row.id,
            structure.idnst,
            row.administrator_status,
            row.administrator_name,
            row.card_number,
            row.email,
            row.form,
            row.status,
            row.reason,
        )


@dataclass(frozen=True)
class AdministratorForm:
    """The certificate section of the SEGUR order form (also the "new" part of a form 503)."""

    administrator_status: str  # éditeur | pharmacien
    administrator_name: str
    card_number: str
    email: str
    phone: str | None = None

    def cleaned(self) -> AdministratorForm:
        name = " ".join(self.administrator_name.split())
        if not name or len(name) > 128:
            raise SceauError("administrator_name", "nom de l'administrateur technique obligatoire")
        return AdministratorForm(
            administrator_status(self.administrator_status),
            name,
            validate_card_number(self.card_number),
            validate_email(self.email),
            validate_phone(self.phone) if self.phone else None,
        )


def check_administrator(
    uow: Any, structure: Any, form: AdministratorForm, now: dt.datetime
) -> tuple[Any, Any, int | None]:
    """(person, card, vendor id) of the designated administrator, or the rule broken."""
    if not structure.is_open:
        raise SceauError(
            "structure_closed", f"la structure {structure.idnst} est fermée", ErrorKind.CONFLICT
        )
    card = uow.cards.by_number(form.card_number)
    if card is None:
        raise SceauError(
            "card_not_found",
            f"carte {form.card_number} inconnue: l'administrateur technique doit détenir une "
            "carte active (demande de carte CPA par le formulaire 301)",
            ErrorKind.CONFLICT,
        )
    if card.status != "active" or card.not_after <= now:
        raise SceauError(
            "card_not_active",
            f"carte {card.card_number} non active ({card.status}, fin {card.not_after:%Y-%m-%d})",
            ErrorKind.CONFLICT,
        )
    person = uow.persons.by_id(card.person_id)
    if _fold(person.family_name) not in _fold(form.administrator_name).split():
        raise SceauError(
            "administrator_name_mismatch",
            f"le nom « {form.administrator_name} » ne correspond pas au titulaire de la carte "
            f"{card.card_number}",
        )
    if form.administrator_status == PHARMACIEN:
        if card.card_type != "CPS" or person.profession_code != PHARMACIST_PROFESSION:
            raise SceauError(
                "pharmacist_needs_cps",
                "un administrateur « pharmacien » doit détenir une carte CPS de pharmacien "
                f"(carte {card.card_number}: {card.card_type})",
            )
        if not uow.contracts.has_active(structure_id=structure.id):
            raise SceauError(
                "structure_without_contract",
                f"la structure {structure.idnst} n'a pas de contrat d'adhésion actif",
                ErrorKind.CONFLICT,
            )
        return person, card, None
    if card.card_type != "CPA" or person.vendor_id is None:
        raise SceauError(
            "vendor_admin_needs_cpa",
            "un administrateur « éditeur » doit détenir une carte CPA d'un éditeur "
            f"(carte {card.card_number}: {card.card_type})",
        )
    vendor = uow.vendors.by_id(person.vendor_id)
    if not uow.contracts.has_active(vendor_id=vendor.id):
        raise SceauError(
            "vendor_without_contract",
            f"l'éditeur {vendor.name} (SIREN {vendor.siren}) n'a pas de contrat d'adhésion actif",
            ErrorKind.CONFLICT,
        )
    return person, card, vendor.id


def _grant(
    uow: Any,
    *,
    structure: Any,
    form: AdministratorForm,
    person: Any,
    vendor_id: int | None,
    request_id: int,
    actor: Actor,
    now: dt.datetime,
) -> Any:
    if uow.habilitations.active(person.id, structure.id) is not None:
        raise SceauError(
            "already_habilitated",
            f"{person.idnat} est déjà administrateur technique de {structure.idnst}",
            ErrorKind.CONFLICT,
        )
    habilitation = uow.habilitations.grant(
        structure_id=structure.id,
        person_id=person.id,
        administrator_status=form.administrator_status,
        vendor_id=vendor_id,
        request_id=request_id,
        email=form.email,
        phone=form.phone,
        granted_at=now,
        granted_by=actor.label,
    )
    details = {"person": person.idnat, "habilitation": habilitation.id, "request": request_id}
    audit(
        uow,
        at=now,
        actor=actor,
        action="habilitation.granted",
        target=structure.idnst,
        details=details,
    )
    uow.events.record(
        at=now,
        kind="habilitation.granted",
        subject=structure.idnst,
        recipient=form.email,
        payload={
            **details,
            "structure": structure.idnst,
            "raison_sociale": structure.raison_sociale,
            "administrator_name": form.administrator_name,
            "administrator_status": form.administrator_status,
        },
    )
    return habilitation


def _revoke(
    uow: Any, habilitation: Any, *, actor: Actor, now: dt.datetime, reason: str, kind: str
) -> None:
    structure = uow.structures.by_id(habilitation.structure_id)
    person = uow.persons.by_id(habilitation.person_id)
    uow.habilitations.revoke(habilitation, at=now, by=actor.label, reason=reason)
    details = {"person": person.idnat, "habilitation": habilitation.id, "reason": reason}
    audit(uow, at=now, actor=actor, action=kind, target=structure.idnst, details=details)
    uow.events.record(
        at=now,
        kind=kind,
        subject=structure.idnst,
        recipient=habilitation.email or person.email,
        payload={
            **details,
            "structure": structure.idnst,
            "raison_sociale": structure.raison_sociale,
        },
    )


@dataclass(frozen=True)
class RequestHabilitationCommand:
    structure: str
    form: AdministratorForm
    actor: Actor | str = "operator"


def request_habilitation(
    services: Services, command: RequestHabilitationCommand
) -> HabilitationRequestView:
    """Record the order form's certificate section; the operator decides later."""
    actor = as_actor(command.actor)
    form = command.form.cleaned()
    now = services.clock.now()
    with open_uow(services) as uow:
        structure, _ = load_structure(
            uow, actor, Action.HABILITATION_REQUEST, command.structure, at=now
        )
        if not structure.is_open:
            raise SceauError(
                "structure_closed", f"la structure {structure.idnst} est fermée", ErrorKind.CONFLICT
            )
        row = uow.habilitations.create_request(
            structure_id=structure.id,
            administrator_status=form.administrator_status,
            administrator_name=form.administrator_name,
            card_number=form.card_number,
            phone=form.phone,
            email=form.email,
            form="order",
            status="pending",
            requested_by=actor.label,
            requested_at=now,
        )
        audit(
            uow,
            at=now,
            actor=actor,
            action="habilitation.request",
            target=structure.idnst,
            details={
                "request": row.id,
                "card_number": form.card_number,
                "status": form.administrator_status,
            },
        )
        uow.events.record(
            at=now,
            kind="habilitation.requested",
            subject=structure.idnst,
            recipient=None,
            payload={"request": row.id, "structure": structure.idnst},
        )
        view = HabilitationRequestView.of(uow, row)
        uow.commit()
        return view


def _pending_request(uow: Any, request_id: int) -> Any:
    row = uow.habilitations.request_by_id(request_id, for_update=True)
    if row is None:
        raise SceauError(
            "request_not_found",
            f"demande d'habilitation {request_id} inconnue",
            ErrorKind.NOT_FOUND,
        )
    if row.status != "pending":
        raise SceauError(
            "request_decided",
            f"demande {request_id} déjà traitée ({row.status})",
            ErrorKind.CONFLICT,
        )
    return row


def approve_habilitation(
    services: Services, request_id: int, actor: Actor | str = "operator"
) -> HabilitationView:
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(
            uow, who, Action.HABILITATION_APPROVE, at=now, target=f"request:{request_id}"
        )
        request = _pending_request(uow, request_id)
        structure = uow.structures.by_id(request.structure_id)
        form = AdministratorForm(
            request.administrator_status,
            request.administrator_name,
            request.card_number,
            request.email,
            request.phone,
        )
        try:
            person, _card, vendor_id = check_administrator(uow, structure, form, now)
        except SceauError as error:
            uow.rollback()
            audit(
                uow,
                at=now,
                actor=who,
                action="habilitation.approve",
                target=structure.idnst,
                outcome="refused",
                details={"request": request_id, "code": error.code},
            )
            uow.commit()
            raise
        habilitation = _grant(
            uow,
            structure=structure,
            form=form,
            person=person,
            vendor_id=vendor_id,
            request_id=request.id,
            actor=who,
            now=now,
        )
        request.status, request.decided_by, request.decided_at = "approved", who.label, now
        audit(
            uow,
            at=now,
            actor=who,
            action="habilitation.approve",
            target=structure.idnst,
            details={"request": request_id},
        )
        view = HabilitationView.of(uow, habilitation)
        uow.commit()
        return view


def reject_habilitation(
    services: Services, request_id: int, reason: str, actor: Actor | str = "operator"
) -> HabilitationRequestView:
    who = as_actor(actor)
    reason = " ".join(reason.split())
    if not reason:
        raise SceauError("reason_required", "un motif de rejet est obligatoire")
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(
            uow, who, Action.HABILITATION_REJECT, at=now, target=f"request:{request_id}"
        )
        request = _pending_request(uow, request_id)
        structure = uow.structures.by_id(request.structure_id)
        request.status, request.reason = "rejected", reason
        request.decided_by, request.decided_at = who.label, now
        audit(
            uow,
            at=now,
            actor=who,
            action="habilitation.reject",
            target=structure.idnst,
            details={"request": request_id, "reason": reason},
        )
        uow.events.record(
            at=now,
            kind="habilitation.rejected",
            subject=structure.idnst,
            recipient=request.email,
            payload={"request": request_id, "structure": structure.idnst, "reason": reason},
        )
        view = HabilitationRequestView.of(uow, request)
        uow.commit()
        return view


@dataclass(frozen=True)
class ReplaceAdministratorCommand:
    """Form 503: change of technical administrator of a structure."""

    structure: str
    old_administrator: str  # idNat or card number of the administrator leaving
    new: AdministratorForm
    actor: Actor | str = "operator"


def replace_administrator(
    services: Services, command: ReplaceAdministratorCommand
) -> HabilitationView:
    """Remove the old administrator's rights and grant the new one's, in one transaction."""
    actor = as_actor(command.actor)
    form = command.new.cleaned()
    now = services.clock.now()
    with open_uow(services) as uow:
        structure, _ = load_structure(
            uow, actor, Action.HABILITATION_REPLACE, command.structure, at=now
        )
        old = _active_habilitation_of(uow, structure, command.old_administrator)
        person, _card, vendor_id = check_administrator(uow, structure, form, now)
        if person.id == old.person_id:
            raise SceauError(
                "same_administrator", "le nouvel administrateur est l'administrateur actuel"
            )
        request = uow.habilitations.create_request(
            structure_id=structure.id,
            administrator_status=form.administrator_status,
            administrator_name=form.administrator_name,
            card_number=form.card_number,
            phone=form.phone,
            email=form.email,
            form="503",
            status="approved",
            requested_by=actor.label,
            requested_at=now,
            decided_by=actor.label,
            decided_at=now,
        )
        _revoke(
            uow,
            old,
            actor=actor,
            now=now,
            reason="remplacé (formulaire 503)",
            kind="habilitation.revoked",
        )
        habilitation = _grant(
            uow,
            structure=structure,
            form=form,
            person=person,
            vendor_id=vendor_id,
            request_id=request.id,
            actor=actor,
            now=now,
        )
        audit(
            uow,
            at=now,
            actor=actor,
            action="habilitation.replace",
            target=structure.idnst,
            details={"old": old.id, "new": habilitation.id, "request": request.id},
        )
        view = HabilitationView.of(uow, habilitation)
        uow.commit()
        return view


def _active_habilitation_of(uow: Any, structure: Any, who: str) -> Any:
    reference = who.strip()
    card = uow.cards.by_number(reference)
    person = uow.persons.by_id(card.person_id) if card else uow.persons.by_idnat(reference)
    habilitation = uow.habilitations.active(person.id, structure.id) if person else None
    if habilitation is None:
        raise SceauError(
            "habilitation_not_found",
            f"{reference} n'est pas administrateur technique habilité de {structure.idnst}",
            ErrorKind.NOT_FOUND,
        )
    return habilitation


def withdraw_habilitation(
    services: Services,
    structure: str,
    administrator: str,
    reason: str,
    actor: Actor | str = "operator",
) -> HabilitationView:
    """The legal representative (or the operator) withdraws a delegation, effective at once."""
    who = as_actor(actor)
    reason = " ".join(reason.split()) or "délégation retirée"
    now = services.clock.now()
    with open_uow(services) as uow:
        row, _ = load_structure(uow, who, Action.HABILITATION_WITHDRAW, structure, at=now)
        habilitation = _active_habilitation_of(uow, row, administrator)
        _revoke(uow, habilitation, actor=who, now=now, reason=reason, kind="habilitation.withdrawn")
        view = HabilitationView.of(uow, habilitation)
        uow.commit()
        return view


def list_habilitations(
    services: Services,
    actor: Actor | str,
    *,
    structure: str | None = None,
    include_revoked: bool = False,
    limit: int = 200,
) -> list[HabilitationView]:
    """Habilitations the actor may see (their structures only, unless operator)."""
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        if structure is not None:
            row, who = load_structure(uow, who, Action.HABILITATION_READ, structure, at=now)
            ids: frozenset[int] | None = frozenset({row.id})
        else:
            who = authorize(uow, who, Action.HABILITATION_LIST, at=now)
            ids = visible_structure_ids(uow, who)
        rows = uow.habilitations.list(
            structure_ids=ids, include_revoked=include_revoked, limit=limit
        )
        return [HabilitationView.of(uow, row) for row in rows]


def list_requests(
    services: Services, actor: Actor | str, *, status: str | None = "pending", limit: int = 100
) -> list[HabilitationRequestView]:
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        who = authorize(uow, who, Action.HABILITATION_LIST, at=now)
        ids = visible_structure_ids(uow, who)
        rows = uow.habilitations.requests(status=status, structure_ids=ids, limit=limit)
        return [HabilitationRequestView.of(uow, row) for row in rows]
