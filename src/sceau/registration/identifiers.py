"""Identifiers of structures and persons: FINESS, SIREN, SIRET, IDNST, idNat (IDNPS), card numbers.

Each validator normalises its input (surrounding spaces stripped, letters upper-cased where the
format has letters) and returns the canonical value, or raises :class:`IdentifierError` whose
``code`` names the broken rule, e.g. ``finess_check_digit``. Messages are in French: users see
them. Rules and their evidence: shared domain reference §7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal

from sceau.pki.errors import ErrorKind, SceauError

Environment = Literal["test", "prod"]
ENVIRONMENTS: tuple[str, ...] = ("test", "prod")

LA_POSTE_SIREN = "356000000"
"""SIREN of La Poste, whose establishment SIRETs do not follow Luhn (digit sum multiple of 5)."""


class IdentifierError(SceauError):
    """An identifier breaks a format rule; ``code`` is ``<identifier type>_<rule>``."""

    def __init__(self, identifier_type: str, rule: str, message: str) -> None:
        super().__init__(f"{identifier_type}_{rule}", message, ErrorKind.INVALID_INPUT)
        self.identifier_type = identifier_type
        self.rule = rule


def _show(value: str) -> str:
    """The value as it may appear in a message: verbatim when printable, else its repr."""
    if value and value.isprintable() and len(value) <= 40:
        return value
    return repr(value[:40] + ("…" if len(value) > 40 else ""))


def check_environment(environment: str) -> None:
    """Refuse an environment other than ``test`` or ``prod`` (a programming error)."""
    if environment not in ENVIRONMENTS:
        raise SceauError(
            "invalid_environment",
            f"unknown environment {environment!r}: expected 'test' or 'prod'",
            ErrorKind.INTERNAL,
        )


_DIGITS_RE = re.compile(r"[0-9]+")


def _is_digits(value: str) -> bool:
    """True when ``value`` is a non-empty string of ASCII digits (``str.isdigit`` accepts '²')."""
    return _DIGITS_RE.fullmatch(value) is not None


# --------------------------------------------------------------------------------------- Luhn

# bytes.translate table: ASCII digit d -> the digit sum of 2*d (the "doubled" Luhn positions)
_DOUBLED = bytes(range(48)) + bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)) + bytes(range(58, 256))


def _luhn_key(digits: bytes) -> int:
    """Luhn key of ASCII digits (unchecked): doubled positions go through ``_DOUBLED``."""
    kept = digits[-2::-2]
    total = sum(digits[-1::-2].translate(_DOUBLED)) + sum(kept) - 48 * len(kept)
    return (10 - total % 10) % 10


def luhn_check_digit(body: str) -> int:
    """The Luhn (mod 10) key to append to ``body``, a non-empty string of ASCII digits.

    From the right, every second digit starting with the rightmost body digit is doubled
    (9 subtracted above 9); the key brings the total to a multiple of 10.
    """
    if not _is_digits(body):
        raise IdentifierError("luhn", "characters", f"Luhn: {_show(body)} doit être numérique")
    return _luhn_key(body.encode("ascii"))


def luhn_valid(number: str) -> bool:
    """True when ``number`` (at least two ASCII digits) ends with its Luhn key."""
    if len(number) < 2 or not _is_digits(number):
        return False
    digits = number.encode("ascii")
    return _luhn_key(digits[:-1]) == digits[-1] - 48


# ------------------------------------------------------------------------------------- FINESS


class CorsicaRule(StrEnum):
    """How the letter of a Corsican FINESS prefix (2A, 2B) enters the Luhn computation.

    The real rule was **not verified** (domain reference §7.1, §12): no Corsican FINESS sample
    was available. ``EITHER`` (the default) accepts the key computed with either mapping.
    """

    EITHER = "either"
    NIR = "nir"  # 2A -> 19, 2B -> 18: the INSEE convention used for the NIR
    ZERO = "zero"  # the letter counts as 0: 2A -> 20, 2B -> 20
    FORMAT_ONLY = "format_only"  # check the format, not the key


_CORSICA_MAPPINGS: dict[CorsicaRule, dict[str, str]] = {
    CorsicaRule.NIR: {"2A": "19", "2B": "18"},
    CorsicaRule.ZERO: {"2A": "20", "2B": "20"},
}

FINESS_DEPARTMENT_PREFIXES: frozenset[str] = frozenset(
    {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B", "97", "98"}
)
"""First two characters of a real FINESS number: 01..95 (not 20), 2A, 2B, 97, 98 (overseas)."""

_FINESS_FORMAT_RE = re.compile(r"[0-9A-Z]{9}")
_FINESS_TEST_RE = re.compile(r"[0-9]B[0-9]{7}")


def finess_check_digit(body: str, *, corsica_rule: CorsicaRule = CorsicaRule.NIR) -> int:
    """The key of an 8-character FINESS body; a 2A/2B prefix is mapped per ``corsica_rule``.

    ``corsica_rule`` must be ``NIR`` or ``ZERO`` here (one key is computed).
    """
    prefix = body[:2]
    if prefix in ("2A", "2B"):
        mapping = _CORSICA_MAPPINGS.get(corsica_rule)
        if mapping is None:
            raise SceauError(
                "invalid_corsica_rule",
                f"a single key needs the NIR or ZERO Corsica rule, not {corsica_rule!r}",
                ErrorKind.INTERNAL,
            )
        body = mapping[prefix] + body[2:]
    return luhn_check_digit(body)


def is_test_finess(number: str) -> bool:
    """True for the ANS test format: a digit, the letter ``B``, seven digits (``0B0152872``)."""
    return _FINESS_TEST_RE.fullmatch(number.strip().upper()) is not None


def validate_finess(
    number: str,
    *,
    environment: Environment | str,
    corsica_rule: CorsicaRule = CorsicaRule.EITHER,
) -> str:
    """Validate a FINESS number (ET or EJ) and return it upper-cased.

    Rules, in order: 9 characters; ASCII digits and capital letters; test numbers
    ``<digit>B<7 digits>`` are accepted without a key in TEST and refused in PROD — except that
    in PROD a ``2B…`` number is Haute-Corse, not a test number; the first two characters are a
    département prefix (01..95, 2A, 2B, 97, 98); characters 3-9 are digits; the 9th is the Luhn
    key of the first 8 (Corsica: see :class:`CorsicaRule`, unverified).
    """
    check_environment(environment)
    value = number.strip().upper()
    shown = _show(value)
    if len(value) != 9:
        raise IdentifierError(
            "finess", "length", f"FINESS {shown}: 9 caractères attendus, {len(value)} reçus"
        )
    if _FINESS_FORMAT_RE.fullmatch(value) is None:
        raise IdentifierError(
            "finess",
            "characters",
            f"FINESS {shown}: seuls les chiffres et les lettres A à Z sont autorisés",
        )
    if _FINESS_TEST_RE.fullmatch(value) and not (environment == "prod" and value[0] == "2"):
        if environment == "test":
            return value
        raise IdentifierError(
            "finess",
            "test_number_in_prod",
            f"FINESS {value}: numéro de test (lettre B en 2e position), accepté uniquement "
            "dans l'environnement TEST",
        )
    prefix = value[:2]
    if prefix not in FINESS_DEPARTMENT_PREFIXES:
        raise IdentifierError(
            "finess",
            "department",
            f"FINESS {value}: préfixe de département {prefix!r} inconnu "
            "(attendu 01 à 95, 2A, 2B, 97 ou 98)",
        )
    if not _is_digits(value[2:]):
        raise IdentifierError(
            "finess",
            "characters",
            f"FINESS {value}: les caractères 3 à 9 doivent être des chiffres",
        )
    key = ord(value[8]) - 48
    if prefix in ("2A", "2B"):
        if corsica_rule is CorsicaRule.FORMAT_ONLY:
            return value
        rules = (
            (CorsicaRule.NIR, CorsicaRule.ZERO)
            if corsica_rule is CorsicaRule.EITHER
            else (corsica_rule,)
        )
        expected = {rule: finess_check_digit(value[:8], corsica_rule=rule) for rule in rules}
        if key not in expected.values():
            options = " ou ".join(
                f"{digit} ({prefix}→{_CORSICA_MAPPINGS[rule][prefix]})"
                for rule, digit in expected.items()
            )
            raise IdentifierError(
                "finess",
                "check_digit",
                f"FINESS {value}: clé de contrôle (Luhn) invalide, attendu {options}",
            )
        return value
    expected_key = luhn_check_digit(value[:8])
    if key != expected_key:
        raise IdentifierError(
            "finess",
            "check_digit",
            f"FINESS {value}: clé de contrôle (Luhn) invalide, attendu {expected_key}",
        )
    return value


# ------------------------------------------------------------------------------ SIREN / SIRET


def _digits_of_length(identifier_type: str, label: str, value: str, length: int) -> str:
    value = value.strip()
    if len(value) != length:
        raise IdentifierError(
            identifier_type,
            "length",
            f"{label} {_show(value)}: {length} chiffres attendus, {len(value)} reçus",
        )
    if not _is_digits(value):
        raise IdentifierError(
            identifier_type,
            "characters",
            f"{label} {_show(value)}: seuls les chiffres sont autorisés",
        )
    return value


def validate_siren(value: str) -> str:
    """Validate a SIREN: 9 digits whose last is the Luhn key."""
    siren = _digits_of_length("siren", "SIREN", value, 9)
    if not luhn_valid(siren):
        raise IdentifierError(
            "siren",
            "check_digit",
            f"SIREN {siren}: clé de contrôle (Luhn) invalide, "
            f"attendu {luhn_check_digit(siren[:8])}",
        )
    return siren


def validate_siret(value: str) -> str:
    """Validate a SIRET: 14 digits, SIREN part and whole number Luhn-valid.

    La Poste (SIREN 356000000) numbers its establishments so that the digit sum is a multiple
    of 5; its head office SIRET (35600000000048) follows Luhn. Either is accepted for La Poste.
    """
    siret = _digits_of_length("siret", "SIRET", value, 14)
    if siret.startswith(LA_POSTE_SIREN):
        if luhn_valid(siret) or sum(ord(c) - 48 for c in siret) % 5 == 0:
            return siret
        raise IdentifierError(
            "siret",
            "check_digit",
            f"SIRET {siret}: établissement de La Poste, la somme des chiffres doit être un "
            "multiple de 5",
        )
    if not luhn_valid(siret[:9]):
        raise IdentifierError(
            "siret",
            "check_digit",
            f"SIRET {siret}: le SIREN {siret[:9]} a une clé de contrôle (Luhn) invalide",
        )
    if not luhn_valid(siret):
        raise IdentifierError(
            "siret",
            "check_digit",
            f"SIRET {siret}: clé de contrôle (Luhn) invalide, "
            f"attendu {luhn_check_digit(siret[:13])}",
        )
    return siret


# ------------------------------------------------------------------ RPPS, ADELI and cabinets


def validate_rpps(value: str) -> str:
    """Validate an RPPS number: 11 digits, the last a Luhn key (holds on the known samples)."""
    rpps = _digits_of_length("rpps", "RPPS", value, 11)
    if not luhn_valid(rpps):
        raise IdentifierError(
            "rpps",
            "check_digit",
            f"RPPS {rpps}: clé de contrôle (Luhn) invalide, attendu {luhn_check_digit(rpps[:10])}",
        )
    return rpps


def validate_rpps_cabinet(value: str) -> str:
    """Validate an RPPS cabinet id: 14 digits (single sample; no key checked, format unverified)."""
    return _digits_of_length("rpps_cabinet", "Identifiant de cabinet RPPS", value, 14)


def _validate_nine_characters(
    identifier_type: str, label: str, value: str, environment: str
) -> str:
    check_environment(environment)
    value = value.strip().upper()
    if len(value) != 9:
        raise IdentifierError(
            identifier_type,
            "length",
            f"{label} {_show(value)}: 9 caractères attendus, {len(value)} reçus",
        )
    if _FINESS_FORMAT_RE.fullmatch(value) is None:
        raise IdentifierError(
            identifier_type,
            "characters",
            f"{label} {_show(value)}: seuls les chiffres et les lettres A à Z sont autorisés",
        )
    if environment == "prod" and _FINESS_TEST_RE.fullmatch(value) and value[0] != "2":
        raise IdentifierError(
            identifier_type,
            "test_number_in_prod",
            f"{label} {value}: numéro de test (lettre B en 2e position), accepté uniquement "
            "dans l'environnement TEST",
        )
    return value


def validate_adeli(value: str, *, environment: Environment | str) -> str:
    """Validate an ADELI number: 9 characters (no key is known); test numbers only in TEST."""
    return _validate_nine_characters("adeli", "ADELI", value, environment)


def validate_adeli_cabinet(value: str, *, environment: Environment | str) -> str:
    """Validate an ADELI cabinet id: 9 characters, like an ADELI number."""
    return _validate_nine_characters(
        "adeli_cabinet", "Identifiant de cabinet ADELI", value, environment
    )


# --------------------------------------------------------------------------------------- IDNST


class IdnstKind(IntEnum):
    """Type digit of an IDNST (NOS TRE_G07-TypeIdentifiantStructure)."""

    ADELI_CABINET = 0
    FINESS = 1
    SIREN = 2
    SIRET = 3
    RPPS_CABINET = 4


@dataclass(frozen=True)
class Idnst:
    """Identifiant national de structure: type digit + national id (the OU of ORG certificates).

    Build it with :func:`parse_idnst`, which validates the identifier for an environment.
    """

    kind: IdnstKind
    identifier: str

    @property
    def value(self) -> str:
        return f"{int(self.kind)}{self.identifier}"

    def __str__(self) -> str:
        return self.value


def _validate_structure_id(
    kind: IdnstKind, identifier: str, environment: str, corsica_rule: CorsicaRule
) -> str:
    if kind is IdnstKind.FINESS:
        return validate_finess(identifier, environment=environment, corsica_rule=corsica_rule)
    if kind is IdnstKind.SIREN:
        return validate_siren(identifier)
    if kind is IdnstKind.SIRET:
        return validate_siret(identifier)
    if kind is IdnstKind.RPPS_CABINET:
        return validate_rpps_cabinet(identifier)
    return validate_adeli_cabinet(identifier, environment=environment)


def parse_idnst(
    value: str,
    *,
    environment: Environment | str,
    corsica_rule: CorsicaRule = CorsicaRule.EITHER,
) -> Idnst:
    """Parse and validate an IDNST: ``1010002301`` (FINESS), ``318751275100020`` (SIRET)…"""
    check_environment(environment)
    text = value.strip()
    if not text:
        raise IdentifierError("idnst", "length", "IDNST vide")
    prefix = text[0]
    if prefix not in "01234":
        raise IdentifierError(
            "idnst",
            "prefix",
            f"IDNST {_show(text)}: type {prefix!r} inconnu (attendu 0 cabinet ADELI, 1 FINESS, "
            "2 SIREN, 3 SIRET ou 4 cabinet RPPS)",
        )
    kind = IdnstKind(int(prefix))
    return Idnst(kind, _validate_structure_id(kind, text[1:], environment, corsica_rule))


def idnst_for_finess(finess: str) -> str:
    """The IDNST of a (validated) FINESS number: ``"1" + finess``."""
    finess = finess.strip().upper()
    if _FINESS_FORMAT_RE.fullmatch(finess) is None:
        raise IdentifierError(
            "finess", "length", f"FINESS {_show(finess)}: 9 chiffres ou lettres attendus"
        )
    return f"{int(IdnstKind.FINESS)}{finess}"


# -------------------------------------------------------------------------- idNat of persons


class PersonIdKind(IntEnum):
    """Type prefix of a person's national id (NOS TRE_G08-TypeIdentifiantPersonne)."""

    ADELI = 0
    ADELI_CABINET_STAFF = 1
    FINESS_STAFF = 3
    SIREN_STAFF = 4
    SIRET_STAFF = 5
    RPPS_CABINET_STAFF = 6
    RPPS = 8
    MSSANTE = 10


