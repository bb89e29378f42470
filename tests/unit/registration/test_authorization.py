"""The decision function alone: every action × the six kinds of actor, on one structure."""

from __future__ import annotations

import pytest

from sceau.registration.authorization import Action, Actor, ActorKind, may

TARGET = 1  # the structure acted on
OTHER = 2  # another pharmacy

ADMIN_ALLOWED = {
    "structure.read", "structure.list", "certificate.request", "certificate.retrieve",
    "certificate.read", "certificate.list", "certificate.revoke", "certificate.renew",
    "habilitation.read", "habilitation.list",
}  # fmt: skip
LEGAL_ALLOWED = {
    "structure.read", "structure.list", "certificate.read", "certificate.list",
    "certificate.revoke", "habilitation.read", "habilitation.list", "habilitation.request",
    "habilitation.withdraw",
}  # fmt: skip
LISTS = {"structure.list", "certificate.list", "habilitation.list"}

ACTORS = {
    "operator": Actor.operator("cli"),
    "habilitated vendor admin": Actor.person(10, "4732829320/CPAT0001", habilitated={TARGET}),
    "vendor admin of another vendor": Actor.person(11, "4412345670/CPAT0007", habilitated={OTHER}),
    "pharmacist of another pharmacy": Actor.person(
        12, "810003456789", habilitated={OTHER}, represented={OTHER}
    ),
    "legal representative": Actor.person(13, "810009876543", represented={TARGET}),
    "unauthenticated": Actor.anonymous(),
}
ALLOWED_ON_TARGET = {
    "operator": {action.value for action in Action},
    "habilitated vendor admin": ADMIN_ALLOWED,
    "vendor admin of another vendor": set(),
    "pharmacist of another pharmacy": set(),
    "legal representative": LEGAL_ALLOWED,
    "unauthenticated": set(),
}
ALLOWED_WITHOUT_STRUCTURE = {
    "operator": {action.value for action in Action},
    "habilitated vendor admin": LISTS,
    "vendor admin of another vendor": LISTS,
    "pharmacist of another pharmacy": LISTS,
    "legal representative": LISTS,
    "unauthenticated": set(),
}


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("action", list(Action))
def test_matrix_on_the_structure(role: str, action: Action) -> None:
    assert may(ACTORS[role], action, TARGET) is (action.value in ALLOWED_ON_TARGET[role])


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("action", list(Action))
def test_matrix_without_a_structure(role: str, action: Action) -> None:
    assert may(ACTORS[role], action, None) is (action.value in ALLOWED_WITHOUT_STRUCTURE[role])


def test_kinds() -> None:
    assert ACTORS["habilitated vendor admin"].kind is ActorKind.ADMINISTRATOR
    assert ACTORS["legal representative"].kind is ActorKind.LEGAL_REPRESENTATIVE
    assert ACTORS["unauthenticated"].kind is ActorKind.ANONYMOUS


def test_a_row_with_an_id_is_accepted_as_structure() -> None:
    class Row:
        id = TARGET

    assert may(ACTORS["habilitated vendor admin"], Action.STRUCTURE_READ, Row())
    assert not may(ACTORS["vendor admin of another vendor"], Action.STRUCTURE_READ, Row())


def test_a_person_without_grants_may_only_ask_for_lists() -> None:
    nobody = Actor.person(99, "810000000000")
    assert not any(may(nobody, action, TARGET) for action in Action)
