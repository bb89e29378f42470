"""Structures: the minimal record a certificate subject needs (the registry grows it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.departments import state_value
from sceau.registration.identifiers import idnst_for_finess, validate_finess
from sceau.registration.ports import Services


@dataclass(frozen=True)
class AddStructureCommand:
    finess: str
    raison_sociale: str
    department: str
    category_code: str | None = "620"
    finess_ej: str | None = None
    actor: str = "operator"
    environment: str = "test"


def add_structure(services: Services, command: AddStructureCommand) -> Any:
    finess = validate_finess(command.finess.strip().upper(), environment=command.environment)
    finess_ej = (
        validate_finess(command.finess_ej.strip().upper(), environment=command.environment)
        if command.finess_ej
        else None
    )
    name = " ".join(command.raison_sociale.split())
    if not name:
        raise SceauError("raison_sociale_blank", "la raison sociale est obligatoire")
    if len(name) > 64:
        raise SceauError("raison_sociale_too_long", "la raison sociale dépasse 64 caractères (champ O)")
    department = command.department.strip().upper()
    state_value(department)  # refuses unknown départements
    now = services.clock.now()
    idnst = idnst_for_finess(finess)
    with services.unit_of_work() as uow:
        if uow.structures.by_idnst(idnst) is not None:
            raise SceauError("structure_exists", f"la structure {idnst} existe déjà", ErrorKind.CONFLICT)
        structure = uow.structures.create(
            idnst=idnst,
            finess_et=finess,
            finess_ej=finess_ej,
            raison_sociale=name,
            department_code=department,
            category_code=command.category_code,
            is_open=True,
            created_at=now,
            updated_at=now,
        )
        uow.audit.record(at=now, actor=command.actor, action="structure.add", outcome="success", target=idnst)
        uow.commit()
        return structure
