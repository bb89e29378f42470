"""Habilitations: order form → approval, rejection with a reason, form 503, withdrawal."""

from __future__ import annotations

import pytest
from registry_world import ADMIN_A, ADMIN_B, LEGAL, P1, P2, PHARMACIST, VENDOR_A, build_world

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action
from sceau.registration.use_cases.cards import IssueCardCommand, issue_card, renew_card
from sceau.registration.use_cases.habilitations import (
    AdministratorForm,
    ReplaceAdministratorCommand,
    RequestHabilitationCommand,
    approve_habilitation,
    list_habilitations,
    reject_habilitation,
    replace_administrator,
    request_habilitation,
    withdraw_habilitation,
)
from sceau.registration.use_cases.persons import AddPersonCommand, add_person
from sceau.registration.use_cases.structures import show_structure


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def _events(services, kind):
    with services.unit_of_work() as uow:
        return [(e.recipient, e.payload) for e in uow.events.list(kind=kind)]


def _audit(services, action):
    with services.unit_of_work() as uow:
        return [(e.actor, e.outcome, e.target, e.details) for e in uow.audit.list(action=action)]


def test_approval_grants_and_records_an_event_for_the_mail(world, services):
    granted = _events(services, "habilitation.granted")
    assert (granted[-1][0],) == ("alice@logiciel.example",)
    assert granted[-1][1]["structure"] == "1" + P1
    assert any(
        outcome == "success" for _, outcome, _, _ in _audit(services, "habilitation.granted")
    )
    habilitations = list_habilitations(services, "operator")
    assert {(h.structure_idnst, h.person_idnat) for h in habilitations} == {
        ("1" + P1, ADMIN_A),
        ("1" + P2, ADMIN_B),
        ("1" + P2, PHARMACIST),
    }


def test_pharmacist_administrator_must_hold_a_cps(world, services):
    # Alice's card is a CPA: she cannot be designated as "pharmacien".
    request = request_habilitation(
        services,
        RequestHabilitationCommand(
            P2,
            AdministratorForm(
                "pharmacien", "Alice Martin", world.cards[ADMIN_A].card_number, "a@b.fr"
            ),
        ),
    )
    with pytest.raises(SceauError) as refused:
        approve_habilitation(services, request.id)
    assert refused.value.code == "pharmacist_needs_cps"
    assert _audit(services, "habilitation.approve")[0][1] == "refused"


def test_vendor_administrator_must_hold_a_cpa_of_a_vendor_with_a_contract(world, services):
    request = request_habilitation(
        services,
        RequestHabilitationCommand(
            P1,
            AdministratorForm(
                "éditeur", "Claire Durand", world.cards[PHARMACIST].card_number, "c@d.fr"
            ),
        ),
    )
    with pytest.raises(SceauError) as refused:
        approve_habilitation(services, request.id)
    assert refused.value.code == "vendor_admin_needs_cpa"


def test_no_cpa_card_for_a_vendor_without_contract(services, leaf_keys):
    from sceau.registration.use_cases.vendors import AddVendorCommand, add_vendor

    add_vendor(services, AddVendorCommand("552100554", "SANS CONTRAT SA"))
    add_person(
        services, AddPersonCommand("4552100554/CPAT0001", "Petit", "Paul", vendor_siren="552100554")
    )
    with pytest.raises(SceauError) as refused:
        issue_card(
            services,
            IssueCardCommand("4552100554/CPAT0001", "CPA", b"pw", leaf_keys[3], form="301"),
        )
    assert refused.value.code == "vendor_without_contract"


def test_name_on_the_form_must_match_the_card_holder(world, services):
    request = request_habilitation(
        services,
        RequestHabilitationCommand(
            P1,
            AdministratorForm("éditeur", "Bruno Autre", world.cards[ADMIN_A].card_number, "a@b.fr"),
        ),
    )
    with pytest.raises(SceauError) as refused:
        approve_habilitation(services, request.id)
    assert refused.value.code == "administrator_name_mismatch"


