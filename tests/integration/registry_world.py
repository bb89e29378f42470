"""A small registry used by the registry tests: two pharmacies, two vendors, their people.

- P1 ``010002301`` PHARMACIE VOLLENWEIDER: managed by vendor A's administrator (éditeur),
  legally represented by ``LEGAL``.
- P2 ``010000016`` PHARMACIE AUTRE: own contract; its pharmacist (CPS) administers it and
  represents it; vendor B's administrator is also habilitated on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sceau.registration.authorization import Actor, actor_for_person
from sceau.registration.identifiers import luhn_check_digit
from sceau.registration.use_cases.cards import IssueCardCommand, IssuedCard, issue_card
from sceau.registration.use_cases.habilitations import (
    AdministratorForm,
    RequestHabilitationCommand,
    approve_habilitation,
    request_habilitation,
)
from sceau.registration.use_cases.persons import AddPersonCommand, add_person
from sceau.registration.use_cases.structures import (
    AddStructureCommand,
    DesignateLegalRepresentativeCommand,
    add_structure,
    designate_legal_representative,
)
from sceau.registration.use_cases.vendors import (
    AddContractCommand,
    AddVendorCommand,
    add_contract,
    add_vendor,
)

P1 = "010002301"
P2 = "010000016"
VENDOR_A = "732829320"
VENDOR_B = "412345670"


def rpps_idnat(body: str) -> str:
    return "8" + body + str(luhn_check_digit(body))


ADMIN_A = f"4{VENDOR_A}/CPAT0001"
ADMIN_B = f"4{VENDOR_B}/CPAT0007"
PHARMACIST = rpps_idnat("1000345678")
LEGAL = rpps_idnat("1000987654")


@dataclass
class World:
    services: object
    cards: dict[str, IssuedCard]
    structure_ids: dict[str, int]

    def actor(self, idnat: str) -> Actor:
        with self.services.unit_of_work() as uow:  # type: ignore[attr-defined]
            return actor_for_person(uow, uow.persons.by_idnat(idnat))


def habilitate(
    services, structure: str, status: str, name: str, card: IssuedCard, email: str
) -> None:
    request = request_habilitation(
        services,
        RequestHabilitationCommand(
            structure=structure,
            form=AdministratorForm(status, name, card.card_number, email, "01 02 03 04 05"),
        ),
    )
    approve_habilitation(services, request.id)


def build_world(services, keys) -> World:
    signed = dt.date(2026, 1, 5)
    add_structure(
        services,
        AddStructureCommand(finess=P1, raison_sociale="PHARMACIE VOLLENWEIDER", department="01"),
    )
    add_structure(
        services, AddStructureCommand(finess=P2, raison_sociale="PHARMACIE AUTRE", department="01")
    )
    add_vendor(
        services,
        AddVendorCommand(VENDOR_A, "LOGICIEL OFFICINE SA", "69", contract_signed_on=signed),
    )
    add_vendor(
        services, AddVendorCommand(VENDOR_B, "AUTRE EDITEUR SAS", "75", contract_signed_on=signed)
    )
    add_contract(services, AddContractCommand(signed_on=signed, structure=P2))
    add_person(
        services,
        AddPersonCommand(
            ADMIN_A, "Martin", "Alice", "alice@logiciel.example", vendor_siren=VENDOR_A
        ),
    )
    add_person(
        services,
        AddPersonCommand(ADMIN_B, "Bernard", "Bruno", "bruno@autre.example", vendor_siren=VENDOR_B),
    )
    add_person(
        services,
        AddPersonCommand(
            PHARMACIST, "Durand", "Claire", "claire@pharma.example", profession_code=21
        ),
    )
    add_person(
        services,
        AddPersonCommand(
            LEGAL, "Vollenweider", "Denis", "denis@pharma.example", profession_code=21
        ),
    )
    cards = {
        ADMIN_A: issue_card(services, IssueCardCommand(ADMIN_A, "CPA", b"pw", keys[0], form="301")),
        ADMIN_B: issue_card(services, IssueCardCommand(ADMIN_B, "CPA", b"pw", keys[1], form="301")),
        PHARMACIST: issue_card(services, IssueCardCommand(PHARMACIST, "CPS", b"pw", keys[2])),
    }
    designate_legal_representative(
        services, DesignateLegalRepresentativeCommand(P1, LEGAL, "titulaire")
    )
    designate_legal_representative(
        services, DesignateLegalRepresentativeCommand(P2, PHARMACIST, "titulaire")
    )
    habilitate(services, P1, "éditeur", "Alice MARTIN", cards[ADMIN_A], "alice@logiciel.example")
    habilitate(services, P2, "éditeur", "Bruno Bernard", cards[ADMIN_B], "bruno@autre.example")
    habilitate(
        services, P2, "pharmacien", "Claire Durand", cards[PHARMACIST], "claire@pharma.example"
    )
    with services.unit_of_work() as uow:
        ids = {P1: uow.structures.by_reference(P1).id, P2: uow.structures.by_reference(P2).id}
    return World(services, cards, ids)
