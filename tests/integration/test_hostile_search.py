"""Hostile search text on a real database (SQLite and PostgreSQL): SUIVRE's search field and
the structure search answer a page or a clear ``SceauError``, never a database error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sceau.pki.errors import SceauError
from sceau.registration.use_cases.structures import (
    AddStructureCommand,
    add_structure,
    list_structures,
)
from sceau.registration.use_cases.track_certificates import TrackQuery, track_products

HOSTILE = [
    "%",
    "_",
    "\\",
    "%' OR '1'='1",
    "'; DROP TABLE structures; --",
    "PHARMACIE%",
    "\u2028\u202e\x1b[31m",
    "x" * 10_000,
    "\ud7ff\U0001d400",
]


@pytest.fixture
def pharmacy(services):
    add_structure(
        services,
        AddStructureCommand(
            finess="010002301", raison_sociale="PHARMACIE 100% SANTE", department="01"
        ),
    )


def search_both(services, text: str) -> None:
    try:
        track_products(services, TrackQuery(text=text))
    except SceauError as exc:
        assert exc.code
    try:
        list_structures(services, "operator", text)
    except SceauError as exc:
        assert exc.code


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_text_is_data(services, pharmacy, text):
    search_both(services, text)
    # LIKE wildcards typed by a user do not widen the search beyond what they match anyway.
    assert [s.idnst for s in list_structures(services, "operator", "'; DROP TABLE")] == []
    assert len(list_structures(services, "operator", "PHARMACIE")) == 1


def test_nul_in_search_text(services, pharmacy, db_engine):
    if db_engine == "sqlite":
        pytest.skip("SQLite stores NUL: only PostgreSQL shows the finding")
    search_both(services, "PHARMACIE\x00")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=200))
def test_random_search_text(services, text):
    search_both(services, text)
