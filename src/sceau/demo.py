"""Demo data for the TEST environment (``sceau demo``), idempotent: a second run adds nothing.

Pharmacies from a generated FINESS extract, a vendor "LOGICIEL OFFICINE SA" with its contract
of adhesion, the vendor's technical administrator (CPA card) habilitated on ten pharmacies, a
pharmacist (CPS card) who represents and administers their own pharmacy. Cards are written as
PKCS#12 files under ``$SCEAU_HOME/demo-cards/`` with their password beside them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

from sceau.registration.finess_extract import generate_extract
from sceau.registration.identifiers import luhn_check_digit
from sceau.registration.use_cases.cards import IssueCardCommand, issue_card
from sceau.registration.use_cases.finess_import import import_finess_extract
from sceau.registration.use_cases.habilitations import (
    AdministratorForm,
    RequestHabilitationCommand,
    approve_habilitation,
    request_habilitation,
)
from sceau.registration.use_cases.persons import AddPersonCommand, add_person
from sceau.registration.use_cases.structures import (
    DesignateLegalRepresentativeCommand,
    designate_legal_representative,
)
from sceau.registration.use_cases.vendors import (
    AddContractCommand,
    AddVendorCommand,
    add_contract,
    add_vendor,
)

ACTOR = "operator:demo"
VENDOR_SIREN = "732829320"
VENDOR_NAME = "LOGICIEL OFFICINE SA"
VENDOR_ADMIN = f"4{VENDOR_SIREN}/CPAT0001"
PHARMACIST = "8" + "1000345678" + str(luhn_check_digit("1000345678"))
CONTRACT_DATE = dt.date(2026, 1, 5)
VENDOR_STRUCTURES = 10
SEED = 20260512


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _card(
    container: Any, idnat: str, card_type: str, folder: Path, form: str | None
) -> tuple[str, str]:
    """(card number, message) of the person's active card, issued on first run."""
    with container.unit_of_work() as uow:
        person = uow.persons.by_idnat(idnat)
        active = [c for c in uow.cards.for_person(person.id) if c.status == "active"]
    stem = idnat.replace("/", "-")
    p12, secret = folder / f"{stem}.p12", folder / f"{stem}.password"
    if active and p12.exists():
        return active[
            0
        ].card_number, f"carte {card_type} de {idnat}: {p12} (mot de passe: {secret})"
    password = secrets.token_urlsafe(9).encode()
    card = issue_card(
        container,
        IssueCardCommand(
            idnat,
            card_type,
            password,
            form=form,
            replaces_card_number=active[0].card_number if active else None,
            actor=ACTOR,
            environment=container.settings.environment,
        ),
    )
    folder.mkdir(parents=True, exist_ok=True)
    _write_secret(p12, card.pkcs12)
    _write_secret(secret, password + b"\n")
    return card.card_number, (
        f"carte {card_type} {card.card_number} de {idnat}: {p12} — "
        f"mot de passe: {password.decode()}"
    )


def _habilitate(
    container: Any, structure: Any, status: str, name: str, card: str, email: str
) -> bool:
    with container.unit_of_work() as uow:
        card_row = uow.cards.by_number(card)
        if uow.habilitations.active(card_row.person_id, structure.id) is not None:
            return False
    request = request_habilitation(
        container,
        RequestHabilitationCommand(
            structure.idnst,
            AdministratorForm(status, name, card, email, "04 72 00 00 00"),
            actor=ACTOR,
        ),
    )
    approve_habilitation(container, request.id, ACTOR)
    return True


def load_demo_data(container: Any, *, structures: int = 50) -> list[str]:
    """Create the demo registry (needs the TEST hierarchy: ``sceau init``); returns a summary."""
    environment = container.settings.environment
    lines: list[str] = []
    extract = generate_extract(structures, seed=SEED, environment="prod", geolocation_ratio=0.9)
    report = import_finess_extract(container, extract.lines, actor=ACTOR, environment=environment)
    lines.append(
        f"structures: {report.imported} importées, {report.unchanged} inchangées, "
        f"{report.updated} mises à jour"
    )
    with container.unit_of_work() as uow:
        vendor = uow.vendors.by_siren(VENDOR_SIREN)
        admin = uow.persons.by_idnat(VENDOR_ADMIN)
        pharmacist = uow.persons.by_idnat(PHARMACIST)
        pharmacies = [
            s for s in uow.structures.search(None, limit=10_000) if s.category_code == "620"
        ]
        pharmacies.sort(key=lambda s: s.finess_et or "")
    if vendor is None:
        add_vendor(
            container,
            AddVendorCommand(
                VENDOR_SIREN, VENDOR_NAME, "69", contract_signed_on=CONTRACT_DATE, actor=ACTOR
            ),
        )
        lines.append(f"éditeur {VENDOR_NAME} (SIREN {VENDOR_SIREN}) et son contrat d'adhésion")
    if admin is None:
        add_person(
            container,
            AddPersonCommand(
                VENDOR_ADMIN,
                "Martin",
                "Alice",
                "alice.martin@logiciel-officine.example",
                "04 72 00 00 01",
                vendor_siren=VENDOR_SIREN,
                actor=ACTOR,
                environment=environment,
            ),
        )
    if pharmacist is None:
        add_person(
            container,
            AddPersonCommand(
                PHARMACIST,
                "Durand",
                "Claire",
                "claire.durand@pharmacie.example",
                "04 72 00 00 02",
                profession_code=21,
                actor=ACTOR,
                environment=environment,
            ),
        )
    if not pharmacies:
        return [*lines, "aucune officine dans l'extraction: pas d'habilitation"]
    own, managed = pharmacies[0], pharmacies[1 : 1 + VENDOR_STRUCTURES]
    with container.unit_of_work() as uow:
        has_contract = uow.contracts.has_active(structure_id=own.id)
        represented = uow.legal_representatives.for_structure(own.id)
        pharmacist_id = uow.persons.by_idnat(PHARMACIST).id
    if not has_contract:
        add_contract(container, AddContractCommand(CONTRACT_DATE, structure=own.idnst, actor=ACTOR))
    if not any(r.person_id == pharmacist_id for r in represented):
        designate_legal_representative(
            container,
            DesignateLegalRepresentativeCommand(own.idnst, PHARMACIST, "titulaire", actor=ACTOR),
        )
    folder = container.settings.home / "demo-cards"
    admin_card, message = _card(container, VENDOR_ADMIN, "CPA", folder, "301")
    lines.append(message)
    pharmacist_card, message = _card(container, PHARMACIST, "CPS", folder, None)
    lines.append(message)
    granted = sum(
        _habilitate(
            container,
            s,
            "éditeur",
            "Alice MARTIN",
            admin_card,
            "alice.martin@logiciel-officine.example",
        )
        for s in managed
    )
    granted += _habilitate(
        container,
        own,
        "pharmacien",
        "Claire DURAND",
        pharmacist_card,
        "claire.durand@pharmacie.example",
    )
    lines.append(
        f"habilitations accordées: {granted} ({VENDOR_ADMIN} sur {len(managed)} officines, "
        f"{PHARMACIST} sur {own.raison_sociale} {own.idnst})"
    )
    return lines