_STAFF_STRUCTURE_KIND: dict[PersonIdKind, IdnstKind] = {
    PersonIdKind.ADELI_CABINET_STAFF: IdnstKind.ADELI_CABINET,
    PersonIdKind.FINESS_STAFF: IdnstKind.FINESS,
    PersonIdKind.SIREN_STAFF: IdnstKind.SIREN,
    PersonIdKind.SIRET_STAFF: IdnstKind.SIRET,
    PersonIdKind.RPPS_CABINET_STAFF: IdnstKind.RPPS_CABINET,
}

_LOCAL_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
_MSSANTE_RE = re.compile(r"[^@\s/]+@[^@\s/]+\.[^@\s/]+")


@dataclass(frozen=True)
class PersonId:
    """A person's idNat (the CN of card certificates), e.g. ``810002813839`` or
    ``30B0057881/CPET0002`` (staff: structure id + ``/`` + the structure's registry number)."""

    kind: PersonIdKind
    identifier: str
    local_id: str | None = None

    @property
    def value(self) -> str:
        suffix = f"/{self.local_id}" if self.local_id is not None else ""
        return f"{int(self.kind)}{self.identifier}{suffix}"

    @property
    def is_health_professional(self) -> bool:
        """RPPS- or ADELI-registered professional (CPS holder), as opposed to staff."""
        return self.kind in (PersonIdKind.RPPS, PersonIdKind.ADELI)

    @property
    def structure(self) -> Idnst | None:
        """The structure a staff member belongs to (None for professionals and MSSanté)."""
        structure_kind = _STAFF_STRUCTURE_KIND.get(self.kind)
        return None if structure_kind is None else Idnst(structure_kind, self.identifier)

    def __str__(self) -> str:
        return self.value


