"""Authorization matrix through the use cases, on a real database: every action × six actors,
for detail and for lists. An action is *refused* when it raises FORBIDDEN/UNAUTHENTICATED;
any other outcome (success, or a business error such as a conflict) means it was let through."""

from __future__ import annotations

import datetime as dt

import pytest
from registry_world import ADMIN_A, ADMIN_B, LEGAL, P1, P2, PHARMACIST, build_world, rpps_idnat

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import LIST_ACTIONS, Action, Actor, authorize
from sceau.registration.use_cases.cards import IssueCardCommand, issue_card
from sceau.registration.use_cases.finess_import import import_finess_extract
from sceau.registration.use_cases.habilitations import (
    AdministratorForm,
    ReplaceAdministratorCommand,
    RequestHabilitationCommand,
    approve_habilitation,
    list_habilitations,
    list_requests,
    reject_habilitation,
    replace_administrator,
    request_habilitation,
    withdraw_habilitation,
)
from sceau.registration.use_cases.persons import AddPersonCommand, add_person, show_person
from sceau.registration.use_cases.structures import (
    AddStructureCommand,
    DesignateLegalRepresentativeCommand,
    UpdateStructureCommand,
    add_structure,
    close_structure,
    designate_legal_representative,
    list_structures,
    show_structure,
    update_structure,
)
from sceau.registration.use_cases.vendors import (
    AddContractCommand,
    AddVendorCommand,
    add_contract,
    add_vendor,
)

ADMIN_ALLOWED = {
    "structure.read", "structure.list", "certificate.request", "certificate.retrieve",
    "certificate.read", "certificate.list", "certificate.revoke", "certificate.renew",
    "habilitation.read", "habilitation.list",
}  # fmt: skip
LEGAL_ALLOWED = {
    "structure.read", "structure.list", "certificate.read", "certificate.list",
    "certificate.revoke", "habilitation.read", "habilitation.list", "habilitation.request",
    "habilitation.withdraw",
    "person.read",  # their own person record (the attempt reads the legal representative)
}  # fmt: skip
LISTS = {"structure.list", "certificate.list", "habilitation.list"}
EXPECTED_ALLOWED = {
    "operator": {action.value for action in Action},
    "habilitated vendor admin": ADMIN_ALLOWED,
    "vendor admin of another vendor": LISTS,  # allowed, then filtered (see test_lists_are_filtered)
    "pharmacist of another pharmacy": LISTS,
    "legal representative": LEGAL_ALLOWED,
    "unauthenticated": set(),
}

ROLES = {
    "operator": None,
    "habilitated vendor admin": ADMIN_A,
    "vendor admin of another vendor": ADMIN_B,
    "pharmacist of another pharmacy": PHARMACIST,
    "legal representative": LEGAL,
    "unauthenticated": None,
}
VISIBLE = {
    "operator": {P1, P2},
    "habilitated vendor admin": {P1},
    "vendor admin of another vendor": {P2},
    "pharmacist of another pharmacy": {P2},
    "legal representative": {P1},
}
# Run last: they change who holds what on P1.
DESTRUCTIVE = [Action.HABILITATION_WITHDRAW, Action.HABILITATION_REPLACE, Action.STRUCTURE_CLOSE]


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def _actor(world, role: str) -> Actor:
    if role == "operator":
        return Actor.operator("test")
    if role == "unauthenticated":
        return Actor.anonymous()
    return world.actor(ROLES[role])


def _pending(services, card_number: str, name: str) -> int:
    return request_habilitation(
        services,
        RequestHabilitationCommand(P1, AdministratorForm("éditeur", name, card_number, "x@y.fr")),
    ).id


