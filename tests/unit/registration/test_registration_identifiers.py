"""FINESS, SIREN/SIRET, IDNST, idNat and card-number rules (domain reference §7)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.identifiers import (
    CorsicaRule,
    IdentifierError,
    Idnst,
    IdnstKind,
    PersonId,
    PersonIdKind,
    finess_check_digit,
    idnst_for_finess,
    is_test_finess,
    luhn_check_digit,
    luhn_valid,
    parse_idnat,
    parse_idnst,
    validate_card_number,
    validate_finess,
    validate_rpps,
    validate_siren,
    validate_siret,
)

# The 16 real numbers of domain §7.1 (ansforge/finess sample and public extract lines).
REAL_FINESS = (
    "010000016", "010000156", "010000164", "010780195", "010787190", "010002301", "010002293",
    "010002335", "010002327", "300006475", "970100012", "970100103", "970102018", "970113015",
    "970100400", "970100186",
)  # fmt: skip
# ANS test structures (domain §7.1, §7.2, guide "10B0039137").
TEST_FINESS = (
    "0B0152872", "1B0073160", "0B0062640", "0B0212643", "0B0156832", "0B0221636", "0B0057881",
    "0B0039137",
)  # fmt: skip


# ------------------------------------------------------------------------------------ Luhn


def test_luhn_worked_example_of_the_domain_reference() -> None:
    # officine 010002301: body 01000230 -> key 1
    assert luhn_check_digit("01000230") == 1
    assert luhn_valid("010002301")
    assert not luhn_valid("010002302")


def test_luhn_refuses_non_digits() -> None:
    with pytest.raises(IdentifierError) as error:
        luhn_check_digit("12A")
    assert error.value.code == "luhn_characters"
    with pytest.raises(IdentifierError):
        luhn_check_digit("")
    # str.isdigit() would accept these; the Luhn helpers must not
    assert not luhn_valid("0²")
    assert not luhn_valid("١٢")
    assert not luhn_valid("7")
    assert not luhn_valid("")


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_luhn_key_makes_the_number_valid_and_any_other_key_invalid(body: str) -> None:
    key = luhn_check_digit(body)
    assert 0 <= key <= 9
    assert luhn_valid(body + str(key))
    for other in range(10):
        if other != key:
            assert not luhn_valid(body + str(other))


# ---------------------------------------------------------------------------------- FINESS


@pytest.mark.parametrize("number", REAL_FINESS)
def test_real_finess_numbers_are_valid(number: str) -> None:
    assert luhn_valid(number)
    assert validate_finess(number, environment="prod") == number
    assert validate_finess(number, environment="test") == number


@pytest.mark.parametrize("number", REAL_FINESS)
def test_any_single_digit_change_of_a_real_finess_is_refused(number: str) -> None:
    for position in range(9):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            changed = number[:position] + digit + number[position + 1 :]
            assert not luhn_valid(changed), changed
            for environment in ("prod", "test"):
                with pytest.raises(IdentifierError) as error:
                    validate_finess(changed, environment=environment)
                # a changed prefix may also leave the list of départements ("00", "20", "99")
                expected = {"finess_check_digit"} if position > 1 else {
                    "finess_check_digit", "finess_department"
                }  # fmt: skip
                assert error.value.code in expected, (changed, error.value.code)


def test_check_digit_message_names_the_rule_and_the_expected_key() -> None:
    with pytest.raises(IdentifierError) as error:
        validate_finess("010002302", environment="prod")
    assert error.value.code == "finess_check_digit"
    assert error.value.rule == "check_digit"
    assert error.value.kind is ErrorKind.INVALID_INPUT
    assert str(error.value) == "FINESS 010002302: clé de contrôle (Luhn) invalide, attendu 1"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("01000230", "finess_length"),
        ("0100023011", "finess_length"),
        ("", "finess_length"),
        ("01000230é", "finess_characters"),
        ("01-002301", "finess_characters"),
        ("01A002301", "finess_characters"),
        ("000000000", "finess_department"),
        ("200000000", "finess_department"),
        ("990000000", "finess_department"),
        ("AB0000000", "finess_department"),
        ("010002302", "finess_check_digit"),
        ("0B0039137", "finess_test_number_in_prod"),
    ],
)
def test_each_broken_rule_has_its_own_code(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as error:
        validate_finess(value, environment="prod")
    assert error.value.code == code
    assert error.value.message.startswith("FINESS")


def test_finess_is_normalised() -> None:
    assert validate_finess("  010002301\n", environment="prod") == "010002301"
    assert validate_finess("0b0039137", environment="test") == "0B0039137"


@pytest.mark.parametrize("number", TEST_FINESS)
def test_ans_test_numbers_only_in_test(number: str) -> None:
    assert is_test_finess(number)
    assert validate_finess(number, environment="test") == number
    with pytest.raises(IdentifierError) as error:
        validate_finess(number, environment="prod")
    assert error.value.code == "finess_test_number_in_prod"
    assert "TEST" in error.value.message


def test_malformed_test_numbers_are_refused_even_in_test() -> None:
    for value in ("0B003913", "0B003913X", "BB0039137", "0C0039137"):
        with pytest.raises(IdentifierError):
            validate_finess(value, environment="test")


def test_environment_must_be_test_or_prod() -> None:
    with pytest.raises(SceauError) as error:
        validate_finess("010002301", environment="production")
    assert error.value.code == "invalid_environment"
    assert error.value.kind is ErrorKind.INTERNAL


def test_corsica_keys_follow_the_configured_rule() -> None:
    nir = "2A000001" + str(finess_check_digit("2A000001", corsica_rule=CorsicaRule.NIR))
    zero = "2A000001" + str(finess_check_digit("2A000001", corsica_rule=CorsicaRule.ZERO))
    assert nir != zero  # 19… and 20… give different keys here
    assert nir[-1] == str(luhn_check_digit("19000001"))
    assert zero[-1] == str(luhn_check_digit("20000001"))
    for number in (nir, zero):
        assert validate_finess(number, environment="prod") == number  # EITHER by default
    assert validate_finess(nir, environment="prod", corsica_rule=CorsicaRule.NIR) == nir
    with pytest.raises(IdentifierError) as error:
        validate_finess(zero, environment="prod", corsica_rule=CorsicaRule.NIR)
    assert error.value.code == "finess_check_digit"
    wrong = next(
        "2A000001" + d for d in "0123456789" if d not in (nir[-1], zero[-1])
    )  # fmt: skip
    with pytest.raises(IdentifierError) as error:
        validate_finess(wrong, environment="prod")
    assert "2A→19" in error.value.message and "2A→20" in error.value.message
    assert validate_finess(wrong, environment="prod", corsica_rule=CorsicaRule.FORMAT_ONLY)


def test_haute_corse_is_not_a_test_number_in_prod() -> None:
    body = "2B012345"
    good = body + str(finess_check_digit(body, corsica_rule=CorsicaRule.NIR))
    assert validate_finess(good, environment="prod") == good
    keys = {
        str(finess_check_digit(body, corsica_rule=rule))
        for rule in (CorsicaRule.NIR, CorsicaRule.ZERO)
    }
    bad = body + next(d for d in "0123456789" if d not in keys)
    with pytest.raises(IdentifierError) as error:
        validate_finess(bad, environment="prod")
    assert error.value.code == "finess_check_digit"
    # in TEST the same shape is also the test-number format, accepted without key
    assert validate_finess(bad, environment="test") == bad


# ----------------------------------------------------------------------------- SIREN / SIRET


@pytest.mark.parametrize("siren", ["313285397", "187512751", "356000000", "000000000"])
def test_valid_sirens(siren: str) -> None:
    assert validate_siren(siren) == siren


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("31328539", "siren_length"),
        ("31328539X", "siren_characters"),
        ("313285398", "siren_check_digit"),
        ("921317258", "siren_check_digit"),  # the FHIR example "2921317258" is not Luhn-valid
    ],
)
def test_invalid_sirens(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as error:
        validate_siren(value)
    assert error.value.code == code


@pytest.mark.parametrize(
    "siret",
    [
        "31328539700011",  # the Guadeloupe polyclinic of the etalab sample
        "18751275100020",  # ASIP Santé (OU 318751275100020)
        "41930067800069",  # SANTEOS (OU 341930067800069)
        "00000000077081",  # ANS test structure (OU 300000000077081)
        "35600000000048",  # La Poste head office: Luhn-valid
        "35600000049837",  # a La Poste establishment: digit sum multiple of 5, not Luhn
    ],
)
def test_valid_sirets(siret: str) -> None:
    assert validate_siret(siret) == siret


def test_invalid_sirets() -> None:
    with pytest.raises(IdentifierError) as error:
        validate_siret("31328539700012")
    assert error.value.code == "siret_check_digit"
    with pytest.raises(IdentifierError) as error:
        validate_siret("35600000049838")
    assert error.value.code == "siret_check_digit"
    assert "La Poste" in error.value.message
    # whole number Luhn-valid but the SIREN part is not
    siren_bad = "313285398" + "0000"
    siret = siren_bad + str(luhn_check_digit(siren_bad))
    assert luhn_valid(siret)
    with pytest.raises(IdentifierError) as error:
        validate_siret(siret)
    assert "SIREN 313285398" in error.value.message
    for value, code in (("3132853970001", "siret_length"), ("3132853970001A", "siret_characters")):
        with pytest.raises(IdentifierError) as error:
            validate_siret(value)
        assert error.value.code == code


# ------------------------------------------------------------------------------------- IDNST


def test_idnst_of_each_kind() -> None:
    cases = [
        ("10B0221636", "test", IdnstKind.FINESS, "0B0221636"),
        ("1010002301", "prod", IdnstKind.FINESS, "010002301"),
        ("2313285397", "prod", IdnstKind.SIREN, "313285397"),
        ("318751275100020", "prod", IdnstKind.SIRET, "18751275100020"),
        ("499700367909006", "prod", IdnstKind.RPPS_CABINET, "99700367909006"),
        ("0690123456", "prod", IdnstKind.ADELI_CABINET, "690123456"),
    ]
    for value, environment, kind, identifier in cases:
        idnst = parse_idnst(value, environment=environment)
        assert idnst == Idnst(kind, identifier)
        assert idnst.value == value == str(idnst)


def test_idnst_refusals() -> None:
    with pytest.raises(IdentifierError) as error:
        parse_idnst("10B0221636", environment="prod")
    assert error.value.code == "finess_test_number_in_prod"
    for value, code in (
        ("", "idnst_length"),
        ("5123", "idnst_prefix"),
        ("X010002301", "idnst_prefix"),
        ("1010002302", "finess_check_digit"),
        ("3187512751000201", "siret_length"),
        ("41234", "rpps_cabinet_length"),
        ("00B6087510", "adeli_cabinet_test_number_in_prod"),
    ):
        with pytest.raises(IdentifierError) as error:
            parse_idnst(value, environment="prod")
        assert error.value.code == code, value


def test_idnst_for_finess() -> None:
    assert idnst_for_finess("010002301") == "1010002301"
    assert idnst_for_finess("0b0039137") == "10B0039137"
    with pytest.raises(IdentifierError):
        idnst_for_finess("0100")


# ------------------------------------------------------------------------------------- idNat


def test_idnat_of_professionals() -> None:
    rpps = parse_idnat("810002813839")
    assert rpps == PersonId(PersonIdKind.RPPS, "10002813839")
    assert rpps.is_health_professional and rpps.structure is None
    assert parse_idnat("899700218896").identifier == "99700218896"  # test RPPS, Luhn-valid
    adeli = parse_idnat("00B6087510", environment="test")
    assert adeli == PersonId(PersonIdKind.ADELI, "0B6087510")
    assert adeli.value == "00B6087510"
    with pytest.raises(IdentifierError) as error:
        parse_idnat("00B6087510")
    assert error.value.code == "adeli_test_number_in_prod"
    with pytest.raises(IdentifierError) as error:
        validate_rpps("10002813838")
    assert error.value.code == "rpps_check_digit"


def test_idnat_of_staff() -> None:
    staff = parse_idnat("30B0057881/CPET0002", environment="test")
    assert staff.kind is PersonIdKind.FINESS_STAFF
    assert (staff.identifier, staff.local_id) == ("0B0057881", "CPET0002")
    assert staff.value == "30B0057881/CPET0002"
    assert staff.structure == Idnst(IdnstKind.FINESS, "0B0057881")
    assert not staff.is_health_professional
    older = parse_idnat("3760021832/000000018")
    assert older.structure is not None and older.structure.value == "1760021832"
    cpa = parse_idnat("500000000029751/CPAT0001")
    assert cpa.kind is PersonIdKind.SIRET_STAFF
    assert cpa.structure == Idnst(IdnstKind.SIRET, "00000000029751")
    mss = parse_idnat("10jean.dupont@pharmacie.mssante.fr")
    assert mss == PersonId(PersonIdKind.MSSANTE, "jean.dupont@pharmacie.mssante.fr")
    assert mss.value == "10jean.dupont@pharmacie.mssante.fr"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "idnat_length"),
        ("7123", "idnat_prefix"),
        ("3010002301", "idnat_format"),
        ("3010002301/", "idnat_local_id"),
        ("3010002301/AB CD", "idnat_local_id"),
        ("3010002302/CPET0002", "finess_check_digit"),
        ("30B0057881/CPET0002", "finess_test_number_in_prod"),
        ("810002813838", "rpps_check_digit"),
        ("81000281383", "rpps_length"),
        ("10not-an-address@", "idnat_format"),
    ],
)
def test_idnat_refusals(value: str, code: str) -> None:
    with pytest.raises(IdentifierError) as error:
        parse_idnat(value)
    assert error.value.code == code


def test_card_numbers() -> None:
    assert validate_card_number("8025000001/2800636234") == "8025000001/2800636234"
    assert validate_card_number(" 8025000001/2600301752 ") == "8025000001/2600301752"
    for value in ("8025000001-2800636234", "802500000/2800636234", "8025000001/280063623X", ""):
        with pytest.raises(IdentifierError) as error:
            validate_card_number(value)
        assert error.value.code == "card_number_format"


# ---------------------------------------------------------------------------- properties

_INTERESTING = st.text(alphabet="0123456789ABab /@.\n²é", max_size=24)
_ANYTHING = st.one_of(st.text(max_size=30), _INTERESTING)


@settings(max_examples=400, deadline=None)
@given(_ANYTHING, st.sampled_from(["test", "prod"]))
def test_finess_never_crashes_and_valid_values_are_fixed_points(
    value: str, environment: str
) -> None:
    try:
        result = validate_finess(value, environment=environment)
    except IdentifierError as error:
        assert error.code.startswith("finess_")
        return
    assert len(result) == 9 and result.isascii()
    assert validate_finess(result, environment=environment) == result


@settings(max_examples=300, deadline=None)
@given(_ANYTHING, st.sampled_from(["test", "prod"]))
def test_structure_and_person_ids_never_crash(value: str, environment: str) -> None:
    for parse in (
        lambda v: parse_idnst(v, environment=environment).value,
        lambda v: parse_idnat(v, environment=environment).value,
        validate_siren,
        validate_siret,
        validate_card_number,
    ):
        try:
            result = parse(value)
        except IdentifierError:
            continue
        assert parse(result) == result


@given(
    st.sampled_from(["01", "69", "75", "95", "2A", "2B"]),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
)
def test_generated_finess_numbers_validate(prefix: str, digits: str) -> None:
    body = prefix + digits
    number = body + str(finess_check_digit(body))
    assert validate_finess(number, environment="prod") == number