def parse_idnat(
    value: str,
    *,
    environment: Environment | str = "prod",
    corsica_rule: CorsicaRule = CorsicaRule.EITHER,
) -> PersonId:
    """Parse and validate a person's idNat (domain §7.3).

    ``8``+RPPS (11 digits, Luhn), ``0``+ADELI (9 characters), ``10``+MSSanté address, and for
    staff ``<1|3|4|5|6><structure id>/<registry number>`` with the structure id of an ADELI
    cabinet, FINESS, SIREN, SIRET or RPPS cabinet. The registry number is 1-32 letters or
    digits (its real format is not documented). Test numbers (``B`` in position 2) are only
    accepted when ``environment`` is ``test``.
    """
    check_environment(environment)
    text = value.strip()
    shown = _show(text)
    if not text:
        raise IdentifierError("idnat", "length", "idNat vide")
    if text.startswith("10") and "@" in text:
        if _MSSANTE_RE.fullmatch(text[2:]) is None:
            raise IdentifierError(
                "idnat", "format", f"idNat {shown}: adresse MSSanté invalide après le préfixe 10"
            )
        return PersonId(PersonIdKind.MSSANTE, text[2:])
    prefix, rest = text[0], text[1:]
    if prefix == "8":
        return PersonId(PersonIdKind.RPPS, validate_rpps(rest))
    if prefix == "0":
        return PersonId(PersonIdKind.ADELI, validate_adeli(rest, environment=environment))
    if prefix not in "13456":
        raise IdentifierError(
            "idnat",
            "prefix",
            f"idNat {shown}: type {prefix!r} inconnu (attendu 0 ADELI, 8 RPPS, 10 MSSanté, "
            "ou 1, 3, 4, 5, 6 pour le personnel d'une structure)",
        )
    kind = PersonIdKind(int(prefix))
    structure_id, slash, local_id = rest.partition("/")
    if not slash:
        raise IdentifierError(
            "idnat",
            "format",
            f"idNat {shown}: identifiant de structure et numéro de registre séparés par '/' "
            "attendus",
        )
    if _LOCAL_ID_RE.fullmatch(local_id) is None:
        raise IdentifierError(
            "idnat",
            "local_id",
            f"idNat {shown}: numéro de registre invalide (1 à 32 lettres ou chiffres attendus)",
        )
    structure_kind = _STAFF_STRUCTURE_KIND[kind]
    identifier = _validate_structure_id(structure_kind, structure_id, environment, corsica_rule)
    return PersonId(kind, identifier, local_id)


_CARD_NUMBER_RE = re.compile(r"[0-9]{10}/[0-9]{10}")


def validate_card_number(value: str) -> str:
    """Validate a CPx card number as carried in extension 1.2.250.1.71.1.2.3.

    Format: 10-digit issuer id, ``/``, 10-digit card number (``8025000001/2800636234``).
    """
    text = value.strip()
    if _CARD_NUMBER_RE.fullmatch(text) is None:
        raise IdentifierError(
            "card_number",
            "format",
            f"numéro de carte {_show(text)}: format <10 chiffres>/<10 chiffres> attendu",
        )
    return text