def _attempts(world, services, leaf_keys):
    pending_a = _pending(services, world.cards[ADMIN_B].card_number, "Bruno Bernard")
    pending_b = _pending(services, world.cards[ADMIN_B].card_number, "Bruno Bernard")
    form_b = AdministratorForm(
        "éditeur", "Bruno Bernard", world.cards[ADMIN_B].card_number, "b@c.fr"
    )
    return {
        Action.STRUCTURE_READ: lambda a: show_structure(services, P1, a),
        Action.STRUCTURE_LIST: lambda a: list_structures(services, a),
        Action.STRUCTURE_CREATE: lambda a: add_structure(
            services, AddStructureCommand("010000156", "PHARMACIE NOUVELLE", "01", actor=a)
        ),
        Action.STRUCTURE_UPDATE: lambda a: update_structure(
            services, UpdateStructureCommand(P1, city="BOURG-EN-BRESSE", actor=a)
        ),
        Action.STRUCTURE_CLOSE: lambda a: close_structure(services, P1, a),
        Action.STRUCTURE_IMPORT: lambda a: import_finess_extract(
            services, ["finess;etalab;98;2026-05-12"], actor=a
        ),
        Action.LEGAL_REPRESENTATIVE_DESIGNATE: lambda a: designate_legal_representative(
            services, DesignateLegalRepresentativeCommand(P2, LEGAL, actor=a)
        ),
        Action.HABILITATION_LIST: lambda a: list_habilitations(services, a),
        Action.HABILITATION_READ: lambda a: list_habilitations(services, a, structure=P1),
        Action.HABILITATION_REQUEST: lambda a: request_habilitation(
            services, RequestHabilitationCommand(P1, form_b, actor=a)
        ),
        Action.HABILITATION_APPROVE: lambda a: approve_habilitation(services, pending_a, a),
        Action.HABILITATION_REJECT: lambda a: reject_habilitation(services, pending_b, "motif", a),
        Action.HABILITATION_REPLACE: lambda a: replace_administrator(
            services, ReplaceAdministratorCommand(P1, ADMIN_A, form_b, actor=a)
        ),
        Action.HABILITATION_WITHDRAW: lambda a: withdraw_habilitation(
            services, P1, ADMIN_A, "retrait", a
        ),
        Action.CARD_ISSUE: lambda a: issue_card(
            services, IssueCardCommand(LEGAL, "CPS", b"pw", leaf_keys[3], actor=a)
        ),
        Action.PERSON_MANAGE: lambda a: add_person(
            services, AddPersonCommand(rpps_idnat("1000111222"), "Neuf", "Nina", actor=a)
        ),
        Action.PERSON_READ: lambda a: show_person(services, LEGAL, a),
        Action.VENDOR_MANAGE: lambda a: add_vendor(
            services, AddVendorCommand("552100554", "NOUVEL EDITEUR", actor=a)
        ),
        Action.CONTRACT_MANAGE: lambda a: add_contract(
            services, AddContractCommand(signed_on=dt.date(2026, 2, 1), structure=P1, actor=a)
        ),
    }


def _outcome(call, actor) -> bool:
    try:
        call(actor)
    except SceauError as error:
        if error.kind in (ErrorKind.FORBIDDEN, ErrorKind.UNAUTHENTICATED):
            return False
    return True


@pytest.mark.parametrize("role", list(ROLES))
def test_every_action_on_the_structure(role, world, services, leaf_keys):
    attempts = _attempts(world, services, leaf_keys)
    actor = _actor(world, role)
    ordered = [a for a in Action if a not in DESTRUCTIVE] + DESTRUCTIVE
    results = {}
    for action in ordered:
        if action in attempts:
            results[action.value] = _outcome(attempts[action], actor)
        else:  # actions whose use cases come with later issues: the same decision, DB-resolved

            def check(a, action=action):
                with services.unit_of_work() as uow:
                    # Lists are asked without a structure (and filtered); the rest on P1.
                    structure = None if action in LIST_ACTIONS else uow.structures.by_reference(P1)
                    authorize(uow, a, action, structure, at=services.clock.now())

            results[action.value] = _outcome(check, actor)
    allowed = {name for name, ok in results.items() if ok}
    assert allowed == EXPECTED_ALLOWED[role]
    # Every refused attempt is in the audit trail, with who tried.
    with services.unit_of_work() as uow:
        refused = {
            (e.action, e.actor) for e in uow.audit.list(limit=1000) if e.outcome == "refused"
        }
    assert {(name, actor.label) for name in set(results) - allowed} <= refused


@pytest.mark.parametrize("role", [r for r in ROLES if r != "unauthenticated"])
def test_lists_are_filtered(role, world, services):
    actor = _actor(world, role)
    assert {s.finess_et for s in list_structures(services, actor)} == VISIBLE[role]
    visible_idnsts = {"1" + f for f in VISIBLE[role]}
    assert {h.structure_idnst for h in list_habilitations(services, actor)} <= visible_idnsts
    _pending(services, world.cards[ADMIN_B].card_number, "Bruno Bernard")  # a request on P1
    requests = list_requests(services, actor)
    assert {r.structure_idnst for r in requests} == ({"1" + P1} & visible_idnsts)
    assert {s.finess_et for s in list_structures(services, actor, search="PHARMACIE")} == VISIBLE[
        role
    ]


def test_anonymous_lists_nothing(world, services):
    for call in (list_structures, list_habilitations, list_requests):
        with pytest.raises(SceauError) as refused:
            call(services, Actor.anonymous())
        assert refused.value.kind is ErrorKind.UNAUTHENTICATED


@pytest.mark.parametrize("role", ["vendor admin of another vendor", "legal representative"])
def test_refusal_does_not_reveal_whether_a_structure_exists(role, world, services):
    actor = _actor(world, role)
    codes = set()
    for reference in (P2 if role == "legal representative" else P1, "010000164"):
        with pytest.raises(SceauError) as refused:
            show_structure(services, reference, actor)
        codes.add((refused.value.kind, refused.value.code))
    assert codes == {(ErrorKind.FORBIDDEN, "forbidden")}
    with pytest.raises(SceauError) as missing:
        show_structure(services, "010000164", Actor.operator())
    assert missing.value.kind is ErrorKind.NOT_FOUND


def test_detail_of_habilitations_of_another_structure_is_refused(world, services):
    with pytest.raises(SceauError) as refused:
        list_habilitations(services, world.actor(ADMIN_A), structure=P2)
    assert refused.value.kind is ErrorKind.FORBIDDEN
