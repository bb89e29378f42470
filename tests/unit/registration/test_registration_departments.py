"""Département table, ST values and code conversions (domain §2.2, §8.1)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sceau.registration.departments import (
    DEPARTMENTS,
    department_from_etalab,
    department_from_postcode,
    department_label,
    get_department,
    state_value,
)
from sceau.registration.identifiers import IdentifierError


def test_the_table_holds_every_departement() -> None:
    departements = [d for d in DEPARTMENTS.values() if not d.collectivity]
    assert len(departements) == 101  # 96 mainland (2A and 2B instead of 20) + 5 overseas
    mainland = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}
    overseas = {"971", "972", "973", "974", "976"}
    assert {d.code for d in departements} == mainland | overseas
    assert {d.code for d in departements if d.overseas} == overseas
    collectivities = {d.code for d in DEPARTMENTS.values() if d.collectivity}
    assert collectivities == {"975", "977", "978", "986", "987", "988"}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("69", "Rhône (69)"),  # as in the ST of the ANS test certificates
        ("21", "Côte-d'Or (21)"),
        ("92", "Hauts-de-Seine (92)"),
        ("75", "Paris (75)"),
        ("76", "Seine-Maritime (76)"),
        ("01", "Ain (01)"),
        ("2A", "Corse-du-Sud (2A)"),
        ("2b", "Haute-Corse (2B)"),
        ("90", "Territoire de Belfort (90)"),
        ("971", "Guadeloupe (971)"),
        ("972", "Martinique (972)"),
        ("973", "Guyane (973)"),
        ("974", "La Réunion (974)"),
        ("976", "Mayotte (976)"),
        ("975", "Saint-Pierre-et-Miquelon (975)"),
    ],
)
def test_state_values(code: str, expected: str) -> None:
    assert state_value(code) == expected
    assert department_label(code) == expected.rsplit(" (", 1)[0]


def test_names_are_clean_for_a_certificate_subject() -> None:
    for department in DEPARTMENTS.values():
        for text in (department.name, department.chef_lieu):
            assert text == text.strip() and "  " not in text
            assert unicodedata.normalize("NFC", text) == text
            assert "’" not in text  # ASCII apostrophe, as in "Côte-d'Or (21)"
            text.encode("latin-1")  # the etalab extract generator writes ISO-8859-1
        assert len(department.state_value) <= 64


@pytest.mark.parametrize("code", ["20", "00", "96", "99", "999", "9A", "", "Rhône", "6 9"])
def test_unknown_codes_are_refused(code: str) -> None:
    with pytest.raises(IdentifierError) as error:
        state_value(code)
    assert error.value.code == "department_unknown"
    with pytest.raises(IdentifierError):
        get_department(code)


@pytest.mark.parametrize(
    ("etalab", "insee"),
    [
        ("9A", "971"),
        ("9B", "972"),
        ("9C", "973"),
        ("9D", "974"),
        ("9E", "975"),
        ("9F", "976"),
        ("69", "69"),
        ("2A", "2A"),
        ("2b", "2B"),
        ("01", "01"),
    ],
)
def test_department_from_etalab(etalab: str, insee: str) -> None:
    assert department_from_etalab(etalab) == insee


@pytest.mark.parametrize("etalab", ["9Z", "20", "00", "", "971X"])
def test_unknown_etalab_codes_are_refused(etalab: str) -> None:
    with pytest.raises(IdentifierError):
        department_from_etalab(etalab)


@pytest.mark.parametrize(
    ("postcode", "code"),
    [
        ("69003", "69"),
        ("01300", "01"),
        ("75015", "75"),
        ("97139", "971"),
        ("97200", "972"),
        ("97600", "976"),
        ("97133", "977"),  # Saint-Barthélemy
        ("97150", "978"),  # Saint-Martin
        ("20000", "2A"),
        ("20167", "2A"),
        ("20200", "2B"),
        ("20600", "2B"),
        ("98800", "988"),
    ],
)
def test_department_from_postcode(postcode: str, code: str) -> None:
    assert department_from_postcode(postcode) == code


@pytest.mark.parametrize(
    ("postcode", "code"),
    [
        ("6900", "postcode_format"),
        ("690030", "postcode_format"),
        ("ABCDE", "postcode_format"),
        ("69 03", "postcode_format"),
        ("98000", "postcode_department"),  # Monaco
        ("00100", "postcode_department"),
        ("96000", "postcode_department"),
    ],
)
def test_invalid_postcodes(postcode: str, code: str) -> None:
    with pytest.raises(IdentifierError) as error:
        department_from_postcode(postcode)
    assert error.value.code == code


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=8), st.text(alphabet="0123456789ABF9 ", max_size=6)))
def test_random_codes_never_crash(value: str) -> None:
    for function in (state_value, department_from_etalab, department_from_postcode):
        try:
            result = function(value)
        except IdentifierError:
            continue
        assert result