def test_rejection_needs_a_reason_and_is_recorded(world, services):
    request = request_habilitation(
        services,
        RequestHabilitationCommand(
            P1,
            AdministratorForm(
                "éditeur", "Bruno Bernard", world.cards[ADMIN_B].card_number, "b@c.fr"
            ),
        ),
    )
    with pytest.raises(SceauError):
        reject_habilitation(services, request.id, "  ")
    rejected = reject_habilitation(services, request.id, "contrat de délégation non fourni")
    assert rejected.status == "rejected" and rejected.reason == "contrat de délégation non fourni"
    assert _events(services, "habilitation.rejected")[0][0] == "b@c.fr"
    with pytest.raises(SceauError) as again:
        approve_habilitation(services, request.id)
    assert again.value.kind is ErrorKind.CONFLICT


def test_a_corrupted_card_number_is_refused_at_request(world, services):
    with pytest.raises(SceauError) as refused:
        request_habilitation(
            services,
            RequestHabilitationCommand(
                P1, AdministratorForm("éditeur", "X Y", "8025000001/12", "a@b.fr")
            ),
        )
    assert refused.value.code == "card_number_format"


def test_form_503_replacement_refuses_the_old_administrators_next_action(world, services):
    old_actor = world.actor(ADMIN_A)
    assert show_structure(services, P1, old_actor).idnst == "1" + P1
    replace_administrator(
        services,
        ReplaceAdministratorCommand(
            P1,
            ADMIN_A,
            AdministratorForm(
                "éditeur", "Bruno Bernard", world.cards[ADMIN_B].card_number, "b@c.fr"
            ),
        ),
    )
    # The actor object held by a session from before the change is refused all the same.
    with pytest.raises(SceauError) as refused:
        show_structure(services, P1, old_actor)
    assert refused.value.kind is ErrorKind.FORBIDDEN
    assert show_structure(services, P1, world.actor(ADMIN_B)).idnst == "1" + P1
    assert [h.person_idnat for h in list_habilitations(services, "operator", structure=P1)] == [
        ADMIN_B
    ]
    revoked = _audit(services, "habilitation.revoked")
    granted = _audit(services, "habilitation.granted")
    assert revoked[0][3]["person"] == ADMIN_A and granted[0][3]["person"] == ADMIN_B
    assert any(
        a[1] == "refused" and a[0] == f"person:{ADMIN_A}"
        for a in _audit(services, Action.STRUCTURE_READ.value)
    )


def test_legal_representative_withdraws_a_delegation(world, services):
    legal = world.actor(LEGAL)
    withdrawn = withdraw_habilitation(services, P1, ADMIN_A, "fin du contrat avec l'éditeur", legal)
    assert withdrawn.revoked_at is not None
    with pytest.raises(SceauError) as refused:
        show_structure(services, P1, world.actor(ADMIN_A))
    assert refused.value.kind is ErrorKind.FORBIDDEN
    # A legal representative cannot withdraw on a structure they do not represent.
    with pytest.raises(SceauError):
        withdraw_habilitation(services, P2, ADMIN_B, "non", legal)
    assert _events(services, "habilitation.withdrawn")[0][0] == "alice@logiciel.example"


def test_habilitations_follow_the_holder_when_the_card_is_renewed(world, services, leaf_keys):
    old_number = world.cards[ADMIN_A].card_number
    renewed = renew_card(services, old_number, password=b"pw", private_key=leaf_keys[4])
    assert renewed.card_number != old_number
    assert show_structure(services, P1, world.actor(ADMIN_A)).idnst == "1" + P1
    with services.unit_of_work() as uow:
        assert uow.cards.by_number(old_number).status == "replaced"
        old = uow.certificates.by_serial(world.cards[ADMIN_A].serial)
        assert old.revoked_at is not None and old.revocation_reason == "superseded"
    # A request naming the replaced card is refused; the new card works.
    request = request_habilitation(
        services,
        RequestHabilitationCommand(
            P2, AdministratorForm("éditeur", "Alice Martin", old_number, "a@b.fr")
        ),
    )
    with pytest.raises(SceauError) as refused:
        approve_habilitation(services, request.id)
    assert refused.value.code == "card_not_active"


def test_vendor_siren_is_validated(services):
    from sceau.registration.use_cases.vendors import AddVendorCommand, add_vendor

    with pytest.raises(SceauError) as refused:
        add_vendor(services, AddVendorCommand(VENDOR_A[:-1] + "1", "MAUVAIS SIREN"))
    assert "siren" in refused.value.code
