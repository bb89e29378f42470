"""Structures: add, show, list (filtered by who asks), update, close; legal representatives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor, authorize, visible_structure_ids
from sceau.registration.departments import state_value
from sceau.registration.identifiers import idnst_for_finess, validate_finess, validate_siret
from sceau.registration.ports import Services
from sceau.registration.text import search_text
from sceau.registration.use_cases.registry_common import (
    as_actor,
    audit,
    load_structure,
    open_uow,
    require_operator,
)

MAX_RAISON_SOCIALE = 64  # the O attribute of certificates


@dataclass(frozen=True)
class StructureView:
    id: int
    idnst: str
    finess_et: str | None
    finess_ej: str | None
    siret: str | None
    raison_sociale: str
    address: str | None
    postcode: str | None
    city: str | None
    department_code: str
    state: str  # ST value, e.g. "Rhône (69)"
    category_code: str | None
    category_label: str | None
    is_open: bool

    @classmethod
    def of(cls, row: Any) -> StructureView:
        return cls(
            id=row.id,
            idnst=row.idnst,
            finess_et=row.finess_et,
            finess_ej=row.finess_ej,
            siret=row.siret,
            raison_sociale=row.raison_sociale,
            address=row.address,
            postcode=row.postcode,
            city=row.city,
            department_code=row.department_code,
            state=state_value(row.department_code),
            category_code=row.category_code,
            category_label=row.category_label,
            is_open=row.is_open,
        )


@dataclass(frozen=True)
class AddStructureCommand:
    finess: str
    raison_sociale: str
    department: str
    category_code: str | None = "620"
    finess_ej: str | None = None
    actor: Actor | str = "operator"
    environment: str = "test"
    address: str | None = None
    postcode: str | None = None
    city: str | None = None
    siret: str | None = None
    category_label: str | None = None


def clean_raison_sociale(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise SceauError("raison_sociale_blank", "la raison sociale est obligatoire")
    if len(name) > MAX_RAISON_SOCIALE:
        raise SceauError(
            "raison_sociale_too_long", "la raison sociale dépasse 64 caractères (champ O)"
        )
    return name


def add_structure(services: Services, command: AddStructureCommand) -> Any:
    """Register a structure on its FINESS géographique; refuses a corrupted number."""
    actor = as_actor(command.actor)
    finess = validate_finess(command.finess, environment=command.environment)
    finess_ej = (
        validate_finess(command.finess_ej, environment=command.environment)
        if command.finess_ej
        else None
    )
    siret = validate_siret(command.siret) if command.siret else None
    name = clean_raison_sociale(command.raison_sociale)
    department = command.department.strip().upper()
    state_value(department)  # refuses unknown départements
    now = services.clock.now()
    idnst = idnst_for_finess(finess)
    with open_uow(services) as uow:
        require_operator(uow, actor, Action.STRUCTURE_CREATE, at=now, target=idnst)
        if uow.structures.by_idnst(idnst) is not None:
            raise SceauError(
                "structure_exists", f"la structure {idnst} existe déjà", ErrorKind.CONFLICT
            )
        structure = uow.structures.create(
            idnst=idnst,
            finess_et=finess,
            finess_ej=finess_ej,
            siret=siret,
            raison_sociale=name,
            address=command.address,
            postcode=command.postcode,
            city=command.city,
            department_code=department,
            category_code=command.category_code,
            category_label=command.category_label,
            is_open=True,
            created_at=now,
            updated_at=now,
        )
        audit(uow, at=now, actor=actor, action="structure.add", target=idnst)
        uow.commit()
        return structure


def show_structure(services: Services, reference: str, actor: Actor | str) -> StructureView:
    """One structure, if ``actor`` may read it (refusals are audited)."""
    who = as_actor(actor)
    with open_uow(services) as uow:
        structure, _ = load_structure(
            uow, who, Action.STRUCTURE_READ, reference, at=services.clock.now()
        )
        return StructureView.of(structure)


def list_structures(
    services: Services,
    actor: Actor | str,
    search: str | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    include_closed: bool = True,
) -> list[StructureView]:
    """The structures ``actor`` may see: all for the operator, their own for anyone else."""
    who = as_actor(actor)
    search = search_text(search)
    with open_uow(services) as uow:
        who = authorize(uow, who, Action.STRUCTURE_LIST, at=services.clock.now())
        if who.is_operator:
            rows = uow.structures.search(
                search, limit=limit, offset=offset, include_closed=include_closed
            )
        else:
            visible = visible_structure_ids(uow, who) or frozenset()
            rows = uow.structures.search(
                search,
                limit=limit,
                offset=offset,
                only_ids=visible,
                include_closed=include_closed,
            )
        return [StructureView.of(row) for row in rows]


@dataclass(frozen=True)
class UpdateStructureCommand:
    reference: str
    raison_sociale: str | None = None
    department: str | None = None
    address: str | None = None
    postcode: str | None = None
    city: str | None = None
    category_code: str | None = None
    actor: Actor | str = "operator"


def update_structure(services: Services, command: UpdateStructureCommand) -> StructureView:
    actor = as_actor(command.actor)
    now = services.clock.now()
    changes: dict[str, Any] = {}
    if command.raison_sociale is not None:
        changes["raison_sociale"] = clean_raison_sociale(command.raison_sociale)
    if command.department is not None:
        department = command.department.strip().upper()
        state_value(department)
        changes["department_code"] = department
    for name in ("address", "postcode", "city", "category_code"):
        value = getattr(command, name)
        if value is not None:
            changes[name] = value.strip() or None
    with open_uow(services) as uow:
        structure, _ = load_structure(
            uow, actor, Action.STRUCTURE_UPDATE, command.reference, at=now
        )
        before = {name: getattr(structure, name) for name in changes}
        changed = {name: value for name, value in changes.items() if before[name] != value}
        if changed:
            uow.structures.update(structure, updated_at=now, **changed)
            audit(
                uow,
                at=now,
                actor=actor,
                action="structure.update",
                target=structure.idnst,
                details={"changed": {k: [before[k], v] for k, v in changed.items()}},
            )
            uow.commit()
        return StructureView.of(structure)


def close_structure(services: Services, reference: str, actor: Actor | str) -> StructureView:
    """Mark a structure closed (kept for history; no new order is possible on it)."""
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        structure, _ = load_structure(uow, who, Action.STRUCTURE_CLOSE, reference, at=now)
        if not structure.is_open:
            raise SceauError(
                "structure_closed",
                f"la structure {structure.idnst} est déjà fermée",
                ErrorKind.CONFLICT,
            )
        uow.structures.update(structure, is_open=False, updated_at=now)
        audit(uow, at=now, actor=who, action="structure.close", target=structure.idnst)
        uow.commit()
        return StructureView.of(structure)


@dataclass(frozen=True)
class DesignateLegalRepresentativeCommand:
    structure: str
    person_idnat: str
    function: str | None = None
    actor: Actor | str = "operator"


def designate_legal_representative(
    services: Services, command: DesignateLegalRepresentativeCommand
) -> Any:
    """Record who legally represents a structure (may read it and withdraw delegations)."""
    actor = as_actor(command.actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        structure, _ = load_structure(
            uow, actor, Action.LEGAL_REPRESENTATIVE_DESIGNATE, command.structure, at=now
        )
        person = uow.persons.by_idnat(command.person_idnat.strip())
        if person is None:
            raise SceauError(
                "person_not_found",
                f"personne {command.person_idnat!r} inconnue",
                ErrorKind.NOT_FOUND,
            )
        for current in uow.legal_representatives.for_structure(structure.id):
            if current.person_id == person.id:
                raise SceauError(
                    "legal_representative_exists",
                    f"{person.idnat} représente déjà {structure.idnst}",
                    ErrorKind.CONFLICT,
                )
            current.until = now  # one legal representative at a time
        row = uow.legal_representatives.create(
            structure_id=structure.id,
            person_id=person.id,
            function=command.function,
            since=now,
            until=None,
        )
        audit(
            uow,
            at=now,
            actor=actor,
            action="legal_representative.designate",
            target=structure.idnst,
            details={"person": person.idnat, "function": command.function},
        )
        uow.commit()
        return row
