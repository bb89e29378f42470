"""The product state machine: every allowed transition, every refused one, derived states."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.orders.states import (
    TRANSITIONS,
    ProductState,
    can_transition,
    effective_state,
    transition,
)

S = ProductState
ALLOWED = {
    (S.REQUESTED, S.ISSUED),
    (S.REQUESTED, S.REJECTED),
    (S.REQUESTED, S.CANCELLED),
    (S.ISSUED, S.RETRIEVED),
    (S.ISSUED, S.CANCELLED),
    (S.ISSUED, S.REVOKED),
    (S.ISSUED, S.EXPIRED),
    (S.RETRIEVED, S.REVOKED),
    (S.RETRIEVED, S.EXPIRED),
}
NOW = dt.datetime(2026, 11, 29, 10, 35, 6, tzinfo=dt.UTC)


def test_the_table_is_exactly_the_documented_machine():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transition(current, target):
    assert can_transition(current, target)
    assert transition(current, target) is target
    assert transition(current.value, target.value) is target  # stored strings work too


@pytest.mark.parametrize(
    ("current", "target"),
    sorted(set(itertools.product(S, S)) - ALLOWED),
)
def test_every_other_transition_is_refused_with_a_reason(current, target):
    assert not can_transition(current, target)
    with pytest.raises(SceauError) as caught:
        transition(current, target)
    assert caught.value.kind is ErrorKind.CONFLICT
    assert caught.value.code == "invalid_transition"
    assert current.label in caught.value.message and target.label in caught.value.message


def test_final_states():
    assert {s for s in S if s.is_final} == {S.EXPIRED, S.REVOKED, S.REJECTED, S.CANCELLED}
    with pytest.raises(SceauError, match="définitif"):
        transition(S.REVOKED, S.RETRIEVED)


def test_expiry_and_revocation_are_derived_at_read_time():
    past, future = NOW - dt.timedelta(seconds=1), NOW + dt.timedelta(days=1)
    assert effective_state(S.RETRIEVED, not_after=future, revoked_at=None, now=NOW) is S.RETRIEVED
    assert effective_state(S.RETRIEVED, not_after=NOW, revoked_at=None, now=NOW) is S.EXPIRED
    assert effective_state(S.ISSUED, not_after=past, revoked_at=None, now=NOW) is S.EXPIRED
    assert effective_state(S.RETRIEVED, not_after=future, revoked_at=past, now=NOW) is S.REVOKED
    # revoked wins over expired; a cancelled product stays cancelled
    assert effective_state(S.RETRIEVED, not_after=past, revoked_at=past, now=NOW) is S.REVOKED
    assert effective_state(S.CANCELLED, not_after=future, revoked_at=past, now=NOW) is S.CANCELLED
    assert effective_state(S.REQUESTED, not_after=None, revoked_at=None, now=NOW) is S.REQUESTED


def test_parse_accepts_codes_and_french_labels():
    assert ProductState.parse("Retrieved") is S.RETRIEVED
    assert ProductState.parse("en attente de retrait") is S.ISSUED
    with pytest.raises(SceauError, match="inconnu"):
        ProductState.parse("valid")
