"""Vendors (éditeurs) and contracts of adhesion with the ANS."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor
from sceau.registration.departments import get_department
from sceau.registration.identifiers import validate_siren
from sceau.registration.ports import Services
from sceau.registration.use_cases.registry_common import (
    as_actor,
    audit,
    open_uow,
    require_operator,
)

CONTRACT_STATUSES = ("active", "suspended", "terminated")


@dataclass(frozen=True)
class AddVendorCommand:
    siren: str
    name: str
    department: str | None = None  # seat of the vendor: ST of its staff's CPA cards
    contract_signed_on: dt.date | None = None  # a contract of adhesion signed that day
    contract_reference: str | None = None
    actor: Actor | str = "operator"


@dataclass(frozen=True)
class VendorView:
    id: int
    siren: str
    name: str
    department_code: str | None
    has_active_contract: bool


def add_vendor(services: Services, command: AddVendorCommand) -> VendorView:
    actor = as_actor(command.actor)
    siren = validate_siren(command.siren)
    name = " ".join(command.name.split())
    if not name or len(name) > 64:
        raise SceauError(
            "vendor_name", "nom de l'éditeur: 1 à 64 caractères (champ O des cartes CPA)"
        )
    department = get_department(command.department).code if command.department else None
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(uow, actor, Action.VENDOR_MANAGE, at=now, target=f"2{siren}")
        if uow.vendors.by_siren(siren) is not None:
            raise SceauError(
                "vendor_exists", f"l'éditeur SIREN {siren} existe déjà", ErrorKind.CONFLICT
            )
        vendor = uow.vendors.create(
            siren=siren, name=name, department_code=department, created_at=now, updated_at=now
        )
        audit(
            uow,
            at=now,
            actor=actor,
            action="vendor.add",
            target=f"2{siren}",
            details={"name": name},
        )
        if command.contract_signed_on is not None:
            _create_contract(
                uow,
                now,
                actor,
                command.contract_signed_on,
                command.contract_reference,
                vendor_id=vendor.id,
                structure_id=None,
                target=f"2{siren}",
            )
        view = VendorView(
            vendor.id, siren, name, department, command.contract_signed_on is not None
        )
        uow.commit()
        return view


@dataclass(frozen=True)
class AddContractCommand:
    signed_on: dt.date
    vendor_siren: str | None = None
    structure: str | None = None  # IDNST or FINESS of a structure holding its own contract
    reference: str | None = None
    actor: Actor | str = "operator"


def add_contract(services: Services, command: AddContractCommand) -> Any:
    """A contract of adhesion, held by a vendor or by a structure (exactly one of them)."""
    actor = as_actor(command.actor)
    if (command.vendor_siren is None) == (command.structure is None):
        raise SceauError(
            "contract_holder",
            "un contrat d'adhésion est détenu soit par un éditeur, soit par une structure",
        )
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(uow, actor, Action.CONTRACT_MANAGE, at=now, target=command.reference)
        vendor_id = structure_id = None
        if command.vendor_siren is not None:
            vendor = uow.vendors.by_siren(validate_siren(command.vendor_siren))
            if vendor is None:
                raise SceauError(
                    "vendor_not_found",
                    f"éditeur {command.vendor_siren} inconnu",
                    ErrorKind.NOT_FOUND,
                )
            vendor_id, target = vendor.id, f"2{vendor.siren}"
        else:
            assert command.structure is not None
            structure = uow.structures.by_reference(command.structure)
            if structure is None:
                raise SceauError(
                    "structure_not_found",
                    f"structure {command.structure!r} inconnue",
                    ErrorKind.NOT_FOUND,
                )
            structure_id, target = structure.id, structure.idnst
        contract = _create_contract(
            uow,
            now,
            actor,
            command.signed_on,
            command.reference,
            vendor_id=vendor_id,
            structure_id=structure_id,
            target=target,
        )
        uow.commit()
        return contract


def _create_contract(
    uow: Any,
    now: dt.datetime,
    actor: Actor,
    signed_on: dt.date,
    reference: str | None,
    *,
    vendor_id: int | None,
    structure_id: int | None,
    target: str,
) -> Any:
    if signed_on > now.date():
        raise SceauError(
            "contract_signed_in_future", "la date de signature du contrat est dans le futur"
        )
    reference = (reference or f"CA-{now:%Y}-{secrets.token_hex(4).upper()}").strip()
    if uow.contracts.by_reference(reference) is not None:
        raise SceauError(
            "contract_exists", f"le contrat {reference} existe déjà", ErrorKind.CONFLICT
        )
    contract = uow.contracts.create(
        reference=reference,
        vendor_id=vendor_id,
        structure_id=structure_id,
        signed_on=signed_on,
        status="active",
        created_at=now,
        updated_at=now,
    )
    audit(
        uow,
        at=now,
        actor=actor,
        action="contract.add",
        target=target,
        details={"reference": reference, "signed_on": signed_on.isoformat()},
    )
    return contract


def set_contract_status(
    services: Services, reference: str, status: str, actor: Actor | str = "operator"
) -> Any:
    who = as_actor(actor)
    if status not in CONTRACT_STATUSES:
        raise SceauError(
            "contract_status", f"statut {status!r} inconnu: {', '.join(CONTRACT_STATUSES)}"
        )
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(uow, who, Action.CONTRACT_MANAGE, at=now, target=reference)
        contract = uow.contracts.by_reference(reference)
        if contract is None:
            raise SceauError(
                "contract_not_found", f"contrat {reference} inconnu", ErrorKind.NOT_FOUND
            )
        previous = contract.status
        contract.status = status
        contract.updated_at = now
        audit(
            uow,
            at=now,
            actor=who,
            action="contract.status",
            target=reference,
            details={"from": previous, "to": status},
        )
        uow.commit()
        return contract
