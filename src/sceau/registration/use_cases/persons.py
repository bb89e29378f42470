"""Persons (holders of cards, technical administrators, legal representatives) and e-CPS login."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration import text as text_rules
from sceau.registration.authorization import Action, Actor, actor_for_person
from sceau.registration.identifiers import PersonIdKind, parse_idnat, validate_siren
from sceau.registration.ports import Services
from sceau.registration.use_cases.registry_common import (
    as_actor,
    audit,
    open_uow,
    require_operator,
)

_PHONE_RE = re.compile(r"\+?[0-9 .()-]{6,20}")


@dataclass(frozen=True)
class AddPersonCommand:
    idnat: str
    family_name: str
    given_name: str
    email: str | None = None
    phone: str | None = None
    profession_code: int | None = None  # TRE_G15, e.g. 21 Pharmacien
    vendor_siren: str | None = None  # employer, for vendor staff (CPA holders)
    structure: str | None = None  # employer structure (IDNST/FINESS), for CPE holders
    actor: Actor | str = "operator"
    environment: str = "test"


@dataclass(frozen=True)
class PersonView:
    id: int
    idnat: str
    family_name: str
    given_name: str
    email: str | None
    phone: str | None
    profession_code: int | None
    vendor_id: int | None
    structure_id: int | None

    @classmethod
    def of(cls, row: Any) -> PersonView:
        return cls(
            row.id,
            row.idnat,
            row.family_name,
            row.given_name,
            row.email,
            row.phone,
            row.profession_code,
            row.vendor_id,
            row.structure_id,
        )


def validate_email(value: str) -> str:
    return text_rules.validate_email(value)


def validate_phone(value: str) -> str:
    text = value.strip()
    if _PHONE_RE.fullmatch(text) is None:
        raise SceauError("phone_format", f"numéro de téléphone {text[:30]!r} invalide")
    return text


def _name(label: str, value: str) -> str:
    text = " ".join(value.split())
    if not text or len(text) > 64:
        raise SceauError(f"{label}_length", f"{label}: 1 à 64 caractères attendus")
    return text


def add_person(services: Services, command: AddPersonCommand) -> PersonView:
    actor = as_actor(command.actor)
    person_id = parse_idnat(command.idnat, environment=command.environment)
    family_name = _name("nom", command.family_name).upper()
    given_name = _name("prénom", command.given_name).upper()
    email = validate_email(command.email) if command.email else None
    phone = validate_phone(command.phone) if command.phone else None
    if command.profession_code is not None and not person_id.is_health_professional:
        raise SceauError(
            "profession_not_professional",
            f"idNat {person_id.value}: un code profession n'a de sens que pour un professionnel "
            "de santé (idNat 8 RPPS ou 0 ADELI)",
        )
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(uow, actor, Action.PERSON_MANAGE, at=now, target=person_id.value)
        if uow.persons.by_idnat(person_id.value) is not None:
            raise SceauError(
                "person_exists", f"la personne {person_id.value} existe déjà", ErrorKind.CONFLICT
            )
        vendor_id = structure_id = None
        if command.vendor_siren:
            vendor = uow.vendors.by_siren(validate_siren(command.vendor_siren))
            if vendor is None:
                raise SceauError(
                    "vendor_not_found",
                    f"éditeur {command.vendor_siren} inconnu",
                    ErrorKind.NOT_FOUND,
                )
            vendor_id = vendor.id
        if command.structure:
            structure = uow.structures.by_reference(command.structure)
            if structure is None:
                raise SceauError(
                    "structure_not_found",
                    f"structure {command.structure!r} inconnue",
                    ErrorKind.NOT_FOUND,
                )
            structure_id = structure.id
        row = uow.persons.create(
            idnat=person_id.value,
            family_name=family_name,
            given_name=given_name,
            email=email,
            phone=phone,
            profession_code=command.profession_code,
            vendor_id=vendor_id,
            structure_id=structure_id,
            created_at=now,
            updated_at=now,
        )
        audit(
            uow,
            at=now,
            actor=actor,
            action="person.add",
            target=person_id.value,
            details={"kind": PersonIdKind(person_id.kind).name},
        )
        view = PersonView.of(row)
        uow.commit()
        return view


def show_person(services: Services, idnat: str, actor: Actor | str = "operator") -> PersonView:
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        if who.idnat != idnat.strip():  # anyone reads themself; others are the operator's
            require_operator(uow, who, Action.PERSON_READ, at=now, target=idnat.strip())
        row = uow.persons.by_idnat(idnat.strip())
        if row is None:
            raise SceauError(
                "person_not_found", f"personne {idnat!r} inconnue", ErrorKind.NOT_FOUND
            )
        return PersonView.of(row)


# e-CPS: Pro Santé Connect userinfo carries the idNat in SubjectNameID / preferred_username.
IDNAT_CLAIMS = ("SubjectNameID", "preferred_username")


def actor_from_oidc_claims(services: Services, claims: Mapping[str, Any]) -> Actor:
    """Map an e-CPS (OpenID Connect) login to the same person as their card: by idNat.

    The claims must have been validated by the OIDC adapter (signature, issuer, audience,
    expiry); here only the identity mapping happens. Unknown persons are refused.
    """
    idnat = next((str(claims[name]).strip() for name in IDNAT_CLAIMS if claims.get(name)), None)
    now = services.clock.now()
    with open_uow(services) as uow:
        person = uow.persons.by_idnat(idnat) if idnat else None
        if person is None:
            uow.audit.record(
                at=now,
                actor=f"ecps:{idnat or '?'}",
                action="auth.ecps",
                outcome="refused",
                target=idnat,
                details={"reason": "unknown idNat"},
            )
            uow.commit()
            raise SceauError(
                "ecps_unknown_person",
                "connexion e-CPS refusée: aucun idNat dans les claims ou personne inconnue",
                ErrorKind.UNAUTHENTICATED,
            )
        actor = actor_for_person(uow, person)
        audit(uow, at=now, actor=actor, action="auth.ecps", target=person.idnat)
        uow.commit()
        return actor
